"""Evaluation reports: a JSON record and a self-contained, printable HTML page, shared by every task.

:class:`Report` holds what every task reports (split, model, dataset, metrics, bootstrap confidence
intervals, headline metric names, free-form details) and writes it as JSON (:meth:`Report.to_json`,
:meth:`Report.save_json`, read back with :meth:`Report.from_dict` / :meth:`Report.from_json`) and as one HTML
page built only with :mod:`medimg.evaluation.html` (:meth:`Report.to_html`). A task's report subclasses it and
adds only its own sections by overriding :meth:`Report.task_sections`:

* :class:`ClassificationReport` (here): per-class table, confusion matrix, ROC / reliability / training-curve
  figures, most confident errors; built by :func:`build_classification_report` and written with its figures by
  :func:`write_report`.
* :class:`~medimg.tasks.segment.report.SegmentationReport`: per-class and per-case Dice tables, overlays.

A new task needs only this much::

    @dataclass(kw_only=True)
    class DetectionReport(Report):
        FORMAT: ClassVar[str] = "medimg.detection_report"
        TITLE: ClassVar[str] = "Detection report"
        METRIC_LABELS: ClassVar[Mapping[str, str]] = {"map50": "mAP at IoU 0.5"}
        task: str = field(default="detect", init=False)

        def task_sections(self, images: Mapping[str, bytes]) -> list[str]:
            return [html.section("Per-class AP", html.table(self.metrics["per_class_rows"], COLUMNS))]

All files are written atomically; every user-provided string is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from medimg import __version__
from medimg.errors import ConfigError, MedimgError
from medimg.evaluation import folders, html, plots
from medimg.evaluation.bootstrap import count_patients, headline_cis
from medimg.evaluation.inputs import validate_inputs
from medimg.evaluation.metrics import classification_metrics
from medimg.evaluation.training_curves import TRAINING_CURVES
from medimg.fileio import atomic_write_text, dumps_json, to_jsonable

__all__ = [
    "ClassificationReport",
    "Report",
    "build_classification_report",
    "interval_text",
    "population_text",
    "write_report",
]

#: Version of the report JSON layout (all tasks); bump on a change old readers cannot handle.
REPORT_FORMAT_VERSION = 1
REPORT_FORMAT = "medimg.classification_report"

# Compatibility for medimg.serve.reports, which styles its page with the report CSS; use html.CSS instead.
_CSS = html.CSS

_R = TypeVar("_R", bound="Report")

LIMITATIONS = (
    "For research use only; this is not a medical device and must not be used for diagnosis or treatment "
    "decisions. Results hold for this data set and split only; performance on other sites, scanners or "
    "populations may differ, and confidence intervals do not cover such shifts."
)


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(kw_only=True)
class Report:
    """Result of evaluating a model on one split, for any task; subclass it per task.

    Class attributes (override in a subclass): ``FORMAT`` (the ``"format"`` key in the JSON), ``TITLE`` (page
    title prefix), ``METRIC_LABELS`` (``{metric key: label}`` for the headline table) and ``GLOSSARY``
    (``(term, explanation)`` pairs for the "How to read this" section).

    Attributes:
        metrics: Point estimates and task-specific details; ``metrics["n"]`` is the number of cases.
        confidence_intervals: ``{metric: {"value", "low", "high", "confidence", "n_resamples", ...}}``.
        split: Name of the evaluated split, e.g. ``"test"``.
        model_name: Model identifier shown in the header.
        dataset_name: Dataset identifier shown in the header.
        task: Task name (``"classify"``, ``"segment"``, ...); fixed by each subclass.
        headline: Names of the headline metrics, in order (printed by ``medimg fit`` / ``medimg evaluate``).
        extra: Free-form JSON-compatible details (plan summary, training time, ...), listed in the page.
        created: ISO-8601 creation time (UTC).
    """

    FORMAT: ClassVar[str] = "medimg.report"
    TITLE: ClassVar[str] = "Evaluation report"
    METRIC_LABELS: ClassVar[Mapping[str, str]] = {}
    GLOSSARY: ClassVar[Sequence[tuple[str, str]]] = ()

    metrics: dict[str, Any]
    confidence_intervals: dict[str, Any]
    split: str
    model_name: str
    dataset_name: str
    task: str = "generic"
    headline: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=_now_iso)

    # ------------------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict: a ``"format"``/``"format_version"`` header, then every field.

        Raises:
            ConfigError: A value has no JSON form (the message names its location, e.g. ``$.extra.x``).
        """
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        return to_jsonable({"format": self.FORMAT, "format_version": REPORT_FORMAT_VERSION, **body})

    def to_json(self) -> str:
        """Serialise to an indented JSON string (strict JSON: undefined values are ``null``)."""
        return dumps_json(self.to_dict())

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to ``path`` atomically and return the path."""
        return atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls: type[_R], data: Mapping[str, Any], *, source: str = "report") -> _R:
        """Rebuild a report from :meth:`to_dict` output (or parsed ``report.json``).

        On :class:`Report` itself any task's report is accepted and read as a generic report (task-specific
        fields are dropped); on a subclass the ``format`` and ``task`` must be its own. Unknown keys are ignored.

        Args:
            data: The parsed JSON object.
            source: Where ``data`` came from, for error messages.

        Raises:
            MedimgError: ``data`` is not a report of this type, is from a newer medimg, or lacks required fields.
        """
        if not isinstance(data, Mapping):
            raise MedimgError(f"{source} is not a medimg report (expected a JSON object)")
        task = next((f.default for f in fields(cls) if f.name == "task"), None)
        if cls is not Report and (data.get("format", cls.FORMAT) != cls.FORMAT or data.get("task", task) != task):
            raise MedimgError(
                f"{source} is not a medimg {cls.TITLE.lower()} (format {data.get('format')!r}, task "
                f"{data.get('task')!r}); load it with the report class of its task"
            )
        version = data.get("format_version", REPORT_FORMAT_VERSION)
        if not isinstance(version, int) or version > REPORT_FORMAT_VERSION:
            raise MedimgError(
                f"{source} has report format version {version!r}, newer than this medimg understands "
                f"({REPORT_FORMAT_VERSION}); upgrade medimg"
            )
        settable = [f for f in fields(cls) if f.init]
        missing = sorted(
            f.name for f in settable if f.default is MISSING and f.default_factory is MISSING and f.name not in data
        )
        if missing:
            raise MedimgError(f"{source} lacks required field(s) {missing}; re-run the evaluation")
        return cls(**{f.name: data[f.name] for f in settable if f.name in data})

    @classmethod
    def from_json(cls: type[_R], source: str | os.PathLike[str]) -> _R:
        """Load a report from a ``report.json`` path (as written by :meth:`save_json`) or from JSON text.

        Args:
            source: A file path, or a string holding a JSON object (output of :meth:`to_json`).

        Raises:
            MedimgError: The file is missing, not valid JSON, or not a report of this type (see :meth:`from_dict`).
        """
        if isinstance(source, str) and source.lstrip().startswith("{"):
            where, text = "report JSON text", source
        else:
            path = Path(source)
            where = f"report {path}"
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError as exc:
                raise MedimgError(f"report file {path} does not exist") from exc
            except (OSError, UnicodeDecodeError) as exc:
                raise MedimgError(f"cannot read report {path}: {exc}; re-run the evaluation to rewrite it") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MedimgError(f"cannot read {where}: {exc}; re-run the evaluation to rewrite it") from exc
        return cls.from_dict(data, source=where)

    # ------------------------------------------------------------------------------------------ HTML
    def to_html(self, *, images: Mapping[str, str | os.PathLike[str]] | None = None) -> str:
        """Render one self-contained HTML page (inline CSS, base64-embedded images, no JavaScript).

        Args:
            images: ``{key: png_or_svg_path}`` handed to :meth:`task_sections` (each task documents its keys).

        Returns:
            The HTML document as a string.

        Raises:
            MedimgError: An image file cannot be read or is not a PNG or SVG image.
        """
        return html.page(
            self.title(),
            self.sections(_read_images(images or {})),
            meta=self.meta_items(),
            footer=f"Generated by medimg {__version__} · report created {self.created}.",
        )

    def _repr_html_(self) -> str:
        """Jupyter's view of a report: :meth:`to_html` (without the plots, which live in the report's folder) in a
        frame of its own, so that the page's styles leave the notebook's alone."""
        from html import escape

        return (
            f'<iframe srcdoc="{escape(self.to_html(), quote=True)}" title="{escape(self.title(), quote=True)}" '
            'style="width: 100%; height: 640px; border: 1px solid #ddd"></iframe>'
        )

    def save_html(
        self, path: str | os.PathLike[str], images: Mapping[str, str | os.PathLike[str]] | None = None
    ) -> Path:
        """Write :meth:`to_html` to ``path`` atomically and return the path."""
        return atomic_write_text(path, self.to_html(images=images))

    def title(self) -> str:
        """Page title: ``"<TITLE> — <model> on <dataset>"``."""
        return f"{self.TITLE} — {self.model_name} on {self.dataset_name}"

    def meta_items(self) -> list[tuple[str, Any]]:
        """``(label, value)`` pairs of the header grid; subclasses append their own."""
        return [
            ("Model", self.model_name),
            ("Dataset", self.dataset_name),
            ("Split", self.split),
            ("Created", self.created),
            ("Cases", self.metrics.get("n")),
            *([("Patients", self.metrics["n_patients"])] if self.metrics.get("n_patients") is not None else []),
            *([("Trained on", trained)] if (trained := self.training_text()) else []),
        ]

    def training_text(self) -> str | None:
        """What the model was fitted on, from ``extra["training"]``: ``"56 images (+ 12 for validation)"``, or
        ``None`` when the report does not record it."""
        training = (self.extra or {}).get("training")
        if not isinstance(training, Mapping):
            return None
        for unit in ("images", "cases"):
            count = training.get(f"train_{unit}")
            if isinstance(count, int) and not isinstance(count, bool):
                val = training.get(f"val_{unit}")
                validation = f" (+ {val:,} for validation)" if isinstance(val, int) and val else ""
                return f"{count:,} {unit}{validation}"
        return None

    def sections(self, images: Mapping[str, bytes]) -> list[str]:
        """The page body in order: headline metrics, the task's sections, run details, glossary, limitations.

        Args:
            images: ``{key: PNG or SVG bytes}`` from :meth:`to_html`.
        """
        optimistic = (self.extra or {}).get("optimistic")
        curves = images.get(TRAINING_CURVES)
        parts = [
            *([html.note(html.escape(str(optimistic)), title="Optimistic scores", warning=True)] if optimistic else []),
            html.section(
                "Headline metrics",
                self.headline_intro() + "\n" + html.metrics_table(self.headline_rows(), ci_label=self.ci_label()),
            ),
            *self.task_sections({k: v for k, v in images.items() if k != TRAINING_CURVES}),
        ]
        if curves is not None:
            parts.append(html.section("Training", html.figure(curves, TRAINING_CAPTION)))
        if self.extra:
            parts.append(html.section("Run details", html.key_value_table(self.extra)))
        if self.GLOSSARY:
            parts.append(html.section("How to read this", html.definition_list(self.GLOSSARY)))
        parts.append(html.note(html.escape(LIMITATIONS), title="Limitations", warning=True))
        return parts

    def task_sections(self, images: Mapping[str, bytes]) -> list[str]:
        """The task's own sections (HTML from :mod:`medimg.evaluation.html`), between headline and details."""
        return []

    # ---------------------------------------------------------------------------------- headline table
    def table_metrics(self) -> list[str]:
        """Metric keys of the headline table (default: :attr:`headline`)."""
        return list(self.headline)

    def metric_label(self, key: str) -> str:
        """Reader-facing name of ``key`` (from ``METRIC_LABELS``, else the key)."""
        return self.METRIC_LABELS.get(key, key)

    def metric_note(self, key: str) -> str | None:
        """Small note under the label of ``key`` in the headline table: why its interval is missing, if it is."""
        entry = self.confidence_intervals.get(key)
        note = entry.get("note") if isinstance(entry, Mapping) else None
        return str(note) if note else None

    def headline_rows(self) -> list[html.MetricRow]:
        """Rows of the headline table; keys in neither ``metrics`` nor ``confidence_intervals`` are skipped."""
        rows = []
        for key in self.table_metrics():
            if key not in self.metrics and key not in self.confidence_intervals:
                continue
            entry = self.confidence_intervals.get(key)
            value = entry.get("value") if isinstance(entry, Mapping) else self.metrics.get(key)
            ci = entry if isinstance(entry, Mapping) else None
            rows.append(html.MetricRow(self.metric_label(key), value, ci, self.metric_note(key)))
        return rows

    def _ci_setting(self, name: str) -> Any:
        entries = (e for e in self.confidence_intervals.values() if isinstance(e, Mapping))
        return next((e.get(name) for e in entries if e.get(name) is not None), None)

    def ci_label(self) -> str:
        """Header of the interval column, from the intervals' coverage (e.g. ``"95% CI"``)."""
        return html.ci_label(self._ci_setting("confidence"))

    def bootstrap_text(self) -> str:
        """How the intervals were computed and what they count as independent, e.g. ``"95% CIs: Wilson score
        intervals for accuracy (...); 12 images from 3 patients: the intervals count patients, not images"``, for
        :meth:`headline_intro`."""
        resamples = self._ci_setting("n_resamples")
        n_boot = f" ({int(resamples):,} resamples)" if isinstance(resamples, int) else ""
        entries = {k: e for k, e in self.confidence_intervals.items() if isinstance(e, Mapping)}
        unit = self._ci_setting("unit")
        if unit is None:  # a task whose intervals are a plain bootstrap over its cases
            return f"{self.ci_label()}s from a percentile bootstrap over cases{n_boot}"
        by_method: dict[str, list[str]] = {}
        for key, entry in entries.items():
            named = by_method.setdefault(str(entry.get("method") or "bootstrap"), [])
            if self.interval_name(key) not in named:
                named.append(self.interval_name(key))
        over = "patients (with all their images)" if unit == "patient" else "images"
        described = {
            "wilson": "Wilson score intervals for {}" + (" (Rao-Scott design effect)" if unit == "patient" else ""),
            "mover-wilson": "{} from its per-class Wilson intervals (MOVER)",
            "newcombe": "Newcombe's score interval for {}",
            "bootstrap": f"a percentile bootstrap{n_boot} over {over} for {{}}",
        }
        parts = [described.get(m, m + " for {}").format(", ".join(keys)) for m, keys in by_method.items()]
        return f"{self.ci_label()}s: {'; '.join(parts)}. {population_text(self.metrics, unit).rstrip('.')}"

    def interval_name(self, key: str) -> str:
        """How :meth:`bootstrap_text` names the metric ``key``: its table label, e.g. ``"F1 (macro)"`` for
        ``f1_macro`` (not the raw key)."""
        label = self.metric_label(key)
        return label if label != key else key.replace("_", " ")

    def headline_intro(self) -> str:
        """Explanatory paragraph (HTML) above the headline table."""
        return html.paragraph(
            f"Point estimates on the {html.escape(self.split)} split with {html.escape(self.bootstrap_text())}. "
            "“—”: not computed or undefined."
        )


