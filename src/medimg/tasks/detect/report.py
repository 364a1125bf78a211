"""Detection report: COCO mAP, per-class AP, FROC, counting, bootstrap CIs over images; PR and FROC curves and
worst/median/best images with their boxes (JSON + HTML).

:class:`DetectionReport` extends the shared :class:`~medimg.evaluation.report.Report` with its own sections.
:func:`draw_boxes` (PIL) draws reference and predicted boxes; the report and ``predict`` overlays share it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from medimg.evaluation import html
from medimg.evaluation.report import Report
from medimg.fileio import atomic_write_bytes
from medimg.tasks.detect.metrics import (
    FROC_RATES,
    RECALL_POINTS,
    MatchTable,
    bootstrap_weights,
    coco_ap,
    counting,
    counts_at,
    f1_at,
    froc,
    interval,
    pr_curves,
    weighted_map,
)

if TYPE_CHECKING:
    from medimg.tasks.detect.data import Prepared
    from medimg.tasks.detect.metrics import Detections
    from medimg.tasks.detect.plan import DetectPlan

HEADLINE = ("map50", "map", "map75", "froc_average", "false_positives_per_image")
PALETTE = ((240, 18, 190), (255, 133, 27), (0, 116, 217), (177, 13, 201), (255, 65, 54), (61, 153, 112))
"""Colours of predicted boxes by class; reference boxes are green."""
TRUTH_COLOUR = (46, 204, 64)


@dataclass(kw_only=True)
class DetectionReport(Report):
    """Evaluation of a detector on one split.

    Attributes:
        metrics: ``n`` (images), ``n_boxes``, ``class_names``, ``matching`` (how detections were matched, when
            not pycocotools: 3D), ``map`` (COCO mAP@[.5:.95]), ``map50``, ``map75``,
            ``froc_average`` (mean sensitivity at 1/8..8 false positives per image, IoU >= 0.5), ``froc``
            (``{rate: sensitivity}``, None without reference boxes), ``false_positives_per_image`` (at the score
            threshold: the measure of a set of normal images), ``score_threshold`` and ``nms_iou`` (the decoding),
            ``per_class``
            ``{name: {ap, ap50, ap75, n_boxes, froc_average, f1, count_accuracy, count_mae,
            count_relative_error}}``.
        confidence_intervals: bootstrap over images: ``map``, ``map50``, ``froc_average``, ``ap50_<class>``,
            ``count_mae_<class>``, ``count_accuracy_<class>``.
        images: per image: ``case_id``, ``true``, ``predicted`` (at the score threshold), ``tp``, ``fp``, ``fn``
            (IoU 0.5), ``f1``, and ``true_<class>`` / ``predicted_<class>`` counts.
        pr_curves: ``{class: precision at the 101 COCO recall points}`` at IoU 0.5 (-1: undefined).
        froc_curve: ``{"fppi": [...], "sensitivity": [...]}`` over all classes, IoU 0.5.
    """

    FORMAT: ClassVar[str] = "medimg.detection_report"
    TITLE: ClassVar[str] = "Detection report"
    METRIC_LABELS: ClassVar[Mapping[str, str]] = {
        "map50": "mAP at IoU 0.5",
        "map": "COCO mAP at IoU 0.50:0.95",
        "map75": "mAP at IoU 0.75",
        "froc_average": "FROC average sensitivity (1/8-8 FP per image)",
        "false_positives_per_image": "False positives per image at the score threshold",
    }
    GLOSSARY: ClassVar[Sequence[tuple[str, str]]] = (
        (
            "AP / mAP",
            "Average precision: the area under the precision-recall curve of one class (COCO's 101-point "
            "interpolation); mAP is its mean over classes. A detection is correct when it overlaps a reference "
            "box of its class with IoU at least 0.5 (mAP@0.5), or at each of 0.50, 0.55, ..., 0.95 (COCO mAP).",
        ),
        ("IoU", "Intersection over union of two boxes: 1 when identical, 0 when disjoint."),
        (
            "FROC",
            "Free-response ROC: the share of reference objects found (sensitivity) against the false positives "
            "per image, as the score threshold is lowered. Its average is the mean sensitivity at 1/8, 1/4, 1/2, "
            "1, 2, 4 and 8 false positives per image (the LUNA16 convention; hits here: IoU >= 0.5, same class).",
        ),
        (
            "Counting",
            "At the chosen score threshold: the share of images whose predicted number of objects of a class "
            "equals the true number (accuracy), and the mean absolute difference (MAE).",
        ),
        (
            "Confidence interval (CI)",
            "Bootstrap over images: images are drawn with replacement and the metric recomputed; wide intervals "
            "mean too few images to be sure.",
        ),
    )

    images: list[dict[str, Any]] = field(default_factory=list)
    pr_curves: dict[str, list[float]] = field(default_factory=dict)
    froc_curve: dict[str, list[float]] = field(default_factory=dict)
    task: str = field(default="detect", init=False)
    headline: list[str] = field(default_factory=lambda: list(HEADLINE))

    def meta_items(self) -> list[tuple[str, Any]]:
        """Header grid: the common items, classes, boxes and the decoding."""
        names = ", ".join(str(n) for n in self.metrics.get("class_names", []))
        decoding = f"score >= {self.metrics.get('score_threshold')}, NMS IoU {self.metrics.get('nms_iou')}"
        return [
            *super().meta_items(),
            ("Classes", names),
            ("Boxes", self.metrics.get("n_boxes")),
            ("Decoding", decoding),
        ]

    def headline_intro(self) -> str:
        matching = self.metrics.get("matching") or "COCO evaluation (pycocotools)"
        return html.paragraph(
            f"{html.escape(str(matching))} on the {html.escape(self.split)} split, in the images' own pixels, with "
            f"{html.escape(self.bootstrap_text())}; every image counts as an independent case. mAP and FROC use "
            "every detection above the candidate threshold; counts and the per-image table use the chosen score "
            f"threshold{self._threshold_text()}.{' ' + NO_BOXES_TEXT if self.metrics.get('n_boxes') == 0 else ''}"
        )

    def _threshold_text(self) -> str:
        """`` (0.05)``: the score threshold's value, when the report holds it."""
        threshold = self.metrics.get("score_threshold")
        return f" ({html.escape(f'{threshold:g}')})" if isinstance(threshold, (int, float)) else ""

    def task_sections(self, images: Mapping[str, bytes]) -> list[str]:
        """Per-class results, FROC table, curves, overlays and the per-image table (worst F1 first)."""
        columns = [
            html.Column("class", "Class", kind="text", row_header=True),
            html.Column("n_boxes", "Boxes", digits=0),
            html.Column("ap50", "AP@0.5"),
            html.Column("ap50_ci", "AP@0.5 95% CI", kind="ci"),
            html.Column("ap", "AP@[.5:.95]"),
            html.Column("froc_average", "FROC avg"),
            html.Column("f1", "F1 (threshold)"),
            html.Column("count_accuracy", "Count accuracy"),
            html.Column("count_mae", "Count MAE", digits=2),
            html.Column("count_mae_ci", "MAE 95% CI", kind="ci", digits=2),
        ]
        rows = [
            {
                "class": name,
                **entry,
                "ap50_ci": self.confidence_intervals.get(f"ap50_{name}"),
                "count_mae_ci": self.confidence_intervals.get(f"count_mae_{name}"),
            }
            for name, entry in self.metrics.get("per_class", {}).items()
        ]
        froc_rows = [{"rate": rate, "sensitivity": value} for rate, value in (self.metrics.get("froc") or {}).items()]
        parts = [
            html.section("Per-class results", html.table(rows, columns)),
            html.section(
                "FROC (all classes)",
                html.table(
                    froc_rows,
                    [
                        html.Column("rate", "False positives per image", kind="text"),
                        html.Column("sensitivity", "Sensitivity"),
                    ],
                ),
            ),
        ]
        curves = [html.figure(data, key) for key, data in images.items() if not key.startswith("image")]
        if curves:
            parts.append(html.section("Curves", html.figure_grid(curves)))
        overlays = [html.figure(data, key) for key, data in images.items() if key.startswith("image")]
        if overlays:
            intro = html.paragraph(
                "Green: reference boxes; coloured: detections at the score threshold (label and score). The worst, a "
                "median and the best image by per-image F1."
            )
            parts.append(html.section("Images", intro + "\n" + html.figure_grid(overlays)))
        names = [str(n) for n in self.metrics.get("class_names", [])]
        image_columns = [
            html.Column("case_id", "Image", kind="text"),
            html.Column("f1", "F1"),
            html.Column("true", "True", digits=0),
            html.Column("predicted", "Predicted", digits=0),
            html.Column("fp", "FP", digits=0),
            html.Column("fn", "FN", digits=0),
            *(html.Column(f"predicted_{n}", f"{n} (pred / true)", kind="text") for n in names),
        ]
        shown = [
            {**row, **{f"predicted_{n}": f"{row.get(f'predicted_{n}')} / {row.get(f'true_{n}')}" for n in names}}
            for row in sorted(self.images, key=lambda r: (r.get("f1", 1.0), r.get("case_id", "")))
        ]
        parts.append(html.section("Per-image results", html.table(shown, image_columns)))
        return parts


