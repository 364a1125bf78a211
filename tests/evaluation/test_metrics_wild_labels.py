"""Metrics on the label sets clinics have, checked against scikit-learn on small hand-made predictions: a rare
finding's AUC interval, a finding every image shows, a binary test split without positives, a class the test split
lacks but the model predicts, and no cases right at all."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score

from medimg.evaluation.bootstrap import headline_cis, wilson_interval
from medimg.evaluation.metrics import classification_metrics
from medimg.evaluation.multilabel import multilabel_cis, multilabel_metrics


def _rare_finding() -> tuple[np.ndarray, np.ndarray]:
    """50 images, 1 with the finding, scored highest of all."""
    y = np.zeros((50, 1), dtype=int)
    y[0] = 1
    p = np.linspace(0.01, 0.6, 50)[:, None]
    p[0] = 0.99
    return y, p


def test_a_rare_findings_auc_interval_is_as_wide_as_one_positive_allows() -> None:
    y, p = _rare_finding()
    entry = multilabel_cis(y, p, ["hernia"], n_resamples=200)["auc/hernia"]
    assert entry["value"] == pytest.approx(1.0)
    # the percentile bootstrap said 1.000-1.000 (or 0.94-1.00): every resample with the one positive ranks it first
    assert entry["low"] is not None and entry["low"] < 0.6
    assert entry["high"] == pytest.approx(1.0)
    assert entry["method"] == "newcombe"


def test_a_finding_every_image_shows_has_no_average_precision() -> None:
    rng = np.random.default_rng(0)
    y = np.c_[rng.integers(0, 2, 40), np.ones(40, dtype=int)]
    y[0, 0], y[1, 0] = 0, 1
    p = rng.uniform(0, 1, (40, 2))
    m = multilabel_metrics(y, p, ["effusion", "everywhere"])
    assert m["per_finding"]["everywhere"]["average_precision"] is None  # was 1.0 whatever the scores
    assert m["per_finding"]["everywhere"]["roc_auc"] is None
    assert m["mean_average_precision"] == pytest.approx(average_precision_score(y[:, 0], p[:, 0]))


def test_undefined_headline_metrics_say_why() -> None:
    y = np.zeros(20, dtype=int)
    p1 = np.linspace(0.05, 0.95, 20)
    cis = headline_cis(y, np.c_[1 - p1, p1], ["normal", "tumor"], n_resamples=50)
    for name in ("roc_auc", "sensitivity"):
        assert cis[name]["value"] is None and cis[name]["low"] is None
        assert "undefined" in cis[name]["note"]
    assert "'tumor'" in cis["sensitivity"]["note"]
    assert "'normal'" in cis["roc_auc"]["note"]
    assert "note" not in cis["specificity"]


def test_a_class_absent_from_the_test_split_but_predicted_has_f1_zero_as_its_macro_average_counts() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    m = classification_metrics(y, p, ["grade0", "grade1", "grade2"])
    pred = p.argmax(axis=1)
    per_class = f1_score(y, pred, labels=[0, 1, 2], average=None, zero_division=0)
    assert [m["per_class"][c]["f1"] for c in ("grade0", "grade1", "grade2")] == pytest.approx(list(per_class))
    assert m["per_class"]["grade2"]["recall"] is None  # no grade-2 case: its recall stays undefined
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))


def test_a_class_neither_present_nor_predicted_has_no_f1() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1]])
    assert classification_metrics(y, p, ["a", "b", "c"])["per_class"]["c"]["f1"] is None


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (10, 10), (0, 1), (7, 7)])
def test_wilson_ends_are_exact(successes: int, n: int) -> None:
    low, high = wilson_interval(successes, n)
    assert low is not None and high is not None
    if successes == 0:
        assert low == 0.0 and 0 < high < 1
    else:
        assert high == 1.0 and 0 < low < 1
