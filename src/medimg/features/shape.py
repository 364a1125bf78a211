"""Shape features of mask regions (area, perimeter, roundness, axes...) and area ratios between labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medimg.errors import ConfigError
from medimg.features.base import ImageFeatureTransformer
from medimg.features.samples import ImageSample

SHAPE_2D: tuple[str, ...] = (
    "area_px",
    "perimeter_px",
    "equivalent_diameter_px",
    "major_axis_px",
    "minor_axis_px",
    "elongation",
    "eccentricity",
    "roundness",
    "solidity",
    "extent",
    "components",
)
SHAPE_3D: tuple[str, ...] = (
    "volume_vox",
    "equivalent_diameter_vox",
    "major_axis_vox",
    "minor_axis_vox",
    "elongation",
    "extent",
    "components",
)


class ShapeFeatures(ImageFeatureTransformer):
    """Shape of the ROI (mask > 0) and of each label in ``labels``, in pixel units; needs a mask.

    With two or more labels, ``area_ratio_{a}_{b} = area_a / (area_a + area_b)`` is added for each pair
    (for Herlev nucleus=1 / cytoplasm=2 that is the nucleus-to-cell ratio). A label absent from an image's
    mask gives NaN for its columns.

    Args:
        labels: mask labels that get their own shape features (the whole ROI always does).
    """

    def __init__(self, labels: Sequence[int] = ()) -> None:
        self.labels = labels

    def _check_sample(self, sample: ImageSample) -> None:
        if sample.mask is None:
            raise ConfigError(
                f"shape features need a mask and {sample.source or 'an image'} has none: pass masks "
                "(e.g. masks='herlev' or masks='{stem}_mask.png') or leave 'shape' out"
            )

    def _regions(self) -> list[tuple[str, int | None]]:
        return [("roi", None), *[(f"label{int(v)}", int(v)) for v in self.labels]]

    def _names(self, channels: int, spatial_dims: int) -> list[str]:
        stats = SHAPE_2D if spatial_dims == 2 else SHAPE_3D
        names = [f"{stat}_{region}" for region, _ in self._regions() for stat in stats]
        labels = [int(v) for v in self.labels]
        names += [f"area_ratio_{a}_{b}" for i, a in enumerate(labels) for b in labels[i + 1 :]]
        return names

    def _extract(self, sample: ImageSample) -> np.ndarray:
        self._check_sample(sample)
        mask = np.asarray(sample.mask)
        values: list[float] = []
        areas: dict[int, float] = {}
        for _, label in self._regions():
            region = mask > 0 if label is None else mask == label
            stats = _shape_2d(region) if region.ndim == 2 else _shape_3d(region)
            values += stats
            if label is not None:
                areas[label] = float(region.sum())
        labels = [int(v) for v in self.labels]
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                total = areas[a] + areas[b]
                values.append(areas[a] / total if total > 0 else np.nan)
        return np.asarray(values, dtype=np.float64)


def _axes(region: np.ndarray) -> tuple[float, float]:
    """Major and minor axis lengths of the ellipse (ellipsoid) with the region's second moments."""
    coords = np.argwhere(region).astype(np.float64)
    if coords.shape[0] < 2:
        return 1.0, 1.0
    eig = np.sort(np.linalg.eigvalsh(np.cov(coords.T)))[::-1].clip(min=0)
    return 4 * float(np.sqrt(eig[0])), 4 * float(np.sqrt(eig[-1]))


def _shape_2d(region: np.ndarray) -> list[float]:
    if not region.any():
        return [np.nan] * len(SHAPE_2D)
    from skimage.measure import label, perimeter
    from skimage.morphology import convex_hull_image

    area = float(region.sum())
    perim = float(perimeter(region))
    major, minor = _axes(region)
    ecc = float(np.sqrt(1 - (minor / major) ** 2)) if major > 0 else 0.0
    hull = float(convex_hull_image(region).sum()) if area > 2 else area
    rows, cols = np.nonzero(region)
    box = float((np.ptp(rows) + 1) * (np.ptp(cols) + 1))
    return [
        area,
        perim,
        float(np.sqrt(4 * area / np.pi)),
        major,
        minor,
        minor / major if major > 0 else 1.0,
        ecc,
        float(4 * np.pi * area / perim**2) if perim > 0 else 1.0,
        area / hull if hull > 0 else 1.0,
        area / box,
        float(label(region).max()),
    ]


def _shape_3d(region: np.ndarray) -> list[float]:
    if not region.any():
        return [np.nan] * len(SHAPE_3D)
    from skimage.measure import label

    volume = float(region.sum())
    major, minor = _axes(region)
    coords = np.nonzero(region)
    box = float(np.prod([np.ptp(c) + 1 for c in coords]))
    return [
        volume,
        float((6 * volume / np.pi) ** (1 / 3)),
        major,
        minor,
        minor / major if major > 0 else 1.0,
        volume / box,
        float(label(region).max()),
    ]
