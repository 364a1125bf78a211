"""Network input from a read image, torch-free: dimensionality check, channel matching, normalisation and the
spatial shape at network resolution.

Shared by the PyTorch path (:func:`medimg.tasks.segment.preprocess.prepare_image`, which resamples with
``torch.nn.functional.interpolate``) and the ONNX Runtime predictor (:func:`medimg.export.segment.prepare_image`,
which resamples in numpy). The settings are a :class:`~medimg.tasks.segment.planning.SegPlan` or the mapping an
ONNX export carries (:func:`medimg.export.segment.segment_spec`): the same field names either way. Importing this
module loads neither torch nor MONAI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from medimg.errors import MULTI_CHANNEL_HINT, DatasetError
from medimg.io.frames import frames_refusal, is_colour
from medimg.transforms.denoise import denoise

if TYPE_CHECKING:
    from medimg.tasks.segment.planning import SegPlan

Settings: TypeAlias = "SegPlan | Mapping[str, Any]"
"""A plan or an export's preprocessing mapping."""
_REQUIRED: Any = object()


def setting(settings: Settings, key: str, default: Any = _REQUIRED) -> Any:
    """Field ``key`` of a plan or of an export's preprocessing mapping (``default`` when given and absent)."""
    if isinstance(settings, Mapping):
        return settings[key] if default is _REQUIRED else settings.get(key, default)
    return getattr(settings, key) if default is _REQUIRED else getattr(settings, key, default)


def match_channels(
    array: np.ndarray, channels: int, source: str = "", meta: Mapping[str, Any] | None = None
) -> np.ndarray:
    """Make ``(C, *spatial)`` have ``channels`` channels: gray -> RGB repeated, RGBA -> RGB, RGB -> mean gray; one
    channel is never repeated into a multi-channel (multi-modality) model's others. Only colours are averaged or
    dropped (:func:`is_colour` of the image's ``meta``): a 4D volume's frames are refused, never averaged.

    Raises:
        DatasetError: an unconvertible channel count, or frames where colours could be converted.
    """
    have = array.shape[0]
    if have == channels:
        return array
    if have == 1 and channels == 3:
        return np.repeat(array, channels, axis=0)
    if have > channels and not is_colour(meta, array.ndim - 1):
        raise DatasetError(frames_refusal(source, have, channels, (meta or {}).get("time_axis")))
    if have == 4 and channels == 3:
        return array[:3]
    if channels == 1 and have in (3, 4):
        return array[:3].mean(axis=0, keepdims=True)
    raise DatasetError(f"{source}: image has {have} channels but the model expects {channels}" + MULTI_CHANNEL_HINT)


def equalise_contrast(array: np.ndarray) -> np.ndarray:
    """CLAHE (contrast-limited adaptive histogram equalisation, scikit-image's ``equalize_adapthist``) of each
    channel of ``(C, *spatial)``, after scaling the channel to [0, 1] by its own range; float32 in [0, 1]. A
    constant channel stays 0."""
    from skimage.exposure import equalize_adapthist

    out = np.zeros(array.shape, dtype=np.float32)
    for c, channel in enumerate(array.astype(np.float32)):
        low, high = float(channel.min()), float(channel.max())
        if high > low:
            out[c] = equalize_adapthist((channel - low) / (high - low))
    return out


def normalise(array: np.ndarray, settings: Settings) -> np.ndarray:
    """``zscore``: per channel ``(x - mean) / std`` of this image; ``ct``: clip, then global z-score. With the
    ``clahe`` setting each channel is equalised (:func:`equalise_contrast`) before the per-image z-score; the
    ``denoise`` setting (:func:`medimg.transforms.denoise.denoise`) filters the image before either."""
    array = denoise(array, setting(settings, "denoise", "none"), setting(settings, "denoise_radius", 1.0))
    if setting(settings, "clahe", False) and setting(settings, "normalisation") != "ct":
        array = equalise_contrast(array)
    x = array.astype(np.float32, copy=True)
    if setting(settings, "normalisation") == "ct":
        np.clip(x, setting(settings, "clip_low"), setting(settings, "clip_high"), out=x)
        return (x - setting(settings, "norm_mean")) / setting(settings, "norm_std")
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return (x - mean) / np.maximum(std, 1e-6)


def network_shape(
    shape: Sequence[int], spacing: Sequence[float] | None, settings: Settings, scale: float = 1.0
) -> tuple[int, ...]:
    """Spatial shape at network resolution (2D: divided by ``resample_factor``; 3D: at ``target_spacing_mm``),
    times ``scale`` (an input at another pixel scale than training, see :mod:`medimg.tasks.segment.scale`)."""
    target = setting(settings, "target_spacing_mm", None)
    if int(setting(settings, "spatial_dims")) == 3 and target and spacing:
        return tuple(max(1, round(s * sp / t * scale)) for s, sp, t in zip(shape, spacing, target, strict=True))
    factor = float(setting(settings, "resample_factor", 1.0)) / scale
    if factor != 1:
        return tuple(max(1, round(s / factor)) for s in shape)
    return tuple(int(s) for s in shape)


def network_input(
    array: np.ndarray,
    spacing: Sequence[float] | None,
    settings: Settings,
    source: str = "",
    scale: float = 1.0,
    meta: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Raw image ``(C, *spatial)`` -> its normalised ``(C, *spatial)`` float32 array at the file's resolution and
    the spatial shape at network resolution (:func:`network_shape`, with ``scale``) that the caller resamples it
    to. ``meta``: the image's (:func:`match_channels` averages colours, never a 4D file's frames).

    Raises:
        DatasetError: the image has the wrong dimensionality or an unconvertible channel count.
    """
    dims = int(setting(settings, "spatial_dims"))
    if array.ndim - 1 != dims:
        raise DatasetError(
            f"{source or 'image'}: a {array.ndim - 1}D image for a {dims}D model; use a model trained on "
            f"{array.ndim - 1}D data"
        )
    x = normalise(match_channels(np.asarray(array), int(setting(settings, "in_channels")), source, meta), settings)
    return x, network_shape(array.shape[1:], spacing, settings, scale)
