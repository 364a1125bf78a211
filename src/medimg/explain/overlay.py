"""Heatmap overlays as PNG (numpy + Pillow only: no torch, no matplotlib).

A heatmap is ``(H, W)`` (or ``(D, H, W)``) float in 0..1 at the network's input size; overlays resize it to
the displayed image, so the picture keeps the original resolution. 3D volumes are shown as the axial slice that
holds the most evidence: the plane across the array axis that runs closest to the patient's head-foot axis (by
the image's affine; the first spatial axis when there is none), drawn at its physical aspect ratio (by the voxel
spacing) and enlarged to at least :data:`MIN_SIDE_3D` pixels, with the array's own row and column order.
:func:`image_picture` draws that picture, for ``predict --explain``'s overlays and for everything the service shows
(its image, heatmap and segmentation overlay, the page and the printed report): one plane for all of them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_SIDE = 512
"""Longest side of thumbnails and overlays, pixels."""

MIN_SIDE_3D = 256
"""Longest side a slice of a volume is enlarged to (a 32 x 10 voxel slice is unreadable at its own size)."""


def jet(values: np.ndarray) -> np.ndarray:
    """The 'jet' colour map: ``(...)`` float 0..1 -> ``(..., 3)`` uint8 (blue = low, red = high)."""
    v = np.clip(values.astype(np.float32), 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # red, green, blue
    rgb = np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0)
    return (rgb * 255 + 0.5).astype(np.uint8)


def representative_slice(volume: np.ndarray) -> int:
    """Index along the first axis of ``(D, H, W)`` with the largest total value (the middle one if all equal)."""
    totals = volume.reshape(volume.shape[0], -1).sum(1)
    if not np.any(totals > totals.min()):
        return volume.shape[0] // 2
    return int(np.argmax(totals))


def _to_uint8(plane: np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """Map one image plane (any real dtype) to 0..255 for display, choosing a sensible window."""
    values = plane.astype(np.float32)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    if meta.get("window") is not None:  # already windowed by the reader: 0..1
        low, high = 0.0, 1.0
    elif meta.get("display_scaling"):
        # already mapped onto 0..255 by the reader (an MR/CR/DX... DICOM, through its own window when it has one:
        # medimg.io.windowing.display_scale); the file's window, still in meta in the stored units, was applied to
        # those 0..255 values a second time: a CR with window 3495/1200 was drawn all black, an MR greyed out
        low, high = 0.0, 255.0
    elif meta.get("window_center") is not None and meta.get("window_width"):
        center, width = float(meta["window_center"]), float(meta["window_width"])
        low, high = center - width / 2, center + width / 2
    elif meta.get("units") == "HU":  # CT without a stored window: soft tissue
        low, high = 40 - 200.0, 40 + 200.0
    elif finite.min() >= 0 and finite.max() <= 255 and finite.max() > 1:
        low, high = 0.0, 255.0
    else:
        low, high = (float(p) for p in np.percentile(finite, [0.5, 99.5]))
        if high <= low:
            low, high = float(finite.min()), float(finite.max()) + 1e-6
    scaled = (np.nan_to_num(values, nan=low) - low) / max(high - low, 1e-12)
    return (np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8)


def display_image(
    array: np.ndarray, meta: Mapping[str, Any] | None = None, *, slice_index: int | None = None
) -> np.ndarray:
    """A displayable picture of a read image.

    Args:
        array: ``(C, H, W)`` or ``(C, D, H, W)`` as :func:`medimg.io.read_image` returns it.
        meta: the image's ``meta`` (DICOM window, HU units, or an applied window).
        slice_index: for volumes, the slice to show (default the middle one).

    Returns:
        ``(H, W)`` (grayscale) or ``(H, W, 3)`` (colour) uint8.
    """
    meta = meta or {}
    if array.ndim == 4:
        index = array.shape[1] // 2 if slice_index is None else int(np.clip(slice_index, 0, array.shape[1] - 1))
        array = array[:, index]
    if array.ndim != 3:
        raise ValueError(f"expected a (C, H, W) or (C, D, H, W) image, got shape {array.shape}")
    if array.shape[0] in (3, 4):
        return np.stack([_to_uint8(c, meta) for c in array[:3]], axis=-1)
    return _to_uint8(array[0], meta)


def _resize_float(values: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if values.shape[::-1] == size_wh:
        return values.astype(np.float32)
    resized = Image.fromarray(values.astype(np.float32), mode="F").resize(size_wh, Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def _plane(heatmap: np.ndarray, slice_index: int | None) -> np.ndarray:
    if heatmap.ndim == 3:
        return heatmap[representative_slice(heatmap) if slice_index is None else slice_index]
    return heatmap


def thumbnail(picture: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Shrink ``(H, W)`` / ``(H, W, 3)`` uint8 so its longest side is at most ``max_side`` (never enlarges)."""
    from PIL import Image

    height, width = picture.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return picture
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.LANCZOS))


