"""QuPath's GeoJSON annotations: one ``.geojson`` file per image (a ``FeatureCollection``, or a bare list of features
as QuPath 0.2 wrote it), as a pathology lab exports the regions and cells it outlined ("Export objects as GeoJSON",
or ``exportObjectsToGeoJson`` in a script) beside the image tiles.

Each feature with an area (``Polygon``, ``MultiPolygon``: holes are cut out) is an object of the class its
``classification`` names (``{"name": "Tumor"}``; ``unclassified`` without one); points and lines outline nothing and
are left out (counted in one log line), as are QuPath's ``Ignore*`` classes. Coordinates are the image's pixels.
:mod:`.outlined_shapes` draws the objects into one label map per image (``task="segment"``, cached) or boxes them
(``task="detect"``); a set of GeoJSON files is segmentation data by itself.

A file's image is the file's name without ``.geojson`` when that is an image (``tile_01.tif.geojson``), else the image
of its stem beside it, else the one image of that stem anywhere under the folder (``images/`` + ``annotations/``).
Images without a GeoJSON file are unlabelled.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.detection import image_size
from medimg.data.layouts.common import path_selected, split_of, text_head, walk_files
from medimg.data.layouts.drawn_masks import polygon_pixels
from medimg.data.layouts.outlined_shapes import AnnotationTool, Outlined, Reading, Shape, outlined_per_file
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, file_stem, file_suffix

logger = logging.getLogger(__name__)

#: what :func:`~.outlined_shapes.outlined_per_file` looks for, and what it calls the problems it finds
NAMES = ("GeoJSON annotation files (QuPath's .geojson export)", "GeoJSON file problem(s)")

DETECT_ENTRIES = 2000
DETECT_FILES = 3
SNIFF_CHARS = 1 << 16
#: the class of a feature without a classification, as QuPath shows it
UNCLASSIFIED = "unclassified"
#: QuPath's classes of regions to leave out (its "Ignore*" class)
IGNORED_PREFIX = "ignore"
#: formats QuPath opens that medimg does not read: the regions are on a whole slide, not a tile
WHOLE_SLIDE_SUFFIXES = (".svs", ".ndpi", ".scn", ".mrxs", ".vms", ".vmu", ".bif", ".czi")


def _geojson_head(file: Path) -> str | None:
    """The start of ``file`` when it is GeoJSON annotations (a ``.geojson`` file, or a ``.json`` one of QuPath's
    objects), else ``None``."""
    suffix = file.suffix.lower()
    if suffix not in (".geojson", ".json"):
        return None
    head = text_head(file, SNIFF_CHARS)
    named = '"geometry"' in head and '"Feature' in head and (suffix == ".geojson" or '"objectType"' in head)
    return head if named else None


def _files(root: Path, limit: int | None = None) -> list[Path]:
    return [p for p in walk_files(root, limit) if _geojson_head(p) is not None]


def _kinds(root: Path) -> set[str]:
    """``{"polygon"}`` when the first GeoJSON files under ``root`` outline an area, else nothing (each file's start
    read once; the search ends at the first :data:`DETECT_FILES` of them)."""
    heads = (head for p in walk_files(root, DETECT_ENTRIES) if (head := _geojson_head(p)) is not None)
    for head in itertools.islice(heads, DETECT_FILES):
        if '"Polygon"' in head or '"MultiPolygon"' in head:
            return {"polygon"}
    return set()


# ---------------------------------------------------------------------------------------------- reading
def _features(file: Path) -> list[Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeError, ValueError) as error:
        raise DatasetError(f"{file}: not readable GeoJSON ({error}); fix or remove it") from error
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        data = data.get("features")
    elif isinstance(data, dict) and data.get("type") == "Feature":
        data = [data]
    if not isinstance(data, list):
        raise DatasetError(f"{file}: GeoJSON annotations need a FeatureCollection or a list of features")
    return data


def _label(feature: dict[str, Any]) -> str:
    properties = feature.get("properties") or {}
    classification = properties.get("classification") or {}
    name = classification.get("name") if isinstance(classification, dict) else classification
    return str(name).strip() if name else UNCLASSIFIED


def _kind_of(feature: Any) -> str:
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    return str((geometry or {}).get("type") or "unreadable") if isinstance(geometry, dict | None) else "unreadable"


def _shapes_of(feature: Any, size: tuple[int, int] | None) -> list[Shape] | None:
    """A feature's areas (one per polygon of a MultiPolygon; a polygon with holes as its pixels, which needs the
    image's ``size``), ``None`` for one without an area or of an ignored class."""
    if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
        return None
    geometry = feature["geometry"]
    label = _label(feature)
    if label.casefold().startswith(IGNORED_PREFIX):
        return None
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates") or []
    polygons = [coordinates] if kind == "Polygon" else coordinates if kind == "MultiPolygon" else []
    shapes = []
    for rings in polygons:
        outer = [(float(x), float(y)) for x, y, *_ in rings[0]] if rings else []
        if len(outer) < 3:
            continue
        if len(rings) == 1 or size is None:
            shapes.append(Shape(label, "polygon", outer))
            continue
        region = polygon_pixels(size, *np.asarray(outer, np.float64).T)
        for hole in rings[1:]:
            points = np.asarray([(float(x), float(y)) for x, y, *_ in hole], np.float64)
            if len(points) >= 3:
                region = region & ~polygon_pixels(size, points[:, 0], points[:, 1])
        rows, columns = np.nonzero(region)
        if rows.size:
            top, left = int(rows.min()), int(columns.min())
            patch = region[top : int(rows.max()) + 1, left : int(columns.max()) + 1]
            shapes.append(Shape(label, "mask", [(float(left), float(top))], region=patch))
    return shapes or None


