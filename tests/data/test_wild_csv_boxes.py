"""CSV boxes as a new user writes them: images without rows, the lines warnings cite, corners in reverse order."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.layouts import csv_boxes
from medimg.errors import DatasetError


def _images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((32, 32), 60, np.uint8)).save(folder / name)


def _table(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(["path,x1,y1,x2,y2,label", *rows]) + "\n")
    return path


def test_images_without_rows_are_negatives(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path / "images", ["a.png", "b.png", "c.png"])
    _images(tmp_path / "elsewhere", ["d.png"])  # not a folder the table names images in
    table = _table(tmp_path / "boxes.csv", ["images/a.png,1,1,9,9,cell", "images/b.png,2,2,12,12,blob"])
    with caplog.at_level(logging.INFO, logger="medimg"):
        ds = csv_boxes.load(table)
    assert [c.case_id for c in ds.cases] == ["images/a.png", "images/b.png", "images/c.png"]
    assert ds.cases[2].boxes == () and ds.image_sizes["images/c.png"] == (32, 32)
    assert "1 image(s) beside the ones it names have no row" in caplog.text and "c.png" in caplog.text


def test_images_without_rows_keep_their_folders_split(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path / "train", ["a.png", "b.png"])
    _images(tmp_path / "mixed", ["c.png", "d.png", "e.png"])
    path = tmp_path / "boxes.csv"
    path.write_text(
        "path,x1,y1,x2,y2,label,split\n"
        "train/a.png,1,1,9,9,cell,train\n"
        "mixed/c.png,1,1,9,9,cell,train\n"
        "mixed/d.png,1,1,9,9,cell,test\n"
    )
    with caplog.at_level(logging.INFO, logger="medimg"):
        ds = csv_boxes.load(path)
    assert {c.case_id: c.split for c in ds.cases} == {
        "train/a.png": "train",
        "mixed/c.png": "train",
        "mixed/d.png": "test",
        "train/b.png": "train",
    }
    assert "1 image(s) beside the ones it names have no row" in caplog.text and "e.png" in caplog.text
    assert "path,,,,,,split" in caplog.text


def test_warnings_cite_the_file_line_of_each_box(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path / "images", ["a.png"])
    rows = ["images/a.png,1,1,9,9,cell", "images/a.png,2,2,12,12,cell", "images/a.png,20,20,50,50,cell"]
    with caplog.at_level(logging.WARNING, logger="medimg"):
        ds = csv_boxes.load(_table(tmp_path / "boxes.csv", rows))
    (issue,) = ds.box_issues
    assert issue.kind == "out_of_bounds" and issue.file.endswith("boxes.csv:4")  # header 1, rows 2-4
    assert "boxes.csv:4" in caplog.text and "boxes.csv:2" not in caplog.text


def test_duplicates_cite_their_own_line(tmp_path: Path) -> None:
    _images(tmp_path / "images", ["a.png"])
    rows = ["images/a.png,1,1,9,9,cell", "images/a.png,3,3,8,8,cell", "images/a.png,1,1,9,9,cell"]
    ds = csv_boxes.load(_table(tmp_path / "boxes.csv", rows))
    (issue,) = ds.box_issues
    assert issue.kind == "duplicate" and issue.file.endswith("boxes.csv:4") and len(ds.cases[0].boxes or ()) == 2


def test_reversed_corners_are_swapped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path / "images", ["a.png"])
    rows = ["images/a.png,1,1,9,9,cell", "images/a.png,20,2,12,12,cell"]
    with caplog.at_level(logging.WARNING, logger="medimg"):
        ds = csv_boxes.load(_table(tmp_path / "boxes.csv", rows))
    assert ds.cases[0].boxes is not None and (ds.cases[0].boxes[1].x1, ds.cases[0].boxes[1].x2) == (12.0, 20.0)
    assert "1 box(es) had their corners in reverse order" in caplog.text and "boxes.csv:3" in caplog.text


def test_images_beside_another_label_table_are_not_negatives(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """NIH ChestX-ray14: ``BBox_List_2017.csv`` names a few of the images ``Data_Entry_2017.csv`` labels; the others
    have findings without boxes, not no findings."""
    rows = ["Image Index,Finding Labels,Follow-up #,Patient ID"]
    for i in range(4):
        _images(tmp_path / "images_001" / "images", [f"0000000{i}_000.png"])
        rows.append(f"0000000{i}_000.png,Effusion,0,{i}")
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join(rows) + "\n")
    table = tmp_path / "BBox_List_2017.csv"
    table.write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000000_000.png,Effusion,1,1,3,3,,,\n")
    with caplog.at_level(logging.INFO, logger="medimg"):
        ds = csv_boxes.load(table)
    assert [c.case_id for c in ds.cases] == ["00000000_000.png"]
    assert "3 image(s) beside the ones it names have no row" in caplog.text and "left out" in caplog.text


def test_deeplesion_context_slices_are_not_negatives(tmp_path: Path) -> None:
    """DeepLesion's series folders hold the slices around each key slice: context, not images without lesions."""
    _images(tmp_path / "Images_png" / "000001_01_01", ["099.png", "100.png", "101.png"])
    table = tmp_path / "DL_info.csv"
    table.write_text('File_name,Bounding_boxes\n000001_01_01_100.png,"1, 1, 9, 9"\n')
    assert [c.case_id for c in csv_boxes.load(table).cases] == ["000001_01_01_100.png"]


