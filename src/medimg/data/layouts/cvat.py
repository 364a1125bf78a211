"""CVAT's own export, "CVAT for images 1.1": one ``annotations.xml`` for a task (``<annotations><image name= width=
height= [subset=]>`` holding ``<box>``, ``<polygon>``, ``<ellipse>`` and ``<mask>`` shapes), with the images in
``images/`` beside it, as the CVAT annotation server exports a lab's work.

Polygons (``points="x1,y1;x2,y2;..."``), boxes (``xtl ytl xbr ybr``), ellipses (``cx cy rx ry``) and masks (CVAT's
run lengths over the mask's box, row by row, starting with background) are area shapes; polylines, points, cuboids
and skeletons outline none and are left out (counted in one log line), as are video tracks. The ``label`` of a shape
is its class; the images' ``subset`` (``Train``, ``Validation``, ``Test``) is the split when every image has one.
:mod:`.outlined_shapes` draws the shapes into label maps (``task="segment"``, cached) or boxes them
(``task="detect"``); without a task, a file with any polygon, ellipse or mask is segmentation data, one of boxes
alone detection data. An image is found by its ``name`` under ``images/`` beside the XML, beside it, or by its file
name anywhere under the folder; the images the XML lists without shapes are images without objects.
"""

from __future__ import annotations

import itertools
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from medimg.data.case import normalise_split
from medimg.data.layouts.common import ManifestFiles, path_selected, text_head
from medimg.data.layouts.drawn_masks import cache_folder
from medimg.data.layouts.outlined_shapes import AnnotationTool, Outlined, Reading, Shape, kinds_named
from medimg.errors import DatasetError
from medimg.io.folder_walk import walk_folders

logger = logging.getLogger(__name__)

SNIFF_CHARS = 8192
DETECT_ENTRIES = 500
#: CVAT's element names of area shapes, as :class:`~.outlined_shapes.Shape` kinds
AREA_ELEMENTS = {"polygon": "polygon", "box": "rectangle", "ellipse": "ellipse", "mask": "mask"}


def _is_cvat(file: Path) -> bool:
    if file.suffix.lower() != ".xml":
        return False
    head = text_head(file, SNIFF_CHARS)
    return "<annotations" in head and "<version>" in head and ("<image " in head or "<meta" in head)


def _files(path: Path) -> list[Path]:
    """The CVAT XML file ``path`` is, or those at most two folders below it."""
    if path.is_file():
        return [path] if _is_cvat(path) else []
    if not path.is_dir():
        return []
    found = []
    for folder, folders, names in itertools.islice(walk_folders(path), DETECT_ENTRIES):
        depth = len(Path(folder).relative_to(path).parts)
        folders[:] = sorted(f for f in folders if not f.startswith(".")) if depth < 2 else []
        found += [Path(folder) / n for n in sorted(names) if n.lower().endswith(".xml") and _is_cvat(Path(folder) / n)]
    return found


def _mask_region(element: ET.Element) -> tuple[list[tuple[float, float]], np.ndarray]:
    """A ``<mask rle= left= top= width= height=>``'s top-left corner and boolean region."""
    width, height = int(float(element.get("width", 0))), int(float(element.get("height", 0)))
    counts = [int(v) for v in (element.get("rle") or "").replace(" ", "").split(",") if v]
    flat = np.zeros(width * height, bool)
    position, value = 0, False
    for count in counts:
        if value:
            flat[position : position + count] = True
        position, value = position + count, not value
    return [(float(element.get("left", 0)), float(element.get("top", 0)))], flat.reshape(height, width)


def _shape(element: ET.Element) -> Shape | None:
    kind = AREA_ELEMENTS.get(element.tag)
    label = (element.get("label") or "").strip()
    if kind is None or not label:
        return None
    get = lambda name: float(element.get(name, 0))  # noqa: E731
    if kind == "polygon":
        points = [tuple(map(float, pair.split(","))) for pair in (element.get("points") or "").split(";") if pair]
        return Shape(label, kind, [(x, y) for x, y in points])
    if kind == "rectangle":
        return Shape(label, kind, [(get("xtl"), get("ytl")), (get("xbr"), get("ybr"))])
    if kind == "ellipse":
        return Shape(label, kind, [(get("cx"), get("cy")), (get("cx") + get("rx"), get("cy") + get("ry"))])
    corner, region = _mask_region(element)
    return Shape(label, kind, corner, region=region)


def _outlined(path: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[list[Outlined], Path, Path]:
    """The images every CVAT XML under ``path`` lists, with their shapes; the mask cache and the data's root.

    Raises:
        DatasetError: no CVAT XML, an unreadable one, a malformed shape, or an image that is nowhere.
    """
    files = _files(path)
    if not files:
        raise DatasetError(f"{path} holds no CVAT XML (CVAT for images 1.1: annotations.xml)")
    root = path if path.is_dir() else path.parent
    locate = ManifestFiles(root, lambda p: path_selected(p, include, exclude, root))
    reading = Reading()
    for file in files:
        try:
            document = ET.parse(file).getroot()
        except (ET.ParseError, OSError) as error:
            reading.problems.append(f"{file}: not readable CVAT XML ({error}); fix or remove it")
            continue
        reading.skipped["video track"] += len(document.findall("track"))
        for image in document.iter("image"):
            name = (image.get("name") or "").replace("\\", "/")
            beside = [file.parent / "images" / name, file.parent / name]
            found = next((p for p in beside if p.is_file()), None) or locate.locate(Path(name).name)[0]
            if not found.is_file():
                reading.problems.append(
                    f"{file}: image {name!r} is neither in {file.parent / 'images'} nor under {root}"
                )
                continue
            if not path_selected(found, include, exclude, root):
                continue
            shapes = reading.shapes(image, _shape, lambda element: element.tag, f"{file}: image {name!r}")
            width, height = image.get("width"), image.get("height")
            size = (int(float(height)), int(float(width))) if width and height else None
            case_id = found.relative_to(root).as_posix()
            split = normalise_split(image.get("subset"))
            reading.items.append(Outlined(file, found, size, case_id, shapes, split))
    return reading.finish(path, "CVAT annotation problem(s)"), cache_folder(files), root


CVAT = AnnotationTool(
    "cvat", lambda path: kinds_named(_files(path), {f"<{e} ": k for e, k in AREA_ELEMENTS.items()}), _outlined
)
