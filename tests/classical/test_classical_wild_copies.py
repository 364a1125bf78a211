"""Identical copies of an image (``x.png`` and ``x_copy.png``) are kept in one split by medimg's split; the
classical model's cross-validation folds keep them in one fold too, or the grid search scores images it trained on."""

from __future__ import annotations

import shutil

import numpy as np

from medimg.classical.model import _patient_folds
from medimg.data.dataset import Dataset
from medimg.data.quality import group_identical_images


def test_cv_folds_keep_copies_of_an_image_together(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    copies = []
    for name in ("a", "b"):
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (8, 8)).astype(np.uint8)).save(folder / f"{i}.png")
        for i in range(4):
            shutil.copy(folder / f"{i}.png", folder / f"{i}_copy.png")
            copies.append([f"{name}/{i}.png", f"{name}/{i}_copy.png"])
    dataset = group_identical_images(Dataset.load(tmp_path / "data", task="classify"), copies)
    ids = [c.case_id for c in dataset.cases]
    for seed in range(5):
        folds = _patient_folds(dataset, ids, 3, seed)
        assert folds is not None, "no folds: plain stratified k-fold splits the copies"
        fold_of = dict(zip(ids, folds, strict=True))
        assert all(fold_of[a] == fold_of[b] for a, b in copies)
    from medimg.classical.model import _grouped_by  # search.json's cv_grouped_by

    assert _grouped_by(dataset, ids) == "identical images"