def test_deeplesion_series_not_unpacked_are_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """DeepLesion ships Images_png in 56 zip files: rows of series not unpacked stopped the whole read, naming
    ``<table folder>/000002_01_01_050.png``. Now they are left out with a warning; with no series there at all, the
    rows' files are named missing as before."""
    _images(tmp_path / "Images_png" / "000001_01_01", ["099.png", "100.png", "101.png"])
    table = tmp_path / "DL_info.csv"
    table.write_text('File_name,Bounding_boxes\n000001_01_01_100.png,"1, 1, 9, 9"\n000002_01_01_050.png,"2, 2, 8, 8"\n')
    with caplog.at_level(logging.WARNING, logger="medimg"):
        assert [c.case_id for c in csv_boxes.load(table).cases] == ["000001_01_01_100.png"]
    assert "1 row(s) name slices of 1 series folder(s) that are not unpacked here" in caplog.text
    assert "000002_01_01/" in caplog.text
    table.write_text('File_name,Bounding_boxes\n000002_01_01_050.png,"2, 2, 8, 8"\n')
    with pytest.raises(DatasetError, match=r"000002_01_01_050\.png does not exist"):
        csv_boxes.load(table)


def test_images_without_rows_stay_out_when_another_table_may_list_them(tmp_path: Path) -> None:
    """train_labels.csv beside test_labels.csv over one images/ folder (the TF object-detection tutorials' layout):
    the test images are not negatives of the training table."""
    from PIL import Image

    from medimg.data.layouts.csv_boxes import load

    (tmp_path / "images").mkdir()
    for i in range(4):
        Image.new("L", (32, 32)).save(tmp_path / "images" / f"im{i}.png")
    (tmp_path / "train_labels.csv").write_text(
        "path,x1,y1,x2,y2,label\nimages/im0.png,1,1,9,9,cell\nimages/im1.png,2,2,9,9,cell\n"
    )
    (tmp_path / "test_labels.csv").write_text(
        "path,x1,y1,x2,y2,label\nimages/im2.png,1,1,9,9,cell\nimages/im3.png,2,2,9,9,cell\n"
    )
    dataset = load(tmp_path / "train_labels.csv")
    assert sorted(c.case_id for c in dataset.cases) == ["images/im0.png", "images/im1.png"]


