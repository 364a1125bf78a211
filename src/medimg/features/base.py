"""Shared machinery of the image feature transformers (scikit-learn estimator contract).

Every transformer: ``__init__`` only stores its arguments, ``fit(X)`` learns the number of channels and the
feature names (``n_channels_``, ``feature_names_``) and returns ``self``, ``transform(X)`` returns
``(N, n_features)`` float64, and ``get_feature_names_out()`` names the columns. Features are computed per
image, so a fitted transformer carries no data-dependent statistics beyond what ``fitted_settings()`` names
(radiomics' bin width, part of the cache key), and extraction can be cached and parallelised per image.

Values that are undefined for an image (a region missing from its mask, a statistic of a constant region
where the definition divides by zero) are NaN in the matrix, never silently replaced here: the classical
pipeline's :class:`~medimg.features.finite.FiniteFeatures` step imputes them with the training median and
the run reports how many were replaced.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from medimg.errors import DatasetError
from medimg.features.samples import ImageSample, as_samples


class ImageFeatureTransformer(TransformerMixin, BaseEstimator):
    """Base class: subclasses implement :meth:`_names` and :meth:`_extract`."""

    #: Whether images with another channel count than the fitted one are accepted (converted by the subclass).
    _any_channels = False

    def _names(self, channels: int, spatial_dims: int) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _extract(self, sample: ImageSample) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_sample(self, sample: ImageSample) -> None:
        """Subclass hook: raise for inputs this transformer cannot use."""

    def fit(self, X: Any, y: Any = None) -> ImageFeatureTransformer:
        """Learn the channel count and feature names from the first image; returns ``self``."""
        samples = as_samples(X)
        first = samples[0]
        self._check_sample(first)
        self.n_channels_ = first.channels
        self.spatial_dims_ = first.spatial_dims
        self.feature_names_ = self._names(first.channels, first.spatial_dims)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``(N, n_features)`` float64 features of the images ``X`` (NaN where a value is undefined)."""
        check_is_fitted(self, "feature_names_")
        samples = as_samples(X)
        out = np.empty((len(samples), len(self.feature_names_)), dtype=np.float64)
        for i, sample in enumerate(samples):
            channels_differ = sample.channels != self.n_channels_ and not self._any_channels
            if channels_differ or sample.spatial_dims != self.spatial_dims_:
                raise DatasetError(
                    f"{sample.source or f'image {i}'} has {sample.channels} channel(s) and {sample.spatial_dims} "
                    f"spatial dims, but the transformer was fitted on {self.n_channels_} and {self.spatial_dims_}"
                )
            self._check_sample(sample)
        return self._extract_many(samples, out)

    def _extract_many(self, samples: list[ImageSample], out: np.ndarray) -> np.ndarray:
        """Fill ``out`` row by row; subclasses may vectorise over the batch."""
        for i, sample in enumerate(samples):
            out[i] = self._extract(sample)
        return out

    def fitted_settings(self) -> dict[str, Any]:
        """What ``fit`` learnt that changes the features' values (beyond channels and names), e.g. radiomics'
        bin width: part of the feature cache key."""
        return {}

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_")
        return np.asarray(self.feature_names_, dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags


def quantise(gray: np.ndarray, roi: np.ndarray, levels: int, intensity_range: tuple[float, float] | None) -> np.ndarray:
    """Grey levels ``1..levels`` inside ``roi`` and ``0`` outside, as uint16.

    The range is ``intensity_range`` when given (fixed, comparable across images), otherwise the ROI's
    1st-99th percentile (robust per-image normalisation). A constant ROI maps to level 1.
    """
    values = gray[roi]
    if intensity_range is None:
        low, high = (float(v) for v in np.percentile(values, [1, 99]))
    else:
        low, high = float(intensity_range[0]), float(intensity_range[1])
    scale = levels / (high - low) if high > low else 0.0
    q = np.floor((gray - low) * scale).clip(0, levels - 1).astype(np.uint16) + 1
    q[~roi] = 0
    return q
