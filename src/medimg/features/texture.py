"""Texture features on the grey-level image: GLCM (Haralick), LBP histograms and HOG.

Colour images are reduced to luminance first. Grey levels are quantised inside the region of interest (see
:func:`~medimg.features.base.quantise`); pixels outside it never enter a co-occurrence or a histogram.
3D volumes: GLCM and LBP accumulate over the 2D slices along the axis of the coarsest spacing (the through-plane
axis; the first axis when the spacing is unknown or isotropic, see :func:`slice_axis`); HOG is 2D only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medimg.errors import ConfigError
from medimg.features.base import ImageFeatureTransformer, quantise
from medimg.features.samples import ImageSample

GLCM_PROPS: tuple[str, ...] = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")


def slice_axis(sample: ImageSample) -> int:
    """The spatial axis a 3D volume is cut into 2D slices along: the one of the coarsest spacing when the spacing
    is known (the through-plane axis of a CT or MR, whichever the file's axis order: DICOM's ``(z, y, x)`` and
    NIfTI's ``(x, y, z)`` give the same slices), else the first."""
    spacing = sample.spacing_mm
    if spacing is None or len(spacing) != sample.spatial_dims or sample.spatial_dims != 3:
        return 0
    coarsest = max(spacing)
    return 0 if spacing[0] >= coarsest * 0.999 else int(np.argmax(spacing))


def _slices(array: np.ndarray, axis: int = 0) -> list[np.ndarray]:
    """2D slices of a 2D (itself) or 3D (along ``axis``) array."""
    return [array] if array.ndim == 2 else list(np.moveaxis(array, axis, 0))


def _bbox(roi: np.ndarray) -> tuple[slice, ...]:
    coords = np.nonzero(roi)
    return tuple(slice(int(c.min()), int(c.max()) + 1) for c in coords)


class _Sliced(ImageFeatureTransformer):
    """A 2D texture accumulated over a volume's slices: the slicing rule is part of the feature cache key (rows
    cached when volumes were cut along their first axis are not reused)."""

    def fitted_settings(self) -> dict[str, Any]:
        return {"slices": "coarsest-spacing axis"} if getattr(self, "spatial_dims_", 2) == 3 else {}


class GLCMFeatures(_Sliced):
    """Grey-level co-occurrence (Haralick) features: for each distance, the mean and range over angles of
    contrast, dissimilarity, homogeneity, energy, correlation and ASM (symmetric, normalised GLCM).

    Args:
        distances: pixel offsets.
        angles_deg: directions in degrees.
        levels: grey levels after quantisation.
        intensity_range: fixed ``(low, high)`` for quantisation, or ``None`` for the ROI's 1st-99th
            percentile per image.

    A constant region (one grey level) has a one-cell GLCM: contrast 0, homogeneity/energy/ASM 1 and
    correlation 1 (scikit-image's convention), not NaN.
    """

    def __init__(
        self,
        distances: Sequence[int] = (1, 2, 4),
        angles_deg: Sequence[float] = (0, 45, 90, 135),
        levels: int = 32,
        intensity_range: tuple[float, float] | None = None,
    ) -> None:
        self.distances = distances
        self.angles_deg = angles_deg
        self.levels = levels
        self.intensity_range = intensity_range

    def _names(self, channels: int, spatial_dims: int) -> list[str]:
        return [f"{prop}_d{d}_{agg}" for d in self.distances for prop in GLCM_PROPS for agg in ("mean", "range")]

    def _extract(self, sample: ImageSample) -> np.ndarray:
        from skimage.feature import graycomatrix, graycoprops

        roi = sample.roi()
        box = _bbox(roi)
        q = quantise(sample.gray()[box], roi[box], self.levels, self.intensity_range)
        angles = np.deg2rad(np.asarray(self.angles_deg, dtype=np.float64))
        distances = [int(d) for d in self.distances]
        total = np.zeros((self.levels + 1, self.levels + 1, len(distances), len(angles)))
        for plane in _slices(q, slice_axis(sample)):
            total += graycomatrix(plane, distances, angles, levels=self.levels + 1, symmetric=True)
        matrix = total[1:, 1:]  # drop level 0 (outside the ROI)
        sums = matrix.sum(axis=(0, 1), keepdims=True)
        matrix = np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
        empty = sums[0, 0] == 0  # (D, A): no pixel pair at that offset inside the ROI
        values = []
        with np.errstate(invalid="ignore", divide="ignore"):
            for d in range(len(distances)):
                for prop in GLCM_PROPS:
                    per_angle = graycoprops(matrix[:, :, d : d + 1, :], prop)[0].astype(np.float64)
                    per_angle[empty[d]] = np.nan
                    valid = per_angle[np.isfinite(per_angle)]
                    values += [valid.mean(), np.ptp(valid)] if valid.size else [np.nan, np.nan]
        return np.asarray(values, dtype=np.float64)


class LBPFeatures(_Sliced):
    """Histograms of rotation-invariant uniform local binary patterns inside the ROI.

    Args:
        radii: LBP radii; each uses ``8 * radius`` neighbours (``P + 2`` histogram bins).
    """

    def __init__(self, radii: Sequence[int] = (1, 2)) -> None:
        self.radii = radii

    def _names(self, channels: int, spatial_dims: int) -> list[str]:
        return [f"r{r}_bin{b}" for r in self.radii for b in range(8 * int(r) + 2)]

    def _extract(self, sample: ImageSample) -> np.ndarray:
        from skimage.feature import local_binary_pattern

        roi = sample.roi()
        gray8 = (quantise(sample.gray(), roi, 256, None) - 1).clip(0, 255).astype(np.uint8)
        parts = []
        for radius in self.radii:
            points = 8 * int(radius)
            counts = np.zeros(points + 2)
            axis = slice_axis(sample)
            for plane, region in zip(_slices(gray8, axis), _slices(roi, axis), strict=True):
                if not region.any():
                    continue
                codes = local_binary_pattern(plane, points, int(radius), method="uniform").astype(np.int64)
                counts += np.bincount(codes[region], minlength=points + 2)[: points + 2]
            parts.append(counts / counts.sum())
        return np.concatenate(parts)


class HOGFeatures(ImageFeatureTransformer):
    """Histogram of oriented gradients of the grey image (cropped to the ROI's bounding box when a mask is
    given), resized to ``size``. 2D only.

    Args:
        size: ``(H, W)`` the image is resized to before HOG (fixed, so every image gives as many features).
        orientations: orientation bins.
        pixels_per_cell: cell size in pixels (of the resized image).
        cells_per_block: block size in cells.
    """

    def __init__(
        self,
        size: tuple[int, int] = (32, 32),
        orientations: int = 9,
        pixels_per_cell: tuple[int, int] = (8, 8),
        cells_per_block: tuple[int, int] = (2, 2),
    ) -> None:
        self.size = size
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block

    def _check_sample(self, sample: ImageSample) -> None:
        if sample.spatial_dims != 2:
            raise ConfigError("HOG features are 2D only: leave 'hog' out for 3D volumes (or use radiomics)")

    def _names(self, channels: int, spatial_dims: int) -> list[str]:
        cells = [int(s) // int(p) for s, p in zip(self.size, self.pixels_per_cell, strict=True)]
        blocks = [c - int(b) + 1 for c, b in zip(cells, self.cells_per_block, strict=True)]
        if min(blocks) < 1:
            raise ConfigError(f"HOG size {self.size} is too small for {self.cells_per_block} blocks of cells")
        per_block = int(np.prod(self.cells_per_block)) * int(self.orientations)
        return [f"f{i}" for i in range(blocks[0] * blocks[1] * per_block)]

    def _extract(self, sample: ImageSample) -> np.ndarray:
        from skimage.feature import hog
        from skimage.transform import resize

        roi = sample.roi()
        gray = sample.gray()[_bbox(roi)] if sample.mask is not None else sample.gray()
        low, high = float(gray.min()), float(gray.max())
        scaled = (gray - low) / (high - low) if high > low else np.zeros_like(gray)
        resized = resize(scaled, tuple(int(s) for s in self.size), anti_aliasing=True, preserve_range=True)
        return np.asarray(
            hog(
                resized,
                orientations=int(self.orientations),
                pixels_per_cell=tuple(int(p) for p in self.pixels_per_cell),
                cells_per_block=tuple(int(c) for c in self.cells_per_block),
                feature_vector=True,
            ),
            dtype=np.float64,
        )