def test_object_cxr_shapes_are_boxes_and_its_tables_its_splits(tmp_path: Path) -> None:
    """Object-CXR: ``train.csv`` and ``dev.csv`` (``image_name,annotation``) beside ``train/`` and ``dev/``; a cell
    holds an image's shapes, ``<type> <x1> <y1> <x2> <y2>...`` joined by ``;`` (0 rectangle, 1 ellipse, 2 polygon),
    empty for an image without a foreign object. The shapes were read as class names (each string a class)."""
    from medimg.data.dataset import Dataset
    from medimg.data.detection import DetectionDataset

    shapes = ["0 10 12 30 40;1 40 10 50 20", "", "2 5 5 20 8 12 30", "1 3 4 9 11"]
    for split, first in (("train", 1), ("dev", 8001)):
        (tmp_path / split).mkdir()
        rows = ["image_name,annotation"]
        for i in range(8):
            name = f"{first + i:05d}.jpg"
            Image.fromarray(np.full((64, 64), 40 + i, np.uint8)).save(tmp_path / split / name)
            rows.append(f"{name},{shapes[i % 4]}")
        (tmp_path / f"{split}.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["object"]
    assert dataset.split_counts() == {"train": 8, "val": 8}
    by_id = {c.case_id: c for c in dataset.cases}
    first = by_id["train/00001.jpg"].boxes
    assert [(b.x1, b.y1, b.x2, b.y2) for b in first] == [(10, 12, 30, 40), (40, 10, 50, 20)]
    assert by_id["train/00002.jpg"].boxes == ()  # no foreign object: a negative
    (polygon,) = by_id["dev/08003.jpg"].boxes
    assert (polygon.x1, polygon.y1, polygon.x2, polygon.y2) == (5, 5, 20, 30)


def test_kvasir_capsule_quadrilaterals_are_boxes_and_its_class_folders_classes(tmp_path: Path) -> None:
    """Kvasir-Capsule: ``labelled_images/<class>/`` beside ``metadata.csv`` (``filename;...;finding_class;x1;y1;...
    ;x4;y4``, a box's four corners clockwise). As boxes: "has no 'label' column" (and x2,y2 would be the top-right
    corner, a box of height 0); as classes: "looks like detection data ... pass --task detect"."""
    from medimg.data.dataset import Dataset
    from medimg.data.detection import DetectionDataset

    rows = ["filename;video_id;frame_number;finding_category;finding_class;x1;y1;x2;y2;x3;y3;x4;y4"]
    for cls in ("Angiectasia", "Ulcer", "Normal clean mucosa"):
        for i in range(4):
            name = f"{cls[:3].lower()}{i}_{100 + i}.jpg"
            path = tmp_path / "labelled_images" / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((96, 96, 3), 20 * i + len(cls), np.uint8)).save(path)
            corners = "35;35;65;35;65;65;35;65" if cls != "Normal clean mucosa" else ";;;;;;;"
            rows.append(f"{name};v{i};{100 + i};Vascular;{cls};{corners}")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    boxes = Dataset.load(tmp_path)
    assert isinstance(boxes, DetectionDataset) and boxes.class_names == ["Angiectasia", "Ulcer"]
    box = next(b for c in boxes.cases for b in c.boxes or ())
    assert (box.x1, box.y1, box.x2, box.y2) == (35, 35, 65, 65)
    classes = Dataset.load(tmp_path, task="classify")
    assert sorted(classes.class_names) == ["Angiectasia", "Normal clean mucosa", "Ulcer"] and len(classes) == 12


def test_image_folders_beside_a_box_table_named_otherwise_are_no_classes(tmp_path: Path) -> None:
    """Asked for classes, a box folder's class folders are read only when they are named as the boxes' labels:
    the RSNA Pneumonia set's ``stage_2_train_images/`` and ``stage_2_test_images/`` beside its box table stay a
    detection set (never two classes, train and test)."""
    from medimg.data.dataset import Dataset
    from medimg.errors import OtherTaskDataError

    rows = ["patientId,x,y,width,height,Target"]
    for folder in ("stage_2_train_images", "stage_2_test_images"):
        for i in range(4):
            path = tmp_path / folder / f"{folder[8:12]}{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((64, 64), 10 * i, np.uint8)).save(path)
            if folder.startswith("stage_2_train"):
                rows.append(f"{path.stem},10,10,20,20,1")
    (tmp_path / "stage_2_train_labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(OtherTaskDataError):
        Dataset.load(tmp_path, task="classify")


def test_class_folders_without_boxes_are_named_with_task_classify(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Kvasir-Capsule: ``labelled_images/<finding>/`` and ``metadata.csv`` with boxes for some findings only; read for
    detection, the other folders' images became negatives and their classes were gone without a word."""
    folders = {"Angiectasia": "a", "Ulcer": "u", "Normal clean mucosa": "n", "Ampulla of vater": "v"}
    rows = []
    for folder, short in folders.items():
        _images(tmp_path / "labelled_images" / folder, [f"{short}{i}.png" for i in range(3)])
        boxed = folder in ("Angiectasia", "Ulcer")  # a row for every image, its corners empty without a box
        rows += [f"{short}{i}.png,{'4,4,12,12' if boxed else ',,,'},{folder}" for i in range(3)]
    table = _table(tmp_path / "metadata.csv", rows)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = csv_boxes.load(table)
    assert dataset.class_names == ["Angiectasia", "Ulcer"] and len(dataset.cases) == 12
    assert "its images lie in 4 folders named like classes" in caplog.text
    assert "2 of them without a box (Ampulla of vater, Normal clean mucosa)" in caplog.text
    assert "`--task classify` reads the folders as the classes" in caplog.text
    caplog.clear()
    for folder in ("train", "test"):  # split folders, or folders that are no classes: nothing said
        _images(tmp_path / "split" / folder, ["a.png", "b.png"])
    with caplog.at_level(logging.WARNING, logger="medimg"):
        csv_boxes.load(_table(tmp_path / "split" / "boxes.csv", ["train/a.png,4,4,12,12,train"]))
    assert "named like classes" not in caplog.text
