"""The plan's preprocessing in numpy only, for the torch-free ONNX predictor.

It reproduces :func:`medimg.transforms.preprocess.preprocess_arrays` step by step: block reduction of images
many times the input size (:func:`medimg.io.limits.reduce_for_size`), channel conversion, MONAI
``Resize`` (Gaussian anti-aliasing with the ``erf`` kernel and zero padding when shrinking, then linear
interpolation with ``align_corners=False``), clip + standardise, and the float16 round trip of the
preprocessed tensor. ``tests/export`` checks the two against each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medimg.errors import MULTI_CHANNEL_HINT, DatasetError, wrong_dimensions
from medimg.io.frames import convert_colours
from medimg.io.limits import reduce_for_size
from medimg.planning.plan import PER_IMAGE_MIN_STD
from medimg.transforms.denoise import denoise

PREPROCESSING_KEYS = (
    "spatial_dims",
    "in_channels",
    "input_size",
    "clip_low",
    "clip_high",
    "norm_mean",
    "norm_std",
)
"""Plan fields the ONNX file carries (``medimg.preprocessing`` metadata) so it can preprocess on its own."""


def to_channels(
    array: np.ndarray, channels: int, source: str = "", meta: Mapping[str, Any] | None = None
) -> np.ndarray:
    """``(C, *spatial)`` to ``channels``: gray -> RGB by repetition, RGB(A) -> gray by luminance, RGBA -> RGB; only
    colours are converted (:func:`medimg.io.frames.is_colour` of the image's ``meta``; without it a volume's channels
    are frames), as :func:`medimg.transforms.preprocess.to_channels` does: a 4D file's frames are refused."""
    converted = convert_colours(array, channels, source, meta)
    if converted is not None:
        return converted
    raise DatasetError(
        f"{source or 'image'} has {array.shape[0]} channels but the model expects {channels}; convert the image first"
        + MULTI_CHANNEL_HINT
    )


def gaussian_kernel(sigma: float, truncated: float = 4.0) -> np.ndarray:
    """MONAI's ``gaussian_1d(sigma, approx="erf")``: the Gaussian integrated over each unit interval."""
    tail = int(max(sigma * truncated, 0.5) + 0.5)
    x = np.arange(-tail, tail + 1, dtype=np.float64)
    if sigma <= 0:
        return (x == 0).astype(np.float32)
    t = 0.70710678 / abs(sigma)
    erf = np.vectorize(math.erf)
    return np.clip(0.5 * (erf(t * (x + 0.5)) - erf(t * (x - 0.5))), 0, None).astype(np.float32)


