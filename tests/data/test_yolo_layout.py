"""YOLO detection folders as Roboflow and Ultralytics write them: boxes as fractions of the image size, names from
data.yaml, an image without a label file is a negative. Before: read as two classes, 'images' and 'labels'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.data.detection import DetectionDataset
from medimg.errors import DatasetError


def _image(path: Path, height: int = 50, width: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)


def _labels(path: Path, *lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def test_roboflow_export_with_names_from_data_yaml(tmp_path: Path) -> None:
    for split in ("train", "valid", "test"):
        for i in range(3):
            _image(tmp_path / split / "images" / f"cell_{i}.jpg")
            if i:  # cell_0 has no label file: an image without objects
                _labels(tmp_path / split / "labels" / f"cell_{i}.txt", "1 0.5 0.5 0.2 0.4", "0 0.1 0.1 0.1 0.1")
    (tmp_path / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 2\nnames: ['RBC', 'WBC']\n")
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["RBC", "WBC"]
    assert dataset.split_counts() == {"train": 3, "val": 3, "test": 3}
    by_id = {c.case_id: c for c in dataset.cases}
    assert by_id["train/images/cell_0.jpg"].boxes == ()
    wbc, rbc = by_id["train/images/cell_1.jpg"].boxes
    assert (wbc.x1, wbc.y1, wbc.x2, wbc.y2, wbc.label) == pytest.approx((40.0, 15.0, 60.0, 35.0, 1))  # 100 x 50 px
    assert (rbc.x1, rbc.y1, rbc.x2, rbc.y2, rbc.label) == pytest.approx((5.0, 2.5, 15.0, 7.5, 0))


def test_ultralytics_folders_names_as_a_mapping_and_polygons(tmp_path: Path) -> None:
    for split in ("train", "val"):
        _image(tmp_path / "images" / split / "a.png")
        _labels(tmp_path / "labels" / split / "a.txt", "0 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6")  # a YOLO-seg polygon
    (tmp_path / "nodules.yaml").write_text("path: .\nnames:\n  0: nodule\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["nodule"] and {c.split for c in dataset.cases} == {"train", "val"}
    by_yaml = Dataset.load(tmp_path / "nodules.yaml")  # as `yolo train data=nodules.yaml`
    assert [c.case_id for c in by_yaml.cases] == [c.case_id for c in dataset.cases]
    (box,) = dataset.cases[0].boxes
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx((10.0, 10.0, 50.0, 30.0))


def test_without_a_yaml_ids_name_the_classes_and_bad_lines_are_named(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.png")
    _labels(tmp_path / "labels" / "a.txt", "2 0.5 0.5 0.2 0.2")
    assert Dataset.load(tmp_path).class_names == ["class_0", "class_1", "class_2"]
    _labels(tmp_path / "labels" / "a.txt", "2 0.5 0.5 0.2")
    with pytest.raises(DatasetError, match=r"a\.txt:1: 4 values"):
        Dataset.load(tmp_path)
    _labels(tmp_path / "labels" / "a.txt", "3 0.5 0.5 0.2 0.2")
    (tmp_path / "data.yaml").write_text("names: [a, b]\n")
    with pytest.raises(DatasetError, match=r"class id\(s\) \[3\] have no name"):
        Dataset.load(tmp_path)


def test_a_segmentation_labels_folder_of_masks_is_not_yolo(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.png")
    _image(tmp_path / "labels" / "a.png")
    assert Dataset.load(tmp_path).task == "segment"


def test_the_yaml_given_names_the_classes_not_another_in_its_folder(tmp_path: Path) -> None:
    """``medimg fit swapped.yaml`` (``yolo train data=swapped.yaml``) took its names from the folder's data.yaml;
    a YAML elsewhere naming the folder by ``path:`` gave ``class_0``, ``class_1`` with a warning."""
    _image(tmp_path / "ds" / "images" / "train" / "a.png")
    _labels(tmp_path / "ds" / "labels" / "train" / "a.txt", "0 0.5 0.5 0.2 0.2", "1 0.2 0.2 0.1 0.1")
    (tmp_path / "ds" / "data.yaml").write_text("names: [blob, cell]\n")
    (tmp_path / "ds" / "swapped.yaml").write_text("names: [cell, blob]\n")
    assert Dataset.load(tmp_path / "ds" / "swapped.yaml").class_names == ["cell", "blob"]
    assert Dataset.load(tmp_path / "ds").class_names == ["blob", "cell"]  # the folder: its data.yaml
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "my.yaml").write_text(f"path: {tmp_path / 'ds'}\nnames:\n  0: nodule\n  1: mass\n")
    (tmp_path / "ds" / "data.yaml").unlink()
    (tmp_path / "ds" / "swapped.yaml").unlink()
    assert Dataset.load(tmp_path / "cfg" / "my.yaml").class_names == ["nodule", "mass"]