def population_text(metrics: Mapping[str, Any], unit: str | None, *, brief: bool = False) -> str:
    """What the intervals count as independent: ``"12 images from 3 patients: the intervals count patients, not
    images."``, or ``"12 images, no patient ids: taken as independent cases (...)"``.

    Args:
        metrics: A report's metrics (``"n"`` images and, when the data name patients, ``"n_patients"``).
        unit: The intervals' unit (``"patient"`` or ``"image"``).
        brief: The console form: ``"12 images from 3 patients (intervals by patient)"``, ``"12 images (no
            patient ids: intervals treat images as independent)"``.
    """
    n, patients = metrics.get("n"), metrics.get("n_patients")
    if unit == "patient":
        why = "(intervals by patient)" if brief else ": the intervals count patients, not images."
        return f"{n} images from {patients} patients{' ' if brief else ''}{why}"
    if patients is not None:
        return f"{n} images from {patients} patients" + ("" if brief else ", one image each.")
    if brief:
        return f"{n} images (no patient ids: intervals treat images as independent)"
    return (
        f"{n} images, no patient ids: taken as independent cases (the intervals are too narrow if some patients "
        "contribute several images; give a patient_id column)."
    )


def interval_text(entry: Mapping[str, Any] | None) -> str:
    """A metric's interval for a console line: ``"95% CI 0.438-1.000"``, ``"no 95% CI: <why>"`` or ``""``."""
    if not entry:
        return ""
    label = html.ci_label(entry.get("confidence"))
    if entry.get("low") is not None and entry.get("high") is not None:
        return f"{label} {entry['low']:.3f}-{entry['high']:.3f}"
    note = str(entry.get("note") or "")
    return f"no {label}: {note.removeprefix('no interval: ')}" if note else ""


