"""Evaluating a detector on cases of a dataset: detections in the files' pixels, COCO mAP, FROC, counting, CIs,
figures and the report (JSON + HTML + per-image CSV)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from medimg.fileio import atomic_write_text
from medimg.planning.domain import InputReader, TrainingDomain
from medimg.tasks.detect.data import prepare_cases, scale_boxes
from medimg.tasks.detect.inference import detect_prepared
from medimg.tasks.detect.metrics import Detections, match_detections
from medimg.tasks.detect.plan import DetectPlan
from medimg.tasks.detect.report import NO_BOXES_TEXT, DetectionReport, build_detection_report, write_figures

logger = logging.getLogger(__name__)

OVERLAY_CASES = 3
"""Images drawn in the report: the worst, a median and the best by per-image F1."""


def evaluate_cases(
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
    """Detect on ``cases``, score against their boxes (in the files' pixels; intervals over patients when cases
    name them), write ``out_dir/report.{json,html}``
    with PR and FROC curves and worst/median/best overlays, ``per_image.csv`` and ``detections.csv`` (every
    detection scored, :func:`detections_csv`); return the report."""
    from medimg.errors import DatasetError

    reader = InputReader(domain=domain, strict=strict, warn_each=False)
    prepared = prepare_cases(dataset, cases, plan, strict=strict, desc=f"reading {split} images", check=reader.check)
    if not len(prepared):
        raise DatasetError(f"no readable {split} image to evaluate")
    found = detect_prepared(network, prepared.images, plan)
    detections = [
        Detections(scale_boxes(d.boxes, scale, inverse=True), d.scores, d.labels)
        for d, scale in zip(found, prepared.scales, strict=True)
    ]
    truths = [(prepared.original_boxes(i), prepared.labels[i].numpy()) for i in range(len(prepared))]
    if not any(len(boxes) for boxes, _ in truths):
        logger.warning("%s: %d %s images, none with a box. %s", dataset.name, len(truths), split, NO_BOXES_TEXT)
    table = match_detections(truths, detections, plan.class_names, max_detections=plan.detections_per_image)
    patients = {case.case_id: getattr(case, "patient_id", None) for case in cases}
    report = build_detection_report(
        table,
        prepared.case_ids,
        plan,
        split=split,
        model_name=f"{plan.network} ({'/'.join(map(str, plan.backbone_widths))} ResNet + FPN, input {plan.input_size})",
        dataset_name=str(dataset.name),
        n_resamples=n_resamples,
        extra={
            **(extra or {}),
            "skipped_files": [list(s) for s in prepared.skipped],
            **({"domain": reader.summary()} if domain is not None else {}),
        },
        patient_ids=[patients.get(case_id) for case_id in prepared.case_ids],  # intervals count patients
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    save_report(report, out_dir, write_figures(report, table, out_dir, prepared, detections, truths))
    atomic_write_text(out_dir / "detections.csv", detections_csv(prepared.case_ids, detections, plan))
    return report


def detections_csv(
    case_ids: Sequence[str], detections: Sequence[Detections], plan: DetectPlan, *, volumes: bool = False
) -> str:
    """The detections the report's metrics are computed on, one row each: ``case_id, x1, y1, x2, y2`` (the
    file's pixels; ``volumes``: ``x1, y1, z1, x2, y2, z2`` voxels as ``predict`` writes them, from boxes in
    array-axis order ``[d1, h1, w1, d2, h2, w2]``), ``label``, ``score`` and ``reported`` (1 when the score
    reaches the run's score threshold, i.e. ``predict`` returns the box; mAP and FROC use every row); an image
    without any gets one row with empty box cells. What a user needs to recompute or audit the report."""
    corners = ["x1", "y1", "z1", "x2", "y2", "z2"] if volumes else ["x1", "y1", "x2", "y2"]
    order = [2, 1, 0, 5, 4, 3] if volumes else [0, 1, 2, 3]  # [d1, h1, w1, d2, h2, w2] -> x1, y1, z1, x2, y2, z2
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["case_id", *corners, "label", "score", "reported"])
    for case_id, found in zip(case_ids, detections, strict=True):
        if not len(found.scores):
            writer.writerow([case_id] + [""] * (len(corners) + 3))
        for box, score, label in zip(found.boxes, found.scores, found.labels, strict=True):
            writer.writerow(
                [case_id, *(f"{box[i]:.2f}" for i in order), plan.class_names[int(label)], f"{score:.5f}",
                 int(score >= plan.score_threshold)]
            )  # fmt: skip
    return buffer.getvalue()


def save_report(report: DetectionReport, out_dir: Path, figures: dict[str, Path]) -> None:
    """``out_dir/report.json``, ``report.html`` (with ``figures``: caption -> PNG path, and the run's training
    curves), ``training_curves.png`` and ``per_image.csv``."""
    from medimg.evaluation.training_curves import write_training_curves

    report.save_json(out_dir / "report.json")
    curves = write_training_curves((report.extra or {}).get("run_dir"), out_dir)
    report.save_html(out_dir / "report.html", images={**figures, **curves})
    atomic_write_text(out_dir / "per_image.csv", per_image_csv(report.images))


def per_image_csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (round(v, 6) if isinstance(v, float) and np.isfinite(v) else v) for k, v in row.items()}
            )
    return buffer.getvalue()
