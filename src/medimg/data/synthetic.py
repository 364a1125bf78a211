"""Procedurally drawn phantom images: the built-in demo dataset (no download, no real patients).

Each image is a textured elliptical "organ" on a dark background; images of class ``lesion`` also hold a
small, slightly brighter blob inside the organ. The contrast is low enough that a classifier must learn
to find it, and high enough that a small CNN does in a minute on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("normal", "lesion")


def draw_phantom(rng: np.random.Generator, size: int = 64, lesion: bool = False) -> np.ndarray:
    """One phantom image ``(size, size)`` uint8."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cy, cx = 0.5 + rng.uniform(-0.05, 0.05, 2)
    ry, rx = rng.uniform(0.28, 0.4, 2)
    organ = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    image = np.where(organ, 0.45, 0.08).astype(np.float32)
    cells = -(-size // 4)  # 4-px texture cells, the last one cut at a side that is not a multiple of 4
    texture = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    texture = np.kron(texture, np.ones((4, 4), dtype=np.float32))[:size, :size]
    image += 0.06 * texture * organ
    if lesion:
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.55)
        ly, lx = cy + radius * ry * np.sin(angle), cx + radius * rx * np.cos(angle)
        r = rng.uniform(0.05, 0.09)
        blob = np.exp(-(((yy - ly) ** 2 + (xx - lx) ** 2) / (2 * r**2)))
        image += 0.3 * blob * organ
    image += rng.normal(0, 0.03, image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def make_phantom_dataset(root: str | Path, *, n_per_class: int = 200, size: int = 64, seed: int = 0) -> Path:
    """Write ``root/{normal,lesion}/phantom_XXXX.png`` and return ``root``.

    Args:
        root: output folder (created).
        n_per_class: images per class.
        size: side length in pixels.
        seed: random seed; the same seed gives the same files.
    """
    from PIL import Image

    out = Path(root)
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            Image.fromarray(draw_phantom(rng, size, lesion=bool(label))).save(folder / f"phantom_{i:04d}.png")
    return out
