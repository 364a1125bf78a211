"""Paired tests of the difference between two classifiers on the same cases.

* :func:`delong_test`: DeLong, DeLong & Clarke-Pearson (1988) test of two correlated ROC AUCs (binary), from
  the structural components (placement values); with patient ids, Obuchowski's (1997) clustered version.
* :func:`paired_bootstrap`: resample cases with replacement (the same resample for both models) and take the
  percentile interval of the metric difference; the two-sided p-value is twice the smaller share of
  resampled differences on either side of zero. Works for any metric in
  :data:`medimg.evaluation.metrics.BATCH_METRIC_NAMES` and for multi-class problems. With patient ids whole
  patients are resampled (the cluster bootstrap).

Several images of one patient are not independent: give both tests the patient ids (``groups``) or their
intervals and p-values are too optimistic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def delong_test(
    y_true: Any,
    score_a: Any,
    score_b: Any,
    *,
    confidence: float = 0.95,
    groups: Sequence[Any] | None = None,
) -> PairedTest:
    """DeLong test of ``AUC(A) - AUC(B)`` for binary labels (``1`` positive) and scores of the positive class.

    With ``groups`` (a patient id per case) it is Obuchowski's (1997) clustered version: the variance of the
    difference is taken between patients, so several images of one patient count once; with one image per
    patient it is DeLong's test exactly.

    Returns:
        :class:`PairedTest` with the AUCs, their difference, its normal-approximation confidence interval and
        the two-sided p-value (``None`` when the difference has zero variance, e.g. identical scores).

    Raises:
        ConfigError: labels are not binary with both classes present, or the lengths differ.
    """
    from scipy.stats import norm

    from medimg.evaluation.auc_variance import auc_covariance
    from medimg.evaluation.bootstrap import cluster_codes, n_units

    y = np.asarray(y_true).astype(np.int64).ravel()
    a = np.asarray(score_a, dtype=np.float64).ravel()
    b = np.asarray(score_b, dtype=np.float64).ravel()
    if not (y.shape == a.shape == b.shape):
        raise ConfigError(f"y_true, score_a and score_b must have the same length ({y.size}, {a.size}, {b.size})")
    if set(np.unique(y).tolist()) != {0, 1}:
        raise ConfigError("the DeLong test needs binary labels 0/1 with both classes present")
    codes = cluster_codes(groups, y.size)
    aucs, cov = auc_covariance(y == 1, np.vstack([a, b]), codes)
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
        method="delong" if codes is None else "delong-clustered",
        metric="roc_auc",
        value_a=float(aucs[0]),
        value_b=float(aucs[1]),
        difference=diff,
        low=float(low),
        high=float(high),
        p_value=p_value,
        n=int(y.size),
        details={
            "z": z_stat,
            "confidence": confidence,
            "positives": int((y == 1).sum()),
            "negatives": int((y == 0).sum()),
            "unit": "image" if codes is None else "patient",
            "n_units": n_units(codes, y.size),
        },
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
    groups: Sequence[Any] | None = None,
) -> PairedTest:
    """Paired bootstrap of ``metric(A) - metric(B)``; both models see the same resampled cases.

    Args:
        y_true: ``(N,)`` class indices.
        probabilities_a, probabilities_b: ``(N, K)`` class probabilities of the two models, same case order.
        metric: a name of :data:`~medimg.evaluation.metrics.BATCH_METRIC_NAMES` (``"roc_auc"``,
            ``"accuracy"``, ``"balanced_accuracy"``, ``"f1_macro"``...).
        groups: Optional ``N`` patient ids: whole patients are resampled (the cluster bootstrap).

    Raises:
        ConfigError: shapes differ, an unknown metric, or invalid options.
    """
    from medimg.evaluation.bootstrap import _check_options, cluster_codes, n_units, resample_weights

    _check_options(n_resamples, confidence)
    if metric not in _m.BATCH_METRIC_NAMES:
        raise ConfigError(f"unknown metric {metric!r}; choose from {', '.join(_m.BATCH_METRIC_NAMES)}")
    y, pa = validate_inputs(y_true, probabilities_a)
    _, pb = validate_inputs(y_true, probabilities_b)
    if pa.shape != pb.shape:
        raise ConfigError(f"the two models' probabilities differ in shape: {pa.shape} vs {pb.shape}")
    n = y.shape[0]
    codes = cluster_codes(groups, n)
    ones = np.ones((1, n))
    value_a = float(_m.batch_metrics([metric], ones, y, pa)[metric][0])
    value_b = float(_m.batch_metrics([metric], ones, y, pb)[metric][0])
    diffs = []
    for weights in resample_weights(n, int(n_resamples), seed, codes):
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
            "unit": "image" if codes is None else "patient",
            "n_units": n_units(codes, n),
        },
    )
