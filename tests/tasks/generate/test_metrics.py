"""Fréchet distance, k-NN precision/recall and nearest-neighbour distances against reference computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from medimg.tasks.generate.metrics import frechet_distance, nearest_distances, precision_recall


def reference_fd(a: np.ndarray, b: np.ndarray) -> float:
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(linalg.sqrtm(ca @ cb))
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * root))


@pytest.mark.parametrize(("n", "m", "d"), [(300, 200, 16), (20, 30, 64)])
def test_frechet_distance_matches_the_matrix_square_root_formula(n: int, m: int, d: int) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 1.3 + 0.5
    assert frechet_distance(a, b) == pytest.approx(reference_fd(a, b), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_precision_and_recall_tell_fidelity_from_coverage() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(200, 2))
    precision, recall = precision_recall(real, real.copy(), k=3)
    assert precision.all() and recall.all()
    far = precision_recall(real, real + 100.0, k=3)
    assert not far[0].any() and not far[1].any()
    collapsed = real[:1] + rng.normal(scale=0.01, size=(200, 2))  # realistic but one mode only
    precision, recall = precision_recall(real, collapsed, k=3)
    assert precision.mean() > 0.9 and recall.mean() < 0.2


def test_nearest_distances_find_a_copied_image() -> None:
    generator = torch.Generator().manual_seed(0)
    train = torch.rand(10, 1, 8, 8, generator=generator) * 2 - 1
    queries = torch.stack([train[3], torch.rand(1, 8, 8, generator=generator)])
    distance, index = nearest_distances(queries, train)
    assert distance[0] == pytest.approx(0.0, abs=1e-5) and index[0] == 3
    assert distance[1] > 0.1


@pytest.mark.parametrize("n", [7, 50, 500])
def test_the_fd_interval_holds_the_fd_and_its_spread_at_this_sample_size(n: int) -> None:
    """Two samples of one Gaussian: a percentile bootstrap (resampling with replacement) put the whole "95% CI"
    above the FD; the jackknife interval holds it, and its width follows the FD's spread over new samples."""
    from medimg.tasks.generate.evaluate import _confidence_intervals

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, 16)), rng.normal(size=(n, 16))
    ones = np.ones(n, dtype=bool)
    ci = _confidence_intervals(a, b, ones, ones, 20)["fd"]
    assert ci["low"] <= ci["value"] <= ci["high"] and ci["value"] == pytest.approx(frechet_distance(a, b))
    assert ci["method"] == "jackknife" and ci["small_sample_bias"] > 0  # the FD of one distribution is all bias
    if n == 50:
        spread = np.std([frechet_distance(rng.normal(size=(n, 16)), rng.normal(size=(n, 16))) for _ in range(40)])
        assert 0.5 * spread < ci["standard_error"] < 2.5 * spread


def test_fewer_images_than_feature_dimensions_are_warned_about() -> None:
    from medimg.tasks.generate.metrics import small_sample_note

    assert small_sample_note(7, 128) is not None and "7 images in a 128-dimensional" in (
        small_sample_note(7, 128) or ""
    )
    assert small_sample_note(500, 128) is None


def test_duplicates_across_splits_do_not_void_the_memorisation_check() -> None:
    """2 of 50 test images duplicate training images: the 1st percentile of the real distances was 0, so a
    generator returning training images verbatim scored memorised_share 0."""
    from medimg.tasks.generate.evaluate import memorisation

    rng = np.random.default_rng(0)
    real_nn = np.concatenate([[0.0, 0.0], rng.uniform(0.2, 0.4, 48)])
    verbatim = np.zeros(10)
    threshold, share, copies = memorisation(verbatim, real_nn)
    assert threshold > 0.19 and share == 1.0 and copies == 2
    assert memorisation(rng.uniform(0.25, 0.4, 10), real_nn)[1] < 0.5  # a generator that does not copy
    assert memorisation(verbatim, np.zeros(5))[1] == 1.0  # every real image a copy: still counted
