"""Segmentation inference in numpy only, for the torch-free ONNX predictor (and the export's parity check).

What the PyTorch path of :mod:`medimg.tasks.segment` computes with numpy already is shared, not copied: channel
matching, normalisation and the network-resolution shape (:mod:`medimg.tasks.segment.arrays`), post-processing,
mask files and the prediction record (:mod:`medimg.tasks.segment.masks`, re-exported here). This module holds
the numpy twins of the steps the PyTorch path does with torch and MONAI, so that ONNX Runtime and PyTorch give
the same masks:

* :func:`resize` (in :func:`prepare_image` and :func:`probabilities_at`): ``torch.nn.functional.interpolate``'s
  linear interpolation (``align_corners=False``, antialiased when a 2D image shrinks);
* :func:`sliding_window_probabilities`: MONAI's ``sliding_window_inference`` (windows of the patch size,
  ``overlap``, Gaussian blending with ``sigma = patch / 8``, zero padding of inputs smaller than a window) and
  the test-time passes of :mod:`medimg.tasks.segment.symmetries`.

``tests/export`` checks each against its PyTorch twin. The ONNX graph of a segmentation network has a dynamic
batch and the fixed spatial size of the plan's patch: every network input is one sliding window.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from medimg.export.preprocess import denoise_step, linear_axis
from medimg.tasks.segment.arrays import network_input
from medimg.tasks.segment.field_of_view import MAX_SURROUND_CONTRAST, SURROUND_SLACK

# The torch-free pieces the PyTorch path shares, re-exported for the ONNX predictor and the service.
from medimg.tasks.segment.masks import SegmentationPrediction as SegmentationPrediction
from medimg.tasks.segment.masks import label_values
from medimg.tasks.segment.masks import mask_path_for as mask_path_for
from medimg.tasks.segment.masks import mask_png as mask_png
from medimg.tasks.segment.masks import mask_suffix as mask_suffix
from medimg.tasks.segment.masks import postprocess as postprocess
from medimg.tasks.segment.masks import predicted_labels as predicted_labels
from medimg.tasks.segment.masks import summarise as summarise
from medimg.tasks.segment.masks import write_mask as write_mask
from medimg.tasks.segment.symmetries import passes_from_spec, passes_to_spec, plan_tta_passes

SEGMENT_PREPROCESSING_KEYS = (
    "spatial_dims",
    "in_channels",
    "num_classes",
    "denoise",
    "denoise_radius",
    "normalisation",
    "clahe",
    "clip_low",
    "clip_high",
    "norm_mean",
    "norm_std",
    "resample_factor",
    "target_spacing_mm",
    "canonical_orientation",
    "patch_size",
    "sw_overlap",
    "tta_passes",
    "postprocessing",
    "min_object_fraction",
    "field_of_view",
    "mask_values",
    "absent_classes",
)
"""Fields of the ``medimg.preprocessing`` metadata of a segmentation export (see :func:`segment_spec`;
``mask_values``: the training masks' value of each class, only where it is not the class index,
:func:`~medimg.tasks.segment.masks.label_values`; ``absent_classes``: the classes no training mask held, never
predicted, :func:`~medimg.tasks.segment.masks.predicted_labels`)."""

SEGMENT_REQUIRED_KEYS = tuple(
    key
    for key in SEGMENT_PREPROCESSING_KEYS
    if key
    not in (
        "denoise",
        "denoise_radius",
        "clahe",
        "tta_passes",
        "canonical_orientation",
        "field_of_view",
        "mask_values",
        "absent_classes",
    )
)
"""The fields every segmentation export holds: exports of earlier medimg versions lack ``denoise``,
``denoise_radius``, ``clahe`` and ``canonical_orientation`` (read as off), ``tta_passes`` (read from their
``tta_flip_axes``), ``field_of_view`` (segmented everywhere) and ``mask_values`` (masks written as class indices,
0/255 when binary); an export whose masks' values are the class indices has no ``mask_values`` either."""


