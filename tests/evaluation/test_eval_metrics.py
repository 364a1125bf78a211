"""Metric values against hand-computed examples and scikit-learn, plus input validation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from medimg.errors import ConfigError
from medimg.evaluation import metrics
from medimg.evaluation.calibration import expected_calibration_error, reliability_bins
from medimg.evaluation.metrics import classification_metrics

# Binary hand example: positives score [.9, .8, .7, .4], negatives [.6, .55, .3, .2, .1, .05]
# -> TP=3, FN=1 (0.4), FP=2 (0.6, 0.55), TN=4; AUC = (6 + 6 + 6 + 4) / 24.
BIN_Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
BIN_P1 = np.array([0.9, 0.8, 0.7, 0.4, 0.6, 0.55, 0.3, 0.2, 0.1, 0.05])
BIN_P = np.stack([1 - BIN_P1, BIN_P1], axis=1)


def _softmaxish(pred: list[int], k: int) -> np.ndarray:
    p = np.full((len(pred), k), 0.4 / (k - 1))
    p[np.arange(len(pred)), pred] = 0.6
    return p


def test_binary_hand_example() -> None:
    r = classification_metrics(BIN_Y, BIN_P, ["benign", "malignant"])
    assert r["confusion_matrix"] == [[4, 2], [1, 3]]
    assert r["n"] == 10
    assert r["accuracy"] == pytest.approx(0.7)
    assert r["sensitivity"] == pytest.approx(3 / 4)
    assert r["specificity"] == pytest.approx(4 / 6)
    assert r["positive_class"] == "malignant"
    assert r["balanced_accuracy"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    assert r["precision_macro"] == pytest.approx((4 / 5 + 3 / 5) / 2)
    assert r["recall_macro"] == pytest.approx((4 / 6 + 3 / 4) / 2)
    assert r["specificity_macro"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    assert r["f1_macro"] == pytest.approx((8 / 11 + 6 / 9) / 2)
    assert r["roc_auc"] == pytest.approx(22 / 24)
    assert r["roc_auc_note"] is None
    pos = r["per_class"]["malignant"]
    assert pos == pytest.approx(
        {
            "precision": 0.6,
            "recall": 0.75,
            "specificity": 4 / 6,
            "f1": 6 / 9,
            "support": 4,
            "roc_auc": 22 / 24,
        }
    )
    assert r["per_class"]["benign"]["support"] == 6
    assert r["per_class"]["benign"]["specificity"] == pytest.approx(3 / 4)
    assert r["ece"] == pytest.approx(0.3)  # see test_ece_hand_example
    json.dumps(r, allow_nan=False)


def test_multiclass_hand_example() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = [0, 1, 1, 1, 2, 0]
    r = classification_metrics(y, _softmaxish(pred, 3), ["a", "b", "c"])
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert [r["per_class"][c]["precision"] for c in "abc"] == pytest.approx([0.5, 2 / 3, 1.0])
    assert [r["per_class"][c]["recall"] for c in "abc"] == pytest.approx([0.5, 1.0, 0.5])
    assert [r["per_class"][c]["specificity"] for c in "abc"] == pytest.approx([3 / 4, 3 / 4, 1.0])
    assert [r["per_class"][c]["f1"] for c in "abc"] == pytest.approx([0.5, 0.8, 2 / 3])
    assert r["specificity_macro"] == pytest.approx((3 / 4 + 3 / 4 + 1) / 3)
    assert r["f1_macro"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert "sensitivity" not in r and "positive_class" not in r


@pytest.mark.parametrize("k", [2, 3, 5])
def test_matches_sklearn_on_random_data(k: int) -> None:
    rng = np.random.default_rng(k)
    n = 300
    y = rng.integers(0, k, n)
    logits = np.round(rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y], 1)  # rounding creates score ties
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = p.argmax(axis=1)
    r = classification_metrics(y, p, [f"c{i}" for i in range(k)])
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert r["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert r["precision_macro"] == pytest.approx(skm.precision_score(y, pred, average="macro", zero_division=0))
    assert r["recall_macro"] == pytest.approx(skm.recall_score(y, pred, average="macro", zero_division=0))
    assert r["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert r["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    expected_auc = skm.roc_auc_score(y, p[:, 1]) if k == 2 else skm.roc_auc_score(y, p, multi_class="ovr")
    assert r["roc_auc"] == pytest.approx(expected_auc, abs=1e-12)
    for c in range(k):
        assert r["per_class"][f"c{c}"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y == c, p[:, c]), abs=1e-12)
    assert metrics.roc_auc(y, p) == pytest.approx(expected_auc, abs=1e-12)


def test_zero_support_and_zero_predictions_give_no_warnings_nan_or_crash() -> None:
    # class "c" never occurs and is never predicted; class "b" occurs but is never predicted
    y = np.array([0, 0, 0, 1, 1])
    p = _softmaxish([0, 0, 0, 0, 0], 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = classification_metrics(y, p, ["a", "b", "c"])
    json.dumps(r, allow_nan=False)  # strict JSON: no NaN anywhere
    # undefined per-class values are None ("—" in the report), not scikit-learn's zero_division 0.0: "b" is
    # never predicted (its precision has no denominator), "c" has no cases (no recall, no F1)
    assert r["per_class"]["b"]["precision"] is None and r["per_class"]["b"]["f1"] == 0.0
    assert r["per_class"]["c"] == {
        "precision": None,
        "recall": None,
        "specificity": 1.0,
        "f1": None,
        "support": 0,
        "roc_auc": None,
    }
    one_class = classification_metrics(np.array([1, 1, 1]), _softmaxish([1, 0, 1], 2), ["neg", "pos"])
    assert one_class["per_class"]["pos"]["specificity"] is None  # no negatives to be specific about
    # ... nor counted as 0 in the macro average (0.333 where the one defined specificity, neg's, is 0.667)
    assert one_class["specificity_macro"] == pytest.approx(one_class["per_class"]["neg"]["specificity"])
    assert one_class["per_class"]["neg"]["recall"] is None and one_class["per_class"]["neg"]["precision"] == 0.0
    pred = p.argmax(axis=1)
    # macro over the classes in play (a, b), like scikit-learn's default label set
    assert r["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert r["roc_auc"] is not None
    assert "absent" in r["roc_auc_note"] and "'c'" in r["roc_auc_note"]


@pytest.mark.parametrize("k", [2, 3])
def test_auc_undefined_with_one_class(k: int) -> None:
    y = np.zeros(4, dtype=int)
    p = _softmaxish([0, 1, 0, 0], k)
    r = classification_metrics(y, p, [f"c{i}" for i in range(k)])
    assert r["roc_auc"] is None
    assert "only class 'c0'" in r["roc_auc_note"]
    if k == 2:
        assert r["sensitivity"] is None  # no positive case
        assert r["specificity"] == pytest.approx(3 / 4)
    json.dumps(r, allow_nan=False)


def test_ece_hand_example() -> None:
    # confidences (max prob) and correctness for BIN_P:
    # wrong: .6, .6, .55 -> bin (8/15, 9/15]: gap 0.58333 * 3;
    # correct: .7 x2 (gap .3), .8 x2 (.2), .9 x2 (.1), .95 (.05)
    assert expected_calibration_error(BIN_Y, BIN_P) == pytest.approx((1.75 + 0.6 + 0.4 + 0.2 + 0.05) / 10)
    # every case has confidence 0.9, 8 of 10 correct -> ECE = |0.8 - 0.9|
    y = np.array([1] * 8 + [0] * 2)
    p = np.tile([0.1, 0.9], (10, 1))
    assert expected_calibration_error(y, p) == pytest.approx(0.1)
    bins = reliability_bins(y, p, n_bins=10)
    assert bins.counts.tolist() == [0] * 8 + [10, 0]  # 0.9 falls in (0.8, 0.9]: bins are right-closed
    assert bins.accuracy[8] == pytest.approx(0.8)
    d = bins.to_dict()
    assert d["accuracy"][0] is None and d["ece"] == pytest.approx(0.1)
    json.dumps(d, allow_nan=False)


def test_perfect_calibration_has_zero_ece() -> None:
    y = np.array([1, 1, 1, 0, 0, 0])
    p = np.tile([0.0, 1.0], (6, 1))
    p[3:] = [1.0, 0.0]
    assert expected_calibration_error(y, p) == 0.0
    with pytest.raises(ConfigError, match="n_bins"):
        expected_calibration_error(y, p, n_bins=0)


def test_single_metric_functions_agree_with_table() -> None:
    r = classification_metrics(BIN_Y, BIN_P, ["n", "p"])
    for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "sensitivity", "specificity"):
        assert getattr(metrics, name)(BIN_Y, BIN_P) == pytest.approx(r[name])
    with pytest.raises(ConfigError, match="binary"):
        metrics.sensitivity([0, 1, 2], _softmaxish([0, 1, 2], 3))


@pytest.mark.parametrize(
    ("y", "p", "names", "match"),
    [
        ([0, 1, 1], BIN_P[:2], ["a", "b"], "3 cases but probabilities has 2 rows"),
        ([0, 1], BIN_P[:2], ["a", "b", "c"], "2 columns but 3 class names"),
        ([0, 2], BIN_P[:2], ["a", "b"], r"labels outside \[0, 1\].*\[2\]"),
        ([0, -1], BIN_P[:2], ["a", "b"], "labels outside"),
        ([0, 1], [[0.5, np.nan], [0.2, 0.8]], ["a", "b"], "NaN or infinite values in 1 row"),
        ([0, 1], [0.3, 0.7], ["a", "b"], r"2-D array \(N, K\).*np.stack"),
        ([0, 1], [[2.0, -1.0], [0.2, 0.8]], ["a", "b"], "logits"),
        ([0, 1], BIN_P[:2], ["a", "a"], "unique"),
        ([[0, 1]], BIN_P[:1], ["a", "b"], "1-D"),
        ([0.5, 1], BIN_P[:2], ["a", "b"], "integer"),
        ([], np.zeros((0, 2)), ["a", "b"], "empty"),
        ([0, 0], [[1.0], [1.0]], ["a"], "at least 2 columns"),
    ],
)
def test_validation_errors(y: object, p: object, names: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        classification_metrics(y, p, names)


def test_integral_float_labels_are_accepted() -> None:
    r = classification_metrics(BIN_Y.astype(float), BIN_P, ["a", "b"])
    assert r["accuracy"] == pytest.approx(0.7)
