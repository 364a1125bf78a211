"""A mask stored on another grid than its image: another resolution over the same field of view, or a box of the
image's voxel grid.

Public sets do ship them: the COVID-19 Radiography Database's lung masks are 256 px for 299 px radiographs, the SCR
masks of JSRT 1024 px for 2048 px. When the mask's two axes are scaled by the same factor (the same aspect ratio,
within :data:`ASPECT_TOLERANCE`), it is the image's field of view at another resolution and is put on the image's grid
by nearest neighbour (no new label values).

3D Slicer saves a segmentation (``.seg.nrrd``) cropped to the region its segments cover ("crop to minimum extent", and
always for a segmentation without a reference volume), or extended past its reference volume when a segment reaches
beyond it. Its header's origin and spacing then place its voxels on a box of the image's voxel grid: the same spacing
and axes, an offset of whole voxels. :func:`box_on_image_grid` puts such a mask there, background elsewhere (no voxel
is moved off its place, no value made).

Any other difference (another aspect ratio, a 2D crop, a volume on another spacing or between the image's voxels)
stays an error: guessing there would train on misplaced labels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: the relative difference of the two axes' scale factors up to which a mask covers its image's field of view
#: (rounding a 299 px side to 256 changes the factor by less than 0.5%)
ASPECT_TOLERANCE = 0.02


def same_field_of_view(mask_shape: Sequence[int], image_shape: Sequence[int]) -> bool:
    """Whether a 2D mask of ``mask_shape`` covers an image of ``image_shape`` at another resolution (both 2D, both
    axes scaled by the same factor)."""
    if len(mask_shape) != 2 or len(image_shape) != 2 or min(mask_shape) < 1:
        return False
    rows, columns = (image / mask for image, mask in zip(image_shape, mask_shape, strict=True))
    return abs(rows - columns) <= ASPECT_TOLERANCE * max(rows, columns)


def nearest_resize(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``(C, *spatial)`` ``array`` resized to ``shape`` by nearest neighbour at pixel centres (values only copied)."""
    out = array
    for axis, size in enumerate(shape, start=1):
        stored = out.shape[axis]
        if stored != size:
            index = np.minimum(((np.arange(size) + 0.5) * stored / size).astype(np.int64), stored - 1)
            out = np.take(out, index, axis=axis)
    return out


#: a mask's voxels may lie this share of a voxel off its image's grid (its header's rounding) and still be placed on it
BOX_TOLERANCE_VOXELS = 0.1
#: ... and its voxel axes may differ from the image's by this much, in image voxels per mask voxel (spacing, rotation)
BOX_AXES_TOLERANCE = 1e-3


@dataclass(frozen=True)
class BoxPlacement:
    """A mask volume put on its image's voxel grid by :func:`box_on_image_grid`.

    Attributes:
        array: the mask ``(C, *image_shape)``, background (0) outside the box it was stored as.
        start: the image voxel of the stored mask's first voxel (negative where the mask began beyond the image).
        stored_shape: the mask's spatial size as stored.
        outside: labelled voxels (non-zero in any channel) of the stored mask that lie beyond the image, left out.
    """

    array: np.ndarray
    start: tuple[int, ...]
    stored_shape: tuple[int, ...]
    outside: int


def box_on_image_grid(
    array: np.ndarray, affine: np.ndarray | None, image_affine: np.ndarray | None, image_shape: Sequence[int]
) -> BoxPlacement | None:
    """``array`` (a mask volume ``(C, X, Y, Z)`` of another size than its image, in the image's axis order) put on the
    image's grid of ``image_shape`` when its ``affine`` places it on a box of that grid (see the module's docstring):
    the same voxel axes and spacing (within :data:`BOX_AXES_TOLERANCE`) and an offset of whole voxels (within
    :data:`BOX_TOLERANCE_VOXELS`) that overlaps the image. ``None`` otherwise: no geometry on either side, the same
    size (used voxel for voxel), another spacing or rotation, an offset between voxels, or no voxel in common."""
    from medimg.io.orientation import has_geometry

    shape = tuple(int(s) for s in image_shape)
    stored = tuple(int(s) for s in array.shape[1:])
    if array.ndim != 4 or len(shape) != 3 or stored == shape:
        return None
    if not (has_geometry(affine) and has_geometry(image_affine)):
        return None
    assert affine is not None and image_affine is not None
    try:
        to_image = np.linalg.inv(np.asarray(image_affine, np.float64)) @ np.asarray(affine, np.float64)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(to_image)) or not np.allclose(to_image[:3, :3], np.eye(3), atol=BOX_AXES_TOLERANCE):
        return None
    offset = to_image[:3, 3]
    start = np.rint(offset)
    if np.abs(offset - start).max() > BOX_TOLERANCE_VOXELS:
        return None
    begin = start.astype(np.int64)
    low = np.maximum(begin, 0)
    high = np.minimum(begin + np.asarray(stored), np.asarray(shape))
    if np.any(high <= low):
        return None
    placed = np.zeros((array.shape[0], *shape), dtype=array.dtype)
    target = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    source = tuple(slice(int(a - s), int(b - s)) for a, b, s in zip(low, high, begin, strict=True))
    placed[(slice(None), *target)] = array[(slice(None), *source)]
    labelled = int(np.count_nonzero(array.any(axis=0)))
    outside = labelled - int(np.count_nonzero(placed[(slice(None), *target)].any(axis=0)))
    return BoxPlacement(array=placed, start=tuple(int(v) for v in begin), stored_shape=stored, outside=outside)


@dataclass(frozen=True)
class Aligned:
    """A mask volume brought onto its image's grid by :func:`aligned_to_image`.

    Attributes:
        array: the mask ``(C, *spatial)`` as it lies on the image's grid.
        affine: its geometry now (the image's once placed on a box of it); ``None`` when the file had none.
        reoriented: its axes were flipped/permuted into the image's orientation.
        box: how it was put on a box of the image's grid, or ``None``.
    """

    array: np.ndarray
    affine: np.ndarray | None
    reoriented: bool
    box: BoxPlacement | None


def aligned_to_image(
    array: np.ndarray,
    affine: np.ndarray | None,
    image_affine: np.ndarray | None,
    image_shape: Sequence[int] | None,
) -> Aligned:
    """A mask ``array`` ``(C, *spatial)`` with its geometry ``affine`` in its image's axis order
    (:func:`medimg.io.orientation.reorient_like`) and, with ``image_shape``, put on the box of the image's grid its
    header places it on (:func:`box_on_image_grid`); as it is where either geometry is unknown."""
    from medimg.io.channels import reoriented_affine
    from medimg.io.orientation import reorient_like

    moved = reorient_like(array, affine, image_affine)
    if moved is not None:
        assert affine is not None and image_affine is not None  # both have a geometry
        affine = reoriented_affine(affine, image_affine, array.shape[1:])
        array = moved
    box = None if image_shape is None else box_on_image_grid(array, affine, image_affine, image_shape)
    if box is not None:
        array, affine = box.array, image_affine
    return Aligned(array=array, affine=affine, reoriented=moved is not None, box=box)


def note_left_out(mask: Path, box: BoxPlacement, image: Path | None = None) -> None:
    """Warn when labelled voxels of ``mask`` lay beyond its ``image`` (named when given) and were left out by its
    placement."""
    if box.outside:
        logger.warning(
            "%s: %d labelled voxel(s) lie beyond its image%s (its header places them outside the image's grid) and "
            "are left out",
            mask,
            box.outside,
            "" if image is None else f" {image}",
        )
