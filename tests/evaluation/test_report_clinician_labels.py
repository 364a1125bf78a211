"""What a clinician reads in the evaluation reports: every number named with its class, average and threshold.

Built from small hand-made predictions (no training)."""

from __future__ import annotations

import html
import re

import numpy as np
from sklearn import metrics as skm

from medimg.evaluation.report import build_classification_report

BINARY = ["normal", "lesion"]
# 12 images: 6 normal (5 right), 6 lesion (4 right); one lesion at exactly 0.5 (a tie goes to "normal")
P_LESION = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.7, 0.5, 0.45, 0.6, 0.8, 0.9, 0.95])
Y_BINARY = np.array([0] * 6 + [1] * 6)


def _binary(**extra: object):  # type: ignore[no-untyped-def]
    p = np.stack([1 - P_LESION, P_LESION], axis=1)
    plan = {"plan": {"binary_threshold": "argmax"}}
    report = build_classification_report(
        Y_BINARY, p, BINARY, split="test", model_name="m", dataset_name="d", n_resamples=50, extra={**plan, **extra}
    )
    return report, p


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_binary_numbers_match_sklearn_and_the_confusion_matrix() -> None:
    report, p = _binary()
    pred = p.argmax(axis=1)
    m = report.metrics
    assert m["sensitivity"] == skm.recall_score(Y_BINARY, pred)
    assert m["specificity"] == skm.recall_score(1 - Y_BINARY, 1 - pred)
    assert np.isclose(m["roc_auc"], skm.roc_auc_score(Y_BINARY, P_LESION))
    assert m["confusion_matrix"] == skm.confusion_matrix(Y_BINARY, pred).tolist()


def test_binary_specificity_names_the_negative_class_and_the_threshold_is_stated() -> None:
    """The headline said "Specificity" without naming the class it is the recall of, and the decision rule did not
    say which threshold on which probability makes a case positive."""
    report, _ = _binary()
    page = _text(report.to_html())
    assert "Sensitivity (recall of “lesion”)" in page
    assert "Specificity (recall of “normal”)" in page
    assert "“lesion” when its probability is above 0.5 (threshold 0.5)" in page


def test_interval_methods_name_metrics_by_their_labels_not_raw_keys() -> None:
    """The intro said "a percentile bootstrap ... for f1 macro; Newcombe's score interval for roc auc"."""
    report, _ = _binary()
    intro = _text(report.headline_intro())
    assert "f1 macro" not in intro and "roc auc" not in intro
    assert "for F1 (macro)" in intro and "ROC AUC" in intro


def test_three_class_auc_is_labelled_as_the_macro_one_vs_rest_average() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    logits = rng.normal(size=(30, 3)) + 2.0 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    report = build_classification_report(
        y, p, ["a", "b", "c"], split="test", model_name="m", dataset_name="d", n_resamples=50
    )
    assert np.isclose(report.metrics["roc_auc"], skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    page = _text(report.to_html())
    assert "ROC AUC (macro average of one-vs-rest)" in page
    # the macro sensitivity and specificity have no interval: the table says why instead of a bare "—"
    assert "no interval of its own; balanced accuracy" in page
    assert "no interval computed for this average" in page


def test_segmentation_tables_label_their_columns() -> None:
    """The per-class table's headers were the raw keys "dice", "iou", "hd95", "assd"; the intro listed
    "dice foreground, dice mean, iou mean, hd95 mean"."""
    from medimg.tasks.segment.report import build_segmentation_report

    def case(dice: float, hd: float) -> dict[int, dict[str, float]]:
        values = {"dice": dice, "iou": dice / (2 - dice), "hd95": hd, "assd": hd / 2, "sensitivity": 0.8}
        counts = {"tp": 80.0, "fp": 20.0, "fn": 20.0, "precision": 0.8}
        return {0: {k: 1.0 for k in values} | counts, 1: {**values, **counts}}

    report = build_segmentation_report(
        [case(0.8, 3.0), case(0.6, 5.0), case(0.9, 2.0)],
        ["a", "b", "c"],
        ["background", "tumour"],
        split="test",
        model_name="m",
        dataset_name="d",
        n_resamples=50,
    )
    page = report.to_html()
    headers = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', page)
    for raw in ("dice", "iou", "hd95", "assd", "sensitivity", "precision"):
        assert raw not in headers
    assert "HD95 (px)" in headers and "Dice (mean)" in headers
    intro = _text(report.headline_intro())
    assert "dice tumour" not in intro and "hd95 mean" not in intro
    assert "Dice of “tumour” (mean over cases)" in intro


def test_detection_intro_states_the_score_threshold_and_labels_start_upper_case() -> None:
    """The intro said "the chosen score threshold" without its value, and "(1,000 resamples) (resampling images)"."""
    from medimg.tasks.detect.report import DetectionReport

    ci = {"value": 0.5, "low": 0.3, "high": 0.7, "confidence": 0.95, "n_resamples": 1000}
    report = DetectionReport(
        metrics={"n": 3, "class_names": ["disc"], "score_threshold": 0.05, "nms_iou": 0.5, "map50": 0.5},
        confidence_intervals={"map50": ci},
        split="test",
        model_name="m",
        dataset_name="d",
    )
    intro = _text(report.headline_intro())
    assert "the chosen score threshold (0.05)" in intro and ") (" not in intro
    assert report.metric_label("false_positives_per_image").startswith("False positives")


def test_the_header_says_what_the_model_was_trained_on() -> None:
    """How many images the model was fitted on was buried in a JSON dump under "Run details"."""
    report, _ = _binary(training={"train_images": 56, "val_images": 12})
    page = report.to_html()
    assert "<dt>Trained on</dt><dd>56 images (+ 12 for validation)</dd>" in page
    bare, _ = _binary()
    assert "Trained on" not in bare.to_html()


def test_multilabel_intro_names_no_raw_keys_and_the_glossary_does_not_contradict_patient_intervals() -> None:
    """The intro listed "auc/effusion, auc/nodule, auc/mass", and the glossary said the intervals were a
    "Bootstrap over images" while they counted patients (and the per-finding AUCs used Newcombe's interval)."""
    from medimg.evaluation.multilabel_report import build_multilabel_report

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (40, 3))
    p = np.clip(0.4 * y + rng.uniform(0, 0.6, (40, 3)), 0, 1)
    report = build_multilabel_report(
        y,
        p,
        ["effusion", "nodule", "mass"],
        split="test",
        model_name="m",
        dataset_name="d",
        n_resamples=50,
        patient_ids=[f"p{i // 2}" for i in range(40)],
    )
    page = _text(report.to_html())
    assert "auc/" not in page and "each finding's ROC AUC" in page
    assert "count patients, not images" in page and "Bootstrap over images" not in page


def test_cross_validation_page_says_research_only_and_that_sd_is_not_a_ci() -> None:
    """cv.html was the only report page without the research-use limitations, and its "SD" column could be read as
    an interval."""
    from medimg.evaluation.cv_report import cv_html

    summary = {
        "folds": 2,
        "mean": {"test_roc_auc": 0.8},
        "sd": {"test_roc_auc": 0.05},
        "per_fold": [{"fold": 0, "test_roc_auc": 0.75}, {"fold": 1, "test_roc_auc": 0.85}],
    }
    page = _text(cv_html(summary, run_name="cv"))
    assert "For research use only" in page
    assert "not a confidence interval" in page
