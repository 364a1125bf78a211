"""Running the 3D detector on prepared volumes; :data:`VOLUMES` lets :mod:`medimg.tasks.detect.inference` monitor
training and choose the decoding (NMS IoU, score threshold) on validation volumes as it does in 2D (the same
choices, the same :class:`MatchTable` metrics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from medimg.interrupts import raise_if_interrupted
from medimg.tasks.detect.inference import Geometry
from medimg.tasks.detect.metrics import Detections
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
            raise_if_interrupted()  # a Ctrl-C Python dropped (see medimg.interrupts)
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


VOLUMES = Geometry(detect_volumes, nms_3d, match_detections_3d)
"""3D volumes: MONAI's detector and 3D NMS, 3D IoU matching (for :func:`~medimg.tasks.detect.inference.validation_map`
and :func:`~medimg.tasks.detect.inference.choose_decoding`)."""
