"""LabelMe annotations: one JSON per image (``{"shapes": [{"label", "points", "shape_type"}], "imagePath",
"imageHeight", "imageWidth", "imageData"}``), as the LabelMe tool (and AnyLabeling, X-AnyLabeling) saves them beside
the images a lab has outlined.

Shapes outlined as areas (``polygon``, ``rectangle``, ``circle``, ``mask``) are the annotation; ``line``,
``linestrip`` and ``point`` shapes outline nothing and are left out (counted in one log line). Each shape's
``label`` is a class (``_background_`` is none), classes in alphabetical order. Two readings of one folder:

- :func:`load_masks` (task ``segment``): each image's shapes drawn into one label map (``0`` background, ``k`` the
  ``k``-th class; larger shapes first, so a small lesion inside an organ stays visible) by :mod:`.drawn_masks`,
  cached outside the data;
- :func:`load_boxes` (task ``detect``): each shape's bounding box.

Without a task, a folder whose shapes include any polygon, circle or mask is segmentation data (``--task detect``
reads their boxes), one of rectangles alone is detection data. The image is the JSON's ``imagePath`` (relative to
the JSON; Windows separators allowed), else the image of the JSON's name beside it; when neither exists and the JSON
embeds the image (``imageData``, LabelMe's default), the embedded image is written once to the cache and read from
there. Images without a JSON are unlabelled.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import json
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import Case, SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.detection import BoxIssue, DetectionDataset, clean_boxes, image_size, log_issues
from medimg.data.layouts.common import name_selected, problems_error, split_of, text_head
from medimg.data.layouts.drawn_masks import DrawnObject, cache_folder, draw_label_map, mask_file, write_mask
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix, in_system_folder

logger = logging.getLogger(__name__)

DETECT_ENTRIES = 2000
DETECT_FILES = 5
SNIFF_CHARS = 4096
AREA_SHAPES = ("polygon", "rectangle", "circle", "mask")
BACKGROUND = "_background_"
CIRCLE_POINTS = 32


def _walk(root: Path, limit: int | None = None) -> list[Path]:
    def files() -> Any:
        for folder, folders, names in os.walk(root):
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            for name in sorted(names):
                path = Path(folder) / name
                if not in_system_folder(path, root):
                    yield path

    return list(itertools.islice(files(), limit) if limit else files())


def _is_labelme(file: Path) -> bool:
    if file.suffix.lower() != ".json":
        return False
    head = text_head(file, SNIFF_CHARS)
    return '"shapes"' in head and ('"imagePath"' in head or '"imageData"' in head or '"imageHeight"' in head)


def _files(root: Path, limit: int | None = None) -> list[Path]:
    return [p for p in _walk(root, limit) if _is_labelme(p)]


def _shape_types(root: Path) -> set[str]:
    found: set[str] = set()
    for file in _files(root, DETECT_ENTRIES)[:DETECT_FILES]:
        try:
            found |= {str(s.get("shape_type") or "polygon") for s in json.loads(file.read_text()).get("shapes", [])}
        except (OSError, ValueError, AttributeError):
            continue
    return found


def detect_masks(path: Path) -> bool:
    """A folder of LabelMe JSON files (among its first entries) with an area shape other than a rectangle."""
    return path.is_dir() and bool(_shape_types(path) & {"polygon", "circle", "mask"})


def detect_boxes(path: Path) -> bool:
    """A folder of LabelMe JSON files with area shapes (their boxes; rectangles alone: detection data by itself)."""
    return path.is_dir() and bool(_shape_types(path) & set(AREA_SHAPES))


# ---------------------------------------------------------------------------------------------- reading
@dataclass
class _Annotated:
    """One JSON: its image (located or written from ``imageData``), size and area shapes."""

    json_file: Path
    image: Path
    size: tuple[int, int] | None
    shapes: list[dict[str, Any]]


def _read(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeError, ValueError) as error:
        raise DatasetError(f"{file}: not readable LabelMe JSON ({error}); fix or remove it") from error
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise DatasetError(f"{file}: a LabelMe JSON needs a 'shapes' list")
    return data


def _image_of(file: Path, data: dict[str, Any], cache: Path, problems: list[str]) -> Path | None:
    """The JSON's image: ``imagePath``, else the image of its name beside it, else its embedded ``imageData``."""
    written = str(data.get("imagePath") or "").replace("\\", "/")
    candidates = [file.parent / written, file.parent / Path(written).name] if written else []
    candidates += [file.with_suffix(s) for s in sorted(IMAGE_SUFFIXES) if s.count(".") == 1]
    found = next((c for c in candidates if c.is_file() and file_suffix(c) in IMAGE_SUFFIXES), None)
    if found is not None:
        return found
    if data.get("imageData"):
        target = mask_file(cache, f"{file.stem}.image")
        if not target.is_file():
            try:
                from PIL import Image

                with Image.open(io.BytesIO(base64.b64decode(data["imageData"]))) as embedded:
                    partial = target.with_suffix(f".{os.getpid()}.part")
                    embedded.save(partial, format="PNG")
                partial.replace(target)
            except (binascii.Error, OSError, ValueError) as error:
                problems.append(f"{file}: its embedded imageData cannot be decoded ({error})")
                return None
        return target
    problems.append(f"{file}: its image {written or file.stem + '.*'} does not exist beside it and none is embedded")
    return None


