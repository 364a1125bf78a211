"""Validation of classification inputs shared by every :mod:`medimg.evaluation` module.

``y_true`` is an ``(N,)`` integer array of class indices in ``[0, K)`` and ``probabilities`` an ``(N, K)`` float
array (one column per class); :func:`validate_inputs` checks both and converts them to int64 / float64. This
module sits below :mod:`medimg.evaluation.metrics` and :mod:`medimg.evaluation.calibration`, so both can use it
without importing each other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medimg.errors import ConfigError

__all__ = ["FloatArray", "IntArray", "validate_inputs"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_RANGE_TOLERANCE = 1e-6
_ROW_SUM_TOLERANCE = 1e-3


def validate_inputs(
    y_true: Any, probabilities: Any, class_names: Sequence[str] | None = None
) -> tuple[IntArray, FloatArray]:
    """Check and convert classification inputs.

    Args:
        y_true: ``(N,)`` class indices (any integer dtype; integral floats are accepted).
        probabilities: ``(N, K)`` class probabilities, finite and within ``[0, 1]``, ``K >= 2``.
        class_names: Optional ``K`` unique class names; when given, ``K`` must equal its length.

    Returns:
        ``(y, p)``: ``y`` as an ``(N,)`` int64 array and ``p`` as an ``(N, K)`` float64 array.

    Raises:
        ConfigError: Wrong shapes or dtypes, mismatched ``N``, ``K != len(class_names)``, labels outside
            ``[0, K)``, non-finite probabilities or values outside ``[0, 1]``.
    """
    y = np.asarray(y_true)
    if y.ndim != 1:
        hint = " (one-hot labels? pass y.argmax(axis=1))" if y.ndim == 2 else ""
        raise ConfigError(f"y_true must be a 1-D array (N,) of class indices, got shape {y.shape}{hint}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)):
            raise ConfigError("y_true must hold integer class indices; it has non-integral or non-finite values")
        y = y.astype(np.int64)
    elif y.dtype.kind in "biu":
        y = y.astype(np.int64)
    else:
        raise ConfigError(f"y_true must hold integer class indices, got dtype {y.dtype}")

    try:
        p = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"probabilities must be a numeric (N, K) array: {exc}") from exc
    if p.ndim != 2:
        hint = (
            "; for a binary task with one positive-class score per case pass np.stack([1 - p, p], axis=1)"
            if p.ndim == 1
            else ""
        )
        raise ConfigError(f"probabilities must be a 2-D array (N, K), got shape {p.shape}{hint}")
    n, k = p.shape
    if y.shape[0] != n:
        raise ConfigError(
            f"y_true has {y.shape[0]} cases but probabilities has {n} rows; they must describe the same cases"
        )
    if n == 0:
        raise ConfigError("cannot evaluate an empty set of cases (N = 0)")
    if k < 2:
        raise ConfigError(f"probabilities must have at least 2 columns (one per class), got {k}")
    if class_names is not None:
        names = [str(c) for c in class_names]
        if len(names) != k:
            raise ConfigError(
                f"probabilities has {k} columns but {len(names)} class names were given ({names}); "
                "pass exactly one name per column, in column order"
            )
        duplicates = sorted({c for c in names if names.count(c) > 1})
        if duplicates:
            raise ConfigError(f"class names must be unique; duplicated: {duplicates}")
    finite = np.isfinite(p)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise ConfigError(
            f"probabilities contain NaN or infinite values in {bad_rows.size} row(s) "
            f"(first: row {bad_rows[0]}); "
            "check the model output for numerical problems"
        )
    if p.min() < -_RANGE_TOLERANCE or p.max() > 1 + _RANGE_TOLERANCE:
        raise ConfigError(
            f"probabilities must lie in [0, 1], got values from {p.min():.4g} to {p.max():.4g}; "
            "if these are logits apply a softmax first"
        )
    p = np.clip(p, 0.0, 1.0)
    bad_labels = (y < 0) | (y >= k)
    if bad_labels.any():
        values = sorted({int(v) for v in y[bad_labels]})[:10]
        raise ConfigError(
            f"y_true has labels outside [0, {k - 1}] for {k} classes: {values}; "
            "labels must be column indices into probabilities"
        )
    row_sums = p.sum(axis=1)
    off = np.abs(row_sums - 1.0) > _ROW_SUM_TOLERANCE
    if off.any():
        logger.warning(
            "%d of %d probability rows do not sum to 1 (e.g. row %d sums to %.4f); "
            "metrics use them as they are, but calibration numbers assume a softmax output",
            int(off.sum()),
            n,
            int(np.flatnonzero(off)[0]),
            float(row_sums[off][0]),
        )
    return y, p
