"""What the 2D and 3D detection training setups share (:mod:`.task`, :mod:`.task3d`): the training loss and the
choice of the decoding (NMS IoU, score threshold) on the validation images after training."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from medimg.tasks.detect.plan import DetectPlan

if TYPE_CHECKING:
    from medimg.tasks.detect.inference import Geometry

__all__ = ["decoding_chooser", "loss_of_detector"]


def loss_of_detector(network: nn.Module, images: Any, targets: Any) -> torch.Tensor:
    """The detector's losses (classification, box regression, centerness) of ``images`` (a list of ``(C, h, w)``
    or ``(C, D, H, W)``) and ``targets`` (a list of ``{"boxes", "labels"}``), summed."""
    losses = network(images, targets)
    total: torch.Tensor = sum(losses.values())
    return total


def decoding_chooser(
    images: Sequence[torch.Tensor],
    truths: Sequence[Any],
    geometry: Geometry | None = None,
) -> Callable[[nn.Module, DetectPlan], tuple[DetectPlan, dict[str, Any]]]:
    """After training: the NMS IoU and score threshold that do best on the validation images (unless set), by
    :func:`~medimg.tasks.detect.inference.choose_decoding` (``geometry``: 2D images unless given)."""

    def choose(network: nn.Module, plan: DetectPlan) -> tuple[DetectPlan, dict[str, Any]]:
        from medimg.tasks.detect.inference import choose_decoding

        iou, threshold, scores = choose_decoding(network, images, truths, plan, geometry=geometry)
        update: dict[str, Any] = {}
        reasons = dict(plan.reasons)
        if plan.reasons.get("nms_iou") != "set by user":
            update["nms_iou"] = iou
            reasons["nms_iou"] = f"best validation mAP@0.5 of NMS IoUs {scores['nms_map50']}"
        if plan.reasons.get("score_threshold") != "set by user":
            update["score_threshold"] = threshold
            reasons["score_threshold"] = f"best validation mean per-class F1 at IoU 0.5 ({scores['val_f1']})"
        if update:
            plan = plan.model_copy(update={**update, "reasons": reasons})
        return plan, {"decoding": {"nms_iou": plan.nms_iou, "score_threshold": plan.score_threshold, **scores}}

    return choose
