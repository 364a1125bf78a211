"""Classification evaluation reports: a JSON record and a self-contained, printable HTML page.

:func:`build_classification_report` computes metrics and bootstrap confidence intervals;
:func:`write_report` writes ``report.json``, ``report.html`` and the figures into a folder. The HTML page
needs nothing but a browser: figures are embedded as base64 PNG data URIs, CSS is inline, there is no
JavaScript and no network access. Every user-provided string is HTML-escaped.
All files are written atomically.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from medimg import __version__
from medimg.errors import ConfigError, MedimgError
from medimg.evaluation import plots
from medimg.evaluation.bootstrap import headline_cis
from medimg.evaluation.metrics import classification_metrics, validate_inputs
from medimg.fileio import atomic_write_text, dumps_json, to_jsonable

__all__ = ["ClassificationReport", "build_classification_report", "write_report"]

REPORT_FORMAT = "medimg.classification_report"
REPORT_FORMAT_VERSION = 1

#: Figure keys understood by :meth:`ClassificationReport.to_html`, in page order, with their captions.
FIGURES: dict[str, str] = {
    "roc": "ROC curve",
    "confusion_matrix": "Confusion matrix",
    "reliability": "Reliability diagram (calibration)",
    "training_curves": "Training curves",
}

_HEADLINE_LABELS: dict[str, str] = {
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


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ClassificationReport:
    """Result of evaluating a classifier on one split.

    Attributes:
        metrics: Output of :func:`~medimg.evaluation.metrics.classification_metrics`.
        confidence_intervals: Output of :func:`~medimg.evaluation.bootstrap.headline_cis`.
        split: Name of the evaluated split, e.g. ``"test"``.
        model_name: Model identifier shown in the header.
        dataset_name: Dataset identifier shown in the header.
        created: ISO-8601 creation time (UTC).
        extra: Free-form JSON-compatible details (plan summary, training time, ...), listed in the page.
        predictions: Optional per-case rows ``{"case_id", "true_label", "predicted_label", "correct",
            "probabilities": {class: p}}``.
    """

    metrics: dict[str, Any]
    confidence_intervals: dict[str, Any]
    split: str
    model_name: str
    dataset_name: str
    created: str = field(default_factory=_now_iso)
    extra: dict[str, Any] = field(default_factory=dict)
    predictions: list[dict[str, Any]] | None = None

    # ------------------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict with a ``"format"``/``"format_version"`` header."""
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        return to_jsonable({"format": REPORT_FORMAT, "format_version": REPORT_FORMAT_VERSION, **body})

    def to_json(self) -> str:
        """Serialise to an indented JSON string (strict JSON: undefined values are ``null``)."""
        return dumps_json(self.to_dict())

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to ``path`` atomically and return the path."""
        return atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> ClassificationReport:
        """Load a report written by :meth:`save_json`.

        Raises:
            MedimgError: The file is missing, not valid JSON, or not a medimg classification report.
        """
        source = Path(path)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise MedimgError(f"report file {source} does not exist") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MedimgError(f"cannot read report {source}: {exc}; re-run the evaluation to rewrite it") from exc
        if not isinstance(data, dict) or data.get("format", REPORT_FORMAT) != REPORT_FORMAT:
            raise MedimgError(f"{source} is not a medimg classification report")
        version = data.get("format_version", REPORT_FORMAT_VERSION)
        if not isinstance(version, int) or version > REPORT_FORMAT_VERSION:
            raise MedimgError(
                f"{source} has report format version {version!r}, newer than this medimg understands "
                f"({REPORT_FORMAT_VERSION}); upgrade medimg"
            )
        names = {f.name for f in fields(cls)}
        missing = sorted(
            n for n in ("metrics", "confidence_intervals", "split", "model_name", "dataset_name") if n not in data
        )
        if missing:
            raise MedimgError(f"report {source} lacks required field(s) {missing}; re-run the evaluation")
        return cls(**{k: v for k, v in data.items() if k in names})

    # ------------------------------------------------------------------------------------------ HTML
    def to_html(self, *, images: Mapping[str, str | os.PathLike[str]] | None = None) -> str:
        """Render one self-contained HTML page (inline CSS, base64-embedded PNGs, no JavaScript).

        Args:
            images: ``{key: png_path}``; keys from :data:`FIGURES` (``"roc"``, ``"confusion_matrix"``,
                ``"reliability"``, ``"training_curves"``) get their standard caption, others are shown under
                "Other figures" with the key as caption.

        Returns:
            The HTML document as a string.

        Raises:
            MedimgError: An image file cannot be read.
        """
        return _render_html(self, _embed_images(images or {}))

    def save_html(
        self, path: str | os.PathLike[str], images: Mapping[str, str | os.PathLike[str]] | None = None
    ) -> Path:
        """Write :meth:`to_html` to ``path`` atomically and return the path."""
        return atomic_write_text(path, self.to_html(images=images))


# ----------------------------------------------------------------------------------------------- building
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

    Returns:
        The report (not yet written; see :func:`write_report`).

    Raises:
        ConfigError: Invalid inputs, or ``case_ids`` of the wrong length.
    """
    y, p = validate_inputs(y_true, probabilities, class_names)
    names = [str(c) for c in class_names]
    if case_ids is not None and len(case_ids) != y.shape[0]:
        raise ConfigError(f"case_ids has {len(case_ids)} entries but there are {y.shape[0]} cases")
    ids: Sequence[Any] = case_ids if case_ids is not None else range(y.shape[0])
    pred = p.argmax(axis=1)
    predictions = [
        {
            "case_id": to_jsonable(ids[i]),
            "true_label": names[int(y[i])],
            "predicted_label": names[int(pred[i])],
            "correct": bool(y[i] == pred[i]),
            "probabilities": {names[c]: float(p[i, c]) for c in range(len(names))},
        }
        for i in range(y.shape[0])
    ]
    return ClassificationReport(
        metrics=classification_metrics(y, p, names),
        confidence_intervals=headline_cis(y, p, names, n_resamples=n_resamples, seed=seed),
        split=str(split),
        model_name=str(model_name),
        dataset_name=str(dataset_name),
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
    ``history``), ``report.json`` and ``report.html`` (written last, with the figures embedded).

    Args:
        report: The report to write.
        out_dir: Destination folder.
        y_true: ``(N,)`` int class indices the report was built from (for the curves).
        probabilities: ``(N, K)`` float probabilities the report was built from.
        history: Optional per-epoch training history for the training-curve figure.

    Returns:
        ``{"json", "html", "roc", "confusion_matrix", "reliability"[, "training_curves"]}`` -> path.

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
    paths["json"] = report.save_json(folder / "report.json")
    paths["html"] = report.save_html(folder / "report.html", images=images)
    return paths


