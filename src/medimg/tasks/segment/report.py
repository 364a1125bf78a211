"""Segmentation report: per-class and per-case metrics, bootstrap CIs of the means, overlays; JSON + HTML.

:class:`SegmentationReport` extends the shared :class:`~medimg.evaluation.report.Report` (JSON round trip,
page skeleton, headline table, run details) with its own sections: per-class results, overlays and the
per-case table, built with :mod:`medimg.evaluation.html`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from medimg.evaluation import html
from medimg.evaluation.report import Report
from medimg.fileio import atomic_write_text
from medimg.tasks.segment.metrics import METRIC_NAMES, mean_ci, pooled_dice

logger = logging.getLogger(__name__)

HEADLINE = ("dice_mean", "dice_pooled", "iou_mean", "hd95_mean", "assd_mean", "pixel_auc")

_DISTANCES = ("hd95", "assd")

#: headers of the per-class table's metric columns (``{unit}``: mm or px)
_CLASS_COLUMN_LABELS = {
    "dice": "Dice (mean)",
    "iou": "IoU (mean)",
    "hd95": "HD95 ({unit})",
    "assd": "Average surface distance ({unit})",
    "sensitivity": "Sensitivity (mean)",
    "precision": "Precision (mean)",
}


@dataclass(kw_only=True)
class SegmentationReport(Report):
    """Evaluation of a segmentation model on one split.

    Attributes:
        metrics: ``n`` (cases), ``class_names``, ``dice_mean`` (mean over cases of the mean foreground-class
            Dice), ``dice_pooled`` (all pixels together; DRIVE's "F1"), ``iou_mean``, ``hd95_mean``,
            ``assd_mean``, ``sensitivity_mean``, ``precision_mean``, ``pixel_auc`` (binary tasks) and
            ``per_class`` ``{name: {metric: mean over cases, "dice_pooled", "n_cases"}}``.
        confidence_intervals: ``{"dice_mean" | "dice_<class>" | "iou_mean" ...: {"value", "low", "high", ...}}``.
        cases: one row per case: ``case_id``, ``patient_id`` (when the data name patients; ``None`` for a case
            whose patient is unknown), ``dice_mean``, ``<metric>_mean`` and ``<metric>_<class>`` (NaN in memory,
            ``null`` in JSON, where undefined).
        postprocessing: the post-processing applied to the predictions.
        headline: the metric keys to show first (default :data:`HEADLINE`).

    The other attributes are those of :class:`~medimg.evaluation.report.Report`. :meth:`to_html` shows every
    image as an overlay, with its key as caption.
    """

    FORMAT: ClassVar[str] = "medimg.segmentation_report"
    TITLE: ClassVar[str] = "Segmentation report"
    METRIC_LABELS: ClassVar[Mapping[str, str]] = {
        "dice_mean": "Dice (mean over cases)",
        "dice_pooled": "Dice pooled over pixels (F1)",
        "iou_mean": "IoU (mean)",
        "hd95_mean": "HD95 (mean)",
        "assd_mean": "Average surface distance (mean)",
        "sensitivity_mean": "Sensitivity (mean)",
        "precision_mean": "Precision (mean)",
        "pixel_auc": "Pixel ROC AUC",
    }
    GLOSSARY: ClassVar[Sequence[tuple[str, str]]] = (
        ("Dice", "Overlap of prediction and reference, 2|P∩T| / (|P| + |T|): 0 is no overlap, 1 is identical."),
        ("IoU", "Intersection over union |P∩T| / |P∪T| (Jaccard index); always at most Dice."),
        ("Dice pooled", "Dice over all pixels of all cases together, so large structures weigh more."),
        (
            "HD95",
            "95th percentile Hausdorff distance between the two outlines: how far the worst 5% of boundary "
            "points are off (lower is better).",
        ),
        ("Average surface distance", "Mean distance between the two outlines in both directions (lower is better)."),
        (
            "Confidence interval (CI)",
            "Percentile-bootstrap interval of the mean: the uncertainty that comes from testing on a limited sample, "
            "for new patients of the same population. When the data name each case's patient the bootstrap draws "
            "patients with all their cases; without patient ids every case is taken as independent, which "
            "overstates the certainty when patients have several cases. Wide intervals mean too few cases to be "
            "sure; they do not cover other sites, scanners or populations.",
        ),
    )

    cases: list[dict[str, Any]]
    postprocessing: str = "none"
    task: str = field(default="segment", init=False)
    headline: list[str] = field(default_factory=lambda: list(HEADLINE))

    def _unit(self) -> str:
        return "mm" if self.extra.get("spacing_known") else "px"

    def meta_items(self) -> list[tuple[str, Any]]:
        """Header grid: the common items, class names and post-processing."""
        names = ", ".join(str(n) for n in self.metrics.get("class_names", []))
        return [*super().meta_items(), ("Classes", names), ("Post-processing", self.postprocessing)]

    def table_metrics(self) -> list[str]:
        """The headline metrics, then mean sensitivity and precision; metrics without a value are left out."""
        extra = [k for k in ("sensitivity_mean", "precision_mean") if k not in self.headline]
        return [k for k in (*self.headline, *extra) if self.metrics.get(k) is not None]

    def metric_label(self, key: str) -> str:
        """Adds the unit (mm or px) to surface distances; names a class's Dice (``dice_<class>``) by its class."""
        foreground = [str(n) for n in self.metrics.get("class_names", [])[1:]]
        if key not in self.METRIC_LABELS and key.startswith("dice_") and key[5:] in foreground:
            return f"Dice of “{key[5:]}” (mean over cases)"
        label = super().metric_label(key)
        return f"{label} ({self._unit()})" if key.startswith(_DISTANCES) else label

    def headline_intro(self) -> str:
        """Means over classes and cases, and what is not counted."""
        return html.paragraph(
            f"Means over foreground classes and cases on the {html.escape(self.split)} split, with "
            f"{html.escape(self.bootstrap_text())}. Pixels outside the region of interest are not counted."
        )

    def _distance_note(self) -> str:
        """Which cases the surface distances leave out: a class in the reference or the prediction only."""
        without = {
            name: int(entry.get("n_without_distance") or 0) for name, entry in self.metrics.get("per_class", {}).items()
        }
        listed = ", ".join(f"{n} of {html.escape(name)}" for name, n in without.items() if n)
        if not listed:
            return ""
        return (
            f" Left out of HD95 and surface distance (the class is in the reference or the prediction only: a missed "
            f"or a false structure has no distance; Dice counts them): {listed} case(s)."
        )

    def task_sections(self, images: Mapping[str, bytes]) -> list[str]:
        """Per-class results, overlays (when given) and the per-case table (worst Dice first)."""
        unit = self._unit()
        class_columns = [
            html.Column("class", "Class", kind="text", row_header=True),
            *(html.Column(k, _CLASS_COLUMN_LABELS.get(k, k).format(unit=unit)) for k in METRIC_NAMES),
            html.Column("dice_pooled", "Dice pooled over pixels"),
            html.Column("dice_ci", "Dice 95% CI", kind="ci"),
        ]
        class_rows = [
            {"class": name, **entry, "dice_ci": self.confidence_intervals.get(f"dice_{name}")}
            for name, entry in self.metrics.get("per_class", {}).items()
        ]
        parts = [
            html.section(
                "Per-class results",
                html.table(class_rows, class_columns)
                + "\n"
                + html.paragraph(
                    f"HD95 and average surface distance in {unit}; a class absent from both prediction and "
                    "reference is left out of its means." + self._distance_note()
                ),
            )
        ]
        if images:
            grid = html.figure_grid(html.figure(data, key) for key, data in images.items())
            intro = html.paragraph(
                "Green: reference; magenta (dashed): prediction. The worst, a median and the best cases by Dice."
            )
            parts.append(html.section("Overlays", intro + "\n" + grid))
        foreground = [str(n) for n in self.metrics.get("class_names", [])[1:]]
        case_columns = [
            html.Column("case_id", "Case", kind="text"),
            *(
                [html.Column("patient_id", "Patient", kind="text")]
                if any("patient_id" in c for c in self.cases)
                else []
            ),
            html.Column("dice_mean", "Dice (mean)"),
            *(html.Column(f"dice_{n}", f"Dice {n}") for n in foreground),
            *(html.Column(f"hd95_{n}", f"HD95 {n} ({unit})", digits=2) for n in foreground),
        ]
        parts.append(html.section("Per-case results", html.table(_worst_first(self.cases), case_columns)))
        return parts


def _worst_first(cases: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Cases sorted by mean Dice, lowest first; cases without a Dice (None or NaN) last."""

    def key(row: Mapping[str, Any]) -> tuple[bool, float]:
        dice = row.get("dice_mean")
        if dice is None or math.isnan(dice):
            return True, 0.0
        return False, float(dice)

    return sorted(cases, key=key)


def build_segmentation_report(
    per_case: Sequence[Mapping[int, Mapping[str, float]]],
    case_ids: Sequence[str],
    class_names: Sequence[str],
    *,
    split: str,
    model_name: str,
    dataset_name: str,
    pixel_auc: float | None = None,
    postprocessing: str = "none",
    n_resamples: int = 1000,
    extra: dict[str, Any] | None = None,
    patient_ids: Sequence[Any] | None = None,
) -> SegmentationReport:
    """Summarise per-case metrics (:func:`~medimg.tasks.segment.metrics.case_metrics` rows) into a report.

    With ``patient_ids`` (one per case, ``None`` where unknown) the intervals resample patients with all their
    cases and ``metrics["n_patients"]`` holds their number; without them cases are taken as independent.
    """
    from medimg.evaluation.bootstrap import count_patients

    n_patients = count_patients(patient_ids, len(per_case))
    groups = None if n_patients is None else list(patient_ids or [])
    foreground = list(range(1, len(class_names)))
    rows: list[dict[str, Any]] = []
    for i, (case_id, case) in enumerate(zip(case_ids, per_case, strict=True)):
        row: dict[str, Any] = {"case_id": case_id}
        if groups is not None:  # as a classification report's rows: group a patient's cases (None where unknown)
            patient = groups[i]
            row["patient_id"] = None if patient is None or patient != patient else str(patient)  # NaN: unknown
        dices = [case[c]["dice"] for c in foreground if not math.isnan(case[c]["dice"])]
        row["dice_mean"] = float(np.mean(dices)) if dices else math.nan
        for metric in METRIC_NAMES:
            values = [case[c][metric] for c in foreground if not math.isnan(case[c][metric])]
            row[f"{metric}_mean"] = float(np.mean(values)) if values else math.nan
            for c in foreground:
                row[f"{metric}_{class_names[c]}"] = case[c][metric]
        rows.append(row)
    per_class: dict[str, dict[str, Any]] = {}
    cis: dict[str, dict[str, Any]] = {}
    for c in foreground:
        name = class_names[c]
        entry: dict[str, Any] = {}
        for metric in METRIC_NAMES:
            values = [case[c][metric] for case in per_case]
            finite = [v for v in values if not math.isnan(v)]
            entry[metric] = float(np.mean(finite)) if finite else None
        entry["dice_pooled"] = pooled_dice([dict(case[c]) for case in per_case])
        entry["n_cases"] = sum(1 for case in per_case if not math.isnan(case[c]["dice"]))
        # present in one of reference and prediction only (a missed lesion, a false one): no surface distance
        entry["n_without_distance"] = sum(
            1 for case in per_case if not math.isnan(case[c]["dice"]) and math.isnan(case[c]["hd95"])
        )
        per_class[name] = entry
        cis[f"dice_{name}"] = mean_ci([case[c]["dice"] for case in per_case], n_resamples=n_resamples, groups=groups)
    without = {name: entry["n_without_distance"] for name, entry in per_class.items() if entry["n_without_distance"]}
    if without:
        logger.warning(
            "HD95 and ASSD leave out %s: the class is in the reference or the prediction only there (a missed or a "
            "false structure has no surface distance); Dice counts them",
            ", ".join(f"{n} case(s) of {name}" for name, n in without.items()),
        )
    unscored = [name for name, entry in per_class.items() if not entry["n_cases"]]
    if unscored and per_case:
        logger.warning(
            "class(es) %s appear in no case of the %s split, in neither reference nor prediction: no score for them; "
            "the means cover the other classes",
            ", ".join(unscored),
            split,
        )
    metrics: dict[str, Any] = {
        "n": len(rows),
        "n_patients": n_patients,
        "class_names": list(class_names),
        "per_class": per_class,
    }
    for metric in METRIC_NAMES:
        ci = mean_ci([r[f"{metric}_mean"] for r in rows], n_resamples=n_resamples, groups=groups)
        metrics[f"{metric}_mean"] = ci["value"]
        cis[f"{metric}_mean"] = ci
    pooled = [per_class[class_names[c]]["dice_pooled"] for c in foreground]
    metrics["dice_pooled"] = float(np.nanmean(pooled)) if pooled else None
    metrics["pixel_auc"] = pixel_auc
    headline = [k for k in HEADLINE if metrics.get(k) is not None]
    return SegmentationReport(
        model_name=model_name,
        dataset_name=dataset_name,
        split=split,
        metrics=metrics,
        confidence_intervals=cis,
        cases=rows,
        postprocessing=postprocessing,
        headline=headline,
        extra=dict(extra or {}),
    )


# ----------------------------------------------------------------------------------------------- overlays
def _display(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W[, 3])`` in 0..1 (percentile stretch) for display."""
    x = image[:3] if image.shape[0] >= 3 else image[:1]
    low, high = np.percentile(x, [0.5, 99.5])
    x = np.clip((x - low) / max(high - low, 1e-6), 0, 1)
    return np.moveaxis(x, 0, -1) if x.shape[0] == 3 else x[0]


def plot_overlay(
    image: np.ndarray, truth: np.ndarray, pred: np.ndarray, title: str, path: str | os.PathLike[str]
) -> Path:
    """Save the image with reference (green) and predicted (magenta) outlines; 3D: the slice (last axis) with
    the most reference foreground.

    Args:
        image: ``(C, *spatial)`` raw intensities.
        truth: ``(*spatial)`` classes (ignored pixels count as background).
        pred: ``(*spatial)`` classes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medimg.tasks.segment.labels import IGNORE

    truth = np.where(truth == IGNORE, 0, truth)
    if truth.ndim == 3:
        area = (truth > 0).sum(axis=(0, 1))
        k = int(area.argmax()) if area.any() else truth.shape[2] // 2
        image, truth, pred = image[..., k], truth[..., k], pred[..., k]
    fig, ax = plt.subplots(figsize=(4, 4 * image.shape[1] / max(image.shape[2], 1)), dpi=90)
    shown = _display(image)
    ax.imshow(shown, cmap=None if shown.ndim == 3 else "gray", interpolation="nearest")
    for cls in range(1, int(max(truth.max(), pred.max())) + 1):
        if (truth == cls).any():
            ax.contour(truth == cls, levels=[0.5], colors=["#2ecc40"], linewidths=1.0)
        if (pred == cls).any():
            ax.contour(pred == cls, levels=[0.5], colors=["#f012be"], linewidths=1.0, linestyles="dashed")
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    from medimg.fileio import atomic_write_bytes

    return atomic_write_bytes(out, buffer.getvalue())


def write_segmentation_report(
    report: SegmentationReport, folder: Path, *, overlays: Mapping[str, str | os.PathLike[str]] | None = None
) -> dict[str, Path]:
    """Write ``report.json``, ``report.html`` (overlays and the run's training curves embedded),
    ``training_curves.png`` and ``per_case.csv`` (a row per case: ``case_id``, ``patient_id`` when the data name
    patients, then the metrics) into ``folder``."""
    from medimg.evaluation.training_curves import write_training_curves

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": report.save_json(folder / "report.json")}
    curves = write_training_curves((report.extra or {}).get("run_dir"), folder)
    paths |= curves
    paths["html"] = report.save_html(folder / "report.html", images={**(overlays or {}), **curves})
    buffer = io.StringIO()
    if report.cases:
        writer = csv.DictWriter(buffer, fieldnames=list(report.cases[0]))
        writer.writeheader()
        for row in report.cases:
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    paths["csv"] = atomic_write_text(folder / "per_case.csv", buffer.getvalue())
    return paths