def segment_spec(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The inference part of a segmentation plan (``SegPlan.model_dump()``), as the ONNX metadata carries it."""
    spec = {key: plan[key] for key in SEGMENT_PREPROCESSING_KEYS if key in plan}
    spec["tta_passes"] = passes_to_spec(plan_tta_passes(plan))
    values = label_values(plan.get("label_encoding"))
    if values is not None:  # gray-level or 0/255 training masks: predicted masks hold the same values
        spec["mask_values"] = values
    encoding = plan.get("label_encoding")
    if encoding is not None:
        from medimg.tasks.segment.labels import LabelEncoding, unused_classes

        absent = unused_classes(LabelEncoding.model_validate(encoding))
        if absent:  # BraTS's 3: never predicted
            spec["absent_classes"] = absent
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
    array: np.ndarray,
    spacing: Sequence[float] | None,
    spec: Mapping[str, Any],
    source: str = "",
    meta: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Raw image ``(C, *spatial)`` -> normalised, resampled ``(C, *spatial')`` float32 network input (``meta``: the
    image's, which says whether its channels are colours or a 4D file's frames, as for the PyTorch path).

    Raises:
        DatasetError: the image has the wrong dimensionality or an unconvertible channel count.
    """
    x, shape = network_input(array, spacing, spec, source, meta=meta)
    return resize(x, shape)


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
        spec: :func:`segment_spec` (``patch_size``, ``sw_overlap``, ``tta_passes``; an older export's
            ``tta_flip_axes``).
        batch_size: windows per ``run`` call.
    """
    patch = [int(p) for p in spec["patch_size"]]
    overlap = float(spec["sw_overlap"])
    passes = passes_from_spec(spec)
    total: np.ndarray | None = None
    for axes, turns in passes:
        moved = np.flip(x, tuple(a + 1 for a in axes)) if axes else x
        moved = np.rot90(moved, turns, axes=(-2, -1)) if turns else moved
        out = _blend(run, np.ascontiguousarray(moved), patch, overlap, batch_size)
        out = np.rot90(out, -turns, axes=(-2, -1)) if turns else out
        out = np.flip(out, tuple(a + 1 for a in axes)) if axes else out
        total = out if total is None else total + out
    assert total is not None
    return np.ascontiguousarray(total / len(passes), dtype=np.float32)


def probabilities_at(probs: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Resample ``(K, *spatial)`` probabilities to the file's ``shape`` (linear), renormalised."""
    out = resize(probs, shape)
    return out / np.maximum(out.sum(0, keepdims=True), np.float32(1e-8))


# ------------------------------------------------------------------------------------------------ in words
def segment_preprocessing_steps(spec: Mapping[str, Any], *, window: Any = None) -> list[str]:
    """A segmenter's whole inference in words, in order, for a client that has only the ``.onnx`` file (or its
    ``.export.json``) and no medimg: the fields of ``spec`` (:func:`segment_spec`, ``medimg.preprocessing``) say the
    numbers, these steps say what to do with them, as :class:`~medimg.export.predictor.OnnxPredictor`'s
    ``segment_image`` does (:func:`prepare_image`, :func:`sliding_window_probabilities`, :func:`probabilities_at`,
    ``postprocess``).

    Args:
        spec: the segmentation fields of an export (an older export's ``tta_flip_axes`` is read as its passes).
        window: the run's intensity window (``medimg.input`` ``window``), if any.
    """
    dims = int(spec["spatial_dims"])
    channels = int(spec["in_channels"])
    patch = [int(p) for p in spec["patch_size"]]
    overlap = float(spec["sw_overlap"])
    layout = "(C, H, W)" if dims == 2 else "(C, D, H, W)"
    steps = [
        f"read the image as float32 channel-first {layout}, stored values (DICOM: after RescaleSlope/Intercept; "
        "non-CT DICOM mapped to 0..255 by its own VOI window)"
        + (f"; apply the intensity window {window} (centre, width or CT preset) as at training" if window else "")
        + ("; a stack of 2D sections (multi-page TIFF) is segmented section by section" if dims == 2 else "")
    ]
    if dims == 3 and spec.get("canonical_orientation"):
        steps.append(
            "reorder and flip the volume's axes to the closest RAS+ orientation of its affine (transposes and flips "
            "only, no interpolation; nibabel.as_closest_canonical); the last step puts the outputs back on the "
            "file's axes"
        )
    steps.append(
        f"convert to {channels} channel(s): one channel to three by repeating it; colours (a picture's RGB(A)): "
        "RGBA to RGB by dropping alpha, RGB(A) to grey by the mean of R, G and B; a 4D file's frames are refused"
    )
    steps += denoise_step(spec)
    if spec["normalisation"] == "ct":
        steps.append(
            f"clip to [{spec['clip_low']}, {spec['clip_high']}], subtract {spec['norm_mean']}, divide by "
            f"{spec['norm_std']} (the same numbers for every image)"
        )
    else:
        clahe = (
            "CLAHE on each channel scaled to 0..1 by its own min and max (skimage equalize_adapthist, default "
            "settings; a constant channel becomes 0), then "
            if spec.get("clahe")
            else ""
        )
        steps.append(
            clahe
            + "per image and channel: subtract the channel's mean, divide by its standard deviation (at least 1e-6)"
        )
    target = spec.get("target_spacing_mm")
    factor = float(spec.get("resample_factor", 1.0) or 1.0)
    size = (
        f"to the spacing {list(target)} mm: each side round(side * spacing / target), at least 1 (a volume without "
        "spacing keeps its size)"
        if dims == 3 and target
        else (f"each side round(side / {factor:g}), at least 1" if factor != 1 else "its own size (no resampling)")
    )
    steps.append(
        f"resample {size}; linear interpolation, align_corners=False (torch.nn.functional.interpolate), the last "
        "axis first"
        + ("; when the image shrinks (fewer pixels), torch's antialiased bilinear filter" if dims == 2 else "")
    )
    steps.append(
        f"sliding windows of {patch} (input 'image', (N, {channels}, {', '.join(map(str, patch))}) float32, any batch "
        f"size N): zero-pad each axis shorter than the window to the window (half before, the rest after); windows "
        f"step max(int(window * (1 - {overlap:g})), 1) along each axis, the last one moved back to end at the edge "
        "(MONAI sliding_window_inference, dense_patch_slices)"
    )
    steps.append(
        "blend the windows' output 'probabilities' (softmax over the classes) with a Gaussian weight per window "
        "(sigma = 0.125 * window side per axis, float32, floored at max(its minimum, 1e-3)): sum of "
        "probabilities * weight over sum of weights, then crop the padding"
    )
    passes = passes_from_spec(spec)
    if len(passes) > 1:
        listed = "; ".join(
            " then ".join(
                part
                for part in (
                    f"mirror spatial axes {list(axes)}" if axes else "",
                    f"{turns} quarter turn(s) in the plane of the last two axes (numpy.rot90)" if turns else "",
                )
                if part
            )
            or "as is"
            for axes, turns in passes
        )
        steps.append(
            f"test-time augmentation: run the two steps above on {len(passes)} copies ({listed}; spatial axis 0 "
            "is array axis 1), undo each copy's transform on its probabilities, average them"
        )
    steps.append(
        "resample the probabilities to the file's size (the same interpolation), divide by their sum over the "
        "classes (at least 1e-8)"
    )
    method = str(spec["postprocessing"])
    steps.append("label = argmax over the classes of medimg.class_names (0 is background)")
    values = spec.get("mask_values")
    if method == "largest_component":
        steps.append(
            "post-processing: per foreground class keep only its largest connected component (full connectivity: "
            "diagonal neighbours connect); removed pixels become background"
        )
    elif method == "remove_small":
        steps.append(
            "post-processing: per foreground class drop connected components (full connectivity) smaller than "
            f"{float(spec['min_object_fraction']):g} of that class's largest; removed pixels become background"
        )
    rule = spec.get("field_of_view")
    if rule:
        steps.append(
            "field of view: the brightest channel at each pixel; threshold t = p1 + "
            f"{float(rule['fraction']):g} x (Otsu threshold - p1), p1 its 1st percentile; the largest connected "
            "component above t (face connectivity), holes filled, is the field of view; label 0 outside it. Not "
            f"applied (with a warning) when the outside covers less than {float(rule['surround_share'][0]):g} / "
            f"{SURROUND_SLACK:g} or more than min(0.95, {float(rule['surround_share'][1]):g} x {SURROUND_SLACK:g}) "
            f"of the image, or its median lies more than {MAX_SURROUND_CONTRAST:g} of the way from p1 to the "
            "inside's median (medimg.tasks.segment.field_of_view)"
        )
    if values:
        steps.append(
            f"write each class as the value the training masks gave it, {list(values)} (class 0, 1, ...), "
            "in the mask file"
        )
    return steps
