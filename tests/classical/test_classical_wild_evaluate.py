"""``evaluate`` of a classical run on folders, as for a deep run: the training folder by its path is scored on its
saved test split, an external folder without a split of its own on all of its images, even with one class."""

from __future__ import annotations

import shutil

import numpy as np

from medimg import Model


def test_evaluate_reads_folders_like_a_deep_run(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, mean in (("a", 80), ("b", 160)):
        for i in range(10):
            folder = tmp_path / "data" / name
            folder.mkdir(parents=True, exist_ok=True)
            image = np.clip(rng.normal(mean, 20, (12, 12)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(folder / f"{name}{i}.png")
    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1)
    model.fit(tmp_path / "data", run_dir=tmp_path / "run", progress=False)
    fitted = model.report_.metrics["n"]

    again = Model.load(tmp_path / "run").evaluate(tmp_path / "data", n_resamples=20)  # the training data by its path
    assert again.metrics["n"] == fitted < 20  # its saved test split, not "no 'test' images"

    shutil.copytree(tmp_path / "data" / "a", tmp_path / "external" / "a")  # another site's images of one class
    external = Model.load(tmp_path / "run").evaluate(tmp_path / "external", n_resamples=20)
    assert external.metrics["n"] == 10 and external.split == "all"