def _image_index(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> dict[str, list[Path]]:
    """The images under ``root`` by their name without suffix (lower case)."""
    index: dict[str, list[Path]] = defaultdict(list)
    for path in walk_files(root):
        if file_suffix(path) in IMAGE_SUFFIXES and path_selected(path, include, exclude, root):
            index[file_stem(path).lower()].append(path)
    return index


def _image_of(file: Path, index: dict[str, list[Path]], problems: list[str]) -> Path | None:
    """The image ``file`` annotates (see the module's docstring)."""
    named = file.with_suffix("")  # tile_01.tif.geojson -> tile_01.tif
    if named.is_file() and file_suffix(named) in IMAGE_SUFFIXES:
        return named
    stem = file_stem(named)
    slides = [file.with_name(stem + suffix) for suffix in WHOLE_SLIDE_SUFFIXES]
    if file_suffix(named) in WHOLE_SLIDE_SUFFIXES or any(slide.is_file() for slide in slides):
        problems.append(
            f"{file}: its image is a whole slide, which medimg does not read: export tiles with their annotations "
            "(QuPath: a script with TileExporter and labeledServer, or 'Export images > Rendered RGB' at a "
            "downsample) and give the folder of tiles"
        )
        return None
    candidates = index.get(stem.lower(), [])
    beside = [c for c in candidates if c.parent == file.parent]
    if len(beside) == 1 or len(candidates) == 1:
        return (beside or candidates)[0]
    if candidates:
        listed = ", ".join(str(c) for c in candidates[:3])
        problems.append(f"{file}: several images are named {stem} ({listed}): keep each GeoJSON beside its image")
    else:
        problems.append(f"{file}: no image named {stem} beside it or under the folder")
    return None


def _outlined(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> tuple[list[Outlined], Path, Path]:
    """Every GeoJSON file under ``root`` with its image, and the cache its masks go to.

    Raises:
        DatasetError: no GeoJSON file, an unreadable one, or an image that is nowhere.
    """
    index = _image_index(root, include, exclude)

    def one(file: Path, cache: Path, reading: Reading) -> Outlined | None:
        try:
            features = _features(file)
        except DatasetError as error:
            reading.problems.append(str(error))
            return None
        image = _image_of(file, index, reading.problems)
        if image is None:
            return None
        size = image_size(image)
        shapes = reading.shapes(features, partial(_shapes_of, size=size), _kind_of, str(file))
        return Outlined(file, image, size, image.relative_to(root).as_posix(), shapes, split_of(root, image))

    return outlined_per_file(root, _files(root), one, include, exclude, NAMES)


QUPATH = AnnotationTool("qupath", _kinds, _outlined)
