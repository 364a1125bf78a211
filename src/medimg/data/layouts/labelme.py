"""LabelMe annotations: one JSON per image (``{"shapes": [{"label", "points", "shape_type"}], "imagePath",
"imageHeight", "imageWidth", "imageData"}``), as the LabelMe tool (and AnyLabeling, X-AnyLabeling) saves them beside
the images a lab has outlined.

Shapes outlined as areas (``polygon``, ``rectangle``, ``circle``, ``mask``) are the annotation; ``line``,
``linestrip`` and ``point`` shapes outline nothing and are left out (counted in one log line). Each shape's
``label`` is a class (``_background_`` is none). Two readings of one folder, made by :mod:`.outlined_shapes`:
:func:`load_masks` (task ``segment``) draws each image's shapes into one label map, cached outside the data;
:func:`load_boxes` (task ``detect``) gives each shape's bounding box.

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
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medimg.data.detection import image_size
from medimg.data.layouts.common import split_of, text_head, walk_files
from medimg.data.layouts.drawn_masks import mask_file, write_png
from medimg.data.layouts.outlined_shapes import AnnotationTool, Outlined, Reading, Shape, outlined_per_file
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

#: what :func:`~.outlined_shapes.outlined_per_file` looks for, and what it calls the problems it finds
NAMES = ("LabelMe JSON files (with 'shapes' and 'imagePath')", "LabelMe file problem(s)")

DETECT_ENTRIES = 2000
DETECT_FILES = 5
SNIFF_CHARS = 4096
#: LabelMe's shape types that outline an area, as :mod:`.outlined_shapes` names them
AREA_KINDS = {"polygon": "polygon", "rectangle": "rectangle", "circle": "ellipse", "mask": "mask"}
BACKGROUND = "_background_"


def _is_labelme(file: Path) -> bool:
    if file.suffix.lower() != ".json":
        return False
    head = text_head(file, SNIFF_CHARS)
    return '"shapes"' in head and ('"imagePath"' in head or '"imageData"' in head or '"imageHeight"' in head)


def _files(root: Path, limit: int | None = None) -> list[Path]:
    return [p for p in walk_files(root, limit) if _is_labelme(p)]


def _kinds(root: Path) -> set[str]:
    """The area shape kinds (:mod:`.outlined_shapes`'s names) of the first LabelMe files under ``root``."""
    found: set[str] = set()
    for file in _files(root, DETECT_ENTRIES)[:DETECT_FILES]:
        try:
            found |= {str(s.get("shape_type") or "polygon") for s in json.loads(file.read_text()).get("shapes", [])}
        except (OSError, ValueError, AttributeError):
            continue
    return {AREA_KINDS[kind] for kind in found if kind in AREA_KINDS}


# ---------------------------------------------------------------------------------------------- reading
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
        target = mask_file(cache, f"{file.resolve().with_suffix('')}.image")  # train/ and val/ may both hold 001.json
        if not target.is_file():
            try:
                with Image.open(io.BytesIO(base64.b64decode(data["imageData"]))) as embedded:
                    write_png(target, embedded)
            except (binascii.Error, OSError, ValueError) as error:
                problems.append(f"{file}: its embedded imageData cannot be decoded ({error})")
                return None
        return target
    beside = _in_a_sibling_folder(file, Path(written).name if written else None)
    if len(beside) == 1:
        return beside[0]
    if beside:
        shown = ", ".join(str(p.relative_to(file.parent.parent)) for p in beside[:3])
        problems.append(f"{file}: its image is in several folders beside ({shown}); choose one with --exclude")
        return None
    problems.append(f"{file}: its image {written or file.stem + '.*'} does not exist beside it and none is embedded")
    return None


def _in_a_sibling_folder(file: Path, name: str | None) -> list[Path]:
    """The image of the JSON's ``imagePath`` name (or of its own name) in a folder beside the JSON's folder (G1020's
    ``Masks/image_0.json`` for ``Images/image_0.jpg``); of several, those in a folder named for images (its
    ``NerveRemoved/image_0.jpg`` is another rendering)."""
    from medimg.data.layouts.image_mask_pairs import folder_role

    folders = [d for d in sorted(file.parent.parent.iterdir()) if d.is_dir() and d != file.parent]
    names = [name] if name else [file.with_suffix(s).name for s in sorted(IMAGE_SUFFIXES) if s.count(".") == 1]
    found = [d / n for d in folders for n in names if (d / n).is_file() and file_suffix(d / n) in IMAGE_SUFFIXES]
    if len(found) > 1:
        return [p for p in found if folder_role(p.parent.name) == "image"] or found
    return found


def _kind_of(raw: Any) -> str:
    return str(raw.get("shape_type") or "polygon") if isinstance(raw, dict) else "unreadable"


def _shape(raw: Any) -> Shape | None:
    """A LabelMe shape as a :class:`Shape` (a circle: centre and a point on its rim), ``None`` for one that outlines
    no area (line, linestrip, point), has no label, or is no JSON object."""
    if not isinstance(raw, dict):
        return None
    kind = str(raw.get("shape_type") or "polygon")
    label = str(raw.get("label") or "").strip()
    points = [(float(x), float(y)) for x, y in raw.get("points") or []]
    if not label or label == BACKGROUND or not points:
        return None
    if kind == "circle" and len(points) >= 2:
        (cx, cy), (px, py) = points[0], points[1]
        radius = math.hypot(px - cx, py - cy)
        return Shape(label, "ellipse", [(cx, cy), (cx + radius, cy + radius)])
    if kind == "mask" and raw.get("mask"):
        with Image.open(io.BytesIO(base64.b64decode(raw["mask"]))) as patch:
            return Shape(label, "mask", points[:1], region=np.asarray(patch.convert("L")) > 0)
    return Shape(label, kind, points) if kind in ("polygon", "rectangle") else None


def _outlined(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[list[Outlined], Path, Path]:
    """Every LabelMe JSON under ``root`` with its image, and the cache its masks (and embedded images) go to.

    Raises:
        DatasetError: no JSON, an unreadable one, or an image that is neither beside it nor embedded.
    """

    def one(file: Path, cache: Path, reading: Reading) -> Outlined | None:
        try:
            data = _read(file)
        except DatasetError as error:
            reading.problems.append(str(error))
            return None
        image = _image_of(file, data, cache, reading.problems)
        if image is None:
            return None
        shapes = reading.shapes(data["shapes"], _shape, _kind_of, str(file))
        height, width = data.get("imageHeight"), data.get("imageWidth")
        size = (int(height), int(width)) if height and width else image_size(image)
        inside = image.is_relative_to(root)
        case_id = image.relative_to(root).as_posix() if inside else file.relative_to(root).with_suffix("").as_posix()
        return Outlined(file, image, size, case_id, shapes, split_of(root, file))

    return outlined_per_file(root, _files(root), one, include, exclude, NAMES)


LABELME = AnnotationTool("labelme", _kinds, _outlined)
