"""A researcher's cross-validation and comparison outputs, checked against what is on disk and what they mean:
cv.html names each fold's reports where they are, a metric defined in one fold has no sd (not 0), a multi-class
fold that lacks a class is not said to have "no ROC AUC" (it has one, over fewer classes), and paired tests say
when they pair fewer images than the table scored."""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from medimg.cli.compare import paired_tests
from medimg.engine import cross_validation
from medimg.evaluation.comparison import ComparisonRow
from medimg.evaluation.cv_report import cv_html


def test_cv_page_names_fold_reports_where_folds_write_them() -> None:
    """cv.html's 'Fold report' column named fold_k/report/report.html, which a fold never writes (its reports are
    fold_k/evaluations/cv-val and cv-test, :meth:`medimg.Model._score`): it names those now."""
    rows = [{"fold": k, "val_accuracy": 0.5, "test_accuracy": 0.6} for k in range(2)]
    page = cv_html({"folds": 2, "per_fold": rows, "mean": {}, "sd": {}})
    named = set(re.findall(r"fold_\d+/[\w/.-]+\.html", page))
    assert named == {f"fold_{k}/evaluations/cv-{split}/report.html" for k in range(2) for split in ("val", "test")}


def test_the_fold_reports_are_links_a_click_opens() -> None:
    """They were plain text: a reader had to type the path."""
    page = cv_html({"folds": 1, "per_fold": [{"fold": 0, "val_accuracy": 0.5, "test_accuracy": 0.6}], "mean": {}})
    links = dict((text, href) for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', page))
    assert links == {
        "validation report": "fold_0/evaluations/cv-val/report.html",
        "test report": "fold_0/evaluations/cv-test/report.html",
    }


def test_cv_page_names_only_the_splits_a_fold_was_scored_on() -> None:
    page = cv_html({"folds": 1, "per_fold": [{"fold": 0, "val_accuracy": 0.5}], "mean": {}, "sd": {}})
    assert "fold_0/evaluations/cv-val/report.html" in page and "cv-test" not in page


def test_a_metric_defined_in_one_fold_has_no_sd() -> None:
    """val_roc_auc defined in one fold of three printed '0.7000 ± 0.0000 (1 of 3 folds)' and cv.json held sd 0:
    as if the folds agreed exactly; the spread between folds is undefined there."""
    rows = [
        {"fold": 0, "val_accuracy": 0.5, "val_roc_auc": 0.7},
        {"fold": 1, "val_accuracy": 0.7, "val_roc_auc": None},
        {"fold": 2, "val_accuracy": 0.6},
    ]
    stats = cross_validation.fold_statistics(rows)
    assert stats["n_folds"] == {"val_accuracy": 3, "val_roc_auc": 1}
    assert stats["sd"]["val_roc_auc"] is None
    assert stats["sd"]["val_accuracy"] == pytest.approx(np.std([0.5, 0.7, 0.6], ddof=1))
    assert stats["mean"]["val_accuracy"] == pytest.approx(0.6)
    summary = {"folds": 3, "per_fold": rows, **stats}
    lines = cross_validation.summary_lines(summary)
    auc = next(line for line in lines if line.startswith("val_roc_auc"))
    assert "± 0.0000" not in auc and "no sd" in auc and "1 of 3 folds" in auc
    accuracy = next(line for line in lines if line.startswith("val_accuracy"))
    assert re.search(r"0\.6000 ± 0\.1000 sd", accuracy)  # said to be an sd: a CI is in each fold's report
    json.dumps(summary, allow_nan=False)  # cv.json stays strict JSON
    assert "val ROC AUC" in cv_html(summary)


def _case(case_id: str, label: int) -> Any:
    return SimpleNamespace(case_id=case_id, stratum=label, patient_id=None)


def test_a_multiclass_fold_lacking_a_class_is_not_said_to_have_no_auc() -> None:
    """With three classes a fold without the rare one still gets a (macro) val ROC AUC, over two classes: the
    note said 'those folds have no ROC AUC' beside a val_roc_auc averaged over all folds."""
    cases = [_case(f"a{i}", 0) for i in range(6)] + [_case(f"b{i}", 1) for i in range(6)] + [_case("c0", 2)]
    folds_of = {"test": [], "folds": [["a0", "a1", "a2", "b0", "b1", "b2", "c0"], ["a3", "a4", "a5", "b3", "b4", "b5"]]}
    (note,) = cross_validation._one_class_folds(cases, folds_of, 2, ["normal", "pneumonia", "rare"])
    assert "fold_1" in note and "'rare'" in note
    assert "have no ROC AUC" not in note and "not comparable" in note
    binary = [c for c in cases if c.stratum < 2] + [_case("a9", 0)]
    folds_two = {"test": [], "folds": [["a0", "a1", "b0", "b1", "b2"], ["a2", "a3", "a4", "a5", "a9"]]}
    (note,) = cross_validation._one_class_folds(binary, folds_two, 2, ["normal", "pneumonia"])
    assert "have no ROC AUC" in note


def test_paired_tests_say_when_they_pair_fewer_images_than_scored(caplog: pytest.LogCaptureFixture) -> None:
    """A test image only one model scored (unreadable for one pipeline) was dropped from the paired tests without
    a word, so their AUCs differed from the table's; now each test records it and a warning says so."""
    rng = np.random.default_rng(0)
    y = np.arange(20) % 2
    predictions: dict[str, dict[str, dict[str, Any]]] = {}
    for name in ("cnn", "svm"):
        score = 1 / (1 + np.exp(-(y + rng.normal(0, 1, 20) - 0.5)))
        predictions[name] = {
            f"img{i}.png": {"true_label": ["a", "b"][y[i]], "probabilities": {"a": 1 - score[i], "b": score[i]}}
            for i in range(20)
        }
    del predictions["svm"]["img3.png"]
    rows = [ComparisonRow(n, "x", "", 20, {"roc_auc": {"value": 0.8}}) for n in predictions]
    with caplog.at_level(logging.WARNING):
        tests = paired_tests(rows, predictions, ["a", "b"], n_resamples=50, seed=0, pairs=[("cnn", "svm")])
    assert tests and all(t["details"]["unpaired_images"] == 1 and t["n"] == 19 for t in tests)
    assert "scored by only one of them" in caplog.text


def test_compare_rows_use_the_n_resamples_asked_for() -> None:
    """`medimg compare --n-resamples 5000` left every row's bootstrapped intervals (F1, a multi-class AUC) at the
    fit report's 1000 resamples, while saying nothing: the table now draws the count asked for, and with the fit's
    own count it is the fit report's intervals exactly."""
    from medimg.cli.compare import row_intervals
    from medimg.evaluation.report import build_classification_report

    rng = np.random.default_rng(3)
    y = np.arange(30) % 3
    logits = np.eye(3)[y] * 1.5 + rng.normal(0, 1, (30, 3))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    report = build_classification_report(
        y, p, ["a", "b", "c"], split="test", model_name="m", dataset_name="d",
        patient_ids=[f"P{i // 2}" for i in range(30)], n_resamples=1000,
    )  # fmt: skip
    assert row_intervals(report, 1000) == report.confidence_intervals
    redrawn = row_intervals(report, 300)
    assert redrawn["f1_macro"]["n_resamples"] == 300 and redrawn["f1_macro"]["unit"] == "patient"
    assert redrawn["f1_macro"]["value"] == report.confidence_intervals["f1_macro"]["value"]
    assert redrawn["f1_macro"]["low"] != report.confidence_intervals["f1_macro"]["low"]
    wilson = report.confidence_intervals["accuracy"]  # a score interval: no resamples
    assert (redrawn["accuracy"]["low"], redrawn["accuracy"]["high"]) == (wilson["low"], wilson["high"])
