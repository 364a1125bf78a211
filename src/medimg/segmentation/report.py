"""Segmentation report: per-class and per-case metrics, bootstrap CIs of the means, overlays; JSON + HTML.

The HTML shares the look of the classification report (:mod:`medimg.evaluation.report`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from medimg.fileio import atomic_write_json, atomic_write_text
from medimg.segmentation.metrics import METRIC_NAMES, mean_ci, pooled_dice

HEADLINE = ("dice_mean", "dice_pooled", "iou_mean", "hd95_mean", "assd_mean", "pixel_auc")


@dataclass
class SegmentationReport:
    """Evaluation of a segmentation model on one split.

    Attributes:
        metrics: ``n`` (cases), ``class_names``, ``dice_mean`` (mean over cases of the mean foreground-class
            Dice), ``dice_pooled`` (all pixels together; DRIVE's "F1"), ``iou_mean``, ``hd95_mean``,
            ``assd_mean``, ``sensitivity_mean``, ``precision_mean``, ``pixel_auc`` (binary tasks) and
            ``per_class`` ``{name: {metric: mean over cases, "dice_pooled", "n_cases"}}``.
        confidence_intervals: ``{"dice_mean" | "dice_<class>" | "iou_mean" ...: {"value", "low", "high", ...}}``.
        cases: one row per case: ``case_id``, ``dice_mean`` and ``<metric>_<class>``.
        headline: the metric keys to show first.
    """

    model_name: str
    dataset_name: str
    split: str
    metrics: dict[str, Any]
    confidence_intervals: dict[str, dict[str, Any]]
    cases: list[dict[str, Any]]
    postprocessing: str = "none"
    headline: list[str] = field(default_factory=lambda: list(HEADLINE))
    extra: dict[str, Any] = field(default_factory=dict)
    task: str = "segment"
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        return atomic_write_json(path, self.to_dict())

    def to_html(self, *, images: Mapping[str, str | os.PathLike[str]] | None = None) -> str:
        from medimg.evaluation.report import _embed_images

        return _render_html(self, _embed_images(images or {}))

    def save_html(
        self, path: str | os.PathLike[str], *, images: Mapping[str, str | os.PathLike[str]] | None = None
    ) -> Path:
        return atomic_write_text(path, self.to_html(images=images))


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(float(obj)) or math.isinf(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


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
) -> SegmentationReport:
    """Summarise per-case metrics (:func:`~medimg.segmentation.metrics.case_metrics` rows) into a report."""
    foreground = list(range(1, len(class_names)))
    rows: list[dict[str, Any]] = []
    for case_id, case in zip(case_ids, per_case, strict=True):
        row: dict[str, Any] = {"case_id": case_id}
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
        per_class[name] = entry
        cis[f"dice_{name}"] = mean_ci([case[c]["dice"] for case in per_case], n_resamples=n_resamples)
    metrics: dict[str, Any] = {"n": len(rows), "class_names": list(class_names), "per_class": per_class}
    for metric in METRIC_NAMES:
        ci = mean_ci([r[f"{metric}_mean"] for r in rows], n_resamples=n_resamples)
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

    from medimg.segmentation.labels import IGNORE

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
    """Write ``report.json``, ``report.html`` (overlays embedded) and ``per_case.csv`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": report.save_json(folder / "report.json")}
    paths["html"] = report.save_html(folder / "report.html", images=overlays)
    buffer = io.StringIO()
    if report.cases:
        writer = csv.DictWriter(buffer, fieldnames=list(report.cases[0]))
        writer.writeheader()
        for row in report.cases:
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    paths["csv"] = atomic_write_text(folder / "per_case.csv", buffer.getvalue())
    return paths


# ----------------------------------------------------------------------------------------------- HTML
_LABELS = {
    "dice_mean": "Dice (mean over cases)",
    "dice_pooled": "Dice pooled over pixels (F1)",
    "iou_mean": "IoU (mean)",
    "hd95_mean": "HD95 (mean)",
    "assd_mean": "Average surface distance (mean)",
    "sensitivity_mean": "Sensitivity (mean)",
    "precision_mean": "Precision (mean)",
    "pixel_auc": "Pixel ROC AUC",
}


def _render_html(report: SegmentationReport, images: Mapping[str, str]) -> str:
    from medimg import __version__
    from medimg.evaluation.report import _CSS, _ci_text, _esc, _fmt

    m = report.metrics
    names = m.get("class_names", [])
    unit = "mm" if report.extra.get("spacing_known") else "px"
    title = f"Segmentation report — {report.model_name} on {report.dataset_name}"
    meta = [
        ("Model", report.model_name),
        ("Dataset", report.dataset_name),
        ("Split", report.split),
        ("Cases", _fmt(m.get("n"))),
        ("Classes", ", ".join(names)),
        ("Post-processing", report.postprocessing),
    ]
    meta_html = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in meta)
    keys = [*report.headline, *[k for k in ("sensitivity_mean", "precision_mean") if k not in report.headline]]
    headline = "".join(
        f"<tr><td>{_esc(_LABELS.get(k, k))}{' (' + unit + ')' if k.startswith(('hd95', 'assd')) else ''}</td>"
        f'<td class="num strong">{_fmt(m.get(k))}</td>'
        f'<td class="num">{_ci_text(report.confidence_intervals.get(k))}</td></tr>'
        for k in keys
        if m.get(k) is not None
    )
    per_class = "".join(
        f"<tr><td>{_esc(name)}</td>"
        + "".join(f'<td class="num">{_fmt(entry.get(k))}</td>' for k in (*METRIC_NAMES, "dice_pooled"))
        + f'<td class="num">{_ci_text(report.confidence_intervals.get("dice_" + name))}</td></tr>'
        for name, entry in m.get("per_class", {}).items()
    )
    fg = names[1:]
    ordered = sorted(
        report.cases, key=lambda r: (r.get("dice_mean") is None or math.isnan(r["dice_mean"]), r.get("dice_mean") or 0)
    )
    case_rows = "".join(
        f'<tr><td>{_esc(r["case_id"])}</td><td class="num">{_fmt(r.get("dice_mean"))}</td>'
        + "".join(f'<td class="num">{_fmt(_nan_none(r.get("dice_" + n)))}</td>' for n in fg)
        + "".join(f'<td class="num">{_fmt(_nan_none(r.get("hd95_" + n)), 2)}</td>' for n in fg)
        + "</tr>"
        for r in ordered
    )
    figures = "".join(
        f'<figure><img src="{src}" alt="{_esc(key)}"><figcaption>{_esc(key)}</figcaption></figure>'
        for key, src in images.items()
    )
    extra = "".join(
        f'<tr><th scope="row">{_esc(k)}</th><td><pre>{_esc(_text(v))}</pre></td></tr>' for k, v in report.extra.items()
    )
    class_heads = "".join(f'<th scope="col" class="num">{_esc(k)}</th>' for k in (*METRIC_NAMES, "Dice pooled"))
    case_heads = "".join(f'<th scope="col" class="num">Dice {_esc(n)}</th>' for n in fg) + "".join(
        f'<th scope="col" class="num">HD95 {_esc(n)}</th>' for n in fg
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
<p class="muted">Means over foreground classes and cases on the {_esc(report.split)} split, with 95% CIs from a
percentile bootstrap over cases. Pixels outside the region of interest are not counted.</p>
<table class="headline"><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th>
<th scope="col" class="num">95% CI</th></tr></thead><tbody>{headline}</tbody></table>
</section>
<section>
<h2>Per-class results</h2>
<table><thead><tr><th scope="col">Class</th>{class_heads}
<th scope="col" class="num">Dice 95% CI</th></tr></thead><tbody>{per_class}</tbody></table>
<p class="muted">HD95 and average surface distance in {unit}; a class absent from both prediction and reference
is left out of its means.</p>
</section>
<section><h2>Overlays</h2><p class="muted">Green: reference; magenta (dashed): prediction. The worst, a median and
the best cases by Dice.</p><div class="figures">{figures}</div></section>
<section>
<h2>Per-case results</h2>
<table><thead><tr><th scope="col">Case</th><th scope="col" class="num">Dice (mean)</th>
{case_heads}
</tr></thead><tbody>{case_rows}</tbody></table>
</section>
<section><h2>Run details</h2><table class="details"><tbody>{extra}</tbody></table></section>
<div class="limitations"><strong>Limitations.</strong> For research use only; this is not a medical device
and must not be used for diagnosis or treatment decisions. Results hold for this data set and split only.</div>
<footer>Generated by medimg {_esc(__version__)} · report created {_esc(report.created)}.</footer>
</main>
</body>
</html>
"""


def _text(value: Any) -> str:
    return json.dumps(_clean(value), indent=1) if isinstance(value, (dict, list)) else str(value)


def _nan_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value
