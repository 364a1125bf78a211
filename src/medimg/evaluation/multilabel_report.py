"""The evaluation report of a multi-label classifier: per-finding results, summary metrics with bootstrap
intervals, ROC curves per finding, training curves; JSON and one HTML page like every task's report."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from medimg.evaluation import html, plots
from medimg.evaluation.bootstrap import count_patients
from medimg.evaluation.multilabel import MULTILABEL_HEADLINE, multilabel_cis, multilabel_metrics, validate_multilabel
from medimg.evaluation.report import Report, row_ids
from medimg.fileio import to_jsonable

__all__ = ["MultiLabelReport", "build_multilabel_report", "write_multilabel_report"]

_PER_FINDING_COLUMNS = (
    html.Column("finding", "Finding", kind="text", row_header=True),
    html.Column("positives", "Images with it", digits=0),
    html.Column("prevalence", "Prevalence"),
    html.Column("roc_auc", "ROC AUC"),
    html.Column("auc_ci", "AUC 95% CI", kind="ci"),
    html.Column("average_precision", "Average precision"),
    html.Column("sensitivity", "Sensitivity"),
    html.Column("specificity", "Specificity"),
    html.Column("precision", "Precision"),
    html.Column("f1", "F1"),
)

_FIGURES = {"roc": "ROC curves per finding"}


@dataclass(kw_only=True)
class MultiLabelReport(Report):
    """Result of evaluating a multi-label classifier on one split.

    Attributes:
        metrics: Output of :func:`~medimg.evaluation.multilabel.multilabel_metrics`.
        confidence_intervals: Output of :func:`~medimg.evaluation.multilabel.multilabel_cis`.
        predictions: Per-image rows ``{"case_id", "true_findings", "predicted_findings", "exact",
            "probabilities": {finding: p}}``.
    """

    FORMAT: ClassVar[str] = "medimg.multilabel_report"
    TITLE: ClassVar[str] = "Multi-label classification report"
    METRIC_LABELS: ClassVar[Mapping[str, str]] = {
        "macro_auc": "ROC AUC (macro, mean over findings)",
        "micro_auc": "ROC AUC (micro, all image-finding pairs)",
        "mean_average_precision": "Mean average precision",
        "macro_sensitivity": "Sensitivity (macro)",
        "macro_specificity": "Specificity (macro)",
        "macro_f1": "F1 (macro)",
        "label_accuracy": "Label-wise accuracy",
        "exact_match": "Exact match (every finding right)",
    }
    GLOSSARY: ClassVar[Sequence[tuple[str, str]]] = (
        (
            "Finding",
            "Each image may show any number of findings; the model gives each one its own probability, and reports "
            "it present at 0.5 or more (each finding's operating point was chosen on the validation split).",
        ),
        (
            "ROC AUC",
            "For one finding: the probability that a random image with it scores higher than a random image without "
            "it (0.5 is chance, 1.0 perfect ranking). Macro: the mean over findings.",
        ),
        (
            "Average precision",
            "The area under the precision-recall curve of a finding: how well it ranks when the finding is rare.",
        ),
        (
            "Sensitivity / specificity",
            "Per finding, at its operating point: images with it found / without it cleared.",
        ),
        ("Exact match", "The share of images whose findings are all predicted right, none missed and none extra."),
        (
            "Confidence interval (CI)",
            "The range a metric would plausibly take on another sample of the same population (how each interval is "
            "computed, and whether it counts patients or images, is said above the headline table; an image's "
            "findings are always resampled together). They do not cover other sites, scanners or populations.",
        ),
    )

    task: str = field(default="classify", init=False)
    headline: list[str] = field(default_factory=lambda: list(MULTILABEL_HEADLINE))
    predictions: list[dict[str, Any]] | None = None

    def meta_items(self) -> list[tuple[str, Any]]:
        names = self.metrics.get("class_names", [])
        return [*super().meta_items(), ("Findings", f"{len(names)}: " + ", ".join(str(n) for n in names))]

    def table_metrics(self) -> list[str]:
        return [*MULTILABEL_HEADLINE, "label_accuracy", "exact_match"]

    def metric_note(self, key: str) -> str | None:
        """The macro AUC's note names the findings it leaves out (no image with them, or none without them, in
        this split), which a reader would otherwise take for part of the mean."""
        note = super().metric_note(key)
        left_out = self.metrics.get("findings_without_auc") or []
        if key != "macro_auc" or not left_out:
            return note
        total = len(self.metrics.get("class_names") or [])
        without = (
            f"mean over {total - len(left_out)} of {total} findings: {', '.join(left_out)} "
            "left out (no image with it, or none without it, in this split)"
        )
        return f"{without}; {note}" if note else without

    def interval_name(self, key: str) -> str:
        """The per-finding AUC intervals (``auc/<finding>``) are named once, as "each finding's ROC AUC"."""
        return "each finding's ROC AUC" if key.startswith("auc/") else super().interval_name(key)

    def task_sections(self, images: Mapping[str, bytes]) -> list[str]:
        rows = [
            {"finding": name, **stats, "auc_ci": self.confidence_intervals.get(f"auc/{name}")}
            for name, stats in self.metrics.get("per_finding", {}).items()
        ]
        without = self.metrics.get("images_without_findings")
        parts = [
            html.section(
                "Per-finding results",
                html.table(rows, _PER_FINDING_COLUMNS, css_class="per-class")
                + "\n"
                + html.paragraph(
                    f"{without if without is not None else '—'} of {self.metrics.get('n', '—')} images show none of "
                    "the findings. “—”: undefined (a finding absent from the split has no AUC)."
                    + _left_out_text(self.metrics.get("findings_without_auc") or [])
                ),
            )
        ]
        ordered = [k for k in _FIGURES if k in images] + [k for k in images if k not in _FIGURES]
        if ordered:
            grid = html.figure_grid(html.figure(images[k], _FIGURES.get(k, k)) for k in ordered)
            parts.append(html.section("Figures", grid))
        return parts


def build_multilabel_report(
    findings: Any,
    probabilities: Any,
    names: Sequence[str],
    *,
    split: str,
    model_name: str,
    dataset_name: str,
    case_ids: Sequence[Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    patient_ids: Sequence[Any] | None = None,
) -> MultiLabelReport:
    """Metrics, bootstrap intervals and per-image rows of one split.

    With ``patient_ids`` (``None`` where unknown) the bootstrap resamples patients, ``metrics["n_patients"]``
    holds their number and each row its patient.

    Raises:
        ConfigError: invalid inputs, or ``case_ids`` or ``patient_ids`` of the wrong length.
    """
    y, p = validate_multilabel(findings, probabilities, names)
    ids = row_ids(case_ids, y.shape[0])
    n_patients = count_patients(patient_ids, y.shape[0])
    patients = None if n_patients is None else list(patient_ids or [])
    labels = [str(n) for n in names]
    predicted = p >= 0.5
    rows = [
        {
            "case_id": to_jsonable(ids[i]),
            "true_findings": [labels[j] for j in range(len(labels)) if y[i, j]],
            "predicted_findings": [labels[j] for j in range(len(labels)) if predicted[i, j]],
            "exact": bool((predicted[i] == y[i]).all()),
            "probabilities": {labels[j]: float(p[i, j]) for j in range(len(labels))},
            **({"patient_id": to_jsonable(patients[i])} if patients is not None else {}),
        }
        for i in range(y.shape[0])
    ]
    metrics = multilabel_metrics(y, p, labels)
    metrics["n_patients"] = n_patients
    cis = multilabel_cis(y, p, labels, n_resamples=n_resamples, seed=seed, groups=patients)
    return MultiLabelReport(
        metrics=metrics,
        confidence_intervals=cis,
        split=str(split),
        model_name=str(model_name),
        dataset_name=str(dataset_name),
        headline=[k for k in MULTILABEL_HEADLINE if metrics.get(k) is not None],
        extra=dict(extra or {}),
        predictions=rows,
    )


def write_multilabel_report(
    report: MultiLabelReport,
    out_dir: str | os.PathLike[str],
    *,
    findings: Any,
    probabilities: Any,
    history: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write ``roc.png``, ``training_curves.png`` (with ``history``), ``report.json`` and ``report.html`` into
    ``out_dir``, each atomically."""
    names = [str(c) for c in report.metrics.get("class_names", [])]
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {"roc": plots.plot_finding_rocs(findings, probabilities, names, folder / "roc.png")}
    if history:
        paths["training_curves"] = plots.plot_training_curves(history, folder / "training_curves.png")
    images = dict(paths)
    paths["json"] = report.save_json(folder / "report.json")
    paths["html"] = report.save_html(folder / "report.html", images=images)
    return paths


def _left_out_text(names: Sequence[str]) -> str:
    """The sentence naming the findings without an AUC here, left out of the macro AUC (empty for none)."""
    if not names:
        return ""
    return (
        " Left out of the macro AUC, having no AUC on this split: "
        f"{html.escape(', '.join(names))} (no image with it, or none without it; evaluate on images that show it "
        "to score it)."
    )
