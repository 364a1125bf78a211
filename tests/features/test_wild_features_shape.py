"""Shape features checked against their definitions: scikit-image's regionprops axes, a roundness that no region
exceeds 1 with, and axis ratios measured in millimetres on anisotropic grids."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import regionprops

from medimg.features import ShapeFeatures
from medimg.features.samples import ImageSample


def _shape(mask: np.ndarray, spacing: tuple[float, ...] | None = None) -> dict[str, float]:
    sample = ImageSample(np.ones((1, *mask.shape)), mask.astype(np.int32), "case", spacing)
    transformer = ShapeFeatures().fit([sample])
    return dict(zip(transformer.get_feature_names_out(), transformer.transform([sample])[0], strict=True))


@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 2), (3, 3), (1, 12), (4, 9)])
def test_roundness_of_small_regions_never_exceeds_one(size: tuple[int, int]) -> None:
    mask = np.pad(np.ones(size, dtype=np.int32), 3)
    values = _shape(mask)
    assert 0 < values["roundness_roi"] <= 1.0
    assert values["perimeter_px_roi"] > 0  # a two-pixel region had a perimeter of 0


def test_roundness_of_a_disc_and_of_a_ring() -> None:
    yy, xx = np.mgrid[:101, :101]
    radius = np.hypot(yy - 50, xx - 50)
    disc = _shape((radius <= 30).astype(np.int32))
    assert disc["roundness_roi"] == pytest.approx(0.88, abs=0.03)
    assert disc["perimeter_px_roi"] == pytest.approx(2 * np.pi * 30, rel=0.08)
    ring = _shape(((radius <= 30) & (radius > 15)).astype(np.int32))
    assert ring["roundness_roi"] < disc["roundness_roi"]  # the hole's edge adds perimeter and takes area


def test_axes_follow_regionprops() -> None:
    yy, xx = np.mgrid[:101, :101]
    ellipse = ((((yy - 50) / 40.0) ** 2 + ((xx - 50) / 15.0) ** 2) <= 1).astype(np.int32)
    props = regionprops(ellipse)[0]
    values = _shape(ellipse)
    assert values["major_axis_px_roi"] == pytest.approx(props.axis_major_length, rel=1e-9)
    assert values["minor_axis_px_roi"] == pytest.approx(props.axis_minor_length, rel=1e-9)
    assert values["eccentricity_roi"] == pytest.approx(props.eccentricity, rel=1e-9)
    pair = np.pad(np.ones((1, 2), dtype=np.int32), 3)
    assert _shape(pair)["major_axis_px_roi"] == pytest.approx(regionprops(pair)[0].axis_major_length)  # 2, not 2.83


def test_a_sphere_on_an_anisotropic_grid_is_not_elongated() -> None:
    z, y, x = np.mgrid[:21, :61, :61]
    spacing = (3.0, 0.7, 0.7)  # 0.7 x 0.7 mm pixels, 3 mm slices
    sphere = ((((z - 10) * 3.0) ** 2 + ((y - 30) * 0.7) ** 2 + ((x - 30) * 0.7) ** 2) <= 15.0**2).astype(np.int32)
    assert _shape(sphere, spacing)["elongation_roi"] == pytest.approx(1.0, abs=0.05)  # was 0.23
    assert _shape(sphere)["elongation_roi"] < 0.3  # without the spacing the voxel grid is all there is


def test_a_circle_on_rectangular_pixels_is_round() -> None:
    yy, xx = np.mgrid[:81, :81]
    circle = ((((yy - 40) * 0.5) ** 2 + (xx - 40) ** 2) <= 15.0**2).astype(np.int32)  # 0.5 mm rows, 1 mm columns
    values = _shape(circle, (0.5, 1.0))
    assert values["elongation_roi"] == pytest.approx(1.0, abs=0.03)
    assert values["eccentricity_roi"] < 0.3
    assert 0.75 < values["roundness_roi"] <= 1.0  # in mm: the index grid would make it an ellipse
