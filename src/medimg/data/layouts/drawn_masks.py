"""Label masks drawn from polygon and run-length annotations (COCO ``segmentation``, YOLO segmentation lines), kept
as PNG files in a cache so that segmentation reads them like any mask file.

The segmentation engine reads masks from files (:class:`~medimg.data.case.SegCase`); annotation formats that hold
outlines instead are drawn once into label maps (``0`` background, ``k`` the ``k``-th class) under
``$MEDIMG_CACHE/masks/<key>/`` (default ``~/.cache/medimg``), where ``key`` hashes the annotation files' paths, sizes
and modification times: an edited annotation file draws new masks, an unchanged one reuses them. Larger objects
are drawn first, so a small object inside a large one stays visible. Nothing is written beside the data.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import DatasetError

CACHE_ENV = "MEDIMG_CACHE"
DRAWING_VERSION = 2
"""Part of the cache key: a change in how masks are drawn draws them anew (2: ASAP XML outlines, once left empty)."""


@dataclass
class DrawnObject:
    """One annotated object: its class value (1..K) and its outline(s) in pixels, or a decoded mask."""

    value: int
    polygons: list[list[float]] = field(default_factory=list)
    mask: np.ndarray | None = None

    @property
    def area(self) -> float:
        if self.mask is not None:
            return float(self.mask.sum())
        total = 0.0
        for polygon in self.polygons:
            xs, ys = np.asarray(polygon[0::2]), np.asarray(polygon[1::2])
            total += 0.5 * abs(float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))
        return total


def cache_folder(annotation_files: Sequence[Path]) -> Path:
    """The folder holding the masks drawn from ``annotation_files`` (created)."""
    digest = hashlib.sha1(f"v{DRAWING_VERSION}".encode())
    for file in sorted(annotation_files):
        stat = file.stat()
        digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "medimg").expanduser()
    folder = base / "masks" / digest.hexdigest()[:16]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(
            f"cannot create {folder} for the masks drawn from the annotations ({error.strerror or error}); set "
            f"${CACHE_ENV} to a writable folder"
        ) from error
    return folder


def draw_label_map(shape: tuple[int, int], objects: Sequence[DrawnObject]) -> np.ndarray:
    """A ``(height, width)`` uint8 label map of ``objects`` (largest first, so small ones stay on top)."""
    labels = np.zeros(shape, np.uint8)
    for obj in sorted(objects, key=lambda o: -o.area):
        region = obj.mask.astype(bool) if obj.mask is not None else _polygon_region(shape, obj.polygons)
        labels[region] = obj.value
    return labels


def _polygon_region(shape: tuple[int, int], polygons: Sequence[Sequence[float]]) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.new("1", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        if len(polygon) >= 6:
            draw.polygon([(float(x), float(y)) for x, y in zip(polygon[0::2], polygon[1::2], strict=False)], fill=1)
    return np.asarray(canvas, dtype=bool)


def polygon_pixels(shape: tuple[int, int], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The pixels inside one polygon given in pixel coordinates (columns ``xs``, rows ``ys``), as a boolean
    ``(height, width)`` map; combined with ``^``, an inner polygon is a hole."""
    return _polygon_region(shape, [[float(v) for pair in zip(xs, ys, strict=True) for v in pair]])


def label_map_of(shape: tuple[int, ...], regions: dict[int, np.ndarray]) -> np.ndarray:
    """A uint8 label map of boolean ``regions`` (``value -> region``), larger regions drawn first so that a small
    one inside a large one stays visible."""
    labels = np.zeros(shape, np.uint8)
    for value, region in sorted(regions.items(), key=lambda item: -int(item[1].sum())):
        labels[region] = value
    return labels


def mask_file(folder: Path, case_id: str, suffix: str = ".png") -> Path:
    """Where the drawn mask of ``case_id`` lives in ``folder``: a flat, readable name of its own
    (:func:`medimg.io.formats.distinct_file_name`: ``images/病例一.png`` and ``images/病例二.png`` were both
    ``images_.png``, and the second case was given the first one's mask)."""
    from medimg.io.formats import distinct_file_name

    return folder / f"{distinct_file_name(case_id)}{suffix}"


def write_mask(path: Path, labels: np.ndarray) -> None:
    """Write a label map as PNG, atomically (a killed run never leaves half a mask)."""
    write_png(path, labels.astype(np.uint8))


def write_png(path: Path, image: Any) -> None:
    """Write an array (or a PIL image) as PNG, atomically: the cache's masks, and the images it holds for sets that
    ship theirs inside other files (LabelMe's embedded images, PanNuke's arrays, MATLAB files)."""
    from PIL import Image

    partial = path.with_suffix(f".{os.getpid()}.part")
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(partial, format="PNG")
    partial.replace(path)