def overlay_rgb(
    picture: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45, slice_index: int | None = None
) -> np.ndarray:
    """Blend a heatmap over a picture.

    Args:
        picture: ``(H, W)`` or ``(H, W, 3)`` uint8 (see :func:`display_image`).
        heatmap: ``(h, w)`` or ``(d, h, w)`` float 0..1, any size (resized to the picture).
        alpha: heat opacity at full heat (it scales with the heat, so cold areas stay clear).
        slice_index: for 3D heatmaps, the slice to use (default :func:`representative_slice`).

    Returns:
        ``(H, W, 3)`` uint8.
    """
    rgb = picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=-1)
    heat = np.clip(_resize_float(_plane(heatmap, slice_index), (rgb.shape[1], rgb.shape[0])), 0, 1)
    weight = (alpha * heat)[..., None]
    blended = rgb.astype(np.float32) * (1 - weight) + jet(heat).astype(np.float32) * weight
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def heatmap_rgba(heatmap: np.ndarray, size_wh: tuple[int, int], *, slice_index: int | None = None) -> np.ndarray:
    """A transparent colour heatmap ``(H, W, 4)`` uint8 (alpha grows with the heat), to lay over an image."""
    heat = np.clip(_resize_float(_plane(heatmap, slice_index), size_wh), 0, 1)
    alpha = (np.clip(heat * 1.25, 0, 1) * 0.7 * 255 + 0.5).astype(np.uint8)
    return np.concatenate([jet(heat), alpha[..., None]], axis=-1)


def png_bytes(picture: np.ndarray) -> bytes:
    """Encode a uint8 ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` array as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def axial_axis(affine: np.ndarray | None) -> int:
    """The spatial array axis (0, 1 or 2 of ``(D, H, W)``) that runs closest to the world's head-foot axis (the
    affine's third row: RAS/LPS z); 0 without an affine."""
    if affine is None:
        return 0
    directions = np.asarray(affine, dtype=np.float64)[:3, :3]
    lengths = np.linalg.norm(directions, axis=0)
    return int(np.argmax(np.abs(directions[2]) / np.where(lengths > 0, lengths, 1.0)))


def _physical_size(picture: np.ndarray, spacing: tuple[float, float] | None, max_side: int) -> np.ndarray:
    """A slice resized to its physical aspect ratio (``spacing``: rows, columns in mm) and to a readable size."""
    from PIL import Image

    height, width = picture.shape[:2]
    rows_mm, cols_mm = spacing if spacing and min(spacing) > 0 else (1.0, 1.0)
    tall, wide = height * rows_mm, width * cols_mm
    scale = min(max_side, max(MIN_SIDE_3D, height, width)) / max(tall, wide)
    size = (max(1, round(wide * scale)), max(1, round(tall * scale)))
    if size == (width, height):
        return picture
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.BICUBIC))


def square_pixels(picture: np.ndarray, spacing: Sequence[float] | None) -> np.ndarray:
    """A 2D picture resampled to square pixels by its ``spacing`` (rows, columns in mm: DICOM's PixelSpacing), as
    a DICOM viewer shows it: a round object with 1.0 x 0.5 mm pixels was drawn as a wide ellipse."""
    from PIL import Image

    if spacing is None or len(spacing) != 2 or min(spacing) <= 0 or math.isclose(spacing[0], spacing[1], rel_tol=0.01):
        return picture
    finest = min(spacing)
    height, width = picture.shape[:2]
    size = (width * spacing[1] / finest, height * spacing[0] / finest)
    shrink = min(1.0, 4 * max(MAX_SIDE, height, width) / max(size))  # a damaged affine (8 km by 1 mm pixels) was
    size = (max(1, round(size[0] * shrink)), max(1, round(size[1] * shrink)))  # a MemoryError
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.BICUBIC))


@dataclass(frozen=True)
class ShownSlice:
    """Which slice of a volume a picture shows: the axial one (see :func:`axial_axis`) chosen by
    :func:`image_picture`.

    Attributes:
        axis: the spatial array axis (0, 1 or 2 of ``(D, H, W)``) the slice is cut across.
        index: the slice's index along ``axis`` (0-based, in the image's voxels).
        count: the number of slices along ``axis``.
        z_mm: the head-foot world coordinate of the slice's centre (the affine's third row; a DICOM viewer's
            slice location), None without an affine.
    """

    axis: int
    index: int
    count: int
    z_mm: float | None = None

    def cut(self, volume: np.ndarray) -> np.ndarray:
        """The plane of ``volume`` (``(d, h, w)``, any size along :attr:`axis`: a heatmap at the network's input
        size, a label map at the image's) at this slice's relative position."""
        depth = volume.shape[self.axis]
        index = round(self.index * (depth - 1) / max(1, self.count - 1))
        return np.take(volume, int(np.clip(index, 0, depth - 1)), axis=self.axis)

    def to_dict(self) -> dict[str, Any]:
        """``{"plane": "axial", "axis", "index", "count", "z_mm"}`` (JSON)."""
        shown: dict[str, Any] = {"plane": "axial", "axis": self.axis, "index": self.index, "count": self.count}
        if self.z_mm is not None:
            shown["z_mm"] = round(self.z_mm, 3)
        return shown