def _read_images(images: Mapping[str, str | os.PathLike[str]]) -> dict[str, bytes]:
    embedded: dict[str, bytes] = {}
    for key, image_path in images.items():
        try:
            data = Path(image_path).read_bytes()
        except OSError as exc:
            raise MedimgError(f"cannot embed figure {key!r} from {image_path}: {exc}") from exc
        if html.image_mime(data) is None:
            raise MedimgError(f"figure {key!r} at {image_path} is not a PNG or SVG image")
        embedded[str(key)] = data
    return embedded


# ------------------------------------------------------------------------------------- classification
#: Figure keys understood by :meth:`ClassificationReport.to_html`, in page order, with their captions.
FIGURES: dict[str, str] = {
    "roc": "ROC curve",
    "confusion_matrix": "Confusion matrix",
    "reliability": "Reliability diagram (calibration)",
}

#: The caption of the training curves every report shows in its "Training" section.
TRAINING_CAPTION = (
    "Training curves: loss, validation scores and learning rate per epoch (the networks of an ensemble one after "
    "another)"
)

#: Default headline metrics of a classification report, in the order the CLI prints them.
CLASSIFICATION_HEADLINE = ("accuracy", "balanced_accuracy", "roc_auc", "f1_macro", "sensitivity", "specificity")

