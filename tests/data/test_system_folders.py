"""Folders that archivers, operating systems and NAS boxes add beside data (``__MACOSX`` from a zip made on a Mac,
Synology's ``@eaDir`` thumbnails, ``$RECYCLE.BIN``) are never classes, images or inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.io.formats import in_system_folder
from medimg.io.inputs import expand_inputs


def _png(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


def test_a_macosx_folder_beside_split_folders_keeps_the_splits(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            _png(tmp_path / split / cls / "a.png", 1)
            (tmp_path / "__MACOSX" / split / cls).mkdir(parents=True)
            (tmp_path / "__MACOSX" / split / cls / "._a.png").write_bytes(b"\x00\x05\x16\x07")
    _png(tmp_path / "train" / "NORMAL" / "@eaDir" / "a.png" / "SYNOFILE_THUMB_M.png", 2)  # a real PNG thumbnail
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["NORMAL", "PNEUMONIA"]
    assert sorted({c.split for c in dataset.cases}) == ["test", "train", "val"]
    assert len(dataset.cases) == 6 and not any("@eaDir" in c.case_id for c in dataset.cases)


def test_segmentation_pairs_and_predict_inputs_skip_them(tmp_path: Path) -> None:
    for i in range(2):
        _png(tmp_path / "images" / f"c{i}.png")
        _png(tmp_path / "masks" / f"c{i}.png")
    _png(tmp_path / "$RECYCLE.BIN" / "images" / "old.png")
    dataset = Dataset.load(tmp_path, task="segment")
    assert sorted(c.case_id for c in dataset.cases) == ["images/c0.png", "images/c1.png"]
    assert not dataset.unlabelled
    inputs = expand_inputs([tmp_path])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in inputs) == [
        "images/c0.png",
        "images/c1.png",
        "masks/c0.png",
        "masks/c1.png",
    ]


def test_only_parts_below_the_root_count(tmp_path: Path) -> None:
    hidden_parent = tmp_path / ".cache" / "data"
    assert not in_system_folder(hidden_parent / "a.png", hidden_parent)
    assert in_system_folder(hidden_parent / "__MACOSX" / "a.png", hidden_parent)
    assert in_system_folder(hidden_parent / ".ipynb_checkpoints" / "a.png", hidden_parent)


def test_split_folders_beside_a_nested_copy_are_the_data(tmp_path: Path) -> None:
    """Kaggle's chest_xray archive: train/, val/, test/ beside chest_xray/ (a second copy of the same tree)."""
    for root in (tmp_path, tmp_path / "chest_xray"):
        for split in ("train", "val", "test"):
            for cls in ("NORMAL", "PNEUMONIA"):
                _png(root / split / cls / "a.png", 1)
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["NORMAL", "PNEUMONIA"]
    assert sorted(c.case_id for c in dataset.cases)[:2] == ["test/NORMAL/a.png", "test/PNEUMONIA/a.png"]
    assert len(dataset.cases) == 6


def test_a_class_named_test_stays_a_class(tmp_path: Path) -> None:
    for cls in ("test", "control"):
        _png(tmp_path / cls / "a.png", 1)
    assert Dataset.load(tmp_path).class_names == ["control", "test"]


def test_mask_folders_inside_class_folders_are_not_images_of_the_class(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The COVID-19 Radiography Database: ``COVID/images/*.png`` beside ``COVID/masks/*.png`` (lung masks)."""
    for cls in ("COVID", "Normal"):
        for i in range(3):
            _png(tmp_path / cls / "images" / f"{cls}-{i}.png", 10 * i + 1)
            _png(tmp_path / cls / "masks" / f"{cls}-{i}.png", 255)
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(tmp_path)  # what medimg fit and medimg check read without --task
    assert sorted(c.case_id for c in dataset.cases) == [
        f"{c}/images/{c}-{i}.png" for c in ("COVID", "Normal") for i in range(3)
    ]
    assert "left out 6 file(s) in mask folders" in caplog.text
    assert "sub-folders of their class folder" not in caplog.text  # <class>/images/ is not a patient folder
    assert dataset.class_names == ["Normal", "COVID"]  # the normal class first
    assert Dataset.load(tmp_path, task="classify").class_names == dataset.class_names
    segmentation = Dataset.load(tmp_path, task="segment")  # the lung masks, when they are asked for
    assert isinstance(segmentation, SegmentationDataset) and len(segmentation) == 6


def test_kaggle_split_folder_names(tmp_path: Path) -> None:
    """``training_set``/``test_set`` (and ``..._images``, ``..._data``) are split folders, not classes."""
    from medimg.data.case import normalise_split

    assert [normalise_split(n) for n in ("training_set", "Test Set", "val-images", "train_data", "holdout")] == [
        "train",
        "test",
        "val",
        "train",
        None,
    ]
    for split in ("training_set", "test_set"):
        for cls in ("benign", "malignant"):
            for i in range(2):
                _png(tmp_path / split / cls / f"{i}.png", i + 1)
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["benign", "malignant"]
    assert sorted({c.split for c in dataset.cases}) == ["test", "train"]