def _filter_axis(array: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Correlate ``array`` with a symmetric 1D ``kernel`` along ``axis``, zero padding (same size)."""
    pad = (len(kernel) - 1) // 2
    widths = [(0, 0)] * array.ndim
    widths[axis] = (pad, pad)
    padded = np.pad(array, widths)
    n = array.shape[axis]
    out = np.zeros_like(array)
    for k, weight in enumerate(kernel):
        if weight != 0:
            out += weight * np.take(padded, np.arange(k, k + n), axis=axis)
    return out


def linear_axis(array: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation along ``axis`` to ``size`` samples (``align_corners=False``, as torch)."""
    n = array.shape[axis]
    if n == size:
        return array
    scale = np.float32(n / size)
    src = np.maximum((np.arange(size, dtype=np.float32) + 0.5) * scale - 0.5, 0).astype(np.float32)
    low = np.minimum(np.floor(src).astype(np.int64), n - 1)
    high = np.minimum(low + 1, n - 1)
    frac = (src - low).astype(np.float32)
    shape = [1] * array.ndim
    shape[axis] = size
    frac = frac.reshape(shape)
    result = np.take(array, low, axis=axis) * (1 - frac) + np.take(array, high, axis=axis) * frac
    return result.astype(np.float32)


def resize(array: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """MONAI ``Resize(size, mode="bilinear"/"trilinear", anti_aliasing=True)`` of a ``(C, *spatial)`` array."""
    out = array.astype(np.float32, copy=False)
    in_size = out.shape[1:]
    if tuple(in_size) == tuple(size):
        return out
    if any(o < i for o, i in zip(size, in_size, strict=True)):
        for axis, (i, o) in enumerate(zip(in_size, size, strict=True)):
            sigma = max(0.0, (float(np.float32(i) / np.float32(o)) - 1) / 2)
            if sigma > 0:
                out = _filter_axis(out, gaussian_kernel(sigma), axis + 1)
    for axis, o in enumerate(size):
        out = linear_axis(out, int(o), axis + 1)
    return out


def preprocess(
    arrays: Sequence[np.ndarray],
    spec: Mapping[str, Any],
    sources: Sequence[str] | None = None,
    metas: Sequence[Mapping[str, Any] | None] | None = None,
) -> np.ndarray:
    """Raw channel-first images -> the network input.

    Args:
        arrays: ``(C, H, W)`` or ``(C, D, H, W)`` float arrays as :func:`medimg.io.read_image` returns them.
        spec: the preprocessing fields (:data:`PREPROCESSING_KEYS`), e.g. from the ONNX metadata.
        sources: names for error messages.
        metas: the images' own (whether their channels are colours or a 4D file's frames).

    Returns:
        ``(N, in_channels, *input_size)`` float32 (values rounded through float16, like the PyTorch path).

    Raises:
        DatasetError: an image has the wrong dimensionality or channel count.
    """
    size = [int(s) for s in spec["input_size"]]
    channels, dims = int(spec["in_channels"]), int(spec["spatial_dims"])
    names = list(sources) if sources is not None else [""] * len(arrays)
    meta_of = list(metas) if metas is not None else [None] * len(arrays)
    denoising = (str(spec.get("denoise", "none")), float(spec.get("denoise_radius", 1.0)))  # earlier exports: none
    out = np.empty((len(arrays), channels, *size), dtype=np.float32)
    for i, array in enumerate(arrays):
        if array.ndim - 1 != dims:
            raise wrong_dimensions(names[i], array.ndim - 1, dims, size)
        reduced = reduce_for_size(array, size)  # block means first for images many times the input size
        converted = to_channels(np.asarray(reduced, dtype=np.float32), channels, names[i], meta_of[i])
        resized = resize(denoise(converted, *denoising), size)
        out[i] = normalise(resized, spec).astype(np.float16).astype(np.float32)
    return out


def normalise(image: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """One resized image ``(C, *input_size)`` clipped and standardised by the plan's numbers, or (``normalisation:
    per_image``; exports before it lack the field: dataset) by each channel's own mean and standard deviation, as
    :func:`medimg.transforms.preprocess.normalise`."""
    if spec.get("normalisation", "dataset") == "per_image":
        x = image.astype(np.float64)
        axes = tuple(range(1, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        std = np.maximum(x.std(axis=axes, keepdims=True), PER_IMAGE_MIN_STD)
        return ((x - mean) / std).astype(np.float32)
    clipped = np.clip(image, np.float32(spec["clip_low"]), np.float32(spec["clip_high"]))
    return (clipped - np.float32(spec["norm_mean"])) / np.float32(spec["norm_std"])


def preprocessing_steps(
    spec: Mapping[str, Any],
    *,
    window: Any = None,
    multi_label: bool = False,
    operating_point: Mapping[str, Any] | None = None,
) -> list[str]:
    """The classifier's preprocessing in words, in order, for a client that has only the ``.onnx`` file (or its
    ``.export.json``) and no medimg: the fields of ``spec`` (``medimg.preprocessing``) say the numbers, these steps
    say what to do with them, as :func:`preprocess` and :class:`~medimg.export.predictor.OnnxPredictor` do.

    Args:
        spec: the preprocessing fields (:data:`PREPROCESSING_KEYS`, ``canonical_orientation``, ``tta_flip_axes``).
        window: the run's intensity window (``medimg.input`` ``window``), if any.
        multi_label: one sigmoid per finding instead of a softmax.
        operating_point: a two-class run's operating point folded into the bias (``medimg.operating_point``:
            ``{"rule", "class", "thresholds"}``), said in the last step: its probabilities are scores relative to
            that threshold, not the raw softmax (the step said "softmax over the classes" only).
    """
    dims = int(spec["spatial_dims"])
    size = [int(s) for s in spec["input_size"]]
    layout = "(C, H, W)" if dims == 2 else "(C, D, H, W)"
    steps = [
        f"read the image as float32 channel-first {layout}, stored values (DICOM: after RescaleSlope/Intercept; "
        "non-CT DICOM mapped to 0..255 by its own VOI window)"
        + (f"; apply the intensity window {window} (centre, width or CT preset) as at training" if window else "")
        + (
            "; a 2D MetaImage/NRRD picture rows first, as a PNG of it (ITK stores x, the columns, first)"
            if dims == 2
            else ""
        )
    ]
    if dims == 3 and spec.get("canonical_orientation"):
        steps.append(
            "reorder and flip the volume's axes to the closest RAS+ orientation of its affine (transposes and flips "
            "only, no interpolation; nibabel.as_closest_canonical)"
        )
    steps += [
        f"when every side is at least 16x its target {size}, average blocks of the largest integer factor that keeps "
        "every side at least 8x its target (medimg.io.limits.reduce_for_size)",
        f"convert to {int(spec['in_channels'])} channel(s): grey to RGB by repeating it, RGB(A) to grey by luminance "
        "0.299 R + 0.587 G + 0.114 B, RGBA to RGB by dropping alpha",
        *denoise_step(spec),
        f"resize to {size} ({'rows, columns' if dims == 2 else 'the array axes in order'}; "
        f"{'bi' if dims == 2 else 'tri'}linear, align_corners=False); when shrinking, first "
        "filter each shrunk axis with a Gaussian of sigma (in/out - 1)/2 (MONAI Resize anti_aliasing)",
        (
            "per channel subtract the image's own mean and divide by its own standard deviation (population, at "
            f"least {PER_IMAGE_MIN_STD:g}; over the resized pixels), round through float16"
            if spec.get("normalisation", "dataset") == "per_image"
            else f"clip to [{spec['clip_low']}, {spec['clip_high']}], subtract {spec['norm_mean']}, divide by "
            f"{spec['norm_std']}, round through float16"
        ),
        f"stack to (N, {int(spec['in_channels'])}, {', '.join(map(str, size))}) float32 as input 'image' "
        "(any batch size N)",
    ]
    flips = [int(a) for a in spec.get("tta_flip_axes") or []]
    if flips:
        steps.append(
            f"average the output 'logits' of the image and of its mirror along each spatial axis {flips} (one axis "
            "at a time; spatial axis 0 is array axis 2), then apply the softmax (multi-label: sigmoid) yourself"
        )
    if multi_label:
        steps.append(
            "output 'probabilities': one sigmoid per finding, present at 0.5 (operating points are in the bias)"
        )
    elif operating_point:
        from medimg.tasks.classify.operating_point_record import operating_point_text

        steps.append(
            "output 'probabilities': softmax over the classes of medimg.class_names, in that order, with "
            f"{operating_point_text(operating_point)} folded into the bias (medimg.operating_point): "
            f"“{operating_point.get('class')}” is called at 0.5 or more; its probability is a score relative to "
            "that threshold, not the raw one"
        )
    else:
        steps.append("output 'probabilities': softmax over the classes of medimg.class_names, in that order")
    return steps


def denoise_step(spec: Mapping[str, Any]) -> list[str]:
    """The denoising step in words (none for a plan without it, and for exports made before it existed)."""
    method, radius = str(spec.get("denoise", "none")), float(spec.get("denoise_radius", 1.0))
    side = 2 * max(1, round(radius)) + 1
    return {
        "none": [],
        "median": [f"filter each channel with a {side}x{side} median (scipy.ndimage.median_filter, mode='reflect')"],
        "gaussian": [
            f"filter each channel with a Gaussian of sigma {radius:g} px (scipy.ndimage.gaussian_filter, "
            "mode='reflect')"
        ],
        "nl_means": [
            f"denoise each channel by non-local means (skimage.restoration.denoise_nl_means, patch_size {side}, "
            f"patch_distance {2 * side}, fast_mode): scale it to 0..1 by its range, h = 0.8 x estimate_sigma of it, "
            "then scale back"
        ],
    }.get(method, [f"denoise: {method} (see medimg.transforms.denoise)"])