# -------------------------------------------------------------------------------------------- rendering
def _embed_images(images: Mapping[str, str | os.PathLike[str]]) -> dict[str, str]:
    embedded: dict[str, str] = {}
    for key, image_path in images.items():
        try:
            data = Path(image_path).read_bytes()
        except OSError as exc:
            raise MedimgError(f"cannot embed figure {key!r} from {image_path}: {exc}") from exc
        mime = "image/png" if data.startswith(b"\x89PNG") else "image/svg+xml" if b"<svg" in data[:512] else ""
        if not mime:
            raise MedimgError(f"figure {key!r} at {image_path} is not a PNG or SVG image")
        embedded[str(key)] = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    return embedded


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return _esc(value)


def _ci_text(entry: Mapping[str, Any] | None) -> str:
    if not entry or entry.get("low") is None or entry.get("high") is None:
        return "—"
    return f"{_fmt(entry['low'])} – {_fmt(entry['high'])}"


def _headline_rows(report: ClassificationReport) -> str:
    metrics, cis = report.metrics, report.confidence_intervals
    binary = metrics.get("n_classes") == 2
    order = ["accuracy", "balanced_accuracy"]
    order += ["sensitivity", "specificity"] if binary else ["recall_macro", "specificity_macro"]
    order += ["f1_macro", "roc_auc", "ece"]
    rows = []
    for key in order:
        if key not in metrics and key not in cis:
            continue
        entry = cis.get(key)
        value = entry.get("value") if entry else metrics.get(key)
        label = _HEADLINE_LABELS.get(key, key)
        if key == "sensitivity" and metrics.get("positive_class") is not None:
            label = f"Sensitivity (recall of “{metrics['positive_class']}”)"
        note = ""
        if key == "roc_auc" and metrics.get("roc_auc_note"):
            note = f'<div class="note">{_esc(metrics["roc_auc_note"])}</div>'
        rows.append(
            f'<tr><th scope="row">{_esc(label)}{note}</th>'
            f'<td class="num strong">{_fmt(value)}</td><td class="num">{_ci_text(entry)}</td></tr>'
        )
    return "\n".join(rows)


def _per_class_rows(report: ClassificationReport) -> str:
    rows = []
    for name, stats in report.metrics.get("per_class", {}).items():
        cells = "".join(
            f'<td class="num">{_fmt(stats.get(key))}</td>'
            for key in ("precision", "recall", "specificity", "f1", "support", "roc_auc")
        )
        rows.append(f'<tr><th scope="row">{_esc(name)}</th>{cells}</tr>')
    return "\n".join(rows)


