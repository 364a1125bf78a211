"""YOLO folders as a new user writes them: labels in pixels, classes of data.yaml without any box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.layouts import yolo
from medimg.data.quality import check_dataset
from medimg.errors import DatasetError


def _yolo(root: Path, labels: dict[str, list[str]], names: tuple[str, ...] = ("cell", "blob")) -> Path:
    """``<split>/images/<name>.png`` (32x32) + ``<split>/labels/<name>.txt`` for each ``"<split>/<name>"``."""
    for key, lines in labels.items():
        split, name = key.split("/")
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "labels").mkdir(parents=True, exist_ok=True)
        image = np.full((32, 32), 60, np.uint8)
        image[8:20, 8:20] = 200 + len(key)  # no two images alike (no duplicate warnings)
        Image.fromarray(image).save(root / split / "images" / f"{name}.png")
        (root / split / "labels" / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines))
    (root / "data.yaml").write_text(f"names: {list(names)}\n")
    return root


def test_pixel_coordinates_are_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    root = _yolo(tmp_path / "y", {"train/a": ["0 0.5 0.5 0.25 0.25"], "train/b": ["0 0.5 0.5 0.2 0.2", "0 16 16 8 8"]})
    with pytest.raises(DatasetError, match=r"b\.txt:2: values 16, 16, 8, 8 are over 1") as error:
        yolo.load(root)
    assert "divide x and w by W, y and h by H" in str(error.value)


def test_rounding_just_over_one_is_accepted(tmp_path: Path) -> None:
    root = _yolo(tmp_path / "y", {"train/a": ["0 0.5 0.5 1.0004 0.2", "1 0.5 0.5 0.25 0.25"]})
    ds = yolo.load(root)
    assert len(ds.cases[0].boxes or ()) == 2


def test_check_names_the_classes_without_any_box(tmp_path: Path) -> None:
    labels = {f"train/t{i}": ["0 0.5 0.5 0.25 0.25"] for i in range(3)} | {"valid/v0": ["0 0.4 0.4 0.2 0.2"]}
    report = check_dataset(yolo.load(_yolo(tmp_path / "y", labels)))
    assert any("class(es) blob have no box in any image" in w for w in report.warnings), report.warnings


def test_check_names_the_classes_without_a_training_box(tmp_path: Path) -> None:
    labels = {f"train/t{i}": ["0 0.5 0.5 0.25 0.25"] for i in range(3)} | {"valid/v0": ["1 0.4 0.4 0.2 0.2"]}
    report = check_dataset(yolo.load(_yolo(tmp_path / "y", labels)))
    assert any("class(es) blob have no box in the training split" in w for w in report.warnings), report.warnings
    assert not any("no box in any image" in w for w in report.warnings)


def test_images_in_class_folders_find_their_labels_by_name(tmp_path: Path) -> None:
    """FracAtlas's ``images/Fractured/IMG0000019.jpg`` with its YOLO labels as ``labels/IMG0000019.txt`` (copied
    from ``Annotations/YOLO/`` as the error advises): before, no label file matched and `check` said "status OK"
    for 0 boxes. A name two label files share matches neither."""
    root = tmp_path / "FracAtlas"
    rng = np.random.default_rng(0)
    for folder, name in (("Fractured", "IMG0000019"), ("Fractured", "IMG0000025"), ("Non_fractured", "IMG0000001")):
        (root / "images" / folder).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (40, 50), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / folder / f"{name}.png")
    (root / "labels" / "more").mkdir(parents=True)
    (root / "labels" / "IMG0000019.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (root / "labels" / "IMG0000025.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (root / "labels" / "more" / "IMG0000025.txt").write_text("0 0.2 0.2 0.1 0.1\n")  # the same name twice
    (root / "data.yaml").write_text("names: ['fractured']\n")
    dataset = yolo.load(root)
    boxes = {c.case_id: len(c.boxes or ()) for c in dataset.cases}
    assert boxes == {
        "images/Fractured/IMG0000019.png": 1,
        "images/Fractured/IMG0000025.png": 0,
        "images/Non_fractured/IMG0000001.png": 0,
    }
    assert check_dataset(dataset).ok, check_dataset(dataset).summary()
