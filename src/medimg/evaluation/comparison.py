"""One table and one HTML page comparing models evaluated on the same test cases.

Rows hold every headline metric with its 95% CI (Wilson for proportions, else bootstrap), the training time and
the inference time per image; the page adds the paired tests of the difference between two models (and how the
pair was chosen).
Reference rows (published results, e.g. MedMNIST v2's auto-sklearn) are shown as given, without intervals.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medimg.evaluation.html import metric_words
from medimg.fileio import atomic_write_json, atomic_write_text

METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "roc_auc", "f1_macro", "sensitivity", "specificity")


@dataclass
class ComparisonRow:
    """One model's results: ``metrics`` maps a metric to ``{"value", "low", "high"}``."""

    model: str
    family: str
    features: str
    n_test: int
    metrics: dict[str, dict[str, Any]]
    train_time_s: float | None = None
    fit_wall_s: float | None = None
    inference_ms_per_image: float | None = None
    run_dir: str = ""
    reference: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _value(row: ComparisonRow, metric: str) -> float | None:
    entry = row.metrics.get(metric) or {}
    value = entry.get("value")
    return None if value is None else float(value)


def _cell(row: ComparisonRow, metric: str) -> str:
    entry = row.metrics.get(metric) or {}
    if entry.get("value") is None:
        return "-"
    text = f"{entry['value']:.3f}"
    if entry.get("low") is not None and entry.get("high") is not None:
        text += f" [{entry['low']:.3f}-{entry['high']:.3f}]"
    elif entry.get("note"):  # e.g. every bootstrap resample agrees: no interval, rather than a zero-width one
        text += " [no CI]"
    return text


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def metric_columns(rows: Sequence[ComparisonRow]) -> list[str]:
    """The metrics that at least one row has."""
    return [m for m in METRICS if any(_value(r, m) is not None for r in rows)]


def metric_title(metric: str, classes: Sequence[str] = (), *, words: bool = False) -> str:
    """A metric's column title (its key, or in ``words``: ``ROC AUC``); with two ``classes`` (negative, positive)
    sensitivity and specificity name the class each is the recall of (``sensitivity (abnormal)``): a table of two
    classes did not say which was positive."""
    title = metric_words(metric) if words else metric
    if len(classes) == 2 and metric in ("sensitivity", "specificity"):
        return f"{title} ({classes[1] if metric == 'sensitivity' else classes[0]})"
    return title