def _confusion_table(report: ClassificationReport) -> str:
    names = report.metrics.get("class_names", [])
    cm = np.asarray(report.metrics.get("confusion_matrix", []), dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != len(names) or cm.size == 0:
        return ""
    row_sums = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
    head = "".join(f'<th scope="col">{_esc(n)}</th>' for n in names)
    body = []
    for i, name in enumerate(names):
        cells = []
        for j in range(len(names)):
            shade = f"rgba(31, 95, 153, {0.08 + 0.72 * frac[i, j]:.2f})" if cm[i, j] > 0 else "transparent"
            text_class = ' class="cm dark"' if frac[i, j] > 0.55 else ' class="cm"'
            cells.append(
                f'<td{text_class} style="background:{shade}">{int(cm[i, j]):,}<span>{100 * frac[i, j]:.1f}%</span></td>'
            )
        body.append(f'<tr><th scope="row">{_esc(name)}</th>{"".join(cells)}</tr>')
    return (
        '<table class="confusion"><caption>Rows: true class · columns: predicted class · '
        "cells: count and share of the true class</caption>"
        f'<thead><tr><th class="corner">true ↓ / predicted →</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _figures(images: Mapping[str, str]) -> str:
    parts = []
    ordered = [k for k in FIGURES if k in images] + [k for k in images if k not in FIGURES]
    for key in ordered:
        caption = FIGURES.get(key, key)
        parts.append(
            f'<figure><img src="{images[key]}" alt="{_esc(caption)}"><figcaption>{_esc(caption)}</figcaption></figure>'
        )
    return "\n".join(parts)


def _extra_rows(extra: Mapping[str, Any]) -> str:
    rows = []
    for key, value in extra.items():
        if isinstance(value, (dict, list, tuple)):
            shown = f"<pre>{_esc(dumps_json(value))}</pre>"
        elif isinstance(value, (float, np.floating)):
            shown = f"{float(value):.6g}"
        else:
            shown = _fmt(value)
        rows.append(f'<tr><th scope="row">{_esc(key)}</th><td>{shown}</td></tr>')
    return "\n".join(rows)


def _top_errors(predictions: Sequence[Mapping[str, Any]] | None, limit: int = 10) -> str:
    if not predictions:
        return ""
    wrong = [row for row in predictions if not row.get("correct", True)]
    if not wrong:
        return ""

    def confidence(row: Mapping[str, Any]) -> float:
        probs = row.get("probabilities") or {}
        return float(probs.get(row.get("predicted_label"), 0.0))

    wrong.sort(key=confidence, reverse=True)
    rows = "".join(
        f"<tr><td>{_esc(row.get('case_id'))}</td><td>{_esc(row.get('true_label'))}</td>"
        f'<td>{_esc(row.get("predicted_label"))}</td><td class="num">{confidence(row):.3f}</td></tr>'
        for row in wrong[:limit]
    )
    return (
        "<section><h2>Most confident errors</h2>"
        f'<p class="muted">{len(wrong):,} of {len(predictions):,} cases '
        f"are misclassified; the {min(limit, len(wrong))} with the highest predicted probability are listed "
        "(worth a look for label errors or hard cases).</p>"
        '<table><thead><tr><th scope="col">Case</th><th scope="col">True</th><th scope="col">Predicted</th>'
        f'<th scope="col" class="num">Probability</th></tr></thead><tbody>{rows}</tbody></table></section>'
    )


_CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee6; --accent: #1f5f99; --soft: #f3f6fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 28px 32px 48px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 20px; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
dl.meta { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr));
  gap: 6px 18px; margin: 0; }
