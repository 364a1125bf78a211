"""Paired tests of the difference between two classifiers on the same cases.

* :func:`delong_test`: DeLong, DeLong & Clarke-Pearson (1988) test of two correlated ROC AUCs (binary), with
  the fast structural-components algorithm of Sun & Xu (2014).
* :func:`paired_bootstrap`: resample cases with replacement (the same resample for both models) and take the
  percentile interval of the metric difference; the two-sided p-value is twice the smaller share of
  resampled differences on either side of zero. Works for any metric in
  :data:`medimg.evaluation.metrics.BATCH_METRIC_NAMES` and for multi-class problems.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medimg.errors import ConfigError
from medimg.evaluation import metrics as _m
from medimg.evaluation.inputs import validate_inputs

__all__ = ["PairedTest", "delong_test", "paired_bootstrap"]


@dataclass
class PairedTest:
    """Result of a paired comparison of model A against model B (``difference = A - B``)."""

    method: str
    metric: str
    value_a: float
    value_b: float
    difference: float
    low: float | None
    high: float | None
    p_value: float | None
    n: int
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _midrank(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    n = len(x)
    ranks = np.empty(n, dtype=np.float64)
    i = 0
    while i < n:
        j = i
        while j < n and sorted_x[j] == sorted_x[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(n, dtype=np.float64)
    out[order] = ranks
    return out


def delong_test(y_true: Any, score_a: Any, score_b: Any, *, confidence: float = 0.95) -> PairedTest:
    """DeLong test of ``AUC(A) - AUC(B)`` for binary labels (``1`` positive) and scores of the positive class.

    Returns:
        :class:`PairedTest` with the AUCs, their difference, its normal-approximation confidence interval and
        the two-sided p-value (``None`` when the difference has zero variance, e.g. identical scores).

    Raises:
        ConfigError: labels are not binary with both classes present, or the lengths differ.
    """
    from scipy.stats import norm

    y = np.asarray(y_true).astype(np.int64).ravel()
    a = np.asarray(score_a, dtype=np.float64).ravel()
    b = np.asarray(score_b, dtype=np.float64).ravel()
    if not (y.shape == a.shape == b.shape):
        raise ConfigError(f"y_true, score_a and score_b must have the same length ({y.size}, {a.size}, {b.size})")
    if set(np.unique(y).tolist()) != {0, 1}:
        raise ConfigError("the DeLong test needs binary labels 0/1 with both classes present")
    positive, negative = y == 1, y == 0
    m, n = int(positive.sum()), int(negative.sum())
    aucs, v10, v01 = [], [], []
    for scores in (a, b):
        x, z = scores[positive], scores[negative]
        tx, tz, tall = _midrank(x), _midrank(z), _midrank(np.concatenate([x, z]))
        auc = (tall[:m].sum() - m * (m + 1) / 2) / (m * n)
        aucs.append(auc)
        v10.append((tall[:m] - tx) / n)
        v01.append(1.0 - (tall[m:] - tz) / m)
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    cov = s10 / m + s01 / n
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[0] - aucs[1])
    if variance <= 1e-15:
        low = high = diff
        p_value = None if diff == 0 else 0.0
        z_stat = None
    else:
        se = math.sqrt(variance)
        z_stat = diff / se
        p_value = float(2 * norm.sf(abs(z_stat)))
        q = float(norm.ppf(0.5 + confidence / 2))
        low, high = diff - q * se, diff + q * se
    return PairedTest(
        method="delong",
        metric="roc_auc",
        value_a=float(aucs[0]),
        value_b=float(aucs[1]),
        difference=diff,
        low=float(low),
        high=float(high),
        p_value=p_value,
        n=int(y.size),
        details={"z": z_stat, "confidence": confidence, "positives": m, "negatives": n},
    )


def paired_bootstrap(
    y_true: Any,
    probabilities_a: Any,
    probabilities_b: Any,
    *,
    metric: str = "roc_auc",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedTest:
    """Paired bootstrap of ``metric(A) - metric(B)``; both models see the same resampled cases.

    Args:
        y_true: ``(N,)`` class indices.
        probabilities_a, probabilities_b: ``(N, K)`` class probabilities of the two models, same case order.
        metric: a name of :data:`~medimg.evaluation.metrics.BATCH_METRIC_NAMES` (``"roc_auc"``,
            ``"accuracy"``, ``"balanced_accuracy"``, ``"f1_macro"``...).

    Raises:
        ConfigError: shapes differ, an unknown metric, or invalid options.
    """
    from medimg.evaluation.bootstrap import _check_options, _draw_counts, _resample_blocks

    _check_options(n_resamples, confidence)
    if metric not in _m.BATCH_METRIC_NAMES:
        raise ConfigError(f"unknown metric {metric!r}; choose from {', '.join(_m.BATCH_METRIC_NAMES)}")
    y, pa = validate_inputs(y_true, probabilities_a)
    _, pb = validate_inputs(y_true, probabilities_b)
    if pa.shape != pb.shape:
        raise ConfigError(f"the two models' probabilities differ in shape: {pa.shape} vs {pb.shape}")
    n = y.shape[0]
    ones = np.ones((1, n))
    value_a = float(_m.batch_metrics([metric], ones, y, pa)[metric][0])
    value_b = float(_m.batch_metrics([metric], ones, y, pb)[metric][0])
    diffs = []
    for indices in _resample_blocks(n, int(n_resamples), seed):
        weights = _draw_counts(indices, n)
        diffs.append(
            _m.batch_metrics([metric], weights, y, pa)[metric] - _m.batch_metrics([metric], weights, y, pb)[metric]
        )
    d = np.concatenate(diffs)
    d = d[np.isfinite(d)]
    if d.size == 0:
        low = high = p_value = None
    else:
        alpha = (1 - confidence) / 2
        low, high = (float(v) for v in np.quantile(d, [alpha, 1 - alpha]))
        p_value = float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean())))
    return PairedTest(
        method="paired-bootstrap",
        metric=metric,
        value_a=value_a,
        value_b=value_b,
        difference=value_a - value_b,
        low=low,
        high=high,
        p_value=p_value,
        n=int(n),
        details={
            "n_resamples": int(n_resamples),
            "valid_resamples": int(d.size),
            "confidence": confidence,
            "seed": seed,
        },
    )
