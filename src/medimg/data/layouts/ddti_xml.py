"""The thyroid nodule outlines of the DDTI set (Digital Database of Thyroid Images, Pedraza et al. 2015): one XML
per case, ``xml/<n>.xml``, beside the images ``image/<n>_<k>.jpg``.

An XML holds the case's findings (``<tirads>``, ``<composition>``...) and one ``<mark>`` per image: ``<image>k</image>``
names the case's image ``<n>_<k>``, ``<svg>`` holds a JSON list of regions, each ``{"points": [{"x": .., "y": ..},
...], "regionType": "freehand"}``. The regions are the nodule, drawn into one mask per image (:mod:`.outlined_shapes`,
cached by :mod:`.drawn_masks`); ``--task detect`` reads their boxes. A mark without a region is an image without a
nodule outlined (an empty mask). Read as folders, ``image/`` was one class and ``xml/`` an empty one.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from medimg.data.detection import image_size
from medimg.data.layouts.common import split_of, text_head, walk_files
from medimg.data.layouts.outlined_shapes import AnnotationTool, Outlined, Reading, Shape, outlined_per_file
from medimg.io.formats import IMAGE_SUFFIXES, file_stem, file_suffix

#: what :func:`~.outlined_shapes.outlined_per_file` looks for, and what it calls the problems it finds
NAMES = ("DDTI case XML files (<case> with <mark><image>..</image><svg>..</svg></mark>)", "DDTI XML problem(s)")
#: the one structure its outlines mark
NODULE = "nodule"
DETECT_ENTRIES = 2000
SNIFF_CHARS = 4096


def _is_ddti(file: Path) -> bool:
    if file.suffix.lower() != ".xml":
        return False
    head = text_head(file, SNIFF_CHARS)
    return "<case>" in head and "<mark>" in head and "<svg>" in head


def _files(root: Path, limit: int | None = None) -> list[Path]:
    return [p for p in walk_files(root, limit) if _is_ddti(p)]


def _kinds(root: Path) -> set[str]:
    """``{"polygon"}`` when DDTI XMLs lie under ``root`` (their regions are freehand outlines)."""
    return {"polygon"} if _files(root, DETECT_ENTRIES) else set()


def _regions(text: str | None) -> list[dict[str, object]]:
    """The regions of a mark's ``<svg>`` JSON; none for an empty one."""
    if not text or not text.strip():
        return []
    regions = json.loads(text)
    return [r for r in regions if isinstance(r, dict)] if isinstance(regions, list) else []


def _shape(region: dict[str, object]) -> Shape | None:
    points = region.get("points")
    if not isinstance(points, list):
        raise ValueError("no list of points")
    outline = [(float(p["x"]), float(p["y"])) for p in points]
    return Shape(NODULE, "polygon", outline) if len(outline) >= 3 else None


def _outlined(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[list[Outlined], Path, Path]:
    """Every image a DDTI XML under ``root`` marks, with its outlines, and the cache its masks go to.

    Raises:
        DatasetError: no XML, an unreadable one, or a marked image that is nowhere.
    """
    files = walk_files(root)  # one walk: the images by name, and the case XMLs
    images: dict[str, list[Path]] = {}
    for file in files:
        if file_suffix(file) in IMAGE_SUFFIXES:
            images.setdefault(file_stem(file).lower(), []).append(file)

    def one(file: Path, cache: Path, reading: Reading) -> list[Outlined]:
        try:
            case = ET.parse(file).getroot()
        except (ET.ParseError, OSError) as error:
            reading.problems.append(f"{file}: not readable XML ({error})")
            return []
        number = (case.findtext("number") or file.stem).strip()
        marked: list[Outlined] = []
        for mark in case.iter("mark"):
            index = (mark.findtext("image") or "").strip()
            found = images.get(f"{number}_{index}".lower(), [])
            if not found:
                reading.problems.append(f"{file}: its mark of image {index} names no image {number}_{index}.*")
                continue
            try:
                regions = _regions(mark.findtext("svg"))
            except ValueError as error:
                reading.problems.append(f"{file}: the outline of image {index} is not JSON ({error})")
                continue
            shapes = reading.shapes(regions, _shape, lambda r: str(r.get("regionType") or "region"), str(file))
            image = found[0]
            case_id = image.relative_to(root).as_posix()
            split = split_of(root, image)  # the case's images (``4_1.jpg``, ``4_2.jpg``) are of one patient
            marked.append(Outlined(file, image, image_size(image), case_id, shapes, split, number))
        return marked

    return outlined_per_file(root, [f for f in files if _is_ddti(f)], one, include, exclude, NAMES)


DDTI = AnnotationTool("ddti", _kinds, _outlined)
