"""ImageJ / Fiji ROI sets: the outlines a microscopy lab draws in the ROI Manager and saves beside each image, as a
``RoiSet.zip`` of ``.roi`` files (``cells_01.zip`` or ``cells_01_RoiSet.zip`` beside ``cells_01.tif``) or one
``.roi`` file.

The binary ``.roi`` format is ImageJ's own (``ij.io.RoiDecoder``): a 64-byte big-endian header (``Iout``, version,
type, the bounding box ``top, left, bottom, right``, the number of points), then the points relative to the box as
16-bit integers, followed by absolute 32-bit floats when the ROI has sub-pixel coordinates. Polygons, freehand and
traced outlines, rectangles and ovals outline areas; lines, points and angles outline none and are left out (counted
in one log line), as are composite (shape) ROIs. The ROI Manager gives no classes: every outline is one class,
``roi``. :mod:`.outlined_shapes` draws them into one label map per image (``task="segment"``, cached) or boxes them
(``task="detect"``); a folder of images with ROI sets is segmentation data by itself.
"""

from __future__ import annotations

import logging
import struct
import zipfile
from pathlib import Path

from medimg.data.detection import image_size
from medimg.data.layouts.common import split_of, walk_files
from medimg.data.layouts.outlined_shapes import AnnotationTool, Outlined, Reading, Shape, outlined_per_file
from medimg.io.formats import IMAGE_SUFFIXES, file_stem, file_suffix

logger = logging.getLogger(__name__)

#: what :func:`~.outlined_shapes.outlined_per_file` looks for, and what it calls the problems it finds
NAMES = ("ImageJ ROI sets (RoiSet .zip or .roi files beside the images)", "ImageJ ROI set problem(s)")

MAGIC = b"Iout"
HEADER_BYTES = 64
#: ImageJ's ROI types (``ij.gui.Roi``) that outline an area, as :class:`~.outlined_shapes.Shape` kinds
AREA_TYPES = {0: "polygon", 1: "rectangle", 2: "ellipse", 7: "polygon", 8: "polygon"}
TYPE_NAMES = {3: "line", 4: "freeline", 5: "polyline", 6: "no ROI", 9: "angle", 10: "point"}
SUB_PIXEL = 128
"""The ``options`` bit of sub-pixel coordinates."""
CLASS_NAME = "roi"
DETECT_ENTRIES = 2000
#: the words a ROI set's name may add to its image's (``cells_01_RoiSet.zip``, ``RoiSet_cells_01.zip``)
SET_WORDS = ("_roiset", "-roiset", " roiset", "_rois", "-rois", "_roi", "-roi")


def _roi_members(archive: zipfile.ZipFile) -> list[str] | None:
    """The files of a zip when they are all ``.roi`` files (a ROI Manager's ``RoiSet.zip``), else ``None``."""
    names = [n for n in archive.namelist() if not n.endswith("/")]
    return names if names and all(n.lower().endswith(".roi") for n in names) else None


def _roi_entries(file: Path) -> list[tuple[str, bytes]] | None:
    """The ``(name, bytes)`` of each ROI in ``file`` (a ``.roi`` file, or a zip holding ``.roi`` files only);
    ``None`` for another file."""
    suffix = file.suffix.lower()
    try:
        if suffix == ".roi":
            data = file.read_bytes()
            return [(file.name, data)] if data.startswith(MAGIC) else None
        if suffix != ".zip":
            return None
        with zipfile.ZipFile(file) as archive:
            names = _roi_members(archive)
            return None if names is None else [(n, archive.read(n)) for n in names]
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


def _is_roi_set(file: Path) -> bool:
    """:func:`_roi_entries` without reading the ROIs: a ``.roi`` file's magic, a zip's member names."""
    try:
        if file.suffix.lower() == ".roi":
            with file.open("rb") as stream:
                return stream.read(4) == MAGIC
        if file.suffix.lower() != ".zip":
            return False
        with zipfile.ZipFile(file) as archive:
            return _roi_members(archive) is not None
    except (OSError, zipfile.BadZipFile):
        return False


def _files(root: Path, limit: int | None = None) -> list[Path]:
    return [p for p in walk_files(root, limit) if _is_roi_set(p)]


def _kinds(root: Path) -> set[str]:
    """``{"polygon"}`` when ``root`` holds a ROI set (the search ends at the first; the ROIs are read when
    loading)."""
    return {"polygon"} if any(_is_roi_set(p) for p in walk_files(root, DETECT_ENTRIES)) else set()


