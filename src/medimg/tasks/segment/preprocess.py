"""From a read case to network tensors and back: resampling (torch) and label decoding.

Channel matching, normalisation and the network-resolution shape are torch-free and shared with the ONNX
predictor: :mod:`medimg.tasks.segment.arrays`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from medimg.tasks.segment.arrays import network_input, network_shape
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


def prepare_image(
    array: np.ndarray,
    spacing: Sequence[float] | None,
    plan: SegPlan,
    source: str = "",
    scale: float = 1.0,
    meta: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Raw image ``(C, *spatial)`` -> normalised, resampled ``(C, *spatial')`` float32 tensor (``scale``: an extra
    resize factor, see :mod:`medimg.tasks.segment.scale`; ``meta``: the image's, which says whether its channels
    are colours or a 4D file's frames, :func:`~medimg.io.frames.is_colour`).

    Raises:
        DatasetError: the image has the wrong dimensionality or an unconvertible channel count.
    """
    x, shape = network_input(array, spacing, plan, source, scale, meta)
    return resize(torch.from_numpy(x), shape)


def decode_labels(mask: np.ndarray, roi: np.ndarray | None, plan: SegPlan, source: str = "") -> np.ndarray:
    """Raw mask -> ``(*spatial)`` uint8 classes, :data:`IGNORE` outside ``roi``."""
    labels = encode_mask(mask, plan.label_encoding, source)
    if roi is not None:
        labels = np.where(roi, labels, IGNORE).astype(np.uint8)
    return labels


def prepare_labels(labels: np.ndarray, spacing: Sequence[float] | None, plan: SegPlan) -> torch.Tensor:
    """Decoded labels -> network resolution (nearest neighbour), uint8 tensor."""
    return resize(torch.from_numpy(labels), network_shape(labels.shape, spacing, plan), labels=True)
