"""The terminal summary of `medimg evaluate` / `fit` dropped a metric that is undefined on the test cases (a
two-class model evaluated on images of one class: no sensitivity line, no word): the line stays, with a dash and
the reason."""

from __future__ import annotations

import numpy as np
import pytest

from medimg.cli.app import _print_metrics
from medimg.evaluation.report import build_classification_report


def test_an_undefined_sensitivity_and_auc_keep_their_lines_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    y = np.zeros(20, dtype=int)  # every case normal: no positive case
    p1 = np.linspace(0.05, 0.6, 20)
    report = build_classification_report(
        y, np.c_[1 - p1, p1], ["normal", "tumor"], split="test", model_name="m", dataset_name="d", n_resamples=50
    )
    _print_metrics(report)
    lines = capsys.readouterr().out.splitlines()
    sensitivity = next((line for line in lines if line.strip().startswith("sensitivity")), None)
    assert sensitivity is not None, lines
    assert "—" in sensitivity and "undefined: no case of the positive class 'tumor' in these 20 cases" in sensitivity
    auc = next(line for line in lines if line.strip().startswith("roc_auc"))
    assert "—" in auc and "undefined" in auc
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["accuracy", "balanced_accuracy", "roc_auc", "f1_macro", "sensitivity", "specificity"]


def test_defined_metrics_print_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    p1 = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.2, 40), 0.01, 0.99)
    report = build_classification_report(
        y, np.c_[1 - p1, p1], ["benign", "malignant"], split="test", model_name="m", dataset_name="d", n_resamples=50
    )
    _print_metrics(report)
    out = capsys.readouterr().out
    assert "—" not in out and "undefined" not in out
    assert "sensitivity" in out and "(recall of 'malignant')" in out