def _annotated(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[list[_Annotated], Path]:
    """Every LabelMe JSON under ``root`` with its image.

    Raises:
        DatasetError: no JSON, an unreadable one, or an image that is neither beside it nor embedded.
    """
    files = _files(root)
    if not files:
        raise DatasetError(f"{root} holds no LabelMe JSON files (with 'shapes' and 'imagePath')")
    cache = cache_folder(files)
    problems: list[str] = []
    annotated: list[_Annotated] = []
    skipped: Counter[str] = Counter()
    for file in files:
        try:
            data = _read(file)
        except DatasetError as error:
            problems.append(str(error))
            continue
        image = _image_of(file, data, cache, problems)
        if image is None or not name_selected(image.name, include, exclude):
            continue
        shapes = []
        for shape in data["shapes"]:
            kind = str(shape.get("shape_type") or "polygon")
            label = str(shape.get("label") or "").strip()
            if kind not in AREA_SHAPES or not label or label == BACKGROUND:
                skipped[kind if kind not in AREA_SHAPES else "unlabelled"] += 1
                continue
            shapes.append({**shape, "shape_type": kind, "label": label})
        height, width = data.get("imageHeight"), data.get("imageWidth")
        size = (int(height), int(width)) if height and width else image_size(image)
        annotated.append(_Annotated(file, image, size, shapes))
    if problems:
        raise problems_error(root, problems, "LabelMe file problem(s)")
    if skipped:
        logger.info(
            "%s: shapes that outline no area are left out: %s",
            root,
            ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items())),
        )
    return annotated, cache


def _points(shape: dict[str, Any]) -> list[tuple[float, float]]:
    """The outline of an area shape, in pixels (a rectangle's four corners, a circle as a polygon)."""
    points = [(float(x), float(y)) for x, y in shape.get("points") or []]
    kind = shape["shape_type"]
    if kind in ("rectangle", "mask") and len(points) >= 2:
        (x1, y1), (x2, y2) = points[0], points[1]
        return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    if kind == "circle" and len(points) >= 2:
        (cx, cy), (px, py) = points[0], points[1]
        radius = math.hypot(px - cx, py - cy)
        steps = [2 * math.pi * k / CIRCLE_POINTS for k in range(CIRCLE_POINTS)]
        return [(cx + radius * math.cos(t), cy + radius * math.sin(t)) for t in steps]
    return points


def _drawn(shape: dict[str, Any], value: int, size: tuple[int, int]) -> DrawnObject | None:
    """A shape as a :class:`DrawnObject`; a ``mask`` shape's embedded PNG placed in its box."""
    if shape["shape_type"] == "mask" and shape.get("mask"):
        from PIL import Image

        x1, y1 = _points(shape)[0]
        with Image.open(io.BytesIO(base64.b64decode(shape["mask"]))) as patch:
            region = np.asarray(patch.convert("L")) > 0
        full = np.zeros(size, bool)
        top, left = round(y1), round(x1)
        part = region[: max(0, size[0] - top), : max(0, size[1] - left)]
        full[top : top + part.shape[0], left : left + part.shape[1]] = part
        return DrawnObject(value, mask=full)
    outline = _points(shape)
    if len(outline) < 3:
        return None
    return DrawnObject(value, polygons=[[c for point in outline for c in point]])


