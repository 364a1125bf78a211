"""The cross-validation's page (``RUN/cv.html``): what ``cv.json`` holds, for a reader rather than a script.

Each metric's mean ± sd over the folds (and over how many folds it is defined), the pooled out-of-fold validation
metrics, every fold's validation and test scores, links to each fold's own report, and the notes (validation
scores are optimistic: each fold chose its epoch on them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medimg.evaluation import html
from medimg.evaluation.report import LIMITATIONS

__all__ = ["CV_PAGE", "cv_html"]

#: the page's file name, beside ``cv.json``
CV_PAGE = "cv.html"


def _title(key: str) -> str:
    """``"test_roc_auc"`` -> ``"test ROC AUC"``."""
    split, _, metric = key.partition("_")
    return f"{split} {html.metric_words(metric)}"


def _fold_reports(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Links to a fold's reports, relative to ``cv.html``: one per split it was scored on
    (``fold_k/evaluations/cv-val/report.html``, ``cv-test``), as :meth:`medimg.Model.fit` writes them."""
    scored = [split for split in ("val", "test") if any(str(key).startswith(f"{split}_") for key in row)]
    return [
        (
            f"{'validation' if split == 'val' else 'test'} report",
            f"fold_{row.get('fold')}/evaluations/cv-{split}/report.html",
        )
        for split in scored
    ]


def cv_html(summary: Mapping[str, Any], *, run_name: str = "") -> str:
    """The page of a cross-validation ``summary`` (``cv.json``'s content)."""
    folds = int(summary.get("folds") or len(summary.get("per_fold", [])))
    mean, sd, defined = summary.get("mean", {}), summary.get("sd", {}), summary.get("n_folds", {})
    headline = [
        {
            "metric": _title(key),
            "mean": value,
            "sd": sd.get(key),
            "folds": f"{defined.get(key, folds)} of {folds}",
        }
        for key, value in mean.items()
    ]
    sections = [
        html.section(
            "Mean over the folds",
            html.table(
                headline,
                [
                    html.Column("metric", "Metric", kind="text", row_header=True),
                    html.Column("mean", "Mean", digits=4),
                    html.Column("sd", "SD (ddof 1)", digits=4),
                    html.Column("folds", "Folds where defined", kind="text"),
                ],
                caption="test_*: the held-out test split, the same in every fold; val_*: each fold's validation images",
            ),
        )
    ]
    pooled = summary.get("pooled_val")
    if pooled:
        rows = [{"metric": html.metric_words(key), "value": value} for key, value in pooled.items() if key != "n"]
        sections.append(
            html.section(
                "Pooled out-of-fold validation",
                html.paragraph(
                    f"{pooled.get('n')} images, each predicted once, by the fold model that did not train on it."
                )
                + html.table(
                    rows,
                    [
                        html.Column("metric", "Metric", kind="text", row_header=True),
                        html.Column("value", "Value", digits=4),
                    ],
                ),
            )
        )
    per_fold = list(summary.get("per_fold", []))
    keys = [key for key in dict.fromkeys(k for row in per_fold for k in row) if key != "fold"]
    fold_rows = [{**row, "report": _fold_reports(row)} for row in per_fold]
    sections.append(
        html.section(
            "Each fold",
            html.table(
                fold_rows,
                [
                    html.Column("fold", "Fold", digits=0, row_header=True),
                    *(html.Column(key, _title(key), digits=4) for key in keys),
                    html.Column("report", "Fold reports", kind="links"),
                ],
            ),
        )
    )
    sections += [html.note(html.escape(text)) for text in summary.get("notes", [])]
    sections.append(
        html.note(
            "SD is the spread of a metric between the folds, not a confidence interval: each fold's own report gives"
            " the 95% CIs of its scores."
        )
    )
    sections.append(html.note(html.escape(LIMITATIONS), title="Limitations", warning=True))
    if not summary.get("complete", True):
        sections.insert(0, html.note("The cross-validation is not complete: resume it with --resume.", warning=True))
    options = summary.get("options", {})
    meta = [
        ("run", run_name or "—"),
        ("folds", folds),
        ("seed", options.get("seed")),
        ("test fraction", options.get("test_fraction")),
        ("split", (summary.get("splits") or {}).get("method")),
    ]
    return html.page(f"Cross-validation{f' — {run_name}' if run_name else ''}", sections, meta=meta)
