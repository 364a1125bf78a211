"""Radiomics (IBSI-style) features through pyradiomics, an optional extra, on 2D and 3D images.

Pitfalls handled here so users do not meet them:

* masks with values ``0/255`` (or any single foreground value) are binarised to label 1, which pyradiomics
  expects by default; label maps keep the label asked for with ``label``;
* 2D images are passed as 2D SimpleITK images with ``force2D`` and the ``shape2D`` class instead of the 3D
  ``shape`` class (which fails on a single slice);
* without a mask the whole image is the region (padded by one pixel, since pyradiomics finds "no labels" in
  a mask that covers the whole image); colour images are reduced to luminance;
* a region pyradiomics cannot analyse (a label absent from one image's mask, a region too small) gives NaN
  columns for that image with a warning; the classical pipeline imputes and reports them;
* image and mask are built from the same array geometry (size, spacing, origin), so the "geometry
  mismatch" error cannot come from medimg; a mask of the wrong shape is rejected with the file named;
* the bin width of the grey-level discretisation is learnt at fit time from the training images' intensity
  range (``bin_count`` bins over their 0.5th-99.5th percentiles), not pyradiomics' fixed ``binWidth=25``,
  which suits 0..255 and CT only: it put every pixel of a 0..1 image in one bin (all texture features
  constant) and gave 16-bit images about 2,600 bins. pyradiomics advises 30-130 bins; one image spans part of
  the training range, so 64 bins over the whole range give it about that many. The fitted ``bin_width_``
  is used for every image transformed afterwards (features stay comparable) and is part of the feature
  cache key; ``bin_width=25`` restores the fixed width.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from medimg.errors import ConfigError, DatasetError, MissingDependencyError
from medimg.features.base import ImageFeatureTransformer
from medimg.features.samples import ImageSample, as_samples

logger = logging.getLogger(__name__)

RADIOMICS_INSTALL = (
    "pip install numpy setuptools wheel versioneer && pip install --no-build-isolation pyradiomics==3.0.1"
)
RADIOMICS_CLASSES: tuple[str, ...] = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
#: an image spanning more bins of the learnt width is far outside the training intensities (its GLCM alone would
#: hold MAX_BINS^2 values per angle): its columns are NaN, with a warning
MAX_BINS = 1024


class RadiomicsMissingError(MissingDependencyError):
    """pyradiomics is not installed; the message gives the install recipe (3.1.0's sdist is broken)."""

    def __init__(self) -> None:
        Exception.__init__(
            self,
            "radiomics features need the optional package 'pyradiomics' (3.0.1; the 3.1.0 source package is "
            f"broken): {RADIOMICS_INSTALL}",
        )


def _extractor_module() -> Any:
    try:
        from radiomics import featureextractor
    except ImportError as error:
        raise RadiomicsMissingError() from error
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    return featureextractor


class RadiomicsFeatures(ImageFeatureTransformer):
    """pyradiomics features of the original image in the ROI.

    Args:
        feature_classes: pyradiomics classes to compute (``"shape"`` means ``shape2D`` for 2D images).
        bin_width: fixed bin width for discretisation (IBSI's FBS), or ``None`` (default) to learn it at fit
            time: the fitted ROI intensity range divided into ``bin_count`` bins.
        bin_count: bins over the fitted intensity range when ``bin_width`` is ``None``.
        label: the mask label whose region is analysed, or ``None`` for the whole ROI (mask > 0).
        settings: extra pyradiomics settings (``{"normalize": True}``...), applied over the defaults.

    Attributes (after ``fit``):
        bin_width_: the bin width used for every image.
        intensity_range_: ``(low, high)``, the 0.5th-99.5th percentiles of the fitted images' ROI intensities.

    Raises:
        MissingDependencyError: pyradiomics is not installed (with the install recipe).
    """

    def __init__(
        self,
        feature_classes: Sequence[str] = RADIOMICS_CLASSES,
        bin_width: float | None = None,
        bin_count: int = 64,
        label: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.feature_classes = feature_classes
        self.bin_width = bin_width
        self.bin_count = bin_count
        self.label = label
        self.settings = settings

    def fit(self, X: Any, y: Any = None) -> RadiomicsFeatures:
        """Learn the bin width from the ROI intensities of ``X`` (unless ``bin_width`` is fixed), then the
        channels and feature names; returns ``self``."""
        samples = as_samples(X)
        rng = np.random.default_rng(0)
        values = []
        for sample in samples:
            roi = self._region(sample)
            if roi is not None:
                pixels = sample.gray()[roi]
                values.append(pixels if pixels.size <= 10_000 else rng.choice(pixels, 10_000, replace=False))
        pooled = np.concatenate(values) if values else np.zeros(1)
        low, high = (float(v) for v in np.percentile(pooled, [0.5, 99.5]))
        self.intensity_range_ = (low, high)
        if self.bin_width is not None:
            self.bin_width_ = float(self.bin_width)
        else:
            if self.bin_count < 2:
                raise ConfigError(f"bin_count must be at least 2, got {self.bin_count}")
            self.bin_width_ = (high - low) / self.bin_count if high > low else 1.0
        self.__dict__.pop("_cached_extractor", None)  # built with the width of an earlier fit
        super().fit(samples)
        return self

    def fitted_settings(self) -> dict[str, Any]:
        return {"bin_width_": self._fitted_width()}

    def _fitted_width(self) -> float:
        """``bin_width_``; a transformer pickled before the width was learnt used its fixed ``bin_width``."""
        return float(getattr(self, "bin_width_", None) or self.bin_width or 25.0)

    def _region(self, sample: ImageSample) -> np.ndarray | None:
        """``(*spatial)`` bool: the analysed region, or ``None`` when the label is absent from the mask."""
        if sample.mask is None:
            return np.ones(sample.image.shape[1:], dtype=bool)
        region = sample.mask > 0 if self.label is None else sample.mask == int(self.label)
        return region if region.any() else None

    def _extractor(self, spatial_dims: int) -> Any:
        featureextractor = _extractor_module()
        settings: dict[str, Any] = {"binWidth": self._fitted_width(), "label": 1, "additionalInfo": False}
        if spatial_dims == 2:
            settings["force2D"] = True
        settings.update(self.settings or {})
        extractor = featureextractor.RadiomicsFeatureExtractor(**settings)
        extractor.disableAllFeatures()
        for name in self.feature_classes:
            cls = "shape2D" if name == "shape" and spatial_dims == 2 else name
            extractor.enableFeatureClassByName(cls)
        return extractor

    def _run(self, sample: ImageSample) -> dict[str, float]:
        import SimpleITK as sitk

        gray = sample.gray().astype(np.float32)
        region = self._region(sample)
        if region is None:
            return {}  # the label is absent from this image's mask: NaN columns (imputed, reported)
        mask = region.astype(np.uint8)  # pyradiomics wants label 1: 0/255 and label maps are converted
        bins = float(gray[region].max() - gray[region].min()) / self._fitted_width()
        if bins > MAX_BINS and self.bin_width is None:  # far outside the fitted range: matrices of bins x bins
            logger.warning(
                "%s spans %.0f bins of the fitted width %.4g (fitted range %.4g-%.4g): outside the training "
                "intensities, its radiomics columns are NaN",
                sample.source or "an image",
                bins,
                self.bin_width_,
                *self.intensity_range_,
            )
            return {}
        # A one-pixel zero margin around the mask: pyradiomics finds "no labels" in a mask that fills the image.
        gray, mask = np.pad(gray, 1, mode="edge"), np.pad(mask, 1)
        image_itk, mask_itk = sitk.GetImageFromArray(gray), sitk.GetImageFromArray(mask)
        if sample.spacing_mm is not None and len(sample.spacing_mm) == gray.ndim:
            spacing = tuple(float(s) for s in reversed(sample.spacing_mm))  # SimpleITK is x, y(, z)
            image_itk.SetSpacing(spacing)
            mask_itk.SetSpacing(spacing)
        if not hasattr(self, "_cached_extractor"):
            self._cached_extractor = self._extractor(sample.spatial_dims)
        try:
            result = self._cached_extractor.execute(image_itk, mask_itk)
        except (ValueError, RuntimeError) as error:
            if not hasattr(self, "feature_names_"):
                raise DatasetError(f"pyradiomics failed on {sample.source or 'an image'}: {error}") from error
            logger.warning("pyradiomics failed on %s (%s): its radiomics columns are NaN", sample.source, error)
            return {}
        return {
            key.removeprefix("original_"): float(value)
            for key, value in result.items()
            if not key.startswith("diagnostics_")
        }

    def _names(self, channels: int, spatial_dims: int) -> list[str]:
        low, high = self.intensity_range_
        probe = np.random.default_rng(0).uniform(low, max(high, low + 1.0), size=(1, *([16] * spatial_dims)))
        mask = np.zeros(probe.shape[1:], dtype=np.int32)
        mask[(slice(4, 12),) * spatial_dims] = 1 if self.label is None else int(self.label)
        return list(self._run(ImageSample(probe, mask, "probe")))

    def _extract(self, sample: ImageSample) -> np.ndarray:
        values = self._run(sample)
        return np.asarray([values.get(name, np.nan) for name in self.feature_names_], dtype=np.float64)

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("bin_count", 64)  # pickled before the bin width was learnt (its fixed width is kept)
        super().__setstate__(state)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_cached_extractor", None)  # rebuilt on first use (workers, unpickling)
        return state
