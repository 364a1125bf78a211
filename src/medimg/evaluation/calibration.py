"""Calibration of predicted probabilities: reliability bins and expected calibration error (ECE).

The *confidence* of a prediction is its largest class probability; a well-calibrated model is right 80 % of
the time on the cases where it says 0.8. Bins are equal-width over ``[0, 1]`` and closed on the right
(``(0, 1/M], (1/M, 2/M], ...``; a confidence of exactly 0 falls in the first bin), as in Guo et al., "On
Calibration of Modern Neural Networks" (2017).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medimg.errors import ConfigError
from medimg.evaluation.inputs import validate_inputs

__all__ = ["ReliabilityBins", "expected_calibration_error", "reliability_bins"]


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of a reliability diagram.

    Attributes:
        edges: ``(M + 1,)`` float64 bin edges from 0 to 1.
        counts: ``(M,)`` int64 number of cases per bin.
        mean_confidence: ``(M,)`` float64 mean max-probability per bin; NaN for empty bins.
        accuracy: ``(M,)`` float64 fraction of correct predictions per bin; NaN for empty bins.
        n: Total number of cases.
    """

    edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    mean_confidence: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    n: int

    @property
    def ece(self) -> float:
        """Expected calibration error: ``sum_b (n_b / N) * |accuracy_b - confidence_b|``."""
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.mean_confidence[filled])
        return float(np.sum(self.counts[filled] / self.n * gaps))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; empty bins have ``None`` confidence and accuracy."""

        def _list(values: NDArray[np.float64]) -> list[float | None]:
            return [None if np.isnan(v) else float(v) for v in values]

        return {
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "mean_confidence": _list(self.mean_confidence),
            "accuracy": _list(self.accuracy),
            "n": self.n,
            "ece": self.ece,
        }


def reliability_bins(y_true: Any, probabilities: Any, n_bins: int = 15) -> ReliabilityBins:
    """Bin cases by confidence (max probability) and compare confidence with accuracy in each bin.

    Args:
        y_true: ``(N,)`` int class indices.
        probabilities: ``(N, K)`` float class probabilities.
        n_bins: Number of equal-width bins over ``[0, 1]`` (>= 1).

    Returns:
        The per-bin statistics; see :class:`ReliabilityBins`.

    Raises:
        ConfigError: Invalid inputs or ``n_bins``.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ConfigError(f"n_bins must be a positive integer, got {n_bins!r}")
    y, p = validate_inputs(y_true, probabilities)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    counts = np.bincount(index, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(index, weights=correct, minlength=n_bins)
    filled = counts > 0
    mean_conf = np.divide(conf_sum, counts, out=np.full(n_bins, np.nan), where=filled)
    acc = np.divide(correct_sum, counts, out=np.full(n_bins, np.nan), where=filled)
    return ReliabilityBins(edges=edges, counts=counts, mean_confidence=mean_conf, accuracy=acc, n=int(y.size))


def expected_calibration_error(y_true: Any, probabilities: Any, n_bins: int = 15) -> float:
    """Expected calibration error of the max-probability confidence.

    Args:
        y_true: ``(N,)`` int class indices.
        probabilities: ``(N, K)`` float class probabilities.
        n_bins: Number of equal-width bins over ``[0, 1]``.

    Returns:
        ECE in ``[0, 1]``: the case-weighted mean gap between confidence and accuracy over bins.
    """
    return reliability_bins(y_true, probabilities, n_bins).ece
