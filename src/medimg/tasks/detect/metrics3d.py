"""3D detection matching: MONAI's COCO-style matching with 3D IoU, into the same :class:`MatchTable` as 2D.

:func:`match_detections_3d` runs ``monai.apps.detection.metrics.matching.matching_batch`` (nnDetection's port of
COCOeval's greedy matching by score, per image and class, at IoU 0.50:0.95, top ``max_detections``) with MONAI's
3D ``box_iou``, and ``COCOMetric``'s accumulation for the interpolated precision at COCO's 101 recall points.
The result is a :class:`~medimg.tasks.detect.metrics.MatchTable`, so mAP, per-class AP, FROC, counting, F1, the
bootstrap CIs and the report are computed by the same code as in 2D (:mod:`medimg.tasks.detect.metrics`,
:mod:`~medimg.tasks.detect.report`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from medimg.tasks.detect.metrics import Detections, MatchTable, repeated_hits

IOU_THRESHOLDS = (0.5, 0.95, 0.05)
"""COCO's IoU range (start, stop, step): 0.50, 0.55, ..., 0.95; index 0 is 0.5 and index 5 is 0.75."""


def match_detections_3d(
    truths: Sequence[tuple[np.ndarray, np.ndarray]],
    detections: Sequence[Detections],
    class_names: Sequence[str],
    *,
    max_detections: int = 100,
) -> MatchTable:
    """Match 3D detections to reference boxes (MONAI ``matching_batch`` + ``COCOMetric``, 3D IoU).

    Args:
        truths: per volume ``(boxes (G, 6), labels (G,))``, boxes in array-axis order ``[d1, h1, w1, d2, h2, w2]``.
        detections: per volume, same coordinates.
        class_names: the ``K`` classes (labels ``0..K-1``).
        max_detections: detections per volume and class kept (the highest scoring).
    """
    from monai.apps.detection.metrics.coco import COCOMetric
    from monai.apps.detection.metrics.matching import matching_batch
    from monai.data.box_utils import box_iou

    n_classes = len(class_names)
    metric = COCOMetric(
        classes=list(class_names),
        iou_list=(0.5, 0.75),
        iou_range=IOU_THRESHOLDS,
        max_detection=(int(max_detections),),
        verbose=False,
    )
    thresholds = np.asarray(metric.iou_thresholds, dtype=np.float64)
    gt_count = np.zeros((len(truths), n_classes), dtype=np.int64)
    for i, (_, labels) in enumerate(truths):
        np.add.at(gt_count[i], np.asarray(labels, dtype=np.int64).reshape(-1), 1)

    def iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
        return np.asarray(box_iou(boxes1, boxes2))

    matches = matching_batch(
        iou_fn=iou,
        iou_thresholds=list(thresholds),
        pred_boxes=[np.asarray(d.boxes, dtype=np.float64).reshape(-1, 6) for d in detections],
        pred_classes=[np.asarray(d.labels, dtype=np.int64).reshape(-1) for d in detections],
        pred_scores=[np.asarray(d.scores, dtype=np.float64).reshape(-1) for d in detections],
        gt_boxes=[np.asarray(b, dtype=np.float64).reshape(-1, 6) for b, _ in truths],
        gt_classes=[np.asarray(lab, dtype=np.int64).reshape(-1) for _, lab in truths],
        max_detections=int(max_detections),
    )
    det_image, det_class, det_score, det_tp, det_ignored, det_repeat = [], [], [], [], [], []
    for k in range(n_classes):
        for i, per_class in enumerate(matches):
            entry = per_class.get(k)
            if entry is None or not len(entry["dtScores"]):
                continue
            count = len(entry["dtScores"])
            det_image.append(np.full(count, i))
            det_class.append(np.full(count, k))
            det_score.append(np.asarray(entry["dtScores"], dtype=np.float64))
            det_tp.append(np.asarray(entry["dtMatches"]) > 0)
            det_ignored.append(np.asarray(entry["dtIgnore"]) > 0)
            det_repeat.append(
                repeated_hits(_class_ious(truths[i], detections[i], k, max_detections, iou), det_tp[-1][0])
            )
    quiet = _DropMonaiCocoWarnings()
    logging.getLogger().addFilter(quiet)  # MONAI's COCOMetric logs "no gt found for class" on the root logger
    try:
        statistics = metric._compute_statistics(results_list=matches)  # its precision array, as COCOeval's
    finally:
        logging.getLogger().removeFilter(quiet)
    n_t = len(thresholds)
    return MatchTable(
        iou_thresholds=thresholds,
        det_image=np.concatenate(det_image) if det_image else np.zeros(0, np.int64),
        det_class=np.concatenate(det_class) if det_class else np.zeros(0, np.int64),
        det_score=np.concatenate(det_score) if det_score else np.zeros(0),
        det_tp=np.concatenate(det_tp, axis=1) if det_tp else np.zeros((n_t, 0), bool),
        det_ignored=np.concatenate(det_ignored, axis=1) if det_ignored else np.zeros((n_t, 0), bool),
        det_repeat=np.concatenate(det_repeat) if det_repeat else np.zeros(0, bool),
        gt_count=gt_count,
        precision=np.asarray(statistics["precision"])[:, :, :, -1],
        class_names=list(class_names),
    )


class _DropMonaiCocoWarnings(logging.Filter):
    """Drops the warnings MONAI's ``COCOMetric`` logs for a class without reference boxes or detections (such a
    class gets ``None`` for its AP in the report instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.pathname.replace("\\", "/").endswith("apps/detection/metrics/coco.py")


def _class_ious(
    truth: tuple[np.ndarray, np.ndarray],
    found: Detections,
    k: int,
    max_detections: int,
    iou: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """IoUs ``(D, G)`` of one volume's class-``k`` detections and reference boxes, the detections in MONAI's
    matching order (score descending, stable, the highest ``max_detections``)."""
    labels = np.asarray(found.labels, dtype=np.int64).reshape(-1)
    boxes = np.asarray(found.boxes, dtype=np.float64).reshape(-1, 6)[labels == k]
    scores = np.asarray(found.scores, dtype=np.float64).reshape(-1)[labels == k]
    boxes = boxes[np.argsort(-scores, kind="mergesort")[:max_detections]]
    reference = np.asarray(truth[0], dtype=np.float64).reshape(-1, 6)[np.asarray(truth[1]).reshape(-1) == k]
    if not len(boxes) or not len(reference):
        return np.zeros((len(boxes), len(reference)))
    return iou(boxes, reference)
