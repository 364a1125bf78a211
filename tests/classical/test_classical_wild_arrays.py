"""A classical model predicts arrays by its own layout, as a deep model does: (3, H, W) is one image for an RGB
model, (D, H, W) one volume for a 3D model."""

from __future__ import annotations

import numpy as np

from medimg import Model


def test_an_rgb_model_reads_a_channel_first_array_as_one_image(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (24, 12, 12, 3)).astype(np.uint8)
    y = np.array([0, 1] * 12)
    X[y == 1] //= 2
    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1)
    model.fit(X, y, run_dir=tmp_path / "run", progress=False)
    channel_last = model.predict(X[1])
    channel_first = model.predict(np.moveaxis(X[1], -1, 0))
    assert len(channel_first) == 1  # not three grey images
    assert channel_first[0].probabilities == channel_last[0].probabilities


def test_a_volume_model_reads_a_volume_array_as_one_volume(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (16, 6, 10, 10))
    y = np.array([0, 1] * 8)
    X[y == 1] += 1.0
    model = Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1)
    model.fit(X, y, run_dir=tmp_path / "run", progress=False)
    predictions = model.predict(X[3])
    assert len(predictions) == 1  # not six 2D slices
    assert predictions[0].label == model.predict(X[3:4])[0].label
