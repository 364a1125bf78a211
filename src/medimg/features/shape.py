"""Shape features of mask regions (area, perimeter, roundness, axes...) and area ratios between labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

    ``area_px``/``volume_vox`` count pixels (voxels); ``perimeter_px`` is the length of the region's
    marching-squares contour (IBSI's mesh perimeter) and ``roundness = 4 pi A / P^2`` takes the area inside that
    same contour, so no region scores more than 1 (a large pixelated disc about 0.88, a 2x2 square 0.94; a pixel
    count over a perimeter traced through pixel centres gave that square pi, and a two-pixel region a perimeter of
    0). The axes are those of the ellipse (ellipsoid) with the region's second moments (scikit-image's
    ``regionprops`` convention) in pixel units; the ratios ``elongation`` (minor / major) and ``eccentricity``, and
    roundness, are measured in millimetres when the image's spacing is known, so a sphere on a 0.7 x 0.7 x 3 mm grid
    has an elongation of about 1, not 0.23.

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

    def fitted_settings(self) -> dict[str, Any]:
        # keeps rows cached before roundness used the contour's area and the axis ratios the spacing apart
        return {"shape": "mesh perimeter and roundness, axis ratios in mm"}

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
        spacing = _spacing(sample)
        for _, label in self._regions():
            region = mask > 0 if label is None else mask == label
            stats = _shape_2d(region, spacing) if region.ndim == 2 else _shape_3d(region, spacing)
            values += stats
            if label is not None:
                areas[label] = float(region.sum())
        labels = [int(v) for v in self.labels]
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                total = areas[a] + areas[b]
                values.append(areas[a] / total if total > 0 else np.nan)
        return np.asarray(values, dtype=np.float64)


def _spacing(sample: ImageSample) -> np.ndarray | None:
    """The sample's spacing per spatial axis, when known and usable."""
    spacing = sample.spacing_mm
    if spacing is None or len(spacing) != sample.spatial_dims:
        return None
    values = np.asarray(spacing, dtype=np.float64)
    return values if np.all(np.isfinite(values)) and np.all(values > 0) else None


def _axes(region: np.ndarray, spacing: np.ndarray | None = None) -> tuple[float, float]:
    """Major and minor axis lengths of the ellipse (ellipsoid) with the region's second (central, population)
    moments, as scikit-image's ``regionprops``; in pixels, or in millimetres with ``spacing``."""
    coords = np.argwhere(region).astype(np.float64)
    if coords.shape[0] < 2:
        return 1.0, 1.0
    if spacing is not None:
        coords = coords * spacing
    eig = np.sort(np.linalg.eigvalsh(np.atleast_2d(np.cov(coords.T, bias=True))))[::-1].clip(min=0)
    return 4 * float(np.sqrt(eig[0])), 4 * float(np.sqrt(eig[-1]))


def _physical_axes(
    region: np.ndarray, pixel_axes: tuple[float, float], spacing: np.ndarray | None
) -> tuple[float, float]:
    """The axes of :func:`_axes` in millimetres with ``spacing``; ``pixel_axes`` (already measured) without."""
    return pixel_axes if spacing is None else _axes(region, spacing)


def _ratios(major: float, minor: float) -> tuple[float, float]:
    """``(elongation, eccentricity)`` of an ellipse's axes: minor / major and its eccentricity."""
    if major <= 0:
        return 1.0, 0.0
    return minor / major, float(np.sqrt(max(0.0, 1 - (minor / major) ** 2)))


def _contours(region: np.ndarray) -> list[np.ndarray]:
    """The region's marching-squares contours at 0.5, in pixel coordinates (closed: the region is padded)."""
    from skimage.measure import find_contours

    return list(find_contours(np.pad(region.astype(np.float64), 1), 0.5))


def _area_and_length(contours: list[np.ndarray], spacing: np.ndarray | None) -> tuple[float, float]:
    """``(area, perimeter)`` inside and along ``contours`` (:func:`_contours`), holes subtracted; in pixel units,
    or mm^2 and mm with ``spacing``."""
    scale = np.ones(2) if spacing is None else spacing
    area = length = 0.0
    for contour in contours:
        points = contour * scale
        following = np.roll(points, -1, axis=0)
        area += 0.5 * float(np.sum(points[:, 0] * following[:, 1] - following[:, 0] * points[:, 1]))
        length += float(np.sum(np.linalg.norm(following - points, axis=1)))
    return abs(area), length


def _shape_2d(region: np.ndarray, spacing: np.ndarray | None = None) -> list[float]:
    if not region.any():
        return [np.nan] * len(SHAPE_2D)
    from skimage.measure import label
    from skimage.morphology import convex_hull_image

    area = float(region.sum())
    contours = _contours(region)
    pixel_area, perim = _area_and_length(contours, None)
    mesh_area, mesh_perim = (pixel_area, perim) if spacing is None else _area_and_length(contours, spacing)
    major, minor = _axes(region)
    elongation, ecc = _ratios(*_physical_axes(region, (major, minor), spacing))
    hull = float(convex_hull_image(region).sum()) if area > 2 else area
    rows, cols = np.nonzero(region)
    box = float((np.ptp(rows) + 1) * (np.ptp(cols) + 1))
    return [
        area,
        perim,
        float(np.sqrt(4 * area / np.pi)),
        major,
        minor,
        elongation,
        ecc,
        float(4 * np.pi * mesh_area / mesh_perim**2) if mesh_perim > 0 else 1.0,
        area / hull if hull > 0 else 1.0,
        area / box,
        float(label(region).max()),
    ]


def _shape_3d(region: np.ndarray, spacing: np.ndarray | None = None) -> list[float]:
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
        _ratios(*_physical_axes(region, (major, minor), spacing))[0],
        volume / box,
        float(label(region).max()),
    ]
