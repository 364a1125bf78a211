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


def _folds(root: Path, *folders: str) -> None:
    for folder in folders:
        for i in range(2):
            _image(root / "images" / folder / f"{folder}_{i}.png")
            _labels(root / "labels" / folder / f"{folder}_{i}.txt", "0 0.5 0.5 0.2 0.2")


def test_the_yaml_splits_name_the_folders_whatever_their_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Ultralytics reads the splits from the YAML's train/val/test entries: folders named fold1_train and
    fold1_holdout were read as one pool without splits (their names say none) and split at random. A folder the
    YAML does not name is left out, with a warning."""
    _folds(tmp_path, "fold1_train", "fold1_holdout", "final_eval", "scratch")
    (tmp_path / "data.yaml").write_text(
        "path: .\ntrain: images/fold1_train\nval: images/fold1_holdout\ntest: images/final_eval\nnames: [nodule]\n"
    )
    dataset = Dataset.load(tmp_path)
    splits = {c.case_id: c.split for c in dataset.cases}
    assert splits == {
        **{f"images/fold1_train/fold1_train_{i}.png": "train" for i in range(2)},
        **{f"images/fold1_holdout/fold1_holdout_{i}.png": "val" for i in range(2)},
        **{f"images/final_eval/final_eval_{i}.png": "test" for i in range(2)},
    }
    assert all(c.boxes for c in dataset.cases)
    assert caplog.text.count("scratch not named by the dataset YAML") == 1


@pytest.mark.parametrize(
    ("folders", "yaml", "splits", "said"),
    [
        # small examples often say ``val: images/train``: scoring on the training images; they stay in training
        # (the test folder is found by its name)
        (
            ("train", "test"),
            "train: images/train\nval: images/train\n",
            {"train", "test"},
            ["the train folder already"],
        ),
        # an entry naming no folder is named, and the folder names decide
        (
            ("train", "val"),
            "train: train.txt\nval: images/moved_val\n",
            {"train", "val"},
            ["train.txt is neither an images folder with a labels/ twin nor an image list file", "images/moved_val"],
        ),
    ],
    ids=["val-names-the-training-folder", "entries-naming-no-folder"],
)
def test_yaml_entries_that_give_no_split_of_their_own_are_named(
    folders: tuple[str, ...],
    yaml: str,
    splits: set[str],
    said: list[str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _folds(tmp_path, *folders)
    (tmp_path / "data.yaml").write_text(yaml + "names: [nodule]\n")
    dataset = Dataset.load(tmp_path)
    assert {c.split for c in dataset.cases} == splits
    assert all(text in caplog.text for text in said)


def test_a_yaml_elsewhere_naming_split_folders_by_path(tmp_path: Path) -> None:
    _folds(tmp_path / "ds", "a", "b")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "my.yaml").write_text(f"path: {tmp_path / 'ds'}\ntrain: images/a\nval: images/b\nnames: [x]\n")
    dataset = Dataset.load(tmp_path / "cfg" / "my.yaml")
    assert {c.case_id.split("/")[1]: c.split for c in dataset.cases} == {"a": "train", "b": "val"}


def test_a_yaml_named_by_the_user_finds_folders_no_name_places(tmp_path: Path) -> None:
    for part in ("trainset", "holdout"):
        _image(tmp_path / part / "images" / "a.png")
        _labels(tmp_path / part / "labels" / "a.txt", "0 0.5 0.5 0.2 0.2")
    (tmp_path / "data.yaml").write_text("train: trainset/images\nval: holdout/images\nnames: [x]\n")
    dataset = Dataset.load(tmp_path / "data.yaml")
    assert isinstance(dataset, DetectionDataset)
    assert {c.case_id: c.split for c in dataset.cases} == {
        "trainset/images/a.png": "train",
        "holdout/images/a.png": "val",
    }


def test_a_stray_broken_yaml_does_not_stop_other_layouts_loading(tmp_path: Path) -> None:
    for label in ("normal", "lesion"):
        for i in range(3):
            _image(tmp_path / label / f"{i}.png")
    (tmp_path / "notes.yaml").write_text("train: [unclosed\n\tbad: tab\n")
    assert Dataset.load(tmp_path).task == "classify"


def test_a_yaml_naming_image_list_files_as_coco_does(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``train: train2017.txt`` (one image path a line, Ultralytics' coco.yaml): the lists give the splits, each
    image's labels are under ``labels/`` where its path says ``images/``. They were left to the folder names, and
    ``train2017`` names no split."""
    for part, count in (("train2017", 4), ("val2017", 2)):
        for i in range(count):
            _image(tmp_path / "images" / part / f"{i:06d}.jpg")
            _labels(tmp_path / "labels" / part / f"{i:06d}.txt", f"{i % 2} 0.5 0.5 0.2 0.4")
    _image(tmp_path / "images" / "train2017" / "unlisted.jpg")  # in the folder, not in the list: left out
    lines = [f"./images/train2017/{i:06d}.jpg" for i in range(3)] + ["", "# a comment", "images/train2017/000003.jpg"]
    (tmp_path / "train2017.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "val2017.txt").write_text(f"{tmp_path}/images/val2017/000000.jpg\n./images/val2017/gone.jpg\n")
    (tmp_path / "coco8.yaml").write_text(
        "path: .\ntrain: train2017.txt\nval: val2017.txt\nnames:\n  0: nodule\n  1: mass\n"
    )
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["nodule", "mass"]
    by_id = {c.case_id: c for c in dataset.cases}
    assert {i: c.split for i, c in by_id.items()} == {
        **{f"images/train2017/{i:06d}.jpg": "train" for i in range(4)},
        "images/val2017/000000.jpg": "val",
    }
    (box,) = by_id["images/train2017/000001.jpg"].boxes
    assert (box.x1, box.y1, box.x2, box.y2, box.label) == pytest.approx((40.0, 15.0, 60.0, 35.0, 1))
    assert "val2017.txt: 1 of the 2 images it lists are not there (./images/val2017/gone.jpg)" in caplog.text
    assert "not named by the dataset YAML" not in caplog.text  # the listed folders are the YAML's


def test_the_label_file_of_an_image_follows_ultralytics_rule() -> None:
    from medimg.data.layouts.yolo import label_file_of

    assert label_file_of(Path("/d/images/train/a.b.jpg")) == Path("/d/labels/train/a.b.txt")
    assert label_file_of(Path("/images/d/images/x.png")) == Path("/images/d/labels/x.txt")  # the last images/
    assert label_file_of(Path("/d/pictures/x.png")) == Path("/d/pictures/x.txt")


def test_image_list_files_of_a_yolo_segmentation_set(tmp_path: Path) -> None:
    for part in ("train", "val"):
        for i in range(2):
            _image(tmp_path / "images" / f"{part}2017" / f"{i}.png")
            _labels(tmp_path / "labels" / f"{part}2017" / f"{i}.txt", "0 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6")
        (tmp_path / f"{part}.txt").write_text("".join(f"./images/{part}2017/{i}.png\n" for i in range(2)))
    (tmp_path / "data.yaml").write_text("train: train.txt\nval: val.txt\nnames: [lesion]\n")
    from medimg.data.dataset import SegmentationDataset

    dataset = SegmentationDataset.load(tmp_path)
    assert dataset.source == "yolo" and dataset.split_counts() == {"train": 2, "val": 2}
    assert all(case.mask is not None and case.mask.is_file() for case in dataset.cases)


def test_grazpedwri_patients_come_from_its_dataset_table(tmp_path: Path) -> None:
    """GRAZPEDWRI-DX: ``images/``, ``labels/`` and ``dataset.csv`` (``filestem,patient_id,...``), two or more
    radiographs per patient: the table was not read, and a patient's views sat in train and test."""
    from medimg.data.splits import make_splits

    rows = ["filestem,patient_id,gender,age,laterality,projection,fracture_visible"]
    rng = np.random.default_rng(0)
    for patient in range(1, 13):
        for view in (1, 2):
            stem = f"{patient:04d}_{1297860400 + 10 * patient + view}_0{view}_WRI-L{view}_M011"
            path = tmp_path / "images" / f"{stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
            _labels(tmp_path / "labels" / f"{stem}.txt", "0 0.5 0.5 0.2 0.2")
            rows.append(f"{stem},{patient},M,11,L,{view},1")
    (tmp_path / "dataset.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "detect"
    assert {c.patient_id for c in dataset.cases} == {str(p) for p in range(1, 13)}
    splits = make_splits(dataset.cases)
    sides: dict[str, set[str]] = {}
    for case in dataset.cases:
        sides.setdefault(str(case.patient_id), set()).add(splits.assignment[case.case_id])
    assert all(len(parts) == 1 for parts in sides.values())


def test_identical_detection_images_stay_in_one_split_as_check_says(tmp_path: Path) -> None:
    """`check` says near-identical images are "each kept in one split when medimg makes the split"; for detection
    data fit never grouped them (a group of 24 lay in train, val and test)."""
    from medimg.data.quality import usable_training_images

    rng = np.random.default_rng(1)
    same = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    for i in range(16):
        path = tmp_path / "images" / f"x{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = same if i < 6 else rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        _labels(tmp_path / "labels" / f"x{i:02d}.txt", "0 0.5 0.5 0.2 0.2")
    dataset = usable_training_images(Dataset.load(tmp_path))
    copies = {c.same_image for c in dataset.cases if c.case_id < "images/x06"}
    assert len(copies) == 1 and None not in copies
