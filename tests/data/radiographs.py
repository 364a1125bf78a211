"""Synthetic radiograph-like pictures for the copy and near-duplicate tests: smooth grey structure that differs
from picture to picture, as chest X-rays do, without any real data."""

from __future__ import annotations

import numpy as np


def radiograph(rng: np.random.Generator, size: int = 96, blobs: int = 8) -> np.ndarray:
    """A ``size`` x ``size`` 8-bit picture: ``blobs`` random Gaussian blobs of either sign, stretched to 0..255."""
    yy, xx = np.mgrid[:size, :size] / size
    picture = np.zeros((size, size))
    for _ in range(blobs):
        cy, cx, r = rng.random(3) * [1, 1, 0.3] + [0, 0, 0.05]
        picture += rng.uniform(-1, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)
    picture = (picture - picture.min()) / np.ptp(picture)
    return (picture * 255).astype(np.uint8)