def to_markdown(rows: Sequence[ComparisonRow], classes: Sequence[str] = ()) -> str:
    """A Markdown table: metric (95% CI), training time, inference time per image (``classes``: the data's, for
    :func:`metric_title`)."""
    metrics = metric_columns(rows)
    header = ["model", "features", "n test", *(metric_title(m, classes) for m in metrics), "train s", "infer ms/img"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        name = f"{r.model} (published)" if r.reference else r.model
        cells = [name, r.features or "-", str(r.n_test or "-"), *[_cell(r, m) for m in metrics]]
        cells += [_num(r.train_time_s), _num(r.inference_ms_per_image, 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[ComparisonRow]) -> str:
    metrics = metric_columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["model", "family", "features", "reference", "n_test"]
    for m in metrics:
        header += [m, f"{m}_low", f"{m}_high"]
    writer.writerow([*header, "train_time_s", "fit_wall_s", "inference_ms_per_image", "run_dir"])
    for r in rows:
        values: list[Any] = [r.model, r.family, r.features, r.reference, r.n_test]
        for m in metrics:
            entry = r.metrics.get(m) or {}
            values += [entry.get("value"), entry.get("low"), entry.get("high")]
        writer.writerow([*values, r.train_time_s, r.fit_wall_s, r.inference_ms_per_image, r.run_dir])
    return buffer.getvalue()


def to_html(
    rows: Sequence[ComparisonRow],
    paired: Sequence[Mapping[str, Any]],
    *,
    title: str,
    notes: Sequence[str] = (),
    classes: Sequence[str] = (),
) -> str:
    """A self-contained HTML page (inline CSS, no JavaScript, every string escaped; ``classes``: the data's, for
    :func:`metric_title`)."""
    esc = html.escape
    metrics = metric_columns(rows)
    best = {
        m: max((v for r in rows if not r.reference and (v := _value(r, m)) is not None), default=None) for m in metrics
    }
    titles = ["Model", "Features", "n test", *(metric_title(m, classes, words=True) for m in metrics)]
    titles += ["Train s", "Infer ms/img"]
    head = "".join(f"<th>{esc(h)}</th>" for h in titles)
    body = []
    for r in rows:
        cells = [
            f"<td>{esc(r.model)}{' <em>(published)</em>' if r.reference else ''}</td>",
            f"<td>{esc(r.features or '-')}</td>",
            f"<td>{r.n_test or '-'}</td>",
        ]
        for m in metrics:
            strong = not r.reference and best[m] is not None and _value(r, m) == best[m]
            text = esc(_cell(r, m))
            cells.append(f"<td>{'<strong>' + text + '</strong>' if strong else text}</td>")
        cells += [f"<td>{_num(r.train_time_s)}</td>", f"<td>{_num(r.inference_ms_per_image, 2)}</td>"]
        body.append("<tr>" + "".join(cells) + "</tr>")
    tests = []
    for t in paired:
        ci = "-" if t.get("low") is None else f"{t['low']:+.3f} to {t['high']:+.3f}"
        p = "-" if t.get("p_value") is None else f"{t['p_value']:.4f}"
        tests.append(
            "<tr>"
            + "".join(
                f"<td>{esc(str(v))}</td>"
                for v in (
                    f"{t.get('model_a')} vs {t.get('model_b')}",
                    t.get("method"),
                    t.get("metric"),
                    f"{t.get('value_a', 0):.3f} vs {t.get('value_b', 0):.3f}",
                    f"{t.get('difference', 0):+.3f}",
                    ci,
                    p,
                    t.get("n"),
                )
            )
            + "</tr>"
        )
    empty = '<tr><td colspan="8">fewer than two models</td></tr>'
    chosen = "".join(
        f"<p>{esc(c)}.</p>" for c in dict.fromkeys(str(t.get("chosen")) for t in paired if t.get("chosen"))
    )
    note_items = "".join(f"<li>{esc(n)}</li>" for n in notes)
    test_head = "".join(
        f"<th>{h}</th>" for h in ("Models", "Test", "Metric", "Values", "Difference", "95% CI", "p (two-sided)", "n")
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left;font-variant-numeric:tabular-nums}}
th{{background:#f2f2f2}} em{{color:#666}}
</style></head><body>
<h1>{esc(title)}</h1>
<p>Every model was trained on the same training split and evaluated on the same test cases. Metrics with 95%
confidence intervals (Wilson score intervals for accuracy, sensitivity and specificity, their MOVER combination for
balanced accuracy, Newcombe's score interval for a binary ROC AUC, a percentile bootstrap for the others; by
patient when the data name patients, see the notes); the best value per column is in bold.
Training time is the model's own training (feature extraction included for classical models); inference time is
read + preprocess/extract + predict per test image, single process.</p>
<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<h2>Paired tests</h2>{chosen}
<table><thead><tr>{test_head}</tr></thead><tbody>{"".join(tests) or empty}</tbody></table>
<h2>Notes</h2><ul>{note_items}</ul>
</body></html>
"""


def write_comparison(
    rows: Sequence[ComparisonRow],
    paired: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    *,
    title: str,
    notes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
    classes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``comparison.json``, ``comparison.csv``, ``comparison.md`` and ``comparison.html`` (``classes``: the
    data's, in order: with two, the second is the positive one, named beside sensitivity and specificity)."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "title": title,
        "rows": [r.__dict__ for r in rows],
        "paired_tests": list(paired),
        "notes": list(notes),
        **dict(extra or {}),
    }
    return {
        "json": atomic_write_json(folder / "comparison.json", record),
        "csv": atomic_write_text(folder / "comparison.csv", to_csv(rows)),
        "markdown": atomic_write_text(folder / "comparison.md", to_markdown(rows, classes)),
        "html": atomic_write_text(
            folder / "comparison.html", to_html(rows, paired, title=title, notes=notes, classes=classes)
        ),
    }
