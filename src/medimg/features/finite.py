"""The guard between feature extraction and a classifier: no NaN or inf ever reaches the model."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class FiniteFeatures(TransformerMixin, BaseEstimator):
    """Replace non-finite feature values (NaN, ±inf) by the column's training median, and drop columns
    that are never finite in training.

    This is the documented fallback for a feature that comes out undefined for some images (a mask label
    missing in one cell, a statistic of a constant region): the value is imputed, and the counts are kept in
    ``nonfinite_counts_`` (training) and ``last_replaced_`` (last ``transform``) so runs can report them.

    Attributes:
        medians_: ``(n_features_in_,)`` median of the finite training values per column (0 where none).
        keep_: ``(n_features_in_,)`` bool, columns with at least one finite training value.
        nonfinite_counts_: ``(n_features_in_,)`` int, non-finite values per column in the training data.
        last_replaced_: number of values replaced by the last ``transform``.
    """

    def fit(self, X: Any, y: Any = None) -> FiniteFeatures:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False)
        finite = np.isfinite(X)
        self.nonfinite_counts_ = (~finite).sum(axis=0)
        self.keep_ = finite.any(axis=0)
        masked = np.where(finite, X, np.nan)
        medians = np.zeros(X.shape[1])
        if self.keep_.any():
            medians[self.keep_] = np.nanmedian(masked[:, self.keep_], axis=0)
        self.medians_ = medians
        self.last_replaced_ = 0
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "medians_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        bad = ~np.isfinite(X)
        self.last_replaced_ = int(bad[:, self.keep_].sum())
        out = np.where(bad, self.medians_, X)
        return np.asarray(out[:, self.keep_], dtype=np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "medians_")
        names = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return np.asarray(names, dtype=object)[self.keep_]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
