"""Variance and confidence interval of binary ROC AUCs, for independent images or images clustered by patient.

* :func:`auc_covariance`: the AUCs of several scores of the same cases and their covariance matrix from the
  structural components (placement values) of DeLong, DeLong & Clarke-Pearson (1988). With patient ids it is
  Obuchowski's (1997) clustered estimator: placement values are summed per patient and the variance is taken
  between patients, so the several images of one patient count as one draw. With one image per patient it
  is exactly DeLong's.
* :func:`auc_interval`: the score-type interval of Newcombe (2006, "Confidence intervals for an effect size
  measure based on the Mann-Whitney statistic. Part 2", Stat Med 25:559-573, method 5): the Hanley & McNeil
  (1982) variance with the numbers of positives and negatives replaced by their mean, solved for the AUC at
  each bound as Wilson's interval is for a proportion. It stays honest at the edge: a perfect AUC on 1
  positive and 1 negative is "1.000 (0.207-1.000)" (the percentile bootstrap says "1.000-1.000", since every
  resample separates perfectly too). With patient ids the numbers of positives and negatives are divided by
  the design effect: Obuchowski's clustered variance over DeLong's (the Rao & Scott 1992 idea for the AUC);
  where both are 0 (a perfect AUC) the design effect of identical images within a patient is used.

References:
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
    Obuchowski NA (1997). Nonparametric analysis of clustered ROC curve data. Biometrics 53:567-578.
    Newcombe RG (2006). Stat Med 25:559-573.
    Hanley JA, McNeil BJ (1982). Radiology 143:29-36.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["auc_covariance", "auc_interval"]


def _midrank(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mid-ranks (1-based; ties share their mean rank) of ``x``."""
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


def auc_covariance(
    positive: NDArray[np.bool_], scores: NDArray[np.float64], codes: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AUCs of ``scores`` and their covariance (DeLong; Obuchowski's clustered estimator with ``codes``).

    Args:
        positive: ``(N,)`` bool, True for the positive cases; both classes must be present.
        scores: ``(R, N)`` float64 scores of the positive class, one row per model.
        codes: ``(N,)`` int64 patient index of each case (0..G-1), or ``None`` for independent cases.

    Returns:
        ``(aucs (R,), covariance (R, R))``.
    """
    m, n = int(positive.sum()), int((~positive).sum())
    if codes is None:
        codes = np.arange(positive.size, dtype=np.int64)
    groups = int(codes.max()) + 1
    codes_pos, codes_neg = codes[positive], codes[~positive]
    v10 = np.empty((scores.shape[0], m))  # placement of each positive among the negatives
    v01 = np.empty((scores.shape[0], n))  # placement of each negative among the positives
    for r, row in enumerate(scores):
        x, z = row[positive], row[~positive]
        tall = _midrank(np.concatenate([x, z]))
        v10[r] = (tall[:m] - _midrank(x)) / n
        v01[r] = 1.0 - (tall[m:] - _midrank(z)) / m
    aucs = v10.mean(axis=1)
    # per-patient sums of the placements, minus their expectation under the AUC (Obuchowski 1997, eq. 3-5)
    m_i = np.bincount(codes_pos, minlength=groups).astype(np.float64)
    n_i = np.bincount(codes_neg, minlength=groups).astype(np.float64)
    e10 = np.stack([np.bincount(codes_pos, weights=v, minlength=groups) for v in v10]) - aucs[:, None] * m_i
    e01 = np.stack([np.bincount(codes_neg, weights=v, minlength=groups) for v in v01]) - aucs[:, None] * n_i
    g10, g01 = int((m_i > 0).sum()), int((n_i > 0).sum())
    s10 = g10 / max(g10 - 1, 1) / m * (e10 @ e10.T)
    s01 = g01 / max(g01 - 1, 1) / n * (e01 @ e01.T)
    s11 = groups / max(groups - 1, 1) * (e10 @ e01.T)
    return aucs, s10 / m + s01 / n + (s11 + s11.T) / (m * n)


def _newcombe_variance(theta: float, m: float, n: float) -> float:
    """Hanley-McNeil variance of an AUC ``theta`` with ``m`` and ``n`` replaced by their mean (Newcombe's
    method 5)."""
    mean = (m + n) / 2.0
    bracket = 1.0 + (mean - 1.0) * ((1.0 - theta) / (2.0 - theta) + theta / (1.0 + theta))
    return max(theta * (1.0 - theta) / (m * n) * bracket, 0.0)


def auc_interval(
    positive: NDArray[np.bool_],
    score: NDArray[np.float64],
    codes: NDArray[np.int64] | None = None,
    *,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Newcombe's score interval of a binary ROC AUC, with the positives and negatives counted as patients when
    ``codes`` are given (see the module docstring).

    Args:
        positive: ``(N,)`` bool, both classes present.
        score: ``(N,)`` float64 score of the positive class.
        codes: ``(N,)`` int64 patient index per case, or ``None`` for independent cases.
        confidence: Coverage.

    Returns:
        ``{"value", "low", "high", "design_effect", "effective_positives", "effective_negatives"}``.
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    m, n = float(positive.sum()), float((~positive).sum())
    aucs, cov = auc_covariance(positive, score[None, :], codes)
    value = float(aucs[0])
    deff = 1.0
    if codes is not None:
        _, cov_iid = auc_covariance(positive, score[None, :], None)
        # ICC 1 within every patient: the effective count of a class is n^2 / sum(m_i^2) (Kish 1965)
        bound = max(
            float((np.bincount(codes[positive]) ** 2).sum()) / m,
            float((np.bincount(codes[~positive]) ** 2).sum()) / n,
        )
        deff = float(cov[0, 0] / cov_iid[0, 0]) if cov_iid[0, 0] > 1e-15 else bound
        deff = min(max(deff, 1.0), m, n)
    m_eff, n_eff = m / deff, n / deff
    z = float(norm.ppf(0.5 + confidence / 2.0))
    eps = 1e-12

    def below(theta: float) -> float:
        return (value - theta) - z * math.sqrt(_newcombe_variance(theta, m_eff, n_eff))

    def above(theta: float) -> float:
        return (theta - value) - z * math.sqrt(_newcombe_variance(theta, m_eff, n_eff))

    low = 0.0 if value <= eps else float(brentq(below, 0.0, value - eps))
    high = 1.0 if value >= 1.0 - eps else float(brentq(above, value + eps, 1.0))
    return {
        "value": value,
        "low": low,
        "high": high,
        "design_effect": deff,
        "effective_positives": m_eff,
        "effective_negatives": n_eff,
    }
