"""What a served model was trained on and how it measured on its own held-out test split, for the reports.

A clinician reading a report asks how far to trust the model: each report carries the training and validation
image counts (the run's ``metadata.json``) and the headline metrics with their 95% intervals from the run's own
test evaluation (``RUN/report/report.json``, written by ``medimg fit``), copied into the report when it is made,
so a later re-evaluation of the run does not change what an earlier report said.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medimg.tasks.classify.operating_point_record import finite_number, operating_point, operating_point_text

logger = logging.getLogger(__name__)

#: metrics named in the report beside the run's own headline ones (a two-class model's sensitivity and AUC)
EXTRA_METRICS = ("roc_auc", "sensitivity", "specificity")

#: words for the metric keys the reports use
METRIC_WORDS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "f1_macro": "F1 (macro)",
    "roc_auc": "ROC AUC",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "dice_mean": "mean Dice",
    "dice_pooled": "pooled Dice",
    "iou_mean": "mean IoU",
    "hd95_mean": "mean HD95",
    "assd_mean": "mean surface distance",
    "pixel_auc": "pixel ROC AUC",
}

#: segmentation metrics that are distances (in mm when the test images' spacing is known, else in pixels)
DISTANCE_METRICS = ("hd95", "assd")


def tested_performance(run_dir: Path) -> dict[str, Any] | None:
    """The run's own test evaluation as ``{"split", "n", "positive_class", "metrics": {key: {"value", "low",
    "high"}}}`` (defined values only), or ``None`` when the run has none (``medimg fit --test-fraction 0``) or it
    cannot be read (said once in the log)."""
    path = run_dir / "report" / "report.json"
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        metrics: Mapping[str, Any] = report["metrics"]
        intervals: Mapping[str, Any] = report.get("confidence_intervals") or {}
        keys = [*report.get("headline", []), *(k for k in EXTRA_METRICS if k not in report.get("headline", []))]
    except (OSError, ValueError, KeyError, TypeError) as error:
        logger.warning(
            "the run's test report %s cannot be read (%s): reports will not state its performance", path, error
        )
        return None
    measured: dict[str, dict[str, float | None]] = {}
    for key in keys:
        value = finite_number(metrics.get(key))
        if value is None:
            continue
        found = intervals.get(key)
        interval: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        measured[str(key)] = {
            "value": value,
            "low": finite_number(interval.get("low")),
            "high": finite_number(interval.get("high")),
        }
    if not measured:
        return None
    found_extra = report.get("extra")
    extra: Mapping[str, Any] = found_extra if isinstance(found_extra, Mapping) else {}
    found = {
        "split": str(report.get("split") or "test"),
        "n": metrics.get("n"),
        "positive_class": metrics.get("positive_class"),
        "metrics": measured,
    }
    if any(str(key).startswith(DISTANCE_METRICS) for key in measured):
        found["distance_unit"] = "mm" if extra.get("spacing_known") else "px"
    point = operating_point(extra)
    if point is not None:
        found["operating_point"] = point
    return found


def training_counts(training: Mapping[str, Any]) -> dict[str, int]:
    """``{"train_images", "val_images"}`` of a run's ``metadata.json`` ``training`` block (those it records); a
    segmentation run's ``{"train_cases", "val_cases"}``."""
    keys = ("train_images", "val_images", "train_cases", "val_cases")
    return {key: int(training[key]) for key in keys if isinstance(training.get(key), int)}


def performance_text(model_info: Mapping[str, Any]) -> str | None:
    """One plain sentence for a report: ``"Trained on 287 images (57 more for validation). On its 58 held-out
    test images: accuracy 0.948 (0.857-0.982), ROC AUC 0.990 (0.970-1.000)."``; ``None`` when the model info
    holds neither (reports made before this was recorded)."""
    parts = []
    counts = model_info.get("training_counts") or {}
    for unit in ("images", "cases"):
        if counts.get(f"train_{unit}"):
            val = counts.get(f"val_{unit}")
            more = f" ({val:,} more for validation)" if val else ""
            parts.append(f"Trained on {counts[f'train_{unit}']:,} {unit}{more}.")
            break
    performance = model_info.get("performance") or {}
    measured = performance.get("metrics") or {}
    if measured:
        values = []
        for key, entry in measured.items():
            low, high = entry.get("low"), entry.get("high")
            interval = f" ({low:.3f}-{high:.3f})" if low is not None and high is not None else ""
            unit = f" {performance.get('distance_unit') or 'px'}" if key.startswith(DISTANCE_METRICS) else ""
            values.append(f"{METRIC_WORDS.get(key, key.replace('_', ' '))} {entry['value']:.3f}{unit}{interval}")
        n = performance.get("n")
        images = f"{n:,} held-out {performance.get('split', 'test')} images" if isinstance(n, int) else "test split"
        positive = performance.get("positive_class")
        named = f" (positive class: {positive})" if positive and any(k in measured for k in EXTRA_METRICS) else ""
        point = performance.get("operating_point")
        decided = f", deciding at {operating_point_text(point)}" if isinstance(point, Mapping) else ""
        parts.append(
            f"On its {images}{named}{decided}: {', '.join(values)} (95% intervals). Measured on images from the same"
            " source as the training images; images from other scanners or sites may score lower."
        )
    return " ".join(parts) or None
