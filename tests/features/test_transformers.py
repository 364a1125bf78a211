"""Feature transformers: values against hand computations, masks, bad input, and the sklearn contract."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.pipeline import make_union
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from medimg.errors import ConfigError, DatasetError
from medimg.features import (
    FiniteFeatures,
    FirstOrderFeatures,
    GLCMFeatures,
    HOGFeatures,
    LBPFeatures,
    ShapeFeatures,
    first_order_stats,
)
from medimg.features.first_order import FIRST_ORDER_STATS
from medimg.features.samples import ImageSample, make_sample

IMAGE_TRANSFORMERS = [FirstOrderFeatures(), GLCMFeatures(), LBPFeatures(), HOGFeatures(), ShapeFeatures(labels=(1, 2))]


def _images(n: int = 4, size: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, size=(n, size, size))


def _mask(size: int = 24) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.int32)
    mask[4:20, 4:20] = 2
    mask[8:14, 8:14] = 1
    return mask


@parametrize_with_checks([FiniteFeatures()])
def test_finite_features_passes_sklearn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("transformer", IMAGE_TRANSFORMERS, ids=lambda t: type(t).__name__)
def test_image_transformers_follow_the_estimator_contract(transformer):
    name = type(transformer).__name__
    check_no_attributes_set_in_init(name, transformer)
    check_parameters_default_constructible(name, transformer)
    check_get_params_invariance(name, transformer)
    check_set_params(name, transformer)
    samples = [(x, _mask()) for x in _images()]
    fitted = clone(transformer).fit(samples)
    assert fitted is not transformer and not hasattr(transformer, "feature_names_")
    out = fitted.transform(samples)
    assert out.shape == (4, len(fitted.get_feature_names_out()))
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, clone(transformer).fit_transform(samples))  # deterministic


@pytest.mark.parametrize("transformer", IMAGE_TRANSFORMERS, ids=lambda t: type(t).__name__)
def test_transform_before_fit_raises(transformer):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        clone(transformer).transform([(x, _mask()) for x in _images(1)])


def test_first_order_matches_numpy_and_scipy():
    x = np.random.default_rng(3).normal(50, 10, size=500)
    row = dict(zip(FIRST_ORDER_STATS, first_order_stats(x), strict=True))
    assert row["mean"] == pytest.approx(x.mean())
    assert row["sd"] == pytest.approx(x.std())
    assert row["variance"] == pytest.approx(x.var())
    assert row["p90"] == pytest.approx(np.percentile(x, 90))
    assert row["skewness"] == pytest.approx(stats.skew(x))
    assert row["kurtosis"] == pytest.approx(stats.kurtosis(x))
    assert row["energy"] == pytest.approx((x**2).sum())
    counts, _ = np.histogram(x, bins=32)
    p = counts[counts > 0] / x.size
    assert row["entropy"] == pytest.approx(-(p * np.log2(p)).sum())


def test_first_order_vectorised_batch_equals_per_image_path():
    images = _images(5)
    batch = FirstOrderFeatures().fit_transform(images)
    single = np.vstack([FirstOrderFeatures().fit_transform(images[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(batch, single)
    masked = FirstOrderFeatures().fit_transform([(x, np.ones((24, 24), int)) for x in images])
    np.testing.assert_allclose(batch, masked)


def test_first_order_uses_only_the_mask_region_and_labels():
    image = np.zeros((1, 10, 10))
    image[0, :5] = 100.0
    mask = np.zeros((10, 10), int)
    mask[:5, :5] = 1
    mask[5:, :5] = 2
    t = FirstOrderFeatures(labels=(1, 2)).fit([(image, mask)])
    row = dict(zip(t.get_feature_names_out(), t.transform([(image, mask)])[0], strict=True))
    assert row["mean_ch0_label1"] == 100.0 and row["mean_ch0_label2"] == 0.0
    assert row["mean_ch0_roi"] == pytest.approx(50.0)


def test_missing_label_gives_nan_and_finite_features_imputes_it():
    image = _images(1)[0]
    only_cell = np.zeros((24, 24), int)
    only_cell[2:20, 2:20] = 2  # no nucleus (label 1)
    X = FirstOrderFeatures(labels=(1, 2)).fit([(image, _mask())]).transform([(image, _mask()), (image, only_cell)])
    assert np.isnan(X[1]).any() and np.isfinite(X[0]).all()
    guard = FiniteFeatures().fit(X)
    out = guard.transform(X)
    assert np.isfinite(out).all() and guard.last_replaced_ == int(np.isnan(X).sum())


def test_constant_image_gives_documented_finite_values():
    const = np.full((2, 16, 16), 7.0)
    for t in (FirstOrderFeatures(), GLCMFeatures(), LBPFeatures(), HOGFeatures()):
        assert np.isfinite(t.fit_transform(const)).all(), type(t).__name__
    row = dict(zip(FIRST_ORDER_STATS, first_order_stats(np.full(10, 3.0)), strict=True))
    assert row["sd"] == 0 and row["skewness"] == 0 and row["kurtosis"] == 0 and row["entropy"] == 0


def test_glcm_separates_smooth_from_noisy_texture():
    rng = np.random.default_rng(0)
    smooth = np.tile(np.linspace(0, 255, 32), (32, 1))[None]
    noisy = rng.uniform(0, 255, (1, 32, 32))
    t = GLCMFeatures(distances=(1,), angles_deg=(0, 90)).fit([smooth])
    names = list(t.get_feature_names_out())
    contrast = names.index("contrast_d1_mean")
    assert t.transform([noisy])[0, contrast] > 10 * t.transform([smooth])[0, contrast]


def test_shape_features_area_and_ratio():
    t = ShapeFeatures(labels=(1, 2)).fit([(np.ones((24, 24)), _mask())])
    row = dict(zip(t.get_feature_names_out(), t.transform([(np.ones((24, 24)), _mask())])[0], strict=True))
    assert row["area_px_label1"] == 36 and row["area_px_roi"] == 256
    assert row["area_ratio_1_2"] == pytest.approx(36 / 256)
    assert 0.7 < row["roundness_roi"] <= 1.0 and row["solidity_roi"] == pytest.approx(1.0)


def test_shape_without_mask_and_hog_on_3d_are_clear_errors():
    with pytest.raises(ConfigError, match="need a mask"):
        ShapeFeatures().fit(_images(1))
    with pytest.raises(ConfigError, match="2D only"):
        HOGFeatures().fit([np.zeros((1, 4, 16, 16))])


def test_3d_volumes_work_for_first_order_glcm_lbp_shape():
    volume = np.random.default_rng(1).uniform(0, 100, (1, 6, 16, 16))
    mask = np.zeros((6, 16, 16), int)
    mask[1:5, 3:12, 3:12] = 1
    X = make_union(FirstOrderFeatures(), GLCMFeatures(), LBPFeatures(), ShapeFeatures()).fit_transform([(volume, mask)])
    assert X.shape[0] == 1 and np.isfinite(X).all()


def test_bad_masks_are_clear_errors():
    image = _images(1)[0]
    with pytest.raises(DatasetError, match="must match its image"):
        make_sample(image, np.ones((10, 10)), source="a.png")
    with pytest.raises(DatasetError, match="empty"):
        make_sample(image, np.zeros((24, 24)), source="a.png")
    with pytest.raises(DatasetError, match="NaN"):
        make_sample(np.full((8, 8), np.nan))


def test_0_255_masks_are_one_region():
    image = _images(1)[0]
    mask = np.zeros((24, 24))
    mask[5:15, 5:15] = 255
    sample = make_sample(image, mask)
    assert set(np.unique(sample.mask).tolist()) == {0, 1}
    binary = make_sample(image, mask > 0)
    np.testing.assert_array_equal(sample.mask, binary.mask)


def test_channel_mismatch_is_reported():
    t = FirstOrderFeatures().fit([np.zeros((3, 8, 8))])
    with pytest.raises(DatasetError, match="channel"):
        t.transform([ImageSample(np.zeros((1, 8, 8)))])


def test_a_channels_last_batch_is_read_by_the_channel_axis_rule():
    # (N, H, W, 3) was read as (N, C, H, W): 64 "channels" of 64 x 3 pixels, garbage features without an error
    rgb = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    last = FirstOrderFeatures().fit(rgb)
    assert last.n_channels_ == 3 and last.spatial_dims_ == 2
    first = FirstOrderFeatures().fit(np.moveaxis(rgb, -1, 1))
    np.testing.assert_array_equal(last.transform(rgb), first.transform(np.moveaxis(rgb, -1, 1)))
    volumes = np.random.default_rng(1).uniform(0, 255, (2, 8, 16, 16))  # (N, D, H, W): grey volumes
    fitted = FirstOrderFeatures().fit(volumes)
    assert fitted.n_channels_ == 1 and fitted.spatial_dims_ == 3
    with pytest.raises(DatasetError, match="channel axis"):
        FirstOrderFeatures().fit(np.zeros((2, 8, 8, 8, 8)))
