"""Classical fits on awkward data sets: a class of one image, every image blank: messages that name the class or
say what happened."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from medimg.classical.pipelines import search_and_fit
from medimg.errors import DatasetError


def test_a_class_too_small_for_cross_validation_is_named():
    y = np.array([0, 0, 0, 1, 1, 1, 2])
    with pytest.raises(DatasetError, match=r"class 'rare' has only 1 training image.*leave it out"):
        search_and_fit("svm", np.zeros((7, 2)), y, cv_folds=2, class_names=["a", "b", "rare"])


def _save(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_split_warnings_name_the_classes_as_a_deep_fit_does(tmp_path, caplog):
    from medimg import Model

    rng = np.random.default_rng(0)
    for name, count in (("common", 8), ("other", 8), ("rare", 1)):
        for i in range(count):
            _save(tmp_path / "data" / name / f"{i}.png", rng.integers(0, 256, (12, 12)).astype(np.uint8))
    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1)
    with caplog.at_level(logging.WARNING), pytest.raises(DatasetError, match="'rare'"):
        model.fit(tmp_path / "data", run_dir=tmp_path / "run", progress=False)
    warned = " ".join(r.getMessage() for r in caplog.records if "too few" in r.getMessage())
    assert "rare" in warned and "class number" not in warned


def test_data_whose_every_image_is_left_out_says_so(tmp_path):
    from medimg import Model

    for name, value in (("a", 40), ("b", 190)):
        for i in range(6):
            _save(tmp_path / "data" / name / f"{i}.png", np.full((12, 12), value + i, np.uint8))  # blank images
    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1)
    with pytest.raises(DatasetError, match="no images left to train on") as error:
        model.fit(tmp_path / "data", run_dir=tmp_path / "run", progress=False)
    assert "none of the 0" not in str(error.value)
