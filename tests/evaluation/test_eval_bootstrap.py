"""Bootstrap confidence intervals: coverage of the point estimate, narrowing and skipping (their speed is
``benchmarks/bootstrap_speed.py``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from medimg.errors import ConfigError
from medimg.evaluation import metrics
from medimg.evaluation.bootstrap import bootstrap_ci, headline_cis


def _data(n: int, k: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.0 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.roc_auc, metrics.f1_macro, metrics.sensitivity])
def test_ci_contains_point_estimate_and_narrows_with_more_data(fn: Callable) -> None:
    widths = []
    for n in (80, 2000):
        y, p = _data(n)
        low, high = bootstrap_ci(y, p, fn, n_resamples=400)
        assert low is not None and high is not None
        assert low <= fn(y, p) <= high
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]


@pytest.mark.parametrize("k", [2, 4])
def test_vectorised_path_equals_plain_loop(k: int) -> None:
    y, p = _data(150, k=k, seed=3)
    for fn in (metrics.accuracy, metrics.balanced_accuracy, metrics.f1_macro, metrics.roc_auc):
        fast = bootstrap_ci(y, p, fn, n_resamples=200, seed=7)
        slow = bootstrap_ci(y, p, lambda a, b, fn=fn: fn(a, b), n_resamples=200, seed=7)
        assert fast == pytest.approx(slow, abs=1e-12)
    # a metric given by name uses the same resamples as the function
    assert bootstrap_ci(y, p, "roc_auc", n_resamples=200, seed=7) == bootstrap_ci(
        y, p, metrics.roc_auc, n_resamples=200, seed=7
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_external_metric_undefined_resamples_are_skipped() -> None:
    # scikit-learn returns NaN (newer) or raises ValueError (older) on single-class resamples;
    # both are skipped
    y = np.array([1, 0, 0, 0, 0, 0])
    p = np.tile([0.5, 0.5], (6, 1))
    p[:, 1] = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5]
    p[:, 0] = 1 - p[:, 1]
    low, high = bootstrap_ci(y, p, lambda a, b: roc_auc_score(a, b[:, 1]), n_resamples=200)
    assert low is not None and high == pytest.approx(1.0)
    assert bootstrap_ci(y, p, metrics.roc_auc, n_resamples=200) == pytest.approx((low, high))

    def strict_auc(a: np.ndarray, b: np.ndarray) -> float:
        if len(set(a.tolist())) < 2:
            raise ValueError("Only one class present in y_true")
        return float(roc_auc_score(a, b[:, 1]))

    assert bootstrap_ci(y, p, strict_auc, n_resamples=200) == pytest.approx((low, high))


def test_undefined_everywhere_gives_none() -> None:
    y = np.zeros(5, dtype=int)
    p = np.tile([0.7, 0.3], (5, 1))
    assert bootstrap_ci(y, p, metrics.roc_auc, n_resamples=50) == (None, None)
    cis = headline_cis(y, p, ["neg", "pos"], n_resamples=50)
    assert cis["roc_auc"] == {
        "value": None,
        "low": None,
        "high": None,
        "confidence": 0.95,
        "n_resamples": 50,
        "method": "newcombe",
        "unit": "image",
        "n_units": 5,
        "note": "undefined: every one of the 5 cases is of class 'neg'; an AUC needs cases of at least two classes",
    }
    assert cis["accuracy"]["value"] == 1.0


def test_proportions_get_wilson_intervals_that_do_not_collapse_on_small_test_sets() -> None:
    """7 of 7 test images right: the percentile bootstrap said "1.000 (1.000-1.000)" (every resample is 7/7);
    the Wilson score interval is 0.646-1.000 (the textbook value)."""
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.where(y[:, None] == np.arange(2), 0.9, 0.1)
    cis = headline_cis(y, p, ["neg", "pos"], n_resamples=200)
    assert cis["accuracy"]["low"] == pytest.approx(0.6457, abs=1e-4) and cis["accuracy"]["high"] == 1.0
    assert cis["sensitivity"]["low"] == pytest.approx(0.5101, abs=1e-4)  # 4 of 4 positives
    assert cis["specificity"]["low"] == pytest.approx(0.4385, abs=1e-4)  # 3 of 3 negatives
    assert {k: v["method"] for k, v in cis.items()} == {
        "accuracy": "wilson",
        "balanced_accuracy": "mover-wilson",
        "f1_macro": "bootstrap",
        "roc_auc": "newcombe",
        "sensitivity": "wilson",
        "specificity": "wilson",
    }
    from medimg.evaluation.bootstrap import wilson_interval

    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)


def test_headline_cis_keys_and_consistency() -> None:
    y, p = _data(300)
    cis = headline_cis(y, p, ["neg", "pos"], n_resamples=300, confidence=0.9, seed=1)
    assert set(cis) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "sensitivity", "specificity"}
    for name, entry in cis.items():
        assert entry["low"] <= entry["value"] <= entry["high"], name
        assert entry["value"] == pytest.approx(getattr(metrics, name)(y, p))
        assert entry["confidence"] == 0.9
    assert (cis["f1_macro"]["low"], cis["f1_macro"]["high"]) == bootstrap_ci(
        y, p, metrics.f1_macro, n_resamples=300, confidence=0.9, seed=1
    )
    y3, p3 = _data(200, k=3)
    assert set(headline_cis(y3, p3, ["a", "b", "c"], n_resamples=50)) == {
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "roc_auc",
    }


def test_seed_reproducibility_and_wider_interval_for_higher_confidence() -> None:
    y, p = _data(200)
    assert bootstrap_ci(y, p, metrics.accuracy, seed=5) == bootstrap_ci(y, p, metrics.accuracy, seed=5)
    lo90, hi90 = bootstrap_ci(y, p, metrics.accuracy, confidence=0.9)
    lo99, hi99 = bootstrap_ci(y, p, metrics.accuracy, confidence=0.99)
    assert lo99 <= lo90 and hi99 >= hi90 and (hi99 - lo99) > (hi90 - lo90)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_resamples": 0}, "n_resamples"),
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": 0}, "confidence"),
    ],
)
def test_option_validation(kwargs: dict, match: str) -> None:
    y, p = _data(20)
    with pytest.raises(ConfigError, match=match):
        bootstrap_ci(y, p, metrics.accuracy, **kwargs)


def test_unknown_metric_name_and_bad_inputs() -> None:
    y, p = _data(20)
    with pytest.raises(ConfigError, match="unknown metric"):
        bootstrap_ci(y, p, "auroc")
    with pytest.raises(ConfigError, match="rows"):
        bootstrap_ci(y[:-1], p, metrics.accuracy)
    with pytest.raises(ConfigError, match="class names"):
        headline_cis(y, p, ["a", "b", "c"])