def _class_names(annotated: list[_Annotated]) -> list[str]:
    return sorted({shape["label"] for item in annotated for shape in item.shapes})


def _unlabelled(root: Path, used: set[Path], include: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in _walk(root)
        if file_suffix(p) in IMAGE_SUFFIXES and p not in used and name_selected(p.name, include, exclude)
    )


def _case_id(item: _Annotated, root: Path) -> str:
    inside = item.image.is_relative_to(root)
    return (
        item.image.relative_to(root).as_posix()
        if inside
        else item.json_file.relative_to(root).with_suffix("").as_posix()
    )


def load_masks(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """LabelMe shapes drawn into one label map per image (cached).

    Raises:
        DatasetError: no LabelMe file, an unreadable one, a missing image, or an image whose size is unknown.
    """
    root = path
    annotated, cache = _annotated(root, include, exclude)
    names = _class_names(annotated)
    value_of = {name: k + 1 for k, name in enumerate(names)}
    cases: list[SegCase] = []
    problems: list[str] = []
    for item in annotated:
        case_id = _case_id(item, root)
        target = mask_file(cache, case_id)
        if not target.is_file():
            if item.size is None:
                problems.append(f"{item.json_file}: the size of {item.image} is neither in the JSON nor in its header")
                continue
            size = item.size
            objects = [o for s in item.shapes if (o := _drawn(s, value_of[s["label"]], size)) is not None]
            write_mask(target, draw_label_map(size, objects))
        cases.append(SegCase(case_id=case_id, image=item.image, mask=target, split=split_of(root, item.json_file)))
    if problems:
        raise problems_error(root, problems, "LabelMe file problem(s)")
    if any(c.split for c in cases) and not all(c.split for c in cases):
        cases = [SegCase(c.case_id, c.image, c.mask) for c in cases]
    logger.info("%s: %d LabelMe file(s) drawn or reused as masks in %s", root, len(cases), cache)
    return SegmentationDataset(
        name=Path(os.path.abspath(root)).name,
        root=root,
        source="labelme",
        cases=cases,
        unlabelled=_unlabelled(root, {item.image for item in annotated}, include, exclude),
        value_names={0: "background", **{value: name for name, value in value_of.items()}},
    )


def load_boxes(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> DetectionDataset:
    """Each LabelMe shape's bounding box.

    Raises:
        DatasetError: no LabelMe file, an unreadable one, or a missing image.
    """
    root = path
    annotated, _ = _annotated(root, include, exclude)
    names = _class_names(annotated)
    index = {name: k for k, name in enumerate(names)}
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    sizes: dict[str, tuple[int, int]] = {}
    for item in annotated:
        case_id = _case_id(item, root)
        raw = []
        for shape in item.shapes:
            xs, ys = zip(*_points(shape), strict=True) if shape.get("points") else ((), ())
            if xs:
                raw.append((min(xs), min(ys), max(xs), max(ys), index[shape["label"]]))
        boxes, found = clean_boxes(raw, item.size, names, file=str(item.json_file), image=case_id)
        issues += found
        if item.size is not None:
            sizes[case_id] = item.size
        cases.append(Case(case_id, None, split_of(root, item.json_file), None, item.image, boxes=boxes))
    if any(c.split for c in cases) and not all(c.split for c in cases):
        cases = [Case(c.case_id, None, None, None, c.path, boxes=c.boxes) for c in cases]
    log_issues(issues, root)
    return DetectionDataset(
        name=Path(os.path.abspath(root)).name,
        root=root,
        source="labelme",
        class_names=names,
        cases=cases,
        unlabelled=[],
        box_issues=issues,
        image_sizes=sizes,
    )
