"""What the service stores for a segmentation: per-class measurements, the mask file and an overlay picture.

Pure functions of numpy arrays (no torch): :func:`measurements` (pixel/voxel counts, areas in mm^2 or volumes in
mm^3 when the spacing is known), :func:`mask_file` (PNG for images, NIfTI with the input's affine for volumes)
and :func:`overlay_picture` (the segmented classes filled and outlined over the displayed image).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medimg.tasks.segment.masks import class_colour


def measurements(
    labels: np.ndarray,
    probabilities: Mapping[str, float],
    class_names: Sequence[str],
    spacing_mm: Sequence[float] | None,
) -> dict[str, Any]:
    """Per-class sizes of a label map ``(*spatial)``.

    Returns:
        ``{"spatial_dims", "count_unit": "pixel"|"voxel", "measure": "area_mm2"|"volume_mm3", "size_unit":
        "mm2"|"mm3"|None, "spacing_mm", "classes": [{"index", "name", "colour", "count", "fraction",
        <measure>: float | None, "mean_probability"}]}``; ``<measure>`` is None when the spacing is unknown.
    """
    dims = labels.ndim
    k = len(class_names)
    counts = np.bincount(labels.ravel(), minlength=k)[:k]
    total = max(int(counts.sum()), 1)
    unit = float(np.prod(spacing_mm)) if spacing_mm else None
    measure = "area_mm2" if dims == 2 else "volume_mm3"
    classes = []
    for index, (name, count) in enumerate(zip(class_names, counts, strict=True)):
        colour = class_colour(index)
        classes.append(
            {
                "index": index,
                "name": name,
                "colour": "#{:02x}{:02x}{:02x}".format(*colour),
                "count": int(count),
                "fraction": round(int(count) / total, 6),
                measure: round(float(count) * unit, 6) if unit else None,
                "mean_probability": round(float(probabilities.get(name, 0.0)), 6),
            }
        )
    return {
        "spatial_dims": dims,
        "count_unit": "pixel" if dims == 2 else "voxel",
        "measure": measure,
        "size_unit": ("mm2" if dims == 2 else "mm3") if unit else None,
        "spacing_mm": [round(float(s), 6) for s in spacing_mm] if spacing_mm else None,
        "classes": classes,
    }


def mask_file(
    labels: np.ndarray,
    *,
    nifti: bool,
    affine: np.ndarray | None,
    spacing_mm: Sequence[float] | None,
    colours: Mapping[int, Sequence[int]] | None,
    num_classes: int,
    values: Sequence[int] | None = None,
    squeezed_z: bool = False,
    nifti_geometry: Mapping[str, Any] | None = None,
) -> tuple[bytes, str]:
    """The label map as the PyTorch engine writes it for this input: ``(bytes, "nii.gz")`` for NIfTI inputs and
    volumes (uint8, the input's affine, and a NIfTI input's qform and sform with their codes, ``nifti_geometry``;
    a 2D slice stored ``(H, W, 1)``, ``squeezed_z``, keeps that shape), ``(bytes, "png")`` otherwise; ``values``: the
    value each class had in the training masks (:func:`medimg.tasks.segment.masks.label_values`), as predict
    writes them."""
    from medimg.export.segment import mask_png, write_mask

    if labels.ndim == 2 and not nifti:
        return mask_png(labels, colours=colours, num_classes=num_classes, values=values), "png"
    with tempfile.TemporaryDirectory(prefix="medimg-mask-") as tmp:
        path = write_mask(
            labels,
            Path(tmp) / "mask.nii.gz",
            affine=affine,
            spacing_mm=spacing_mm,
            squeezed_z=squeezed_z,
            nifti_geometry=nifti_geometry,
            values=values,
        )
        return path.read_bytes(), "nii.gz"


def overlay_picture(picture: np.ndarray, labels: np.ndarray, *, alpha: float = 0.4) -> np.ndarray:
    """Foreground classes of a 2D label map filled (``alpha``) and outlined over ``picture``.

    Args:
        picture: ``(H, W)`` or ``(H, W, 3)`` uint8 (the displayed image, maybe a thumbnail).
        labels: ``(h, w)`` class indices at the image's own size (resized to the picture, nearest).

    Returns:
        ``(H, W, 3)`` uint8.
    """
    from PIL import Image
    from scipy import ndimage

    rgb = (picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=-1)).astype(np.float32)
    size = (rgb.shape[1], rgb.shape[0])
    shown = labels.astype(np.uint8)
    if shown.shape[::-1] != size:
        shown = np.asarray(Image.fromarray(shown).resize(size, Image.Resampling.NEAREST))
    for index in [int(v) for v in np.unique(shown) if v != 0]:
        mask = shown == index
        colour = np.array(class_colour(index), dtype=np.float32)
        rgb[mask] = rgb[mask] * (1 - alpha) + colour * alpha
        rgb[mask & ~ndimage.binary_erosion(mask)] = colour
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
