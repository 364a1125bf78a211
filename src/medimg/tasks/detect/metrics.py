"""Detection metrics: COCO mAP (pycocotools does the matching), FROC, counting, and bootstrap CIs over images.

:func:`match_detections` runs pycocotools' ``COCOeval`` once (greedy matching by score at IoU 0.50:0.95, up to
``max_detections`` per image) and keeps its per-image matches as a :class:`MatchTable`. Everything else is read
from that table without matching again:

* mAP@[.5:.95], mAP@0.5 and per-class AP: ``COCOeval``'s own accumulation (``precision`` array).
* PR curves: its interpolated precision at 101 recall points, IoU 0.5.
* FROC (LUNA16 convention, with IoU >= 0.5 of the same class as the hit criterion): sensitivity over all classes
  at 1/8, 1/4, 1/2, 1, 2, 4 and 8 false positives per image, and their average.
* Counting per class at a score threshold: predicted vs true objects per image.
* Bootstrap CIs: images are resampled with replacement and the metrics recomputed from the table with each
  image weighted by how often it was drawn (:func:`weighted_ap` repeats COCO's accumulation with weights).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medimg.errors import MissingDependencyError

FROC_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""False positives per image at which FROC sensitivities are read (LUNA16)."""
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
"""COCO's recall thresholds."""
MIN_BOX_SIDE = 1e-3
"""Detections narrower or lower than this (pixels at the input scale) are dropped: a box the detector placed
outside the image, clipped to its border, has no area (torchvision's ``remove_small_boxes`` minimum)."""


def has_area(boxes: np.ndarray) -> np.ndarray:
    """Which ``(x0, y0, x1, y1)`` boxes are at least :data:`MIN_BOX_SIDE` wide and high (a boolean per box)."""
    sides = boxes[:, 2:4] - boxes[:, 0:2]
    return np.asarray((sides >= MIN_BOX_SIDE).all(axis=1))


