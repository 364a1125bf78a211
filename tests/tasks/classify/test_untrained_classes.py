"""A class no training image shows is named before training (a MedMNIST file whose class has test images only: the
model was trained and scored on it without a word)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.tasks.classify.data import fingerprint_training_images


def test_a_class_without_training_images_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for k, name in enumerate(("benign", "malignant", "vascular lesions")):
        for i in range(3):
            (tmp_path / name).mkdir(exist_ok=True)
            Image.fromarray(np.full((8, 8), 40 * k + i, np.uint8)).save(tmp_path / name / f"{i}.png")
    dataset = Dataset.load(tmp_path)
    training = [c for c in dataset.cases if dataset.class_names[c.label] != "vascular lesions"]
    with caplog.at_level(logging.WARNING, logger="medimg"):
        fingerprint_training_images(dataset, training)
    assert "1 class(es) have no training image, only images in the other splits: vascular lesions (3)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medimg"):
        fingerprint_training_images(dataset, dataset.cases)
    assert "no training image" not in caplog.text
