"""First-order (histogram) statistics of the intensities inside a region of interest."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medimg.features.base import ImageFeatureTransformer
from medimg.features.samples import ImageSample

#: Statistic names, in column order.
FIRST_ORDER_STATS: tuple[str, ...] = (
    "mean",
    "sd",
    "variance",
    "min",
    "max",
    "range",
    "p10",
    "p25",
    "median",
    "p75",
    "p90",
    "iqr",
    "mean_abs_dev",
    "skewness",
    "kurtosis",
    "entropy",
    "uniformity",
    "energy",
    "rms",
)


def first_order_stats(values: np.ndarray, bins: int = 32) -> np.ndarray:
    """First-order statistics of each row of ``values``, vectorised over rows.

    Args:
        values: ``(N, P)`` float: ``N`` regions of ``P`` intensities each (a batch of equal-size images), or
            ``(P,)`` for one region.
        bins: histogram bins (between the row's min and max) for ``entropy`` (bits) and ``uniformity``.

    Returns:
        ``(N, len(FIRST_ORDER_STATS))`` float64 (``(len(FIRST_ORDER_STATS),)`` for 1D input). ``energy`` is the
        sum of squared intensities (IBSI); ``kurtosis`` is the excess kurtosis. For a constant region the
        skewness and kurtosis are defined as 0 (the formulas divide by a zero variance). An empty region
        gives a row of NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    single = x.ndim == 1
    x = np.atleast_2d(x)
    n, p = x.shape
    if p == 0:
        out = np.full((n, len(FIRST_ORDER_STATS)), np.nan)
        return out[0] if single else out
    mean = x.mean(axis=1)
    centred = x - mean[:, None]
    var = (centred**2).mean(axis=1)
    sd = np.sqrt(var)
    lo, hi = x.min(axis=1), x.max(axis=1)
    pct = np.percentile(x, [10, 25, 50, 75, 90], axis=1)
    safe_sd = np.where(sd > 0, sd, 1.0)
    skew = np.where(sd > 0, (centred**3).mean(axis=1) / safe_sd**3, 0.0)
    kurt = np.where(sd > 0, (centred**4).mean(axis=1) / safe_sd**4 - 3.0, 0.0)
    width = np.where(hi > lo, hi - lo, 1.0)
    idx = np.clip(((x - lo[:, None]) / width[:, None] * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount((idx + (np.arange(n) * bins)[:, None]).ravel(), minlength=n * bins).reshape(n, bins)
    prob = counts / p
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(prob > 0, prob * np.log2(prob), 0.0).sum(axis=1)
    energy = (x**2).sum(axis=1)
    out = np.stack(
        [
            mean,
            sd,
            var,
            lo,
            hi,
            hi - lo,
            *pct,
            pct[3] - pct[1],
            np.abs(centred).mean(axis=1),
            skew,
            kurt,
            entropy,
            (prob**2).sum(axis=1),
            energy,
            np.sqrt(energy / p),
        ],
        axis=1,
    )
    return out[0] if single else out


class FirstOrderFeatures(ImageFeatureTransformer):
    """First-order statistics per channel in the region of interest (whole image without a mask).

    Args:
        bins: histogram bins for entropy and uniformity.
        labels: mask labels that also get their own statistics (e.g. ``(1, 2)`` for nucleus and cytoplasm);
            an image whose mask lacks a label gets NaN for that label's columns.

    Example:
        >>> import numpy as np
        >>> FirstOrderFeatures().fit_transform(np.zeros((2, 8, 8))).shape
        (2, 19)
    """

    def __init__(self, bins: int = 32, labels: Sequence[int] = ()) -> None:
        self.bins = bins
        self.labels = labels

    def _regions(self) -> list[tuple[str, int | None]]:
        return [("roi", None), *[(f"label{int(v)}", int(v)) for v in self.labels]]

    def _names(self, channels: int, spatial_dims: int) -> list[str]:
        return [
            f"{stat}_ch{c}_{region}"
            for region, _ in self._regions()
            for c in range(channels)
            for stat in FIRST_ORDER_STATS
        ]

    def _extract(self, sample: ImageSample) -> np.ndarray:
        parts = []
        for _, label in self._regions():
            if label is None:
                region = sample.roi()
            else:
                region = sample.mask == label if sample.mask is not None else np.zeros(sample.image.shape[1:], bool)
            values = sample.image[:, region]  # (C, P)
            parts.append(first_order_stats(values, self.bins).ravel())
        return np.concatenate(parts)

    def _extract_many(self, samples: list[ImageSample], out: np.ndarray) -> np.ndarray:
        shapes = {s.image.shape for s in samples}
        if self.labels or len(shapes) > 1 or any(s.mask is not None for s in samples):
            return super()._extract_many(samples, out)
        # Equal-size images without masks (e.g. MedMNIST): one vectorised call over every image and channel.
        stack = np.stack([s.image.reshape(s.channels, -1) for s in samples])  # (N, C, P)
        n, c, p = stack.shape
        out[:] = first_order_stats(stack.reshape(n * c, p), self.bins).reshape(n, -1)
        return out
