"""Running the 3D detector on prepared volumes, and choosing its decoding (NMS IoU, score threshold) on validation,
as :mod:`medimg.tasks.detect.inference` does in 2D (the same choices, the same :class:`MatchTable` metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from medimg.tasks.detect.inference import CANDIDATES_WITHOUT_NMS, NMS_CHOICES
from medimg.tasks.detect.metrics import Detections, best_f1_threshold, coco_ap
from medimg.tasks.detect.metrics3d import match_detections_3d
from medimg.tasks.detect.networks3d import configure_decoding_3d
from medimg.tasks.detect.plan import DetectPlan


def detect_volumes(
    network: nn.Module,
    volumes: Sequence[torch.Tensor],
    plan: DetectPlan,
    *,
    batch_size: int = 2,
    nms_iou: float | None = None,
    keep: int | None = None,
) -> list[Detections]:
    """Detections of prepared volumes (``(C, D, H, W)`` in 0..1), boxes ``(N, 6)`` in array-axis order voxels."""
    detector = getattr(network, "module", network)
    configure_decoding_3d(detector, plan, nms_iou=nms_iou, keep=keep)
    was_training = detector.training
    detector.eval()
    device = next(detector.parameters()).device
    score_key = detector.pred_score_key
    results: list[Detections] = []
    with torch.no_grad():
        for start in range(0, len(volumes), batch_size):
            chunk = [v.float().to(device) for v in volumes[start : start + batch_size]]
            for out in detector(chunk):
                results.append(
                    Detections(
                        out["boxes"].float().cpu().numpy().reshape(-1, 6),
                        out[score_key].float().cpu().numpy(),
                        out["labels"].cpu().numpy().astype(np.int64),
                    )
                )
    detector.train(was_training)
    configure_decoding_3d(detector, plan)
    return results


def nms_3d(found: Detections, iou: float, keep: int) -> Detections:
    """Class-wise 3D NMS of ``found`` at ``iou``, best ``keep`` kept (MONAI's ``batched_nms``)."""
    from monai.data.box_utils import batched_nms

    if not len(found.scores):
        return found
    index = np.asarray(
        batched_nms(
            torch.from_numpy(found.boxes),
            torch.from_numpy(found.scores),
            torch.from_numpy(found.labels),
            iou,
            max_proposals=keep,
        )
    ).reshape(-1)
    return Detections(found.boxes[index], found.scores[index], found.labels[index])


def validation_map_3d(
    network: nn.Module, volumes: Sequence[torch.Tensor], truths: Sequence[Any], plan: DetectPlan
) -> dict[str, float]:
    """mAP@0.5 and mAP@[.5:.95] (3D IoU) of the prepared validation volumes (the monitor of training)."""
    found = detect_volumes(network, volumes, plan)
    table = match_detections_3d(truths, found, plan.class_names, max_detections=plan.detections_per_image)
    ap = coco_ap(table)
    return {"map50": ap["map50"] or 0.0, "map": ap["map"] or 0.0}


def choose_decoding_3d(
    network: nn.Module, volumes: Sequence[torch.Tensor], truths: Sequence[Any], plan: DetectPlan
) -> tuple[float, float, dict[str, Any]]:
    """The NMS IoU with the best validation mAP@0.5 (of :data:`NMS_CHOICES`), then the score threshold with the
    best mean per-class F1 at IoU 0.5. Returns ``(nms_iou, score_threshold, scores)``."""
    raw = detect_volumes(network, volumes, plan, nms_iou=1.0, keep=CANDIDATES_WITHOUT_NMS)
    results: dict[float, float] = {}
    tables = {}
    for iou in NMS_CHOICES:
        suppressed = [nms_3d(found, iou, plan.detections_per_image) for found in raw]
        tables[iou] = match_detections_3d(
            truths, suppressed, plan.class_names, max_detections=plan.detections_per_image
        )
        results[iou] = coco_ap(tables[iou])["map50"] or 0.0
    best_iou = max(results, key=lambda k: (results[k], -abs(k - 0.5)))
    threshold, f1 = best_f1_threshold(tables[best_iou])
    return best_iou, threshold, {"nms_map50": {str(k): round(v, 4) for k, v in results.items()}, "val_f1": round(f1, 4)}
