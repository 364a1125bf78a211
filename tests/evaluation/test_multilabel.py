"""Multi-label metrics against scikit-learn, their bootstrap intervals, and the operating points chosen on
validation (checked by brute force over every threshold)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from medimg.errors import ConfigError
from medimg.evaluation.multilabel import choose_thresholds, multilabel_cis, multilabel_metrics, target_of_rule


def _scores(n: int = 300, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < [0.05, 0.2, 0.5, 0.0][:k]).astype(np.uint8)
    p = np.clip(0.35 * y + rng.random((n, k)) * 0.7, 0, 1).round(3)  # ties on purpose
    return y, p


def test_metrics_match_scikit_learn() -> None:
    y, p = _scores()
    names = ["rare", "common", "half", "absent"]
    m = multilabel_metrics(y, p, names)
    for j, name in enumerate(names[:3]):
        row = m["per_finding"][name]
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y[:, j], p[:, j]))
        assert row["average_precision"] == pytest.approx(average_precision_score(y[:, j], p[:, j]))
        assert row["f1"] == pytest.approx(f1_score(y[:, j], p[:, j] >= 0.5))
        assert row["positives"] == int(y[:, j].sum())
    absent = m["per_finding"]["absent"]
    assert absent["roc_auc"] is None and absent["average_precision"] is None and absent["f1"] is None
    assert m["macro_auc"] == pytest.approx(np.mean([roc_auc_score(y[:, j], p[:, j]) for j in range(3)]))
    assert m["micro_auc"] == pytest.approx(roc_auc_score(y.ravel(), p.ravel()))
    assert m["exact_match"] == pytest.approx(((p >= 0.5) == y).all(axis=1).mean())
    assert m["images_without_findings"] == int((y.sum(axis=1) == 0).sum())


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_images() -> None:
    small = multilabel_cis(*_scores(n=100), ["a", "b", "c", "d"], n_resamples=300)
    large = multilabel_cis(*_scores(n=2000), ["a", "b", "c", "d"], n_resamples=300)
    for cis in (small, large):
        for key in ("macro_auc", "macro_sensitivity", "auc/b"):
            assert cis[key]["low"] <= cis[key]["value"] <= cis[key]["high"]
        assert "auc/d" not in cis  # a finding absent from the data has no AUC, hence no interval
    assert (
        large["macro_auc"]["high"] - large["macro_auc"]["low"] < small["macro_auc"]["high"] - small["macro_auc"]["low"]
    )


@pytest.mark.parametrize("rule", ["youden", "f1"])
def test_thresholds_are_the_best_cut_on_validation(rule: str) -> None:
    y, p = _scores(n=400, k=3, seed=3)
    chosen = choose_thresholds(y, p, rule)  # type: ignore[arg-type]
    for j, t in enumerate(chosen):
        truth = y[:, j].astype(bool)

        def gain(cut: float, truth: np.ndarray = truth, j: int = j) -> float:
            pred = p[:, j] >= cut
            tp, fp = int((pred & truth).sum()), int((pred & ~truth).sum())
            fn, tn = int((~pred & truth).sum()), int((~pred & ~truth).sum())
            if rule == "youden":
                return tp / (tp + fn) + tn / (tn + fp) - 1
            return 2 * tp / (2 * tp + fp + fn)

        best = max(gain(c) for c in np.unique(p[:, j]))
        assert gain(t) == pytest.approx(best)
        assert t not in set(p[:, j].tolist())  # between two scores, never on one
    assert choose_thresholds(y, p, "fixed") == [0.5, 0.5, 0.5]
    assert choose_thresholds(np.zeros((5, 1)), np.full((5, 1), 0.3), "youden") == [0.5]  # cannot be judged


@pytest.mark.parametrize("rule", ["specificity:0.9", "sensitivity:0.95", "specificity:90%"])
def test_a_screening_operating_point_is_the_best_cut_reaching_its_rate(rule: str) -> None:
    """Screening papers report "sensitivity at 90% specificity": only youden and f1 could be chosen."""
    y, p = _scores(n=400, k=3, seed=3)
    chosen = choose_thresholds(y, p, rule)
    name, rate = target_of_rule(rule) or ("", 0.0)
    for j, t in enumerate(chosen):
        truth = y[:, j].astype(bool)

        def rates(cut: float, truth: np.ndarray = truth, j: int = j) -> tuple[float, float]:
            pred = p[:, j] >= cut
            return (pred & truth).sum() / truth.sum(), (~pred & ~truth).sum() / (~truth).sum()

        sensitivity, specificity = rates(t)
        cuts = [rates(c) for c in np.unique(p[:, j])]
        if name == "specificity":
            assert specificity >= rate and sensitivity == max(se for se, sp in cuts if sp >= rate)
        else:
            assert sensitivity >= rate and specificity == max(sp for se, sp in cuts if se >= rate)
    with pytest.raises(ValueError, match="at most 1"):
        target_of_rule("specificity:1.5")
    assert target_of_rule("sensitivity:1") == ("sensitivity", 1.0)  # every positive found: a valid screening aim


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ConfigError, match="must be 0/1"):
        multilabel_metrics(np.full((2, 2), 2), np.zeros((2, 2)), ["a", "b"])
    with pytest.raises(ConfigError, match="apply a sigmoid"):
        multilabel_metrics(np.zeros((2, 2)), np.full((2, 2), 3.0), ["a", "b"])


def test_validation_summaries_are_the_reports_numbers() -> None:
    from medimg.evaluation.multilabel import validation_summaries

    y, p = _scores()
    full = multilabel_metrics(y, p, ["a", "b", "c", "d"])
    quick = validation_summaries(y, p)
    for key in ("macro_auc", "macro_sensitivity", "macro_specificity", "label_accuracy"):
        assert quick[key] == pytest.approx(full[key])


def test_a_perfectly_called_small_set_gets_no_zero_width_interval() -> None:
    """12 test images all called right printed 'macro AUC 1.000 (95% CI 1.000-1.000)', read as certainty; the
    single-label report said 'no 95% CI' for such a metric since cd5f92b, the multi-label one did not."""
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 3)
    p = np.where(y == 1, 0.9, 0.1)
    cis = multilabel_cis(y, p, ["a", "b"], n_resamples=50)
    entry = cis["macro_auc"]
    assert entry["low"] is None and entry["high"] is None and "every bootstrap resample" in entry["note"]
