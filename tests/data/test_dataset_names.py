"""A dataset read from a generic folder (``herlev/data``, ``DRIVE/datasets/training``, ``labels.csv``) was named
"data", "training" or "labels" in its report title, logs and run card: it takes the nearest meaningful name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset_names import dataset_name, is_generic


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("herlev/data", "herlev"),
        ("DRIVE/datasets/training", "DRIVE"),
        ("chest_xray/train", "chest_xray"),
        ("ISIC2018/v1.0/Images", "ISIC2018"),
        ("mimic-cxr-jpg/2.0.0/raw", "mimic-cxr-jpg"),
        ("kvasir/labels.csv", "kvasir"),
        ("pneumoniamnist.npz", "pneumoniamnist"),
        ("BCCD", "BCCD"),
        ("my-study/Raw-Data", "Raw-Data"),
    ],
)
def test_a_generic_folder_or_file_takes_the_name_above_it(tmp_path: Path, relative: str, expected: str) -> None:
    path = tmp_path / "study_root" / relative
    if path.suffix:
        path.parent.mkdir(parents=True)
        path.write_text("x")
    else:
        path.mkdir(parents=True)
    assert dataset_name(path) == expected


def test_only_generic_names_keep_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_generic("Data") and is_generic("ground-truth") and is_generic("v2") and is_generic("2024")
    assert not is_generic("herlev") and not is_generic("Raw-Data")
    monkeypatch.chdir(tmp_path)
    assert dataset_name(".") == tmp_path.name  # the working folder by its name


def test_a_folder_per_class_dataset_in_a_data_folder_is_named_by_its_parent(tmp_path: Path) -> None:
    from PIL import Image

    from medimg.data.dataset import Dataset

    rng = np.random.default_rng(0)
    for label in ("benign", "malignant"):
        folder = tmp_path / "breast_us" / "data" / label
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / f"{label}_{i}.png")
    assert Dataset.load(tmp_path / "breast_us" / "data").name == "breast_us"
