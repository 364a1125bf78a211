"""Segmentation inference in numpy only, for the torch-free ONNX predictor (and the export's parity check).

It reproduces the PyTorch path of :mod:`medimg.tasks.segment` step by step, so that ONNX Runtime and PyTorch
give the same masks:

* :func:`prepare_image`: channel matching, per-image z-score or CT clip + global z-score, resampling to network
  resolution (2D: ``resample_factor``; 3D: ``target_spacing_mm``) with ``torch.nn.functional.interpolate``'s
  linear interpolation (``align_corners=False``, antialiased when a 2D image shrinks);
* :func:`sliding_window_probabilities`: MONAI's ``sliding_window_inference`` (windows of the patch size,
  ``overlap``, Gaussian blending with ``sigma = patch / 8``, zero padding of inputs smaller than a window) and
  test-time flips;
* :func:`probabilities_at` (back to the file's grid), :func:`postprocess` (largest component / small-object
  removal) and :func:`write_mask` (PNG or NIfTI in the input's geometry).

``tests/export`` checks each against its PyTorch twin. The ONNX graph of a segmentation network has a dynamic
batch and the fixed spatial size of the plan's patch: every network input is one sliding window.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import DatasetError
from medimg.export.preprocess import linear_axis

SEGMENT_PREPROCESSING_KEYS = (
    "spatial_dims",
    "in_channels",
    "num_classes",
    "normalisation",
    "clip_low",
    "clip_high",
    "norm_mean",
    "norm_std",
    "resample_factor",
    "target_spacing_mm",
    "patch_size",
    "sw_overlap",
    "tta_flip_axes",
    "postprocessing",
    "min_object_fraction",
)
"""Fields of the ``medimg.preprocessing`` metadata of a segmentation export (see :func:`segment_spec`)."""

IGNORE = 255
"""Label value of ignored pixels (:data:`medimg.tasks.segment.labels.IGNORE`); written masks hold none."""


def segment_spec(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The inference part of a segmentation plan (``SegPlan.model_dump()``), as the ONNX metadata carries it."""
    spec = {key: plan[key] for key in SEGMENT_PREPROCESSING_KEYS if key in plan}
    spec["tta_flip_axes"] = list(range(int(plan["spatial_dims"]))) if plan.get("tta") else []
    return spec


def mask_colours(plan: Any) -> dict[int, tuple[int, int, int]] | None:
    """``class -> (R, G, B)`` for PNG masks of a plan whose masks were colour-coded (``None`` otherwise), as
    the PyTorch engine (``Model.predict``) writes them."""
    table = plan.label_encoding.colour_table
    if table is None:
        return None
    by_label = {label: colour for colour, label in table.lookup().items() if label < plan.num_classes}
    return {label: by_label[label] for label in sorted(by_label)}


# ------------------------------------------------------------------------------------------- preprocessing
def match_channels(array: np.ndarray, channels: int, source: str = "") -> np.ndarray:
    """Make ``(C, *spatial)`` have ``channels`` channels: gray -> repeated, RGBA -> RGB, RGB -> mean gray."""
    have = array.shape[0]
    if have == channels:
        return array
    if have == 1:
        return np.repeat(array, channels, axis=0)
    if have == 4 and channels == 3:
        return array[:3]
    if channels == 1 and have in (3, 4):
        return array[:3].mean(axis=0, keepdims=True)
    raise DatasetError(f"{source}: image has {have} channels but the model expects {channels}")