@dataclass
class Detections:
    """One image's detections: ``boxes`` ``(N, 4)`` ``x1, y1, x2, y2``, ``scores`` ``(N,)``, ``labels`` ``(N,)``."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64))

    def with_area(self) -> Detections:
        """Only the detections at least :data:`MIN_BOX_SIDE` wide and high (clipped to the image, a box placed
        beyond its border is a line or a point there: no object to report, count or match)."""
        boxes = np.asarray(self.boxes).reshape(-1, 4)
        keep = has_area(boxes)
        return self if keep.all() else Detections(boxes[keep], self.scores[keep], self.labels[keep])

    def above(self, threshold: float) -> Detections:
        """Only the detections scoring at least ``threshold``."""
        keep = self.scores >= threshold
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])


@dataclass
class MatchTable:
    """Per-detection matches from ``COCOeval`` (area range "all"), for every IoU threshold.

    Attributes:
        iou_thresholds: ``(T,)`` 0.50..0.95.
        det_image, det_class: ``(D,)`` image and class index of each detection (kept ones: top ``max_detections``
            per image and class).
        det_score: ``(D,)``.
        det_tp: ``(T, D)`` bool: matched to a reference box of its class at that IoU.
        det_ignored: ``(T, D)`` bool: matched to an ignored reference (never happens without crowd boxes).
        det_repeat: ``(D,)`` bool: overlaps a reference box of its class at IoU >= 0.5 that a higher-scoring
            detection already found (a second box on one lesion: a false positive for COCO's AP, neither a hit
            nor a false positive for FROC, as LUNA16 and CAMELYON16 count).
        gt_count: ``(n_images, K)`` reference boxes per image and class.
        precision: ``COCOeval.eval["precision"]`` ``(T, 101, K)`` at area "all" and the largest max-detections.
        class_names: the ``K`` classes.
    """

    iou_thresholds: np.ndarray
    det_image: np.ndarray
    det_class: np.ndarray
    det_score: np.ndarray
    det_tp: np.ndarray
    det_ignored: np.ndarray
    det_repeat: np.ndarray
    gt_count: np.ndarray
    precision: np.ndarray
    class_names: list[str]

    @property
    def n_images(self) -> int:
        return int(self.gt_count.shape[0])


def repeated_hits(ious: np.ndarray | list[Any], found: np.ndarray) -> np.ndarray:
    """Which detections of one image and class repeat a found lesion: IoU >= 0.5 with some reference box
    (``ious``: ``(D, G)``, detections in the matcher's score order) without being the match (``found``: ``(D,)``,
    matched at IoU 0.5)."""
    ious = np.asarray(ious, dtype=np.float64)
    if ious.ndim != 2 or not ious.size:
        return np.zeros(len(found), dtype=bool)
    return (ious.max(axis=1) >= 0.5) & ~np.asarray(found, dtype=bool)


def _require_pycocotools() -> tuple[Any, Any]:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as error:
        raise MissingDependencyError("pycocotools", "detect") from error
    return COCO, COCOeval


def _xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)


def match_detections(
    truths: Sequence[tuple[np.ndarray, np.ndarray]],
    detections: Sequence[Detections],
    class_names: Sequence[str],
    *,
    max_detections: int = 100,
) -> MatchTable:
    """Match detections to reference boxes with pycocotools (``COCOeval``, bbox, area range "all").

    Args:
        truths: per image ``(boxes (G, 4), labels (G,))`` in pixels ``x1, y1, x2, y2``.
        detections: per image, same coordinates.
        class_names: the ``K`` classes (labels ``0..K-1``).
        max_detections: detections per image kept (COCO's largest ``maxDets``).
    """
    COCO, COCOeval = _require_pycocotools()
    n_classes = len(class_names)
    images = [{"id": i, "width": 1, "height": 1} for i in range(len(truths))]
    categories = [{"id": k + 1, "name": str(name)} for k, name in enumerate(class_names)]
    gt_annotations: list[dict[str, Any]] = []
    dt_annotations: list[dict[str, Any]] = []
    gt_count = np.zeros((len(truths), n_classes), dtype=np.int64)
    for i, (boxes, labels) in enumerate(truths):
        for box, label in zip(_xywh(boxes), np.asarray(labels).reshape(-1), strict=True):
            gt_annotations.append(
                {
                    "id": len(gt_annotations) + 1,
                    "image_id": i,
                    "category_id": int(label) + 1,
                    "bbox": [float(v) for v in box],
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
            gt_count[i, int(label)] += 1
    for i, found in enumerate(detections):
        for box, score, label in zip(_xywh(found.boxes), found.scores, found.labels, strict=True):
            dt_annotations.append(
                {
                    "id": len(dt_annotations) + 1,
                    "image_id": i,
                    "category_id": int(label) + 1,
                    "bbox": [float(v) for v in box],
                    "area": float(box[2] * box[3]),
                    "score": float(score),
                    "iscrowd": 0,
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        gt, dt = COCO(), COCO()
        gt.dataset = {"images": images, "annotations": gt_annotations, "categories": categories}
        dt.dataset = {"images": images, "annotations": dt_annotations, "categories": categories}
        gt.createIndex()
        dt.createIndex()
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.params.imgIds = list(range(len(truths)))
        evaluation.params.catIds = [k + 1 for k in range(n_classes)]
        evaluation.params.maxDets = [1, 10, int(max_detections)]
        evaluation.evaluate()
        evaluation.accumulate()
    thresholds = np.asarray(evaluation.params.iouThrs, dtype=np.float64)
    n_images, n_areas = len(truths), len(evaluation.params.areaRng)
    det_image, det_class, det_score, det_tp, det_ignored, det_repeat = [], [], [], [], [], []
    for k in range(n_classes):
        for i in range(n_images):
            entry = evaluation.evalImgs[k * n_areas * n_images + i]  # area range index 0: "all"
            if entry is None or not len(entry["dtScores"]):
                continue
            count = len(entry["dtScores"])
            det_image.append(np.full(count, i))
            det_class.append(np.full(count, k))
            det_score.append(np.asarray(entry["dtScores"], dtype=np.float64))
            det_tp.append(np.asarray(entry["dtMatches"]) > 0)
            det_ignored.append(np.asarray(entry["dtIgnore"], dtype=bool))
            # COCOeval's IoUs, rows in the same score order (and cut) as the entry's detections
            det_repeat.append(repeated_hits(evaluation.ious[(i, k + 1)], det_tp[-1][0]))
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
        precision=np.asarray(evaluation.eval["precision"])[:, :, :, 0, -1],
        class_names=list(class_names),
    )


# --------------------------------------------------------------------------------------------- mAP
def coco_ap(table: MatchTable) -> dict[str, Any]:
    """COCOeval's mAP@[.5:.95], mAP@0.5, mAP@0.75 and per-class AP (classes without reference boxes: ``None``)."""
    precision = table.precision

    def mean(values: np.ndarray) -> float | None:
        valid = values[values > -1]
        return float(valid.mean()) if valid.size else None

    per_class = {
        name: {
            "ap": mean(precision[:, :, k]),
            "ap50": mean(precision[0, :, k]),
            "ap75": mean(precision[5, :, k]),
            "n_boxes": int(table.gt_count[:, k].sum()),
        }
        for k, name in enumerate(table.class_names)
    }
    return {
        "map": mean(precision),
        "map50": mean(precision[0]),
        "map75": mean(precision[5]),
        "per_class": per_class,
    }


def pr_curves(table: MatchTable) -> dict[str, list[float]]:
    """Per class: COCO's interpolated precision at the 101 recall points, IoU 0.5 (-1 where undefined)."""
    return {name: [float(v) for v in table.precision[0, :, k]] for k, name in enumerate(table.class_names)}


def _class_order(table: MatchTable, k: int) -> np.ndarray:
    """Indices of class ``k``'s detections, by score (highest first; stable like COCO's mergesort)."""
    index = np.nonzero(table.det_class == k)[0]
    return index[np.argsort(-table.det_score[index], kind="mergesort")]


def weighted_ap(table: MatchTable, weights: np.ndarray, k: int, t: int) -> np.ndarray:
    """COCO's 101-point interpolated AP of class ``k`` at IoU index ``t`` with images weighted.

    Args:
        weights: ``(B, n_images)`` how often each image is drawn in each of ``B`` resamples (ones: the estimate).

    Returns:
        ``(B,)`` APs; NaN where the resample holds no reference box of the class.
    """
    order = _class_order(table, k)
    n_gt = weights @ table.gt_count[:, k].astype(np.float64)
    out = np.full(weights.shape[0], np.nan)
    if not order.size:
        out[n_gt > 0] = 0.0
        return out
    w = weights[:, table.det_image[order]]
    ignored = table.det_ignored[t, order]
    tp = np.cumsum(w * (table.det_tp[t, order] & ~ignored), axis=1)
    fp = np.cumsum(w * (~table.det_tp[t, order] & ~ignored), axis=1)
    for b in range(weights.shape[0]):
        if n_gt[b] <= 0:
            continue
        recall = tp[b] / n_gt[b]
        precision = tp[b] / (tp[b] + fp[b] + np.spacing(1))
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        found = np.searchsorted(recall, RECALL_POINTS, side="left")
        q = np.where(found < len(precision), precision[np.minimum(found, len(precision) - 1)], 0.0)
        out[b] = q.mean()
    return out


def bootstrap_weights(n_images: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """``(n_resamples, n_images)`` draw counts of images resampled with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_images, size=(n_resamples, n_images))
    return np.stack([np.bincount(row, minlength=n_images) for row in draws]).astype(np.float64)


def weighted_map(table: MatchTable, weights: np.ndarray) -> dict[str, np.ndarray]:
    """``map``, ``map50`` and ``ap50_<class>`` for each weighting (row of ``weights``)."""
    n_t, n_k = len(table.iou_thresholds), len(table.class_names)
    aps = np.stack([np.stack([weighted_ap(table, weights, k, t) for k in range(n_k)]) for t in range(n_t)])
    with warnings.catch_warnings():  # a resample without any reference box of a class: NaN, left out
        warnings.simplefilter("ignore", RuntimeWarning)
        result = {"map": np.nanmean(aps.reshape(-1, weights.shape[0]), axis=0), "map50": np.nanmean(aps[0], axis=0)}
    for k, name in enumerate(table.class_names):
        result[f"ap50_{name}"] = aps[0, k]
    return result


# --------------------------------------------------------------------------------------------- FROC
def froc(
    table: MatchTable, weights: np.ndarray | None = None, classes: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FROC over ``classes`` (default all) pooled, at IoU 0.5; a second detection of an already-found reference
    box counts neither as a hit nor as a false positive (:attr:`MatchTable.det_repeat`; LUNA16's rule).

    Returns:
        ``(sensitivity at FROC_RATES (B, 7), curve false positives per image (B, D), curve sensitivity (B, D))``
        for ``B`` weightings (one, unweighted, by default). The sensitivity at a rate is the highest reached with
        at most that many false positives per image (0 when the classes have no reference box).
    """
    weights = np.ones((1, table.n_images)) if weights is None else weights
    chosen = list(range(len(table.class_names))) if classes is None else list(classes)
    mask = np.isin(table.det_class, chosen) & ~table.det_ignored[0] & ~table.det_repeat
    index = np.nonzero(mask)[0]
    order = index[np.argsort(-table.det_score[index], kind="mergesort")]
    w = weights[:, table.det_image[order]]
    tp = np.cumsum(w * table.det_tp[0, order], axis=1)
    fp = np.cumsum(w * ~table.det_tp[0, order], axis=1)
    n_gt = weights @ table.gt_count[:, chosen].sum(axis=1).astype(np.float64)
    n_img = weights.sum(axis=1)
    sens = np.divide(tp, n_gt[:, None], out=np.zeros_like(tp), where=n_gt[:, None] > 0)
    fppi = fp / n_img[:, None]
    at = np.zeros((weights.shape[0], len(FROC_RATES)))
    for j, rate in enumerate(FROC_RATES):
        allowed = np.where(fppi <= rate, sens, 0.0)
        at[:, j] = allowed.max(axis=1) if allowed.shape[1] else 0.0
    return at, fppi, sens


# ------------------------------------------------------------------------------------- counts and F1
def counts_at(table: MatchTable, threshold: float) -> np.ndarray:
    """``(n_images, K)`` detections scoring at least ``threshold``."""
    counts = np.zeros_like(table.gt_count)
    keep = table.det_score >= threshold
    np.add.at(counts, (table.det_image[keep], table.det_class[keep]), 1)
    return counts


def counting(table: MatchTable, threshold: float, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per class: ``count_accuracy`` (share of images with exactly the true count), ``count_mae`` (mean absolute
    count error per image) and ``count_relative_error`` (sum |error| / sum true), each ``(B,)``."""
    weights = np.ones((1, table.n_images)) if weights is None else weights
    predicted = counts_at(table, threshold)
    out: dict[str, np.ndarray] = {}
    total = weights.sum(axis=1)
    for k, name in enumerate(table.class_names):
        error = np.abs(predicted[:, k] - table.gt_count[:, k]).astype(np.float64)
        true = table.gt_count[:, k].astype(np.float64)
        out[f"count_accuracy_{name}"] = weights @ (error == 0) / total
        out[f"count_mae_{name}"] = weights @ error / total
        denominator = weights @ true
        out[f"count_relative_error_{name}"] = np.divide(
            weights @ error, denominator, out=np.full_like(denominator, np.nan), where=denominator > 0
        )
    return out


def f1_at(table: MatchTable, threshold: float, per_image: bool = False) -> np.ndarray:
    """F1 at IoU 0.5 of the detections scoring at least ``threshold``: ``(K,)`` per class, or ``(n_images,)``
    over classes per image (1.0 for an image with neither reference boxes nor detections)."""
    keep = (table.det_score >= threshold) & ~table.det_ignored[0]
    tp = keep & table.det_tp[0]
    fp = keep & ~table.det_tp[0]
    axis_index = table.det_image if per_image else table.det_class
    size = table.n_images if per_image else len(table.class_names)
    n_tp = np.bincount(axis_index[tp], minlength=size).astype(np.float64)
    n_fp = np.bincount(axis_index[fp], minlength=size).astype(np.float64)
    n_gt = table.gt_count.sum(axis=1 if per_image else 0).astype(np.float64)
    denominator = n_tp + n_fp + n_gt
    return np.divide(2 * n_tp, denominator, out=np.ones_like(denominator), where=denominator > 0)


def best_f1_threshold(table: MatchTable, grid: Sequence[float] | None = None) -> tuple[float, float]:
    """The score threshold with the best mean per-class F1 at IoU 0.5 (and that F1)."""
    grid = list(grid) if grid is not None else [round(v, 2) for v in np.arange(0.05, 0.96, 0.05)]
    present = table.gt_count.sum(axis=0) > 0
    scores = [float(f1_at(table, t)[present].mean()) if present.any() else 0.0 for t in grid]
    best = int(np.argmax(scores))
    return float(grid[best]), scores[best]


def interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile interval of bootstrap samples (NaNs dropped); ``(None, None)`` when none is finite."""
    finite = samples[np.isfinite(samples)]
    if not finite.size:
        return None, None
    alpha = (1 - confidence) / 2
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
