"""Split folders that spell a class differently are one class (Kaggle's Chest CT-Scan images: ``train/
adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib`` vs ``test/adenocarcinoma``; ``Normal`` vs ``normal``); before, each
spelling was a class of its own and the test classes were never trained. A test class with no training folder
at all is refused; classes side by side in one split are never merged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError


def _images(folder: Path, n: int = 3) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8), 20 * i, np.uint8)).save(folder / f"{i}.png")


def test_spellings_across_splits_are_one_class(tmp_path: Path) -> None:
    for split in ("train", "valid"):
        _images(tmp_path / split / "adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib")
        _images(tmp_path / split / "Normal")
    _images(tmp_path / "test" / "adenocarcinoma")
    _images(tmp_path / "test" / "normal")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["Normal", "adenocarcinoma"]
    assert dataset.class_counts() == {"Normal": 9, "adenocarcinoma": 9}


def test_classes_side_by_side_in_one_split_stay_apart(tmp_path: Path) -> None:
    for split in ("train", "test"):
        _images(tmp_path / split / "glioma")
        _images(tmp_path / split / "glioma_grade2")
    assert sorted(Dataset.load(tmp_path).class_names) == ["glioma", "glioma_grade2"]


def test_a_test_class_without_training_images_is_refused(tmp_path: Path) -> None:
    _images(tmp_path / "train" / "benign")
    _images(tmp_path / "train" / "malignant")
    _images(tmp_path / "test" / "benign")
    _images(tmp_path / "test" / "carcinoid")
    with pytest.raises(DatasetError, match="test/carcinoid have no training folder"):
        Dataset.load(tmp_path)