def normalise(array: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """``zscore``: per channel ``(x - mean) / std`` of this image; ``ct``: clip, then global z-score."""
    x = array.astype(np.float32, copy=True)
    if spec["normalisation"] == "ct":
        np.clip(x, spec["clip_low"], spec["clip_high"], out=x)
        return (x - spec["norm_mean"]) / spec["norm_std"]
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return (x - mean) / np.maximum(std, 1e-6)


def network_shape(shape: Sequence[int], spacing: Sequence[float] | None, spec: Mapping[str, Any]) -> tuple[int, ...]:
    """Spatial shape at network resolution (2D: divided by ``resample_factor``; 3D: at ``target_spacing_mm``)."""
    target = spec.get("target_spacing_mm")
    if int(spec["spatial_dims"]) == 3 and target and spacing:
        return tuple(max(1, round(s * sp / t)) for s, sp, t in zip(shape, spacing, target, strict=True))
    factor = float(spec.get("resample_factor", 1.0))
    if factor != 1:
        return tuple(max(1, round(s / factor)) for s in shape)
    return tuple(int(s) for s in shape)


def _antialiased_axis(array: np.ndarray, size: int, axis: int) -> np.ndarray:
    """torch's ``interpolate(..., antialias=True)`` along one axis: a triangle filter widened by the scale."""
    n = array.shape[axis]
    scale = n / size
    support = scale if scale >= 1 else 1.0
    invscale = 1 / scale if scale >= 1 else 1.0
    weights = np.zeros((size, n), dtype=np.float64)
    for i in range(size):
        centre = scale * (i + 0.5)
        low = max(int(centre - support + 0.5), 0)
        high = min(int(centre + support + 0.5), n)
        j = np.arange(low, high)
        w = np.clip(1 - np.abs((j - centre + 0.5) * invscale), 0, None)
        total = w.sum()
        weights[i, low:high] = w / total if total else w
    moved = np.moveaxis(array, axis, -1).astype(np.float64)
    return np.moveaxis(moved @ weights.T, -1, axis).astype(np.float32)


def resize(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Linear resize of ``(C, *spatial)`` to ``shape`` as :func:`medimg.tasks.segment.preprocess.resize` does it.

    ``align_corners=False``; when a 2D image shrinks (fewer pixels in all) torch's antialiasing filter is used.
    """
    out = np.asarray(array, dtype=np.float32)
    if tuple(out.shape[1:]) == tuple(shape):
        return out
    antialias = len(shape) == 2 and math.prod(shape) < math.prod(out.shape[1:])
    for axis in reversed(range(len(shape))):  # torch resizes the last axis first
        if out.shape[axis + 1] == shape[axis]:
            continue
        if antialias:
            out = _antialiased_axis(out, int(shape[axis]), axis + 1)
        else:
            out = linear_axis(out, int(shape[axis]), axis + 1)
    return out


def prepare_image(
    array: np.ndarray, spacing: Sequence[float] | None, spec: Mapping[str, Any], source: str = ""
) -> np.ndarray:
    """Raw image ``(C, *spatial)`` -> normalised, resampled ``(C, *spatial')`` float32 network input.

    Raises:
        DatasetError: the image has the wrong dimensionality or an unconvertible channel count.
    """
    dims = int(spec["spatial_dims"])
    if array.ndim - 1 != dims:
        raise DatasetError(
            f"{source or 'image'}: a {array.ndim - 1}D image for a {dims}D model; use a model trained on "
            f"{array.ndim - 1}D data"
        )
    x = normalise(match_channels(np.asarray(array), int(spec["in_channels"]), source), spec)
    return resize(x, network_shape(array.shape[1:], spacing, spec))


# ------------------------------------------------------------------------------------------ sliding window
def padding(shape: Sequence[int], patch: Sequence[int]) -> list[tuple[int, int]]:
    """``(before, after)`` zero padding per spatial axis so that every axis is at least one patch long."""
    out = []
    for size, p in zip(shape, patch, strict=True):
        diff = max(int(p) - int(size), 0)
        out.append((diff // 2, diff - diff // 2))
    return out


def window_starts(shape: Sequence[int], patch: Sequence[int], overlap: float) -> list[tuple[int, ...]]:
    """Corners of the sliding windows over a (padded) ``shape``, in MONAI's order (``dense_patch_slices``)."""
    per_axis = []
    for size, p in zip(shape, patch, strict=True):
        interval = int(p) if p == size else max(int(p * (1 - overlap)), 1)
        count = next((d for d in range(math.ceil(size / interval)) if d * interval + p >= size), 0) + 1
        per_axis.append([i * interval - max(i * interval + p - size, 0) for i in range(count)])
    return list(itertools.product(*per_axis))


def gaussian_importance(patch: Sequence[int], sigma_scale: float = 0.125) -> np.ndarray:
    """MONAI's Gaussian blending weight of one window (``compute_importance_map``), float32."""
    weight = np.ones((), dtype=np.float32)
    for p in patch:
        x = np.arange(-(p - 1) / 2.0, (p - 1) / 2.0 + 1, dtype=np.float32)[: int(p)]
        g = np.exp(x**2 / np.float32(-2 * (p * sigma_scale) ** 2)).astype(np.float32)
        weight = np.multiply.outer(weight, g)
    weight = weight.astype(np.float32)
    return np.maximum(weight, max(float(weight.min()), 1e-3)).astype(np.float32)


def extract_windows(x: np.ndarray, patch: Sequence[int], overlap: float) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """The windows of ``x`` ``(C, *spatial)`` (zero padded to at least one patch): ``(N, C, *patch)`` and corners."""
    padded = np.pad(x, [(0, 0), *padding(x.shape[1:], patch)])
    starts = window_starts(padded.shape[1:], patch, overlap)
    windows = np.stack(
        [padded[(slice(None), *(slice(s, s + int(p)) for s, p in zip(start, patch, strict=True)))] for start in starts]
    )
    return np.ascontiguousarray(windows, dtype=np.float32), starts


def _blend(
    run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, patch: Sequence[int], overlap: float, batch_size: int
) -> np.ndarray:
    windows, starts = extract_windows(x, patch, overlap)
    pads = padding(x.shape[1:], patch)
    weight = gaussian_importance(patch)
    total: np.ndarray | None = None
    count = np.zeros(tuple(s + a + b for s, (a, b) in zip(x.shape[1:], pads, strict=True)), dtype=np.float32)
    for begin in range(0, len(windows), batch_size):
        probs = np.asarray(run(windows[begin : begin + batch_size]), dtype=np.float32)
        if total is None:
            total = np.zeros((probs.shape[1], *count.shape), dtype=np.float32)
        for start, p in zip(starts[begin : begin + batch_size], probs, strict=True):
            region = tuple(slice(s, s + int(k)) for s, k in zip(start, patch, strict=True))
            total[(slice(None), *region)] += p * weight
            count[region] += weight
    assert total is not None  # at least one window
    out = total / count
    crop = tuple(slice(a, a + s) for (a, _), s in zip(pads, x.shape[1:], strict=True))
    return out[(slice(None), *crop)]


def sliding_window_probabilities(
    run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, spec: Mapping[str, Any], *, batch_size: int = 8
) -> np.ndarray:
    """Softmax probabilities ``(K, *spatial)`` float32 of the network input ``x`` ``(C, *spatial)``.

    Args:
        run: windows ``(n, C, *patch_size)`` float32 -> probabilities ``(n, K, *patch_size)``.
        x: the preprocessed image (:func:`prepare_image`), any spatial size.
        spec: :func:`segment_spec` (``patch_size``, ``sw_overlap``, ``tta_flip_axes``).
        batch_size: windows per ``run`` call.
    """
    patch = [int(p) for p in spec["patch_size"]]
    overlap = float(spec["sw_overlap"])
    passes: list[tuple[int, ...]] = [(), *[(int(a),) for a in spec.get("tta_flip_axes", [])]]
    total: np.ndarray | None = None
    for axes in passes:
        flipped = np.flip(x, tuple(a + 1 for a in axes)) if axes else x
        out = _blend(run, np.ascontiguousarray(flipped), patch, overlap, batch_size)
        out = np.flip(out, tuple(a + 1 for a in axes)) if axes else out
        total = out if total is None else total + out
    assert total is not None
    return np.ascontiguousarray(total / len(passes), dtype=np.float32)


def probabilities_at(probs: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Resample ``(K, *spatial)`` probabilities to the file's ``shape`` (linear), renormalised."""
    out = resize(probs, shape)
    return out / np.maximum(out.sum(0, keepdims=True), np.float32(1e-8))


# ---------------------------------------------------------------------------------------- post-processing
def postprocess(labels: np.ndarray, method: str, num_classes: int, *, min_object_fraction: float = 0.1) -> np.ndarray:
    """Clean a label map ``(*spatial)`` as :func:`medimg.tasks.segment.inference.postprocess` does.

    ``largest_component`` keeps the largest connected component of each foreground class; ``remove_small``
    drops components smaller than ``min_object_fraction`` of the class's largest one; ``none`` does nothing.
    """
    if method == "none":
        return labels
    from scipy import ndimage

    out = labels.copy()
    for cls in range(1, num_classes):
        mask = labels == cls
        if not mask.any():
            continue
        structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
        labelled, count = ndimage.label(mask, structure=structure)
        sizes = np.bincount(labelled.ravel(), minlength=count + 1)
        sizes[0] = 0
        if method == "largest_component":
            keep = labelled == int(sizes.argmax())
        else:
            keep = np.isin(labelled, np.nonzero(sizes >= min_object_fraction * sizes.max())[0])
        out[mask & ~keep] = 0
    return out


# ------------------------------------------------------------------------------------------------- output
def mask_suffix(source: Path) -> str:
    """Output suffix for a mask of ``source``: NIfTI stays NIfTI, everything else becomes PNG (lossless)."""
    return ".nii.gz" if source.name.lower().endswith((".nii", ".nii.gz")) else ".png"


def mask_png(labels: np.ndarray, *, colours: Mapping[int, Sequence[int]] | None = None, num_classes: int = 2) -> bytes:
    """A 2D label map as PNG: colour-coded with ``colours``, binary as 0/255, otherwise class indices."""
    from PIL import Image

    if labels.ndim != 2:
        raise ValueError(f"PNG masks are 2D; got shape {labels.shape} (write volumes as .nii.gz)")
    labels = np.where(labels == IGNORE, 0, labels).astype(np.uint8)
    if colours:
        rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
        for cls, colour in colours.items():
            rgb[labels == int(cls)] = [int(c) for c in colour]
        image = Image.fromarray(rgb, mode="RGB")
    elif num_classes == 2:
        image = Image.fromarray((labels > 0).astype(np.uint8) * 255, mode="L")
    else:
        image = Image.fromarray(labels, mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_mask(
    labels: np.ndarray,
    path: Path,
    *,
    affine: np.ndarray | None = None,
    spacing_mm: Sequence[float] | None = None,
    colours: Mapping[int, Sequence[int]] | None = None,
    num_classes: int = 2,
) -> Path:
    """Write a label map in the input's geometry: NIfTI (uint8, the input's affine) or PNG (:func:`mask_png`)."""
    from medimg.fileio import atomic_write_bytes
    from medimg.io.image import ImageData

    if path.name.lower().endswith((".nii", ".nii.gz")):
        from medimg.io.nifti import write_nifti

        clean = np.where(labels == IGNORE, 0, labels).astype(np.uint8)
        image = ImageData(clean[None], spacing_mm=tuple(spacing_mm) if spacing_mm else None, affine=affine)
        return write_nifti(image, path, dtype=np.uint8)
    return atomic_write_bytes(path, mask_png(labels, colours=colours, num_classes=num_classes))


@dataclass
class SegmentationPrediction:
    """The model's answer for one file (the torch-free twin of the PyTorch path's result: same ``to_dict``).

    Attributes:
        source: the input file.
        mask_path: where the predicted mask was written (input's format and geometry), or ``None``.
        class_names: class names, index-aligned.
        voxels: predicted voxels (pixels) per class.
        volume_mm3: predicted volume (area in mm^2 for 2D) per class, when the spacing is known.
        probabilities: mean softmax probability of each class over the image (sums to 1).
        mask: the label map ``(*spatial)`` uint8 in the file's geometry (not in :meth:`to_dict`).
    """

    source: str
    mask_path: str | None
    class_names: list[str]
    voxels: dict[str, int]
    volume_mm3: dict[str, float] | None
    probabilities: dict[str, float]
    mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """The foreground class with the most predicted voxels, or the background class when none is found."""
        foreground = {k: v for k, v in list(self.voxels.items())[1:] if v > 0}
        return max(foreground, key=lambda k: foreground[k]) if foreground else self.class_names[0]

    @property
    def confidence(self) -> float:
        """Mean probability of :attr:`label` over the image."""
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mask_path": self.mask_path,
            "label": self.label,
            "class_names": self.class_names,
            "voxels": self.voxels,
            "volume_mm3": self.volume_mm3,
            "probabilities": self.probabilities,
        }


def summarise(
    labels: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    spacing_mm: Sequence[float] | None,
    source: str = "",
    mask_path: str | None = None,
) -> SegmentationPrediction:
    """Per-class voxel counts, physical sizes (mm^2 in 2D, mm^3 in 3D, when the spacing is known) and mean
    probabilities of a label map ``(*spatial)`` and its probabilities ``(K, *spatial)``."""
    k = len(class_names)
    counts = np.bincount(labels.ravel(), minlength=k)[:k]
    unit = float(np.prod(spacing_mm)) if spacing_mm else None
    return SegmentationPrediction(
        source=source,
        mask_path=mask_path,
        class_names=list(class_names),
        voxels={n: int(c) for n, c in zip(class_names, counts, strict=True)},
        volume_mm3={n: float(c) * unit for n, c in zip(class_names, counts, strict=True)} if unit else None,
        probabilities={n: float(p) for n, p in zip(class_names, probs.reshape(k, -1).mean(1), strict=True)},
        mask=labels,
    )
