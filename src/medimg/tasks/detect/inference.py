"""Running a detector on prepared images, and choosing its decoding (NMS IoU, score threshold) on validation.

The network keeps every candidate above ``plan.candidate_threshold`` (what mAP and FROC are computed on);
``plan.score_threshold`` selects the detections a user sees (predict, counts, overlays). NMS is applied by the
detector with ``plan.nms_iou``; :func:`choose_decoding` runs the network once without suppression and tries the
IoUs on the same candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from medimg.interrupts import raise_if_interrupted
from medimg.tasks.detect.metrics import Detections, best_f1_threshold, coco_ap, match_detections
from medimg.tasks.detect.plan import MIN_INPUT_SIDE, DetectPlan

logger = logging.getLogger(__name__)

NMS_CHOICES = (0.4, 0.5, 0.6, 0.7)
"""NMS IoUs tried on the validation split."""
CANDIDATES_WITHOUT_NMS = 1000
"""Candidates kept per image when the network runs without suppression (to choose the NMS IoU)."""


def configure_decoding(
    network: nn.Module, plan: DetectPlan, *, nms_iou: float | None = None, keep: int | None = None
) -> None:
    """Set the detector's candidate threshold, NMS IoU and detections per image from ``plan`` (or the given)."""
    detector = getattr(network, "module", network)
    detector.score_thresh = plan.candidate_threshold
    detector.nms_thresh = plan.nms_iou if nms_iou is None else nms_iou
    detector.detections_per_img = keep or plan.detections_per_image
    detector.topk_candidates = plan.topk_candidates


def detect_prepared(
    network: nn.Module,
    images: Sequence[torch.Tensor],
    plan: DetectPlan,
    *,
    batch_size: int = 8,
    nms_iou: float | None = None,
    keep: int | None = None,
) -> list[Detections]:
    """Detections of prepared images (uint8 or float ``(C, h, w)`` at the input scale), in input pixels; boxes
    without area (placed beyond the image and clipped to its border) are dropped (:meth:`Detections.with_area`).

    Images are batched only with images of the same padded shape (:func:`same_shape_batches`), so an image's
    detections do not depend on the other images: the detector pads a batch to its largest image and its
    GroupNorm layers see that padding. Evaluation, validation and the choice of decoding therefore score exactly
    what ``predict``, the service and the ONNX predictor (one image at a time) return.
    """
    configure_decoding(network, plan, nms_iou=nms_iou, keep=keep)
    was_training = network.training
    network.eval()
    device = next(network.parameters()).device
    results: dict[int, Detections] = {}
    with torch.no_grad():
        for indices in same_shape_batches(images, batch_size):
            raise_if_interrupted()  # a Ctrl-C Python dropped (see medimg.interrupts)
            chunk = [_as_float(images[i]).to(device) for i in indices]
            lone = len(chunk) == 1 and min(plan.input_size) < MIN_INPUT_SIDE
            # a run planned on inputs under 64 px (before MIN_INPUT_SIDE): its 1x1 stride-32 level's GroupNorm
            # refuses one image alone, so the image goes with a copy of itself and one answer is kept
            outputs = network(chunk * 2)[:1] if lone else network(chunk)
            for i, out in zip(indices, outputs, strict=True):
                results[i] = Detections(
                    out["boxes"].float().cpu().numpy(),
                    out["scores"].float().cpu().numpy(),
                    out["labels"].cpu().numpy().astype(np.int64),
                ).with_area()  # a box beyond the border, clipped to it, is no detection (as the ONNX predictor)
    network.train(was_training)
    configure_decoding(network, plan)
    return [results[i] for i in range(len(images))]


SIZE_DIVISIBLE = 32
"""The detector pads each batch to a multiple of this (torchvision's ``GeneralizedRCNNTransform``)."""


def same_shape_batches(images: Sequence[torch.Tensor], batch_size: int) -> list[list[int]]:
    """Indices of ``images`` in batches of at most ``batch_size`` whose images pad to the same shape (each side
    rounded up to :data:`SIZE_DIVISIBLE`): batched together they get exactly the padding each gets alone."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        key = tuple(-(-int(side) // SIZE_DIVISIBLE) * SIZE_DIVISIBLE for side in image.shape[-2:])
        groups.setdefault(key, []).append(i)
    step = max(1, int(batch_size))
    return [members[k : k + step] for members in groups.values() for k in range(0, len(members), step)]


def _as_float(image: torch.Tensor) -> torch.Tensor:
    return image.float().div(255.0) if image.dtype == torch.uint8 else image.float()


def nms(found: Detections, iou: float, keep: int) -> Detections:
    """Class-wise NMS of ``found`` at ``iou``, best ``keep`` kept (torchvision's ``batched_nms``)."""
    from torchvision.ops import batched_nms

    if not len(found.scores):
        return found
    index = batched_nms(
        torch.from_numpy(found.boxes), torch.from_numpy(found.scores), torch.from_numpy(found.labels), iou
    )[:keep].numpy()
    return Detections(found.boxes[index], found.scores[index], found.labels[index])


def validation_map(
    network: nn.Module,
    images: Sequence[torch.Tensor],
    truths: Sequence[Any],
    plan: DetectPlan,
    *,
    geometry: Geometry | None = None,
) -> dict[str, float]:
    """mAP@0.5 and mAP@[.5:.95] of the prepared validation images (the monitor of training); ``geometry``: how
    to detect and match (default 2D; :data:`medimg.tasks.detect.inference3d.VOLUMES` in 3D)."""
    detect, _, match = geometry or IMAGES
    found = detect(network, images, plan)
    table = match(truths, found, plan.class_names, max_detections=plan.detections_per_image)
    ap = coco_ap(table)
    return {"map50": ap["map50"] or 0.0, "map": ap["map"] or 0.0}


def choose_decoding(
    network: nn.Module,
    images: Sequence[torch.Tensor],
    truths: Sequence[Any],
    plan: DetectPlan,
    *,
    geometry: Geometry | None = None,
) -> tuple[float, float, dict[str, Any]]:
    """The NMS IoU with the best validation mAP@0.5 (of :data:`NMS_CHOICES`), then the score threshold with the
    best mean per-class F1 at IoU 0.5. Returns ``(nms_iou, score_threshold, scores)``."""
    detect, suppress, match = geometry or IMAGES
    raw = detect(network, images, plan, nms_iou=1.0, keep=CANDIDATES_WITHOUT_NMS)
    results: dict[float, float] = {}
    tables = {}
    for iou in NMS_CHOICES:
        suppressed = [suppress(found, iou, plan.detections_per_image) for found in raw]
        tables[iou] = match(truths, suppressed, plan.class_names, max_detections=plan.detections_per_image)
        results[iou] = coco_ap(tables[iou])["map50"] or 0.0
    best_iou = max(results, key=lambda k: (results[k], -abs(k - 0.5)))
    threshold, f1 = best_f1_threshold(tables[best_iou])
    return best_iou, threshold, {"nms_map50": {str(k): round(v, 4) for k, v in results.items()}, "val_f1": round(f1, 4)}


class Geometry(NamedTuple):
    """How detections are made and scored in one geometry: ``detect(network, items, plan, nms_iou=, keep=)``,
    ``suppress(found, iou, keep)`` (NMS) and ``match(truths, found, class_names, max_detections=)``."""

    detect: Callable[..., list[Detections]]
    suppress: Callable[[Detections, float, int], Detections]
    match: Callable[..., Any]


IMAGES = Geometry(detect_prepared, nms, match_detections)
"""2D images: torchvision's detector and NMS, 2D IoU matching."""