def image_picture(
    array: np.ndarray,
    meta: Mapping[str, Any] | None = None,
    *,
    affine: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    evidence: np.ndarray | None = None,
    max_side: int = MAX_SIDE,
) -> tuple[np.ndarray, ShownSlice | None]:
    """The picture of a read image that every report shows (``predict --explain``'s overlay, the service's image,
    heatmap and segmentation overlay, its printed report), so that all show the same plane at the same size.

    A 2D image is drawn with square pixels (by ``spacing``) and at most ``max_side`` pixels. A volume is drawn as
    its axial slice (the array axis closest to the head-foot axis by ``affine``; the first without one) that holds
    the most ``evidence`` (a heatmap, a foreground mask: the largest total; the middle slice without any), at its
    physical aspect ratio and enlarged to at least :data:`MIN_SIDE_3D` pixels.

    Args:
        array: ``(C, H, W)`` or ``(C, D, H, W)`` as :func:`medimg.io.read_image` returns it.
        meta: the image's ``meta`` (windowing).
        affine: the image's 4 x 4 voxel-to-world matrix (volumes).
        spacing: mm per spatial axis.
        evidence: ``(d, h, w)`` values whose heaviest slice is shown (any size along each axis).
        max_side: the picture's longest side at most.

    Returns:
        ``(picture, shown)``: ``(H, W)`` or ``(H, W, 3)`` uint8, and which slice it is (None for 2D); lay a volume
        over the picture with ``shown.cut(volume)``.
    """
    if array.ndim != 4:
        planar = spacing if array.ndim == 3 else None
        return thumbnail(square_pixels(display_image(array, meta), planar), max_side), None
    axis = axial_axis(affine)
    count = array.shape[axis + 1]
    index = count // 2
    if evidence is not None and evidence.ndim == 3:
        moved = np.moveaxis(evidence, axis, 0)
        index = round(representative_slice(moved) * (count - 1) / max(1, moved.shape[0] - 1))
    z_mm = None
    if affine is not None:
        centre = [(size - 1) / 2 for size in array.shape[1:]]
        centre[axis] = index
        z_mm = float(np.asarray(affine, dtype=np.float64)[2] @ [*centre, 1.0])
    shown = ShownSlice(axis=axis, index=int(index), count=count, z_mm=z_mm)
    in_plane: tuple[float, float] | None = None
    if spacing is not None and len(spacing) == 3:
        rows_mm, cols_mm = (float(s) for i, s in enumerate(spacing) if i != axis)
        in_plane = (rows_mm, cols_mm)
    plane = display_image(np.moveaxis(array, axis + 1, 1), meta, slice_index=shown.index)
    return _physical_size(plane, in_plane, max_side), shown


def overlay_png(
    array: np.ndarray,
    heatmap: np.ndarray,
    meta: Mapping[str, Any] | None = None,
    *,
    max_side: int = MAX_SIDE,
    affine: np.ndarray | None = None,
    spacing: tuple[float, ...] | None = None,
) -> bytes:
    """PNG of ``heatmap`` over the read image ``array`` (``(C, *spatial)``), drawn as :func:`image_picture` draws
    it: 3D shows the hottest axial slice (by ``affine``) at its physical aspect ratio (by ``spacing``, mm per
    spatial axis)."""
    picture, shown = image_picture(array, meta, affine=affine, spacing=spacing, evidence=heatmap, max_side=max_side)
    heat = shown.cut(heatmap) if shown is not None and heatmap.ndim == 3 else heatmap
    return png_bytes(overlay_rgb(picture, heat))


def heatmap_on_grid(heatmap: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """A volume's heatmap ``(d, h, w)`` at the network's input size put back on the image's voxel grid ``shape``:
    linear interpolation with ``align_corners=False``, the inverse of the stretch that resized the image to the
    input (each input voxel's heat lies where that voxel's image content came from)."""
    from medimg.export.preprocess import linear_axis

    out = np.asarray(heatmap, dtype=np.float32)[None]
    for axis, size in enumerate(shape):
        out = linear_axis(out, int(size), axis + 1)
    return np.clip(out[0], 0.0, 1.0)


def heatmap_nifti(heatmap: np.ndarray, shape: Sequence[int], affine: np.ndarray) -> bytes:
    """The heatmap of a volume as a gzipped NIfTI file (float32, 0..1) on the image's own voxel grid: ``shape`` and
    ``affine`` of the image the network read (in the axis order it read it, whose affine places it where the file
    does), so a viewer (ITK-SNAP, 3D Slicer, FSLeyes) lays it over the input volume without resampling.
    ``Prediction.heatmap`` is at the network's input size and in its axis order: saved with the input's affine it
    lies mirrored, rotated or stretched."""
    import gzip

    import nibabel as nib

    volume = heatmap_on_grid(heatmap, shape)
    matrix = np.asarray(affine, dtype=np.float64)
    image = nib.Nifti1Image(volume, matrix)
    image.set_sform(matrix, code=1)
    image.set_qform(matrix, code=1)
    image.header["descrip"] = b"medimg heatmap 0..1"
    return gzip.compress(image.to_bytes(), compresslevel=1, mtime=0)
