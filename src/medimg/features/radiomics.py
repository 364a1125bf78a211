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
  mismatch" error cannot come from medimg; a mask of the wrong shape is rejected with the file named.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from medimg.errors import DatasetError, MissingDependencyError
from medimg.features.base import ImageFeatureTransformer
from medimg.features.samples import ImageSample

logger = logging.getLogger(__name__)

RADIOMICS_INSTALL = (
    "pip install numpy setuptools wheel versioneer && pip install --no-build-isolation pyradiomics==3.0.1"
)
RADIOMICS_CLASSES: tuple[str, ...] = ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


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
        bin_width: fixed bin width for discretisation (IBSI's FBS; pyradiomics' default 25 suits 0..255 and HU).
        label: the mask label whose region is analysed, or ``None`` for the whole ROI (mask > 0).
        settings: extra pyradiomics settings (``{"normalize": True}``...), applied over the defaults.

    Raises:
        MissingDependencyError: pyradiomics is not installed (with the install recipe).
    """

    def __init__(
        self,
        feature_classes: Sequence[str] = RADIOMICS_CLASSES,
        bin_width: float = 25.0,
        label: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.feature_classes = feature_classes
        self.bin_width = bin_width
        self.label = label
        self.settings = settings

    def _extractor(self, spatial_dims: int) -> Any:
        featureextractor = _extractor_module()
        settings: dict[str, Any] = {"binWidth": float(self.bin_width), "label": 1, "additionalInfo": False}
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
        if sample.mask is None:
            mask = np.ones(gray.shape, dtype=np.uint8)
        else:
            region = sample.mask > 0 if self.label is None else sample.mask == int(self.label)
            mask = region.astype(np.uint8)  # pyradiomics wants label 1: 0/255 and label maps are converted
            if not mask.any():
                return {}  # the label is absent from this image's mask: NaN columns (imputed, reported)
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
        probe = np.random.default_rng(0).uniform(0, 255, size=(1, *([16] * spatial_dims)))
        mask = np.zeros(probe.shape[1:], dtype=np.int32)
        mask[(slice(4, 12),) * spatial_dims] = 1 if self.label is None else int(self.label)
        return list(self._run(ImageSample(probe, mask, "probe")))

    def _extract(self, sample: ImageSample) -> np.ndarray:
        values = self._run(sample)
        return np.asarray([values.get(name, np.nan) for name in self.feature_names_], dtype=np.float64)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_cached_extractor", None)  # rebuilt on first use (workers, unpickling)
        return state
