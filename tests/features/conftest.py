"""A tiny Herlev-like dataset: RGB cells with colour masks beside them (``X.bmp`` + ``X-d.bmp``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def make_cells(root: Path, n_per_class: int = 16, size: int = 32, seed: int = 0) -> Path:
    """Classes ``normal_cell`` (small nucleus) and ``abnormal_cell`` (large nucleus); images and masks."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for label, name in enumerate(("normal_cell", "abnormal_cell")):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            cy, cx = size / 2 + rng.uniform(-2, 2, size=2)
            r_cell = rng.uniform(10, 13)
            r_nuc = rng.uniform(2, 3.5) if label == 0 else rng.uniform(5, 7)
            d = np.hypot(yy - cy, xx - cx)
            mask = np.zeros((size, size, 3), np.uint8)
            mask[:] = (0, 0, 128)  # background
            mask[d < r_cell] = (255, 0, 0)  # cytoplasm
            mask[d < r_nuc] = (0, 0, 255)  # nucleus
            image = rng.normal(200, 10, size=(size, size, 3))
            image[d < r_cell] = rng.normal(150, 10, size=(int((d < r_cell).sum()), 3))
            image[d < r_nuc] = rng.normal(60, 10, size=(int((d < r_nuc).sum()), 3))
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / f"cell{i:03d}.bmp")
            Image.fromarray(mask).save(folder / f"cell{i:03d}-d.bmp")
    return root


def make_rgb_with_odd_files(root: Path) -> Path:
    """12 RGB images per class, a grey one that sorts first and a multi-page TIFF among them."""
    from PIL import Image

    rng = np.random.default_rng(10)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(12):
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            if name == "b":
                image[8:24, 8:24] = 255
            Image.fromarray(image).save(root / name / f"{i:02d}.png")
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(root / "a" / "000.png")
    pages = [Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)) for _ in range(3)]
    pages[0].save(root / "b" / "stack.tif", save_all=True, append_images=pages[1:])
    return root


@pytest.fixture
def cells_dir(tmp_path: Path) -> Path:
    return make_cells(tmp_path / "cells")
