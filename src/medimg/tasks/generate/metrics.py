"""Sample-quality metrics in a feature space, and the memorisation check in pixel space.

* Fréchet distance (Heusel et al., 2017): between Gaussians fitted to real and generated features,
  ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^1/2)``; lower is better, 0 for identical statistics. It grows
  with fewer samples, so only values at equal sample sizes compare; :func:`frechet_jackknife` gives its standard
  error and that small-sample bias.
* Precision and recall (Kynkäänniemi et al., 2019): each set's manifold is the union of balls around its points
  with radius the distance to the point's k-th nearest neighbour in the set; precision is the share of generated
  samples inside the real manifold (fidelity), recall the share of real samples inside the generated one
  (coverage).
* Nearest-neighbour distances: the distance of each generated image to its nearest training image (RMS per
  pixel): a copy of a training image is at (almost) 0.
"""

from __future__ import annotations

import numpy as np
import torch


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between ``real`` ``(N, D)`` and ``fake`` ``(M, D)`` features (N, M >= 2).

    With ``A``, ``B`` the centred features over ``sqrt(N - 1)``, ``sqrt(M - 1)`` (so ``S_r = A'A``,
    ``S_g = B'B``), ``Tr((S_r S_g)^1/2)`` is the sum of the singular values of ``A B'`` (N x M): cheaper than
    a D x D matrix square root when the sets are smaller than the feature dimension; otherwise it is the sum of
    the square roots of the eigenvalues of the symmetric ``S_r^1/2 S_g S_r^1/2``. NaN when a feature is not finite.
    """
    if not (np.isfinite(real).all() and np.isfinite(fake).all()):
        return float("nan")  # a diverged generator's samples: no epoch is selected on it (the SVD would fail)
    a = (real - real.mean(0)) / np.sqrt(max(1, len(real) - 1))
    b = (fake - fake.mean(0)) / np.sqrt(max(1, len(fake) - 1))
    if len(a) * len(b) <= a.shape[1] ** 2:
        trace_root = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    else:
        cov_r, cov_f = a.T @ a, b.T @ b
        values, vectors = np.linalg.eigh(cov_r)
        root_r = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
        trace_root = float(np.sqrt(np.clip(np.linalg.eigvalsh(root_r @ cov_f @ root_r), 0, None)).sum())
    shift = float(((real.mean(0) - fake.mean(0)) ** 2).sum())
    return max(shift + float((a**2).sum() + (b**2).sum()) - 2 * trace_root, 0.0)


#: groups per feature set of the delete-a-group jackknife (:func:`frechet_jackknife`)
JACKKNIFE_GROUPS = 20


def frechet_jackknife(
    real: np.ndarray, fake: np.ndarray, rng: np.random.Generator, groups: int = JACKKNIFE_GROUPS
) -> tuple[float, float]:
    """Standard error and small-sample bias of :func:`frechet_distance` by a delete-a-group jackknife: each set is
    cut into ``groups`` random groups (one image each for smaller sets) and the FD recomputed without each group,
    the two sets' contributions added; both NaN when a set has fewer than 3 images.

    Unlike a bootstrap with replacement, no image is counted twice: duplicated rows shrink the covariance
    estimates, which inflates every resampled FD, so a percentile bootstrap interval sits above the FD it is for.
    The jackknife's bias estimate is what the FD owes to the sample size (a set against another sample of its
    own distribution scores about this much); ``FD - bias`` estimates the FD of the distributions, reliably only
    with more images than feature dimensions.
    """
    if min(len(real), len(fake)) < 3:  # an FD needs two images of each set left
        return float("nan"), float("nan")
    value = frechet_distance(real, fake)
    variance = bias = 0.0
    for which, features in enumerate((real, fake)):
        g = min(groups, len(features))
        blocks = np.array_split(rng.permutation(len(features)), g)
        values = np.array(
            [
                frechet_distance(np.delete(features, block, 0), fake)
                if which == 0
                else frechet_distance(real, np.delete(features, block, 0))
                for block in blocks
            ]
        )
        variance += (g - 1) / g * float(((values - values.mean()) ** 2).sum())
        bias += (g - 1) * (float(values.mean()) - value)
    return float(np.sqrt(variance)), bias


def small_sample_note(n: int, feature_dim: int) -> str | None:
    """Why FDs of ``n`` images in a ``feature_dim``-dimensional space say little, when ``n <= feature_dim``: the
    covariances are singular, the FD is mostly small-sample bias (a generator may seem to beat the real-vs-real
    reference by chance); ``None`` otherwise."""
    if n > feature_dim:
        return None
    return (
        f"the Fréchet distances compare {n} images in a {feature_dim}-dimensional feature space: with no more images "
        "than dimensions the covariances are singular and each FD is mostly small-sample bias, so neither the FD nor "
        "its comparison with the real-vs-real reference says much; evaluate on a split with more images than that"
    )


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(a).double(), torch.from_numpy(b).double()).numpy()


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each point to its ``k``-th nearest other point in the same set."""
    distances = _distances(features, features)
    k = min(k, len(features) - 1)
    return np.sort(distances, axis=1)[:, k]  # column 0 is the point itself


def inside_manifold(points: np.ndarray, manifold: np.ndarray, k: int) -> np.ndarray:
    """Whether each of ``points`` lies within some ball of the k-NN manifold of ``manifold`` ``(N,)`` bool."""
    radii = knn_radii(manifold, k)
    return np.asarray((_distances(points, manifold) <= radii[None, :]).any(axis=1))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample indicators: generated samples inside the real manifold (precision = their mean) and real
    samples inside the generated manifold (recall = their mean)."""
    return inside_manifold(fake, real, k), inside_manifold(real, fake, k)


def nearest_distances(
    queries: torch.Tensor, references: torch.Tensor, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """For each query image, the RMS-per-pixel distance to its nearest reference image and that image's index.

    Args:
        queries: ``(N, C, *spatial)``; references: ``(M, C, *spatial)``, same size and intensity scale.
    """
    flat_refs = references.float().reshape(len(references), -1)
    scale = float(flat_refs.shape[1]) ** 0.5
    best = np.empty(len(queries))
    index = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        part = queries[start : start + chunk].float().reshape(-1, flat_refs.shape[1])
        distances = torch.cdist(part, flat_refs)
        value, where = distances.min(dim=1)
        best[start : start + len(part)] = (value / scale).numpy()
        index[start : start + len(part)] = where.numpy()
    return best, index