_PER_CLASS_COLUMNS = (
    html.Column("class", "Class", kind="text", row_header=True),
    html.Column("precision", "Precision"),
    html.Column("recall", "Recall (sensitivity)"),
    html.Column("specificity", "Specificity"),
    html.Column("f1", "F1"),
    html.Column("support", "Support"),
    html.Column("roc_auc", "AUC (one-vs-rest)"),
)

#: why the macro sensitivity and specificity of a multi-class report have no interval of their own
_MACRO_NOTES = {
    "recall_macro": "no interval of its own; balanced accuracy (the mean sensitivity over the classes present) has "
    "one, above",
    "specificity_macro": "no interval computed for this average; the per-class specificities are below",
}

_ERROR_COLUMNS = (
    html.Column("case_id", "Case", kind="text"),
    html.Column("true_label", "True", kind="text"),
    html.Column("predicted_label", "Predicted", kind="text"),
    html.Column("confidence", "Probability"),
)


@dataclass(kw_only=True)
class ClassificationReport(Report):
    """Result of evaluating a classifier on one split.

    Attributes:
        metrics: Output of :func:`~medimg.evaluation.metrics.classification_metrics`.
        confidence_intervals: Output of :func:`~medimg.evaluation.bootstrap.headline_cis`.
        headline: Headline metric names (default :data:`CLASSIFICATION_HEADLINE`).
        predictions: Optional per-case rows ``{"case_id", "true_label", "predicted_label", "correct",
            "probabilities": {class: p}}``.

    The other attributes are those of :class:`Report`. :meth:`to_html` understands the image keys of
    :data:`FIGURES` (shown with their captions, in that order); other keys follow with the key as caption.
    """

    FORMAT: ClassVar[str] = REPORT_FORMAT
    TITLE: ClassVar[str] = "Classification report"
    METRIC_LABELS: ClassVar[Mapping[str, str]] = {
        "accuracy": "Accuracy",
        "balanced_accuracy": "Balanced accuracy",
        "sensitivity": "Sensitivity (recall of positive class)",
        "specificity": "Specificity",
        "f1_macro": "F1 (macro)",
        "roc_auc": "ROC AUC",
        "precision_macro": "Precision (macro)",
        "recall_macro": "Sensitivity / recall (macro)",
        "specificity_macro": "Specificity (macro)",
        "ece": "Expected calibration error (ECE, lower is better)",
    }
    GLOSSARY: ClassVar[Sequence[tuple[str, str]]] = (
        (
            "Sensitivity (recall)",
            "Of the cases that truly belong to a class, the share the model labels as that class.",
        ),
        (
            "Specificity",
            "Of the cases that do not belong to a class, the share the model correctly labels as not that class.",
        ),
        ("Precision", "Of the cases the model assigns to a class, the share that truly belong to it."),
        (
            "ROC AUC",
            "Probability that a random case of a class gets a higher score than a random case of another class: "
            "0.5 is chance, 1.0 is perfect ranking, independent of any threshold.",
        ),
        (
            "ECE",
            "Expected calibration error: the average gap between the model's confidence and its actual accuracy "
            "(0 = confidences can be taken at face value).",
        ),
        (
            "Confidence interval (CI)",
            "The uncertainty that comes from testing on a limited sample: the range of values compatible with these "
            "test cases, for new patients of the same population (when the data name each image's patient: "
            "intervals count patients, so several images of one patient weigh as one patient; without patient ids "
            "every image is taken as an independent case, which overstates the certainty when patients have "
            "several images). Wide intervals mean too few patients or images to be sure. They do not cover other "
            "sites, scanners or populations.",
        ),
    )

    task: str = field(default="classify", init=False)
    headline: list[str] = field(default_factory=lambda: list(CLASSIFICATION_HEADLINE))
    predictions: list[dict[str, Any]] | None = None

    def meta_items(self) -> list[tuple[str, Any]]:
        """Header grid: the common items and the class names."""
        return [*super().meta_items(), ("Classes", ", ".join(str(n) for n in self.metrics.get("class_names", [])))]

    def table_metrics(self) -> list[str]:
        """Accuracy, balanced accuracy, sensitivity and specificity (macro for > 2 classes), F1, AUC, ECE."""
        binary = self.metrics.get("n_classes") == 2
        pair = ["sensitivity", "specificity"] if binary else ["recall_macro", "specificity_macro"]
        return ["accuracy", "balanced_accuracy", *pair, "f1_macro", "roc_auc", "ece"]

    def _negative_class(self) -> str | None:
        """The class that is not the positive one, in a two-class report."""
        names = [str(n) for n in self.metrics.get("class_names") or []]
        positive = self.metrics.get("positive_class")
        if self.metrics.get("n_classes") != 2 or len(names) != 2 or positive is None:
            return None
        return names[0] if str(positive) == names[1] else names[1]

    def metric_label(self, key: str) -> str:
        """Names the positive class in the sensitivity label and the negative class in the specificity label; says
        that a multi-class ROC AUC is the macro average of the one-vs-rest AUCs."""
        if key == "sensitivity" and self.metrics.get("positive_class") is not None:
            return f"Sensitivity (recall of “{self.metrics['positive_class']}”)"
        negative = self._negative_class()
        if key == "specificity" and negative is not None:
            return f"Specificity (recall of “{negative}”)"
        if key == "roc_auc" and (self.metrics.get("n_classes") or 0) > 2:
            return "ROC AUC (macro average of one-vs-rest)"
        return super().metric_label(key)

    def metric_note(self, key: str) -> str | None:
        """Why ROC AUC is undefined, when it is; why an interval is missing."""
        note = self.metrics.get("roc_auc_note") if key == "roc_auc" else None
        if not note and key in _MACRO_NOTES and not isinstance(self.confidence_intervals.get(key), Mapping):
            note = _MACRO_NOTES[key]
        return str(note) if note else super().metric_note(key)

    def headline_intro(self) -> str:
        """The common intro, naming the positive class of a binary task."""
        positive = ""
        if self.metrics.get("n_classes") == 2 and self.metrics.get("positive_class") is not None:
            positive = f" Positive class: {html.strong(self.metrics['positive_class'])}."
        return html.paragraph(
            f"Point estimates on the {html.escape(self.split)} split with {html.escape(self.bootstrap_text())}."
            f"{positive}{self._decision_text()} “—”: not computed or undefined."
        )

    def _decision_text(self) -> str:
        """How a two-class run decides: argmax, or the operating point its training chose on validation."""
        plan = (self.extra or {}).get("plan") or {}
        if self.metrics.get("n_classes") != 2 or "binary_threshold" not in plan:
            return ""
        rule = plan["binary_threshold"]
        if rule == "argmax":
            positive = self.metrics.get("positive_class")
            threshold = (
                f", i.e. “{html.escape(positive)}” when its probability is above 0.5 (threshold 0.5)"
                if positive is not None
                else " (threshold 0.5)"
            )
            text = (
                f" Decisions: the more probable class{threshold} (probabilities calibrated to the training split's"
                " class shares; an operating point can be chosen from the ROC curve, or on validation with"
                " <code>--set binary_threshold=youden</code>)."
            )
            names = list(self.metrics.get("class_names") or ["the negative class", "the positive class"])
            for key, missed in (("sensitivity", names[1]), ("specificity", names[0])):
                value = self.metrics.get(key)
                if isinstance(value, (int, float)) and value < 0.5:
                    text += (
                        f" {html.strong(f'{key.capitalize()} is {value:.3f} at argmax')}: “{html.escape(missed)}” is"
                        " mostly missed; retrain with <code>--set binary_threshold=youden</code> for a balanced"
                        " operating point."
                    )
            return text
        chosen = ((self.extra or {}).get("training") or {}).get("binary_thresholds") or []
        values = ", ".join(f"{t:.3f}" for point in chosen for t in point.values())
        how = {"youden": "best sensitivity + specificity", "f1": "best F1"}.get(rule) or (
            "the most sensitive point keeping that specificity on validation"
            if str(rule).startswith("specificity")
            else "the most specific point reaching that sensitivity on validation"
        )
        return (
            f" Decisions: at the operating point chosen on the validation split ({html.escape(rule)}: {how};"
            f" threshold{'s per network' if len(chosen) > 1 else ''} on the positive class's probability:"
            f" {html.escape(values or 'none recorded')}), folded into the network, so probabilities are relative to"
            " it (0.5 = the threshold); the ECE and the reliability diagram measure these shifted probabilities,"
            " not the network's raw ones."
        )

    def task_sections(self, images: Mapping[str, bytes]) -> list[str]:
        """Per-class table, confusion matrix, figures and the most confident errors."""
        per_class = [{"class": name, **stats} for name, stats in self.metrics.get("per_class", {}).items()]
        parts = [
            html.section(
                "Per-class results",
                html.table(per_class, _PER_CLASS_COLUMNS, css_class="per-class")
                + "\n"
                + html.paragraph("“—” marks a value that is undefined (e.g. AUC of a class absent from the data)."),
            )
        ]
        names = self.metrics.get("class_names", [])
        matrix = html.matrix_table(
            self.metrics.get("confusion_matrix", []),
            names,
            names,
            caption="Rows: true class · columns: predicted class · cells: count and share of the true class",
            corner="true ↓ / predicted →",
        )
        if matrix:
            parts.append(html.section("Confusion matrix", matrix))
        ordered = [k for k in FIGURES if k in images] + [k for k in images if k not in FIGURES]
        if ordered:
            grid = html.figure_grid(html.figure(images[k], FIGURES.get(k, k)) for k in ordered)
            parts.append(html.section("Figures", grid))
        errors = self._errors_section()
        if errors:
            parts.append(errors)
        return parts

    def _errors_section(self, limit: int = 10) -> str:
        rows = self.predictions or []
        wrong = [
            {**row, "confidence": float((row.get("probabilities") or {}).get(row.get("predicted_label"), 0.0))}
            for row in rows
            if not row.get("correct", True)
        ]
        if not wrong:
            return ""
        wrong.sort(key=lambda row: row["confidence"], reverse=True)
        intro = html.paragraph(
            f"{len(wrong):,} of {len(rows):,} cases are misclassified; the {min(limit, len(wrong))} with the highest "
            "predicted probability are listed (worth a look for label errors or hard cases)."
        )
        return html.section("Most confident errors", intro + "\n" + html.table(wrong[:limit], _ERROR_COLUMNS))


