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
