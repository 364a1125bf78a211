"""Evaluating the 3D detector on cases of a dataset: detections in the volumes' voxels, MONAI's 3D matching, then
the 2D report machinery (COCO mAP, per-class AP, FROC, counting, bootstrap CIs over volumes, PR and FROC curves),
with a representative slice of the worst, a median and the best volume drawn with its boxes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from medimg.fileio import atomic_write_bytes, atomic_write_text
from medimg.planning.domain import InputReader, TrainingDomain
from medimg.tasks.detect.data3d import PreparedVolumes, prepare_volumes
from medimg.tasks.detect.evaluate import detections_csv, save_report
from medimg.tasks.detect.inference3d import detect_volumes
from medimg.tasks.detect.metrics import Detections
from medimg.tasks.detect.metrics3d import match_detections_3d
from medimg.tasks.detect.plan import DetectPlan
from medimg.tasks.detect.report import DetectionReport, build_detection_report, draw_boxes, picked_images, write_curves

logger = logging.getLogger(__name__)

SLICE_SIDE_PX = 256
"""Slices are enlarged (nearest neighbour, whole factors) to about this many pixels on their long side."""
MATCHING = "3D COCO-style matching (MONAI matching_batch and COCOMetric, 3D IoU)"


def evaluate_volumes(
    network: nn.Module,
    plan: DetectPlan,
    dataset: Any,
    cases: Sequence[Any],
    *,
    split: str,
    out_dir: Path,
    n_resamples: int = 1000,
    strict: bool = False,
    extra: dict[str, Any] | None = None,
    domain: TrainingDomain | None = None,
) -> DetectionReport:
    """Detect on ``cases`` (volumes), score against their boxes, write ``out_dir/report.{json,html}`` with PR and
    FROC curves and slices of the worst/median/best volumes, ``per_image.csv`` and ``detections.csv`` (every
    detection scored, in voxels: :func:`~medimg.tasks.detect.evaluate.detections_csv`); return the report."""
    from medimg.errors import DatasetError

    reader = InputReader(domain=domain, strict=strict, warn_each=False)
    prepared = prepare_volumes(dataset, cases, plan, strict=strict, desc=f"reading {split} volumes", check=reader.check)
    if not len(prepared):
        raise DatasetError(f"no readable {split} volume to evaluate")
    detections = detect_volumes(network, prepared.images, plan)
    truths = prepared.truths()
    table = match_detections_3d(truths, detections, plan.class_names, max_detections=plan.detections_per_image)
    report = build_detection_report(
        table,
        prepared.case_ids,
        plan,
        split=split,
        model_name=f"{plan.network} ({'/'.join(map(str, plan.backbone_widths))} 3D ResNet + FPN, whole volumes)",
        dataset_name=str(dataset.name),
        n_resamples=n_resamples,
        extra={
            **(extra or {}),
            "skipped_files": [list(s) for s in prepared.skipped],
            **({"domain": reader.summary()} if domain is not None else {}),
        },
    )
    report.metrics["matching"] = MATCHING
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = write_curves(report, out_dir)
    figures.update(write_slices(report, out_dir, prepared, detections))
    save_report(report, out_dir, figures)
    atomic_write_text(out_dir / "detections.csv", detections_csv(prepared.case_ids, detections, plan, volumes=True))
    return report


def representative_slice(truth: np.ndarray, found: np.ndarray, depth: int) -> int:
    """The slice (index along D) through the middle of the reference boxes (``(G, 6)`` array-axis order), else of
    the detections, else of the volume."""
    boxes = truth if len(truth) else found
    if not len(boxes):
        return depth // 2
    centre = float(np.median((boxes[:, 0] + boxes[:, 3]) / 2))
    return int(min(max(np.floor(centre), 0), depth - 1))


def slice_boxes(boxes: np.ndarray, index: int) -> np.ndarray:
    """Which boxes ``(N, 6)`` cross slice ``index`` of D: a mask ``(N,)``."""
    return (boxes[:, 0] <= index + 0.5) & (boxes[:, 3] > index + 0.5) if len(boxes) else np.zeros(0, bool)


def draw_slice(
    volume: np.ndarray,
    index: int,
    class_names: Sequence[str],
    *,
    predicted: Detections | None = None,
    truth: tuple[np.ndarray, np.ndarray] | None = None,
) -> bytes:
    """A PNG of slice ``index`` (along D) of ``volume`` (``(C, D, H, W)`` in 0..1) with the boxes crossing it:
    reference green, detections in class colours; enlarged to about :data:`SLICE_SIDE_PX` pixels."""
    image = np.asarray(volume[:, index])
    factor = max(1, SLICE_SIDE_PX // max(image.shape[1:]))
    image = image.repeat(factor, axis=1).repeat(factor, axis=2)

    def planar(boxes: np.ndarray) -> np.ndarray:  # [d1, h1, w1, d2, h2, w2] -> [x1, y1, x2, y2] = [w1, h1, w2, h2]
        return boxes[:, [2, 1, 5, 4]].reshape(-1, 4) * factor

    shown = None
    if predicted is not None:
        keep = slice_boxes(predicted.boxes, index)
        shown = Detections(planar(predicted.boxes[keep]), predicted.scores[keep], predicted.labels[keep])
    reference = None
    if truth is not None:
        keep = slice_boxes(truth[0], index)
        reference = (planar(truth[0][keep]), truth[1][keep])
    return draw_boxes(image, class_names, predicted=shown, truth=reference)


def write_slices(
    report: DetectionReport, folder: Path, prepared: PreparedVolumes, detections: Sequence[Detections]
) -> dict[str, Path]:
    """A representative slice of the worst, a median and the best volume (by per-image F1) with their boxes."""
    figures: dict[str, Path] = {}
    threshold = report.metrics["score_threshold"]
    for tag, i in picked_images(report).items():
        shown = detections[i].above(threshold)
        truth = (prepared.boxes[i].numpy(), prepared.labels[i].numpy())
        volume = prepared.images[i].numpy()
        index = representative_slice(truth[0], shown.boxes, volume.shape[1])
        png = draw_slice(volume, index, report.metrics["class_names"], predicted=shown, truth=truth)
        row = report.images[i]
        caption = f"image {tag}: {row['case_id']} slice {index} of D (F1 {row['f1']:.2f})"
        figures[caption] = atomic_write_bytes(folder / f"image_{tag}.png", png)
    return figures