dl.meta div { background: var(--soft); border-radius: 6px; padding: 6px 10px; }
dl.meta dt { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
dl.meta dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 4px; font-size: 14px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--soft); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.strong { font-weight: 700; }
table.headline { max-width: 720px; }
table.confusion { width: auto; }
table.confusion td.cm { text-align: center; min-width: 72px; font-variant-numeric: tabular-nums; }
table.confusion td.cm span { display: block; font-size: 11px; color: var(--muted); }
table.confusion td.dark, table.confusion td.dark span { color: #fff; }
table.confusion th.corner { font-size: 11px; color: var(--muted); text-transform: none; }
caption { caption-side: bottom; text-align: left; font-size: 12px; color: var(--muted); padding-top: 6px; }
.note { font-weight: 400; font-size: 12px; color: var(--muted); }
.muted { color: var(--muted); font-size: 13px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: var(--muted); text-align: center; margin-top: 4px; }
pre { margin: 0; white-space: pre-wrap; font-size: 12px; }
dl.howto dt { font-weight: 700; margin-top: 6px; }
dl.howto dd { margin: 0 0 0 0; color: var(--ink); }
.limitations { margin-top: 28px; border-left: 4px solid #c0392b; background: #fdf3f2; padding: 10px 14px;
  border-radius: 4px; font-size: 14px; }
footer { margin-top: 24px; font-size: 12px; color: var(--muted); }
@page { size: A4; margin: 14mm; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .figures { display: block; }
  figure { break-inside: avoid; page-break-inside: avoid; margin-bottom: 10px; border: none; }
  figure img { max-width: 15cm; margin: 0 auto; }
  table, tr, .limitations { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_HOW_TO_READ = """
<dl class="howto">
<dt>Sensitivity (recall)</dt>
<dd>Of the cases that truly belong to a class, the share the model labels as that class.</dd>
<dt>Specificity</dt>
<dd>Of the cases that do not belong to a class, the share the model correctly labels as not that class.</dd>
<dt>Precision</dt>
<dd>Of the cases the model assigns to a class, the share that truly belong to it.</dd>
<dt>ROC AUC</dt>
<dd>Probability that a random case of a class gets a higher score than a random case of another class:
0.5 is chance, 1.0 is perfect ranking, independent of any threshold.</dd>
<dt>ECE</dt>
<dd>Expected calibration error: the average gap between the model's confidence and its actual accuracy
(0 = confidences can be taken at face value).</dd>
<dt>Confidence interval (CI)</dt>
<dd>Bootstrap confidence interval over cases: the range the metric would plausibly take on another sample
of the same population; wide intervals mean too few cases to be sure.</dd>
</dl>
"""


def _render_html(report: ClassificationReport, images: Mapping[str, str]) -> str:
    metrics = report.metrics
    names = metrics.get("class_names", [])
    confidence = next(
        (e.get("confidence") for e in report.confidence_intervals.values() if isinstance(e, Mapping)), 0.95
    )
    ci_label = f"{100 * float(confidence or 0.95):g}% CI"
    resamples = next(
        (e.get("n_resamples") for e in report.confidence_intervals.values() if isinstance(e, Mapping)), None
    )
    n_boot = f" ({int(resamples):,} resamples)" if isinstance(resamples, int) else ""
    title = f"Classification report — {report.model_name} on {report.dataset_name}"
    meta = [
        ("Model", report.model_name),
        ("Dataset", report.dataset_name),
        ("Split", report.split),
        ("Created", report.created),
        ("Cases", _fmt(metrics.get("n"))),
        ("Classes", ", ".join(str(n) for n in names)),
    ]
    meta_html = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in meta)
    positive = ""
    if metrics.get("n_classes") == 2 and metrics.get("positive_class") is not None:
        positive = f" Positive class: <strong>{_esc(metrics['positive_class'])}</strong>."
    figures = _figures(images)
    figure_section = f'<section><h2>Figures</h2><div class="figures">{figures}</div></section>' if figures else ""
    extra = _extra_rows(report.extra)
    extra_section = (
        f'<section><h2>Run details</h2><table class="details"><tbody>{extra}</tbody></table></section>' if extra else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header>
<h1>{_esc(title)}</h1>
<dl class="meta">{meta_html}</dl>
</header>

<section>
<h2>Headline metrics</h2>
<p class="muted">Point estimates on the {_esc(report.split)} split with {ci_label}s from a percentile
bootstrap over cases{n_boot}.{positive} “—”: not computed or undefined.</p>
<table class="headline">
<thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th>
<th scope="col" class="num">{ci_label}</th></tr></thead>
<tbody>
{_headline_rows(report)}
</tbody>
</table>
</section>

<section>
<h2>Per-class results</h2>
<table class="per-class">
<thead><tr><th scope="col">Class</th><th scope="col" class="num">Precision</th>
<th scope="col" class="num">Recall (sensitivity)</th><th scope="col" class="num">Specificity</th>
<th scope="col" class="num">F1</th><th scope="col" class="num">Support</th>
<th scope="col" class="num">AUC (one-vs-rest)</th></tr></thead>
<tbody>
{_per_class_rows(report)}
</tbody>
</table>
<p class="muted">“—” marks a value that is undefined (e.g. AUC of a class absent from the data).</p>
</section>

<section>
<h2>Confusion matrix</h2>
{_confusion_table(report)}
</section>

{figure_section}

{_top_errors(report.predictions)}

{extra_section}

<section>
<h2>How to read this</h2>
{_HOW_TO_READ}
</section>

<div class="limitations"><strong>Limitations.</strong> For research use only; this is not a medical device
and must not be used for diagnosis or treatment decisions. Results hold for this data set and split only;
performance on other sites, scanners or populations may differ, and confidence intervals do not cover
such shifts.</div>

<footer>Generated by medimg {_esc(__version__)} · report created {_esc(report.created)}.</footer>
</main>
</body>
</html>
"""
