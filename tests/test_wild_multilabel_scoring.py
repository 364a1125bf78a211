"""Scoring a multi-label chest X-ray model as users do: a finding the test split cannot score is named where the
macro AUC leaves it out, and a finding the evaluation data does not label is named instead of counted absent."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from medimg.data.case import Case

NAMES = ["Atelectasis", "Cardiomegaly", "Hernia"]


def _split() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random((40, 3)) < [0.4, 0.3, 0.0]).astype(np.uint8)  # no test image shows a hernia
    p = np.clip(0.5 * y + rng.random((40, 3)) * 0.6, 0, 1)
    return y, p


def test_a_finding_without_positives_is_named_as_left_out_of_the_macro_auc(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from medimg.evaluation.multilabel import multilabel_metrics
    from medimg.evaluation.multilabel_report import build_multilabel_report

    y, p = _split()
    metrics = multilabel_metrics(y, p, NAMES)
    assert metrics["per_finding"]["Hernia"]["roc_auc"] is None
    assert metrics["findings_without_auc"] == ["Hernia"]
    expected = np.mean([metrics["per_finding"][n]["roc_auc"] for n in NAMES[:2]])
    assert metrics["macro_auc"] == pytest.approx(expected)  # over the two it can score, not a 0.5 for the third
    report = build_multilabel_report(y, p, NAMES, split="test", model_name="m", dataset_name="d", n_resamples=50)
    assert report.metric_note("macro_auc").startswith("mean over 2 of 3 findings: Hernia left out")
    page = report.to_html()
    assert "mean over 2 of 3 findings: Hernia left out" in page
    assert "Left out of the macro AUC, having no AUC on this split: Hernia" in page
    full = build_multilabel_report(y[:, :2], p[:, :2], NAMES[:2], split="test", model_name="m", dataset_name="d",
                                   n_resamples=50)  # fmt: skip
    assert full.metrics["findings_without_auc"] == [] and "Left out of the macro AUC" not in full.to_html()


def test_a_model_finding_the_data_does_not_label_is_named(caplog: pytest.LogCaptureFixture) -> None:
    """An external test table labelling only some of the model's findings: the others were silently counted absent
    from every image (each call of them a false positive in specificity, label-wise accuracy and exact match)."""
    from medimg.data.labels import findings_matrix, label_map

    cases = [Case(case_id=f"{i}.png", label=None, findings=f) for i, f in enumerate([(0,), (), (0, 1)])]
    data_names = ["Cardiomegaly", "Atelectasis"]  # the data's own order, and no Hernia column
    remap = label_map(data_names, NAMES)
    with caplog.at_level(logging.WARNING):
        matrix = findings_matrix(cases, len(NAMES), remap, NAMES)
    assert matrix.tolist() == [[0, 1, 0], [0, 0, 0], [1, 1, 0]]  # aligned by name, not by column position
    assert "does not name the model's finding(s) 'Hernia'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        findings_matrix(cases, 3, label_map(["Cardiomegaly", "Atelectasis", "Hernia"], NAMES), NAMES)
    assert "does not name" not in caplog.text
