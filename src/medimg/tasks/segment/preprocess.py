"""From a read case to network tensors and back: channel matching, normalisation, resampling, label decoding."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from medimg.errors import DatasetError
from medimg.tasks.segment.labels import IGNORE, encode_mask
from medimg.tasks.segment.planning import SegPlan

logger = logging.getLogger(__name__)


@dataclass
class PreparedCase:
    """One case at network resolution.

    Attributes:
        case_id: identifier.
        image: ``(C, *spatial)`` float32, normalised and resampled.
        labels: ``(*spatial)`` uint8 class indices (:data:`IGNORE` outside the region of interest), or ``None``.
        original_shape: spatial shape of the file (predictions are resampled back to it).
    """

    case_id: str
    image: torch.Tensor
    labels: torch.Tensor | None
    original_shape: tuple[int, ...]


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


def normalise(array: np.ndarray, plan: SegPlan) -> np.ndarray:
    """``zscore``: per channel ``(x - mean) / std`` of this image; ``ct``: clip, then global z-score."""
    x = array.astype(np.float32, copy=True)
    if plan.normalisation == "ct":
        np.clip(x, plan.clip_low, plan.clip_high, out=x)
        return (x - plan.norm_mean) / plan.norm_std
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return (x - mean) / np.maximum(std, 1e-6)


def network_shape(shape: Sequence[int], spacing: Sequence[float] | None, plan: SegPlan) -> tuple[int, ...]:
    """Spatial shape at network resolution (2D: divided by ``resample_factor``; 3D: at ``target_spacing_mm``)."""
    if plan.spatial_dims == 3 and plan.target_spacing_mm and spacing:
        return tuple(max(1, round(s * sp / t)) for s, sp, t in zip(shape, spacing, plan.target_spacing_mm, strict=True))
    if plan.resample_factor != 1:
        return tuple(max(1, round(s / plan.resample_factor)) for s in shape)
    return tuple(int(s) for s in shape)


def resize(x: torch.Tensor, shape: Sequence[int], *, labels: bool = False) -> torch.Tensor:
    """Resize ``(C, *spatial)`` (or ``(*spatial)`` labels) to ``shape``: linear for images, nearest for labels."""
    if tuple(x.shape[-len(shape) :]) == tuple(shape):
        return x
    if labels:
        out = F.interpolate(x[None, None].float(), size=tuple(shape), mode="nearest-exact")
        return out[0, 0].to(x.dtype)
    mode = "bilinear" if len(shape) == 2 else "trilinear"
    shrinking = math.prod(shape) < math.prod(x.shape[1:])
    out = F.interpolate(
        x[None].float(), size=tuple(shape), mode=mode, align_corners=False, antialias=shrinking and len(shape) == 2
    )
    return out[0]


def prepare_image(array: np.ndarray, spacing: Sequence[float] | None, plan: SegPlan, source: str = "") -> torch.Tensor:
    """Raw image ``(C, *spatial)`` -> normalised, resampled ``(C, *spatial')`` float32 tensor."""
    if array.ndim - 1 != plan.spatial_dims:
        raise DatasetError(
            f"{source}: a {array.ndim - 1}D image for a {plan.spatial_dims}D model; use a model trained on "
            f"{array.ndim - 1}D data"
        )
    x = torch.from_numpy(normalise(match_channels(array, plan.in_channels, source), plan))
    return resize(x, network_shape(array.shape[1:], spacing, plan))


def decode_labels(mask: np.ndarray, roi: np.ndarray | None, plan: SegPlan, source: str = "") -> np.ndarray:
    """Raw mask -> ``(*spatial)`` uint8 classes, :data:`IGNORE` outside ``roi``."""
    labels = encode_mask(mask, plan.label_encoding, source)
    if roi is not None:
        labels = np.where(roi, labels, IGNORE).astype(np.uint8)
    return labels


def prepare_labels(labels: np.ndarray, spacing: Sequence[float] | None, plan: SegPlan) -> torch.Tensor:
    """Decoded labels -> network resolution (nearest neighbour), uint8 tensor."""
    return resize(torch.from_numpy(labels), network_shape(labels.shape, spacing, plan), labels=True)
