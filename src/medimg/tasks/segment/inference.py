"""Sliding-window inference with Gaussian overlap blending, test-time mirroring and turning, resampling back to
the file's geometry and the choice of post-processing on validation cases.

Post-processing itself and mask writing are torch-free, shared with the ONNX predictor:
:mod:`medimg.tasks.segment.masks`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from medimg.engine.distributed import network_device
from medimg.engine.trainer import autocast_context
from medimg.interrupts import raise_if_interrupted
from medimg.tasks.segment.masks import POSTPROCESSING, postprocess
from medimg.tasks.segment.planning import SegPlan
from medimg.tasks.segment.preprocess import resize
from medimg.tasks.segment.symmetries import tta_passes

logger = logging.getLogger(__name__)


def memory_format(x: torch.Tensor, plan: SegPlan) -> torch.Tensor:
    """channels_last (2D) / channels_last_3d (3D) when the plan asks for it."""
    if not plan.channels_last:
        return x
    if x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if x.ndim == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x


def _transformed(x: torch.Tensor, axes: tuple[int, ...], turns: int) -> torch.Tensor:
    """``x`` ``(B, C, *spatial)`` mirrored on ``axes``, then turned ``turns`` quarters (a :data:`TTAPass`)."""
    x = x.flip([a + 2 for a in axes]) if axes else x
    return torch.rot90(x, turns, dims=(-2, -1)) if turns else x


def _restored(out: torch.Tensor, axes: tuple[int, ...], turns: int) -> torch.Tensor:
    """The inverse of :func:`_transformed`."""
    out = torch.rot90(out, -turns, dims=(-2, -1)) if turns else out
    return out.flip([a + 2 for a in axes]) if axes else out


@torch.no_grad()
def sliding_window_probabilities(
    network: nn.Module,
    x: torch.Tensor,
    plan: SegPlan,
    *,
    tta: bool | None = None,
    overlap: float | None = None,
    amp: bool = False,
) -> torch.Tensor:
    """Softmax probabilities of ``x`` ``(B, C, *spatial)`` -> ``(B, K, *spatial)`` float32, any spatial size.

    Windows of ``plan.patch_size`` overlap by ``plan.sw_overlap`` and are blended with a Gaussian weight
    (centre pixels count most), as in nnU-Net; inputs smaller than a window are padded. With ``tta`` the
    prediction is averaged over the symmetries the network was trained with (:mod:`.symmetries`). Float32 unless ``amp``
    (the plan's precision, for validation during training), so predictions agree with the ONNX export and do
    not depend on the machine's bf16 support.
    """
    from monai.inferers import sliding_window_inference

    network.eval()
    device = network_device(network)
    x = x.to(device)

    def predictor(window: torch.Tensor) -> torch.Tensor:
        raise_if_interrupted()  # per batch of windows: a large image stops soon after a Ctrl-C or a service timeout
        with autocast_context(plan, device) if amp else contextlib.nullcontext():
            logits = network(memory_format(window, plan))
        return torch.softmax(logits.float(), dim=1)

    use_tta = plan.tta if tta is None else tta
    total: torch.Tensor | None = None
    passes = tta_passes(plan.spatial_dims, plan.augmentation.flip_axes, plan.augmentation.rotate90, use_tta)
    for axes, turns in passes:
        raise_if_interrupted()  # a Ctrl-C Python dropped (see medimg.interrupts)
        out = sliding_window_inference(
            _transformed(x, axes, turns),
            roi_size=list(plan.patch_size),
            sw_batch_size=plan.sw_batch_size,
            predictor=predictor,
            overlap=plan.sw_overlap if overlap is None else overlap,
            mode="gaussian",
        )
        out = _restored(torch.as_tensor(out).float(), axes, turns)
        total = out if total is None else total + out
    assert total is not None
    return (total / len(passes)).cpu()


def probabilities_at(probs: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Resample ``(K, *spatial)`` probabilities to the file's ``shape`` (linear), renormalised."""
    out = resize(probs, shape)
    return out / out.sum(0, keepdim=True).clamp_min(1e-8)


# ---------------------------------------------------------------------------------------- post-processing
def _mean_of_defined(values: Sequence[float] | np.ndarray) -> float:
    """Mean of the values that are not NaN (a Dice of a class absent from prediction and reference); NaN when
    there are none, without numpy's 'Mean of empty slice' warning."""
    defined = [float(v) for v in values if not math.isnan(float(v))]
    return float(np.mean(defined)) if defined else math.nan


def select_postprocessing(
    predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray], num_classes: int, *, min_object_fraction: float
) -> tuple[str, dict[str, float]]:
    """The post-processing with the best mean foreground Dice on validation cases; ``none`` unless another is
    strictly better (nnU-Net's rule: post-processing must earn its place on held-out data).
    """
    from medimg.tasks.segment.metrics import dice_per_class

    scores: dict[str, float] = {}
    for method in POSTPROCESSING:
        values = []
        for pred, truth in zip(predictions, truths, strict=True):
            cleaned = postprocess(pred, method, num_classes, min_object_fraction=min_object_fraction)
            values.append(_mean_of_defined(dice_per_class(cleaned, truth, num_classes)[1:]))
        scores[method] = _mean_of_defined(values)
    best = max(POSTPROCESSING, key=lambda m: (scores[m] > scores["none"] + 1e-6, scores[m]))
    return (best if scores[best] > scores["none"] + 1e-6 else "none"), scores