def parse_roi(data: bytes) -> tuple[str, list[tuple[float, float]]]:
    """One ``.roi`` file's ImageJ type name and its points: a polygon's vertices, a rectangle's or an oval's two
    corners (an oval as centre and corner, as :class:`~.outlined_shapes.Shape` takes an ellipse); no points for a
    type that outlines no area.

    Raises:
        ValueError: not a ``.roi`` file, or cut short.
    """
    if len(data) < HEADER_BYTES or not data.startswith(MAGIC):
        raise ValueError("not an ImageJ .roi file (no 'Iout' header)")
    version, kind = struct.unpack(">hB", data[4:7])
    top, left, bottom, right, count = struct.unpack(">hhhhH", data[8:18])
    shape_size = struct.unpack(">i", data[36:40])[0]
    options = struct.unpack(">h", data[50:52])[0]
    name = TYPE_NAMES.get(kind, "unknown")
    if kind not in AREA_TYPES or shape_size > 0:
        return ("composite" if shape_size > 0 else name), []
    if kind == 1:
        return "rectangle", [(float(left), float(top)), (float(right), float(bottom))]
    if kind == 2:
        cx, cy = (left + right) / 2, (top + bottom) / 2
        return "oval", [(cx, cy), (float(right), float(bottom))]
    end = HEADER_BYTES + 4 * count
    if len(data) < end:
        raise ValueError(f"cut short: {count} points need {end} bytes, the file has {len(data)}")
    xs = struct.unpack(f">{count}h", data[HEADER_BYTES : HEADER_BYTES + 2 * count])
    ys = struct.unpack(f">{count}h", data[HEADER_BYTES + 2 * count : end])
    points = [(float(left + x), float(top + y)) for x, y in zip(xs, ys, strict=True)]
    if options & SUB_PIXEL and version >= 222 and len(data) >= end + 8 * count:
        fx = struct.unpack(f">{count}f", data[end : end + 4 * count])
        fy = struct.unpack(f">{count}f", data[end + 4 * count : end + 8 * count])
        points = [(float(x), float(y)) for x, y in zip(fx, fy, strict=True)]
    return "polygon", points


def _shape(entry: tuple[str, bytes]) -> Shape | None:
    kind, points = parse_roi(entry[1])
    if not points:
        return None
    return Shape(CLASS_NAME, {"oval": "ellipse"}.get(kind, kind), points)


def _kind_of(entry: tuple[str, bytes]) -> str:
    try:
        return parse_roi(entry[1])[0]
    except ValueError:
        return "unreadable"


def _image_stem(file: Path) -> str:
    """The name of the image a ROI set belongs to: its own, without ``RoiSet`` words."""
    stem = file.name[: -len(file.suffix)]
    low = stem.lower()
    for word in SET_WORDS:
        if low.endswith(word):
            return stem[: -len(word)]
    for word in ("roiset_", "roiset-", "rois_"):
        if low.startswith(word):
            return stem[len(word) :]
    return stem


def _image_of(file: Path, problems: list[str]) -> Path | None:
    stem = _image_stem(file)
    found = [
        p
        for p in sorted(file.parent.iterdir())
        if p.is_file() and file_suffix(p) in IMAGE_SUFFIXES and file_stem(p) == stem
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        problems.append(f"{file}: no image named {stem} beside it (a ROI set is named after its image)")
    else:
        problems.append(f"{file}: several images named {stem} beside it ({', '.join(p.name for p in found)})")
    return None


def _outlined(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[list[Outlined], Path, Path]:
    """Every ROI set under ``root`` with its image, and the cache its masks go to.

    Raises:
        DatasetError: no ROI set, an unreadable one, or one without its image.
    """

    def one(file: Path, cache: Path, reading: Reading) -> Outlined | None:
        entries = _roi_entries(file)
        if entries is None:
            reading.problems.append(f"{file}: not a readable ImageJ ROI set")
            return None
        image = _image_of(file, reading.problems)
        if image is None:
            return None
        shapes = reading.shapes(entries, _shape, _kind_of, str(file))
        return Outlined(
            file, image, image_size(image), image.relative_to(root).as_posix(), shapes, split_of(root, image)
        )

    return outlined_per_file(root, _files(root), one, include, exclude, NAMES)


IMAGEJ = AnnotationTool("imagej", _kinds, _outlined)
