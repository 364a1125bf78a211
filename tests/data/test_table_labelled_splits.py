"""A split folder of images without class folders beside the class-folder splits takes its labels from a table
(MobileODT's ``test/`` + ``solution_stg1_release.csv``, one-hot), or is left out with a warning, never silently."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset


def _jpg(path: Path, level: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.as_posix())) % 2**32)
    Image.fromarray((rng.random((12, 12, 3)) * 40 + level).astype(np.uint8)).save(path)


def _cervix(root: Path) -> None:
    """``train/Type_<k>/`` class folders and a flat ``test/`` (three images of each type)."""
    for k in (1, 2, 3):
        for i in range(4):
            _jpg(root / "train" / f"Type_{k}" / f"{k * 100 + i}.jpg", 40 * k)
    for i in range(9):
        _jpg(root / "test" / f"{i}.jpg", 40 * (i % 3 + 1))
    (root / "sample_submission.csv").write_text("image_name,Type_1,Type_2,Type_3\n0.jpg,1,0,0\n1.jpg,1,0,0\n")


def test_a_one_hot_solution_table_labels_the_test_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _cervix(tmp_path)
    rows = [f"{i}.jpg," + ",".join("1" if k == i % 3 else "0" for k in range(3)) for i in range(9)]
    (tmp_path / "solution_stg1_release.csv").write_text("image_name,Type_1,Type_2,Type_3\n" + "\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    test = {c.path.name: dataset.class_names[c.label] for c in dataset.cases if c.split == "test"}
    assert test == {f"{i}.jpg": f"Type_{i % 3 + 1}" for i in range(9)}
    assert sum(c.split == "train" for c in dataset.cases) == 12
    assert "labelled by solution_stg1_release.csv" in caplog.text


def test_a_label_column_by_stem_labels_the_test_folder(tmp_path: Path) -> None:
    _cervix(tmp_path)
    (tmp_path / "test" / "labels.csv").write_text(
        "id,diagnosis\n" + "\n".join(f"{i},type_{i % 3 + 1}" for i in range(8)) + "\n"
    )  # 8 of 9 named: the one left out is not guessed
    dataset = Dataset.load(tmp_path)
    test = {c.path.name: dataset.class_names[c.label] for c in dataset.cases if c.split == "test"}
    assert test == {f"{i}.jpg": f"Type_{i % 3 + 1}" for i in range(8)}


def test_without_a_table_the_test_folder_is_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The submission template names the images but is no label table: the folder was left out without a word."""
    _cervix(tmp_path)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert {c.split for c in dataset.cases} == {"train"}
    assert "test/ holds 9 image(s) without class folders" in caplog.text


def test_the_additional_images_of_the_training_classes_train_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MobileODT's ``additional_Type_1_v2/Type_1/`` (three times train/'s images, names that may coincide with
    train/'s) were ignored 'as a nested copy of the data'; a copy of train/ beside it still is."""
    import shutil

    _cervix(tmp_path)
    rows = [f"{i}.jpg," + ",".join("1" if k == i % 3 else "0" for k in range(3)) for i in range(9)]
    (tmp_path / "solution_stg1_release.csv").write_text("image_name,Type_1,Type_2,Type_3\n" + "\n".join(rows) + "\n")
    for k in (1, 2, 3):
        for i in range(5):  # one name of train/'s, another picture
            _jpg(tmp_path / f"additional_Type_{k}_v2" / f"Type_{k}" / f"{k * 100 + i * 7}.jpg", 40 * k + 3)
    shutil.copytree(tmp_path / "train", tmp_path / "copy")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    train = [c for c in dataset.cases if c.split == "train"]
    assert len(train) == 12 + 15 and not any(c.path.parts[-3] == "copy" for c in train)
    more = [c for c in train if c.path.parent.parent.name.startswith("additional")]
    assert {dataset.class_names[c.label] for c in more} == {"Type_1", "Type_2", "Type_3"}
    assert all(dataset.class_names[c.label] == c.path.parent.name for c in more)
    assert "others are ignored" in caplog.text and "(copy)" in caplog.text  # the copy, and only it
    assert "additional_Type_1_v2, additional_Type_2_v2, additional_Type_3_v2 hold more images" in caplog.text


def test_a_folder_named_for_a_test_set_beside_the_splits_is_never_trained_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """kneeKL224's ``auto_test/<grade>/`` (the test knees once more, cropped by a detector) beside ``train/``,
    ``val/`` and ``test/``: read as more images of train/'s classes, the test patients were trained on."""
    for split in ("train", "val", "test"):
        for grade in range(3):
            for i in range(4):
                _jpg(tmp_path / split / str(grade) / f"9{split[:2]}{grade}{i}_1.jpg", 30 * grade + 5 * i)
    for grade in range(3):
        for i in range(4):  # the test knees' names, other crops
            _jpg(tmp_path / "auto_test" / str(grade) / f"9te{grade}{i}_1.jpg", 30 * grade + 5 * i + 2)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert not [c for c in dataset.cases if "auto_test" in c.path.parts]
    assert sum(c.split == "train" for c in dataset.cases) == 12
    assert "auto_test/ beside the split folders is named for a held-out set" in caplog.text
    assert f"`medimg evaluate RUN {tmp_path / 'auto_test'}` scores a model on it" in caplog.text


def test_a_test_folder_of_the_classes_beside_the_class_folders_is_the_test_split(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``benign/``, ``malignant/`` beside ``test/benign/``, ``test/malignant/``: "mixes split folders (test) with class
    folders; treating every sub-folder as a class", a third class "test" of both kinds, trained on."""
    for cls, level in (("benign", 20), ("malignant", 120)):
        for i in range(6):
            _jpg(tmp_path / cls / f"{cls}_{i}.jpg", level + i)
        for i in range(3):
            _jpg(tmp_path / "test" / cls / f"t_{cls}_{i}.jpg", level + 10 + i)
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["benign", "malignant"]
    assert dataset.split_counts() == {"train": 12, "test": 6}
    assert all(c.split == "test" for c in dataset.cases if c.path.parts[-3] == "test")
    assert "test/ holds the class folders' classes: the test split" in caplog.text
    assert "treating every sub-folder as a class" not in caplog.text
