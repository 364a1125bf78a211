"""Headerless label lists per split: COVIDx CXR's ``train.txt``/``test.txt`` beside ``train/``/``test/``, COVIDx CT's
lists beside one image folder, and the teaching sets' ``<name> <label>`` lines."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError

SOURCES = ("cohen", "bimcv", "rsna")


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 16), value, np.uint8)).save(path)


def write_covidx(root: Path, per_split: int = 6) -> Path:
    """COVIDx CXR-4 as unpacked: ``train/``, ``val/``, ``test/`` and ``<split>.txt``, ``<patient> <file> <class>
    <source>`` a line; patient 7 has two training images, one with a name holding a space."""
    for split, first in (("train", 1), ("val", 100), ("test", 200)):
        lines = []
        for i in range(per_split):
            patient, label = first + i, ("positive", "negative")[i % 2]
            name = f"sub-S{patient:05d}_ses-E0000{i}_run-1.png" if i % 3 else f"{patient:08x}-a1e8-4c1b.png"
            _image(root / split / name, 200 if label == "positive" else 40)
            lines.append(f"{patient} {name} {label} {SOURCES[i % 3]}")
        if split == "train":
            _image(root / split / "COVID 19 (7).png", 200)
            lines.append(f"{first + 1} COVID 19 (7).png positive cohen")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_covidx_classes_patients_and_splits_come_from_the_lists(tmp_path: Path) -> None:
    data = Dataset.load(write_covidx(tmp_path / "COVIDx"))
    assert data.source == "label_lists" and sorted(data.class_names) == ["negative", "positive"]
    assert {c.split for c in data.cases} == {"train", "val", "test"}
    assert len(data.cases) == 3 * 6 + 1
    for case in data.cases:
        assert case.path is not None and case.path.parent.name == case.split
        brightness = np.asarray(Image.open(case.path)).mean()
        assert data.class_names[case.label] == ("positive" if brightness > 100 else "negative")
    spaced = next(c for c in data.cases if c.path is not None and c.path.name == "COVID 19 (7).png")
    assert spaced.patient_id == "2" and data.class_names[spaced.label] == "positive"
    assert len({c.patient_id for c in data.cases if c.patient_id == "2"}) == 1
    assert sum(c.patient_id == "2" for c in data.cases) == 2


def test_lists_named_for_a_release_beside_one_image_folder(tmp_path: Path) -> None:
    """COVIDx CT: ``train_COVIDx_CT-3A.txt`` (``<file> <class> <box>``) and every image in ``3A_images/``."""
    root = tmp_path / "COVIDx-CT"
    for split in ("train", "test"):
        lines = []
        for i in range(4):
            name = f"NCP_{i}_{'1328' if split == 'train' else '2001'}_{i:04d}.png"
            _image(root / "3A_images" / name, 60 * (i % 3))
            lines.append(f"{name} {i % 3} 9 94 512 405")
        (root / f"{split}_COVIDx_CT-3A.txt").write_text("\n".join(lines) + "\n")
    data = Dataset.load(root)
    assert data.class_names == ["0", "1", "2"] and {c.split for c in data.cases} == {"train", "test"}
    for case in data.cases:
        assert case.path is not None and int(np.asarray(Image.open(case.path)).mean()) == 60 * case.label


def test_unlisted_and_missing_images_are_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = write_covidx(tmp_path / "COVIDx")
    _image(root / "train" / "stray.png", 5)
    next((root / "test").glob("*.png")).unlink()
    with caplog.at_level(logging.WARNING):
        data = Dataset.load(root)
    assert len(data.cases) == 3 * 6
    said = caplog.text
    assert "1 image(s) the lists name are not in the folder" in said
    assert "1 image(s) are in no label list (e.g. train/stray.png)" in said


def test_a_pair_list_or_a_single_name_list_is_not_a_label_list(tmp_path: Path) -> None:
    """``<image> <mask>`` lines pair images with masks; ``<image>`` alone is a split list (ChestX-ray14's)."""
    from medimg.data.layouts import label_lists

    _image(tmp_path / "images" / "a.png", 1)
    (tmp_path / "train.txt").write_text("images/a.png masks/a.png\n")
    assert not label_lists.detect(tmp_path)
    (tmp_path / "train.txt").write_text("images/a.png\n")
    assert not label_lists.detect(tmp_path)
    (tmp_path / "train.txt").write_text("images/a.png 1\n")
    assert label_lists.detect(tmp_path)


def test_a_bad_line_two_lists_for_a_split_and_conflicting_classes_are_named(tmp_path: Path) -> None:
    root = write_covidx(tmp_path / "COVIDx")
    with (root / "test.txt").open("a") as handle:
        handle.write("299 notes about the set\n")
    with pytest.raises(DatasetError, match=r"test\.txt, line 7: '299 notes about the set'"):
        Dataset.load(root)
    write_covidx(root)
    (root / "test_COVIDx9A.txt").write_text((root / "test.txt").read_text())
    with pytest.raises(DatasetError, match=r"2 label lists name the test split \(test\.txt, test_COVIDx9A\.txt\)"):
        Dataset.load(root)
    (root / "test_COVIDx9A.txt").unlink()
    first = (root / "train.txt").read_text().splitlines()[0].split()
    with (root / "val.txt").open("a") as handle:
        handle.write(f"1 ../COVIDx/train/{first[1]} negative cohen\n")
    with pytest.raises(DatasetError, match=r"listed as 'positive' \(train\) and as 'negative' \(val\)"):
        Dataset.load(root)


def test_numbers_of_a_measurement_are_not_classes(tmp_path: Path) -> None:
    lines = []
    for i in range(30):
        _image(tmp_path / "images" / f"{i}.png", i)
        lines.append(f"images/{i}.png {100 + 3 * i}")
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="30 distinct numbers: a measurement, not classes"):
        Dataset.load(tmp_path)


def test_case_label_lists_in_a_labels_folder_are_not_yolo_boxes(tmp_path: Path) -> None:
    """LLD-MMRI: ``images/MR-000001/<phase>.png`` beside ``labels/labels_train.txt`` of ``MR-000001 1`` lines: read
    as a YOLO detection set without a box (status OK), the lists' classes unread. A YOLO set stays one."""
    from medimg.data.layouts import select_layout

    for case in range(1, 5):
        for phase in ("C+A", "T2WI"):
            _image(tmp_path / "lld" / "images" / f"MR-{case:06d}" / f"{phase}.png", 30 * case + len(phase))
    (tmp_path / "lld" / "labels").mkdir()
    (tmp_path / "lld" / "labels" / "labels_train.txt").write_text("".join(f"MR-{c:06d} {c % 3}\n" for c in range(1, 5)))
    with pytest.raises(DatasetError, match="single class"):
        Dataset.load(tmp_path / "lld")
    for i in range(3):
        _image(tmp_path / "yolo" / "images" / f"a{i}.png", 40 * i)
        (tmp_path / "yolo" / "labels").mkdir(parents=True, exist_ok=True)
        (tmp_path / "yolo" / "labels" / f"a{i}.txt").write_text("0 0.5 0.5 0.25 0.25\n" if i else "")
    assert select_layout(tmp_path / "yolo").name == "yolo"