# ----------------------------------------------------------------------------------------------- building
def row_ids(case_ids: Sequence[Any] | None, n: int) -> Sequence[Any]:
    """The identifiers of a report's ``n`` per-case rows: ``case_ids``, or the row index when there are none.

    Raises:
        ConfigError: ``case_ids`` has another length.
    """
    if case_ids is not None and len(case_ids) != n:
        raise ConfigError(f"case_ids has {len(case_ids)} entries but there are {n} cases")
    return case_ids if case_ids is not None else range(n)


def build_classification_report(
    y_true: Any,
    probabilities: Any,
    class_names: Sequence[str],
    *,
    split: str,
    model_name: str,
    dataset_name: str,
    case_ids: Sequence[Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    patient_ids: Sequence[Any] | None = None,
) -> ClassificationReport:
    """Compute metrics, bootstrap CIs and per-case predictions for one split.

    Args:
        y_true: ``(N,)`` int class indices.
        probabilities: ``(N, K)`` float class probabilities.
        class_names: ``K`` class names in column order.
        split: Split name, e.g. ``"test"``.
        model_name: Model identifier.
        dataset_name: Dataset identifier.
        case_ids: Optional ``N`` case identifiers for the per-case rows (default: the row index).
        extra: Free-form JSON-compatible details stored in the report.
        n_resamples: Bootstrap resamples for the confidence intervals.
        seed: Bootstrap seed.
        patient_ids: Optional ``N`` patient ids (``None`` where unknown): the intervals then count patients,
            not images (see :mod:`medimg.evaluation.bootstrap`), ``metrics["n_patients"]`` holds their number
            and the per-case rows their patient.

    Returns:
        The report (not yet written; see :func:`write_report`). Its ``headline`` lists the metrics of
        :data:`CLASSIFICATION_HEADLINE` that have a value.

    Raises:
        ConfigError: Invalid inputs, or ``case_ids`` or ``patient_ids`` of the wrong length.
    """
    y, p = validate_inputs(y_true, probabilities, class_names)
    names = [str(c) for c in class_names]
    ids = row_ids(case_ids, y.shape[0])
    n_patients = count_patients(patient_ids, y.shape[0])
    patients = None if n_patients is None else list(patient_ids or [])
    pred = p.argmax(axis=1)
    predictions = [
        {
            "case_id": to_jsonable(ids[i]),
            "true_label": names[int(y[i])],
            "predicted_label": names[int(pred[i])],
            "correct": bool(y[i] == pred[i]),
            "probabilities": {names[c]: float(p[i, c]) for c in range(len(names))},
            **({"patient_id": to_jsonable(patients[i])} if patients is not None else {}),
        }
        for i in range(y.shape[0])
    ]
    metrics = classification_metrics(y, p, names)
    metrics["n_patients"] = n_patients
    cis = headline_cis(y, p, names, n_resamples=n_resamples, seed=seed, groups=patients)
    headline = [
        key for key in CLASSIFICATION_HEADLINE if (cis.get(key) or {}).get("value", metrics.get(key)) is not None
    ]
    return ClassificationReport(
        metrics=metrics,
        confidence_intervals=cis,
        split=str(split),
        model_name=str(model_name),
        dataset_name=str(dataset_name),
        headline=headline,
        extra=dict(extra or {}),
        predictions=predictions,
    )


def write_report(
    report: ClassificationReport,
    out_dir: str | os.PathLike[str],
    *,
    y_true: Any,
    probabilities: Any,
    history: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write the report and its figures into ``out_dir`` (created if needed); every file atomically.

    Files: ``roc.png``, ``confusion_matrix.png``, ``reliability.png``, ``training_curves.png`` (only with
    ``history``), ``predictions.csv`` (per image, when the report has its predictions), ``report.json`` and
    ``report.html`` (written last, with the figures embedded).

    Args:
        report: The report to write.
        out_dir: Destination folder.
        y_true: ``(N,)`` int class indices the report was built from (for the curves).
        probabilities: ``(N, K)`` float probabilities the report was built from.
        history: Optional per-epoch training history for the training-curve figure.

    Returns:
        ``{"json", "html", "roc", "confusion_matrix", "reliability"[, "training_curves", "predictions"]}`` -> path.

    Raises:
        ConfigError: The inputs do not match the report.
    """
    names = [str(c) for c in report.metrics.get("class_names", [])]
    y, p = validate_inputs(y_true, probabilities, names)
    if y.shape[0] != report.metrics.get("n"):
        raise ConfigError(
            f"the report was built from {report.metrics.get('n')} cases but y_true has {y.shape[0]}; "
            "pass the same y_true and probabilities as to build_classification_report"
        )
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {
        "roc": plots.plot_roc(y, p, names, folder / "roc.png"),
        "confusion_matrix": plots.plot_confusion_matrix(
            np.asarray(report.metrics["confusion_matrix"]), names, folder / "confusion_matrix.png"
        ),
        "reliability": plots.plot_reliability(y, p, folder / "reliability.png"),
    }
    if history:
        paths["training_curves"] = plots.plot_training_curves(history, folder / "training_curves.png")
    images = dict(paths)
    optimistic = folders.optimistic_note(folder)  # an evaluation of images the model learnt from: said on the page
    if optimistic:
        report.extra = {"optimistic": optimistic, **(report.extra or {})}
    if report.predictions:
        paths["predictions"] = write_predictions_csv(report.predictions, folder / "predictions.csv")
    paths["json"] = report.save_json(folder / "report.json")
    paths["html"] = report.save_html(folder / "report.html", images=images)
    return paths


def write_predictions_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """The per-image predictions a report was computed from, one row per image: ``case_id``, ``patient_id``
    (when the data name patients), ``true_label``, ``predicted_label``, ``correct`` and ``p_<class>`` per class
    (as ``medimg predict --format csv`` names them), for a spreadsheet or one's own statistics (e.g. a bootstrap
    over patients)."""
    import csv
    import io

    classes = list(rows[0].get("probabilities") or {})
    patients = any("patient_id" in row for row in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["case_id", *(["patient_id"] if patients else []), "true_label", "predicted_label", "correct"]
        + [f"p_{c}" for c in classes]
    )
    for row in rows:
        chances = row.get("probabilities") or {}
        patient = [row.get("patient_id") or ""] if patients else []
        writer.writerow(
            [row["case_id"], *patient, row["true_label"], row["predicted_label"], int(bool(row["correct"]))]
            + [f"{float(chances[c]):.6f}" for c in classes]
        )
    return atomic_write_text(path, buffer.getvalue())