#: what a report of a split without reference boxes says (TBX11K's all_test.json: its labels withheld)
NO_BOXES_TEXT = (
    "The split holds no reference boxes: mAP and FROC are undefined and every detection counts as a false "
    "positive; if its annotations were withheld (a challenge's test set), score the model on a split with boxes."
)


def _ci(value: float | None, samples: np.ndarray, n_resamples: int, patients: int | None = None) -> dict[str, Any]:
    """An interval entry; ``patients``: the bootstrap resampled that many patients (with all their images):
    ``unit`` says so, and fewer than :data:`~medimg.evaluation.bootstrap.MIN_PATIENTS` give no interval."""
    from medimg.evaluation.bootstrap import MIN_PATIENTS, too_few_patients_note

    low, high = interval(samples) if value is not None else (None, None)
    entry: dict[str, Any] = {
        "value": value,
        "low": low,
        "high": high,
        "confidence": 0.95,
        "n_resamples": int(n_resamples),
    }
    if patients is None:
        return entry
    entry.update(method="bootstrap", unit="patient", n_units=int(patients))
    if patients < MIN_PATIENTS:
        entry.update(low=None, high=None, note=too_few_patients_note(patients))
    return entry


def build_detection_report(
    table: MatchTable,
    case_ids: Sequence[str],
    plan: DetectPlan,
    *,
    split: str,
    model_name: str,
    dataset_name: str,
    n_resamples: int = 1000,
    extra: dict[str, Any] | None = None,
    patient_ids: Sequence[Any] | None = None,
) -> DetectionReport:
    """Summarise a :class:`MatchTable` into a report (metrics, CIs, per-image rows, curves).

    ``patient_ids`` (one per image, ``None`` where unknown): when a patient has several images (slices, views,
    follow-ups), the bootstrap draws patients with all their images, as classification and segmentation do
    (``metrics["n_patients"]``; each interval's ``unit`` is ``"patient"``); images of one patient are not
    independent, and resampling them as if they were gave intervals too narrow.
    """
    from medimg.evaluation.bootstrap import cluster_codes, count_patients

    names = list(table.class_names)
    n_patients = count_patients(patient_ids, table.n_images)
    codes = cluster_codes(patient_ids, table.n_images) if n_patients is not None else None
    by_patient = None if codes is None else int(codes.max()) + 1
    ap = coco_ap(table)
    threshold = plan.score_threshold
    at, fppi, sens = froc(table)
    count = counting(table, threshold)
    f1 = f1_at(table, threshold)
    per_class: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        class_froc = froc(table, classes=[k])[0][0] if table.gt_count[:, k].sum() else None
        per_class[name] = {
            **ap["per_class"][name],
            "froc_average": float(np.mean(class_froc)) if class_froc is not None else None,
            "f1": float(f1[k]) if table.gt_count[:, k].sum() else None,
            "count_accuracy": float(count[f"count_accuracy_{name}"][0]),
            "count_mae": float(count[f"count_mae_{name}"][0]),
            "count_relative_error": _finite(float(count[f"count_relative_error_{name}"][0])),
        }
    has_truth = bool(table.gt_count.sum())
    froc_average = float(at[0].mean()) if has_truth else None
    reported = (table.det_score >= threshold) & ~table.det_ignored[0]
    false_positives = int((reported & ~table.det_tp[0]).sum())
    metrics: dict[str, Any] = {
        "n": table.n_images,
        "n_boxes": int(table.gt_count.sum()),
        "class_names": names,
        "map": ap["map"],
        "map50": ap["map50"],
        "map75": ap["map75"],
        "froc_average": froc_average,
        "froc": {_rate(r): float(v) if has_truth else None for r, v in zip(FROC_RATES, at[0], strict=True)},
        "false_positives_per_image": false_positives / table.n_images if table.n_images else None,
        "score_threshold": threshold,
        "nms_iou": plan.nms_iou,
        "per_class": per_class,
        **({"n_patients": n_patients} if n_patients is not None else {}),
    }
    cis: dict[str, dict[str, Any]] = {}
    if n_resamples > 0 and table.n_images > 1:
        if codes is None or by_patient is None:
            weights = bootstrap_weights(table.n_images, n_resamples)
        else:  # patients drawn with replacement; each image weighs as often as its patient is drawn
            weights = bootstrap_weights(by_patient, n_resamples)[:, codes]
        boot = weighted_map(table, weights)
        cis["map"] = _ci(ap["map"], boot["map"], n_resamples, by_patient)
        cis["map50"] = _ci(ap["map50"], boot["map50"], n_resamples, by_patient)
        if froc_average is not None:
            cis["froc_average"] = _ci(froc_average, froc(table, weights)[0].mean(axis=1), n_resamples, by_patient)
        boot_count = counting(table, threshold, weights)
        for name in names:
            cis[f"ap50_{name}"] = _ci(ap["per_class"][name]["ap50"], boot[f"ap50_{name}"], n_resamples, by_patient)
            for key in ("count_mae", "count_accuracy"):
                cis[f"{key}_{name}"] = _ci(per_class[name][key], boot_count[f"{key}_{name}"], n_resamples, by_patient)
    predicted = counts_at(table, threshold)
    keep = (table.det_score >= threshold) & ~table.det_ignored[0]
    tp = np.bincount(table.det_image[keep & table.det_tp[0]], minlength=table.n_images)
    fp = np.bincount(table.det_image[keep & ~table.det_tp[0]], minlength=table.n_images)
    per_image_f1 = f1_at(table, threshold, per_image=True)
    rows = []
    for i, case_id in enumerate(case_ids):
        true = int(table.gt_count[i].sum())
        rows.append(
            {
                "case_id": case_id,
                "true": true,
                "predicted": int(predicted[i].sum()),
                "tp": int(tp[i]),
                "fp": int(fp[i]),
                "fn": int(true - tp[i]),
                "f1": float(per_image_f1[i]),
                **{f"true_{n}": int(table.gt_count[i, k]) for k, n in enumerate(names)},
                **{f"predicted_{n}": int(predicted[i, k]) for k, n in enumerate(names)},
            }
        )
    step = max(1, fppi.shape[1] // 400)
    return DetectionReport(
        model_name=model_name,
        dataset_name=dataset_name,
        split=split,
        metrics=metrics,
        confidence_intervals=cis,
        images=rows,
        pr_curves=pr_curves(table),
        froc_curve={"fppi": [float(v) for v in fppi[0, ::step]], "sensitivity": [float(v) for v in sens[0, ::step]]},
        headline=[k for k in HEADLINE if metrics.get(k) is not None],
        extra=dict(extra or {}),
    )


def _rate(rate: float) -> str:
    return f"1/{round(1 / rate)}" if rate < 1 else f"{rate:g}"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------------------------ drawing
def draw_boxes(
    image: np.ndarray,
    class_names: Sequence[str],
    *,
    predicted: Detections | None = None,
    truth: tuple[np.ndarray, np.ndarray] | None = None,
    max_side: int = 640,
) -> bytes:
    """A PNG of ``image`` (``(C, H, W)`` uint8 or 0..1) with reference boxes (green) and predicted boxes (class
    colours, each with its label and score on a tab of its colour, readable on any tissue; orange text on pink
    blood cells was not); boxes in the image's pixels."""
    from PIL import Image, ImageDraw, ImageFont

    x = np.asarray(image)
    if x.dtype != np.uint8:
        x = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    x = np.repeat(x[:1], 3, axis=0) if x.shape[0] == 1 else x[:3]
    picture = Image.fromarray(np.ascontiguousarray(np.moveaxis(x, 0, -1)))
    factor = min(1.0, max_side / max(picture.size))
    if factor < 1:
        picture = picture.resize((round(picture.width * factor), round(picture.height * factor)))
    draw = ImageDraw.Draw(picture)
    width = max(1, round(2 * max(picture.size) / 640))
    font = ImageFont.load_default(size=max(10, round(max(picture.size) / 50)))
    if truth is not None:
        for box in np.asarray(truth[0]).reshape(-1, 4) * factor:
            draw.rectangle([float(v) for v in box], outline=TRUTH_COLOUR, width=width)
    if predicted is not None:
        for box, score, label in zip(
            predicted.boxes.reshape(-1, 4) * factor, predicted.scores, predicted.labels, strict=True
        ):
            colour = PALETTE[int(label) % len(PALETTE)]
            corners = [float(v) for v in box]
            draw.rectangle(corners, outline=colour, width=max(1, width - 1))
            name = class_names[int(label)] if int(label) < len(class_names) else str(label)
            _label_tab(draw, corners, f"{name} {score:.2f}", colour, font)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _label_tab(draw: Any, corners: list[float], text: str, colour: Any, font: Any) -> None:
    """``text`` on a tab of ``colour`` just above the box's top-left corner (inside it when the box
    touches the image's top edge)."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tab_h = bottom - top + 4
    y = corners[1] - tab_h if corners[1] >= tab_h else corners[1]
    x = min(corners[0], max(0.0, draw.im.size[0] - (right - left) - 4))
    draw.rectangle([x, y, x + right - left + 4, y + tab_h], fill=colour)
    draw.text((x + 2 - left, y + 2 - top), text, fill=_text_colour(colour), font=font)


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """White or black, whichever contrasts more with ``background`` (WCAG relative luminance): black on orange."""
    linear = [(c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in background]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return (0, 0, 0) if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else (255, 255, 255)


def _plot(draw: Any, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.6), dpi=100)
    draw(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def picked_images(report: DetectionReport) -> dict[str, int]:
    """The images the report draws: ``{"worst": i, "median": j, "best": k}`` by per-image F1 (empty when none)."""
    order = sorted(range(len(report.images)), key=lambda i: (report.images[i]["f1"], report.images[i]["case_id"]))
    if not order:
        return {}
    return {"worst": order[0], "median": order[len(order) // 2], "best": order[-1]}


def write_curves(report: DetectionReport, folder: Path) -> dict[str, Path]:
    """``pr_curves.png`` and ``froc.png`` into ``folder``; ``{caption: path}``."""
    figures: dict[str, Path] = {}

    def pr(ax: Any) -> None:
        for name, precision in report.pr_curves.items():
            values = np.asarray(precision)
            if (values < 0).all():
                continue
            ap50 = report.metrics["per_class"][name]["ap50"]
            ax.plot(RECALL_POINTS, np.where(values < 0, np.nan, values), label=f"{name} (AP {ap50:.3f})")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall, IoU 0.5")
        if ax.get_legend_handles_labels()[0]:  # no class with a reference box: no curve
            ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3)

    def froc_plot(ax: Any) -> None:
        fppi, sens = report.froc_curve.get("fppi", []), report.froc_curve.get("sensitivity", [])
        if fppi:
            ax.plot(np.maximum(fppi, 1e-3), sens, label="all classes")
        rates = list(FROC_RATES)
        points = [np.nan if v is None else v for v in report.metrics["froc"].values()]  # None: no reference box
        ax.plot(rates, points, "o", label="read-out points")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="false positives per image", ylabel="sensitivity", ylim=(0, 1.02), xlim=(1 / 16, 16))
        ax.set_title(f"FROC (average {report.metrics.get('froc_average') or 0:.3f})")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)

    figures["Precision-recall curves (IoU 0.5)"] = _plot(pr, folder / "pr_curves.png")
    figures["FROC curve"] = _plot(froc_plot, folder / "froc.png")
    return figures


def write_figures(
    report: DetectionReport,
    table: MatchTable,
    folder: Path,
    prepared: Prepared,
    detections: Sequence[Detections],
    truths: Sequence[tuple[np.ndarray, np.ndarray]],
) -> dict[str, Path]:
    """``pr_curves.png``, ``froc.png`` and the worst/median/best overlays into ``folder``; ``{caption: path}``."""
    figures = write_curves(report, folder)
    picks = picked_images(report)
    if picks:
        threshold = report.metrics["score_threshold"]
        from medimg.tasks.detect.data import scale_boxes
        from medimg.tasks.detect.metrics import Detections as _Detections

        for tag, i in picks.items():
            shown = detections[i].above(threshold)
            scale = prepared.scales[i]
            png = draw_boxes(
                prepared.images[i].numpy(),
                report.metrics["class_names"],
                predicted=_Detections(scale_boxes(shown.boxes, scale), shown.scores, shown.labels),
                truth=(scale_boxes(truths[i][0], scale), truths[i][1]),
            )
            caption = f"image {tag}: {report.images[i]['case_id']} (F1 {report.images[i]['f1']:.2f})"
            figures[caption] = atomic_write_bytes(folder / f"image_{tag}.png", png)
    return figures
