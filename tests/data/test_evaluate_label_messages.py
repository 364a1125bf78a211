"""``evaluate(X, y)`` / ``evaluate(paths, labels)`` with a label the model has no class for: the message speaks of
the model's classes (``model.classes_``), not of a ``class_names`` the user never gave ("name every class")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.errors import ConfigError
from tests.data.test_given_arrays import two_class_images


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    images, labels = two_class_images(40)
    run = tmp_path_factory.mktemp("run") / "run"
    return Model("simple-cnn").fit(
        images, labels, class_names=["normal", "lesion"], run_dir=run, epochs=1, progress=False
    )


def test_arrays_with_a_label_the_model_lacks(model: Model) -> None:
    images, _ = two_class_images(4, seed=1)
    with pytest.raises(ConfigError, match=r"not among the model's classes \(normal, lesion\): give each image") as e:
        model.evaluate(images, ["normal", "cyst", "normal", "lesion"])
    assert "class_names" not in str(e.value) and "name every class" not in str(e.value)
    with pytest.raises(ConfigError, match=r"the model has 2 classes .* integer labels index model.classes_ \(0..1\)"):
        model.evaluate(images, [0, 1, 2, 1])


def test_files_with_a_label_the_model_lacks(model: Model, tmp_path: Path) -> None:
    images, _ = two_class_images(2, seed=2)
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"x{i}.png")
        Image.fromarray(np.squeeze(image).astype(np.uint8)).save(files[-1])
    with pytest.raises(ConfigError, match=r"'cyst' is not among the model's classes"):
        model.evaluate(files, ["normal", "cyst"])
    with pytest.raises(ConfigError, match=r"label 2 but the model has 2 classes .* index model.classes_"):
        model.evaluate(files, [0, 2])
