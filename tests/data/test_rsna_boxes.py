"""The RSNA Pneumonia Detection Challenge's box manifest as shipped: ``patientId,x,y,width,height,Target``, the ids
naming ``stage_2_train_images/<patientId>.dcm``, negatives as rows with empty box cells and Target 0, two boxes of one
image on two rows. Before: "no 'path' column"."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset
from tests.io.conftest import write_dicom


def _write_labels(root: Path, rows: list[list[str]]) -> None:
    """RSNA's ``stage_2_train_labels.csv`` with ``rows`` under its header."""
    with (root / "stage_2_train_labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patientId", "x", "y", "width", "height", "Target"])
        writer.writerows(rows)


def _shipped_set(root: Path) -> None:
    """Six films, ``...ddd0`` to ``...ddd5``: the even ones with two boxes (Target 1), the odd ones a row with empty
    box cells (Target 0)."""
    images = root / "stage_2_train_images"
    images.mkdir()
    rows = []
    for i in range(6):
        pid = f"0004cfab-14fd-4e49-80ba-63a80b6bddd{i}"
        write_dicom(images / f"{pid}.dcm", np.zeros((64, 64), np.uint16), modality="CR")
        if i % 2:
            rows.append([pid, "", "", "", "", "0"])
        else:
            rows += [[pid, "10", "12", "20.5", "30", "1"], [pid, "40", "5", "10", "10", "1"]]
    _write_labels(root, rows)


def test_rsna_box_manifest_loads_as_shipped(tmp_path: Path) -> None:
    _shipped_set(tmp_path)
    dataset = Dataset.load(tmp_path / "stage_2_train_labels.csv")
    assert dataset.task == "detect" and len(dataset.cases) == 6
    boxes = {c.case_id[-1]: c.boxes for c in dataset.cases}
    assert boxes["1"] == () and len(boxes["0"] or ()) == 2  # a negative; an image with two boxes
    first = (boxes["0"] or ())[0]
    assert (first.x1, first.y1, first.x2, first.y2) == (10.0, 12.0, 30.5, 42.0)  # x + width, y + height


def test_rsna_box_manifest_asked_for_as_classes_reads_target(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Pneumonia or not from the same table: ``task="classify"`` (``medimg fit stage_2_train_labels.csv --task
    classify``) reads each image's class from Target, one case per image however many boxes it has. Before: "looks
    like detection data", with no way to say which column from the CLI."""
    _shipped_set(tmp_path)
    with caplog.at_level(logging.INFO):
        dataset = Dataset.load(tmp_path / "stage_2_train_labels.csv", task="classify")
    assert dataset.task == "classify" and dataset.class_names == ["0", "1"] and len(dataset.cases) == 6
    assert {c.case_id[-1]: c.label for c in dataset.cases} == {"0": 1, "1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    assert "a box table read as classes" in caplog.text and "'Target'" in caplog.text  # which column, logged
    assert Dataset.load(tmp_path / "stage_2_train_labels.csv").task == "detect"  # without the task: the boxes


def test_boxes_beyond_a_dicom_image_are_clipped_or_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """RSNA's boxes are in the 1024-pixel images' coordinates; on images downsized to 64 px they lie beyond them. A
    DICOM image's size comes from its header, as a PNG's does: the boxes were kept as given (check said OK)."""
    images = tmp_path / "stage_2_train_images"
    images.mkdir()
    rows = []
    for i in range(3):
        pid = f"00436515-870c-4b36-a041-de91049b9ab{i}"
        write_dicom(images / f"{pid}.dcm", np.zeros((64, 64), np.uint16), modality="CR")
        rows += [[pid, "256", "32", "256", "320", "1"], [pid, "40", "50", "30", "30", "1"]]
    _write_labels(tmp_path, rows)
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(tmp_path / "stage_2_train_labels.csv")
    assert "3 box(es) dropped (degenerate, or outside the image)" in caplog.text
    for case in dataset.cases:  # the second box clipped to the image's 64 x 64
        assert [(b.x1, b.y1, b.x2, b.y2) for b in case.boxes or ()] == [(40.0, 50.0, 64.0, 64.0)]


def test_nih_chestxray14_box_list_loads_as_shipped(tmp_path: Path) -> None:
    """NIH ChestX-ray14's ``BBox_List_2017.csv``: header ``Image Index,Finding Label,Bbox [x,y,w,h],,,`` (the box
    header splits into ``Bbox [x``, ``y``, ``w``, ``h]``), images in ``images/``. Before: "no 'label' column"."""
    from PIL import Image

    (tmp_path / "images").mkdir()
    lines = ["Image Index,Finding Label,Bbox [x,y,w,h],,,"]
    for i, finding in enumerate(("Atelectasis", "Cardiomegaly", "Atelectasis", "Mass")):
        name = f"0000{i:04d}_000.png"
        Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "images" / name)
        lines.append(f"{name},{finding},{10 + i}.5,20.25,30.0,40.0,,,")
    (tmp_path / "BBox_List_2017.csv").write_text("\n".join(lines) + "\n")
    dataset = Dataset.load(tmp_path / "BBox_List_2017.csv")
    assert dataset.task == "detect" and dataset.class_names == ["Atelectasis", "Cardiomegaly", "Mass"]
    first = next(c for c in dataset.cases if c.case_id.startswith("00000000"))
    assert first.boxes is not None and np.allclose(np.asarray(first.boxes)[0, :4], [10.5, 20.25, 40.5, 60.25])
    entries = ["Image Index,Finding Labels,Follow-up #,Patient ID"]
    entries += [f"0000{i:04d}_000.png,{'No Finding' if i % 2 else 'Mass'},0,{i}" for i in range(4)]
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join(entries) + "\n")
    assert Dataset.load(tmp_path).task == "classify"  # the folder's labels are its findings table, not the box list


def test_nih_chestxray14_boxes_take_the_split_lists_beside_them(tmp_path: Path) -> None:
    """``BBox_List_2017.csv`` beside ``train_val_list.txt`` and ``test_list.txt``: the boxes' images take the official
    split (their classification table did; the box table was read without it, the test images trained on). Lists
    that leave images out are not used, with a warning."""
    from PIL import Image

    (tmp_path / "images").mkdir()
    lines = ["Image Index,Finding Label,Bbox [x,y,w,h],,,"]
    names = [f"0000{i:04d}_000.png" for i in range(6)]
    for i, name in enumerate(names):
        Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "images" / name)
        lines.append(f"{name},Mass,{10 + i}.5,20.25,30.0,40.0,,,")
    (tmp_path / "BBox_List_2017.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "train_val_list.txt").write_text("\n".join(names[:4]) + "\n")
    (tmp_path / "test_list.txt").write_text("\n".join(names[4:]) + "\n")
    dataset = Dataset.load(tmp_path / "BBox_List_2017.csv")
    assert {c.case_id: c.split for c in dataset.cases} == {n: "train" if i < 4 else "test" for i, n in enumerate(names)}
    (tmp_path / "test_list.txt").write_text(names[4] + "\n")
    assert not any(c.split for c in Dataset.load(tmp_path / "BBox_List_2017.csv").cases)


def test_vindr_cxr_box_manifest_loads_as_shipped(tmp_path: Path) -> None:
    """VinDr-CXR's ``train.csv``: ``image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max``, images as
    ``train/<image_id>.dicom``, "No finding" rows without a box (negatives), one row per radiologist's box."""
    (tmp_path / "train").mkdir()
    lines = ["image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max"]
    for i in range(4):
        image_id = f"9a5094b2563a1ef3ff50dc5c7ff7134{i}"
        write_dicom(tmp_path / "train" / f"{image_id}.dicom", np.zeros((64, 64), np.uint16), modality="DX")
        if i % 2:
            lines += [f"{image_id},No finding,14,R{r},,,," for r in (1, 2, 3)]
        else:
            lines += [f"{image_id},Cardiomegaly,3,R8,10.0,20.0,40.0,50.0", f"{image_id},Nodule/Mass,8,R9,5,5,15,15"]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "sample_submission.csv").write_text("image_id,PredictionString\n")
    dataset = Dataset.load(tmp_path / "train.csv")
    assert dataset.task == "detect" and dataset.class_names == ["Cardiomegaly", "Nodule/Mass"]
    assert sorted(len(c.boxes or ()) for c in dataset.cases) == [0, 0, 2, 2]
    folder = Dataset.load(tmp_path)  # the folder as downloaded: it was read as a classification table, refused
    assert folder.task == "detect" and [c.boxes for c in folder.cases] == [c.boxes for c in dataset.cases]


def test_deeplesion_key_slices_with_boxes_in_one_cell(tmp_path: Path) -> None:
    """NIH DeepLesion: ``DL_info.csv`` (``File_name`` ``000001_01_01_109.png`` for ``Images_png/000001_01_01/109.png``,
    ``Bounding_boxes`` ``"x1, y1, x2, y2"`` in one cell, ``Patient_index``, ``Train_Val_Test`` 1/2/3, no label column:
    the universal lesion detection task). Before: "no 'x1' column", and the folder a classification table."""
    from PIL import Image

    header = "File_name,Patient_index,Study_index,Series_ID,Key_slice_index,Bounding_boxes,Coarse_lesion_type,"
    lines = [header + "Train_Val_Test"]
    for k in range(6):
        series = f"{k // 2 + 1:06d}_01_01"
        folder = tmp_path / "Images_png" / series
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((64, 64), 32768 - 1000, np.uint16)).save(folder / f"{100 + k:03d}.png")
        split = {0: 1, 1: 1, 2: 2, 3: 2, 4: 3, 5: 3}[k]
        lines.append(f'{series}_{100 + k:03d}.png,{k // 2 + 1},1,1,{100 + k},"10.5, 12.0, 30.25, 40.0",-1,{split}')
        if k == 0:  # a second lesion on the same key slice
            lines.append(f'{series}_{100 + k:03d}.png,1,1,1,100,"40, 40, 50, 52",-1,1')
    (tmp_path / "DL_info.csv").write_text("\n".join(lines) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "detect" and dataset.class_names == ["lesion"] and len(dataset.cases) == 6
    first = dataset.cases[0]
    assert first.path == tmp_path / "Images_png" / "000001_01_01" / "100.png" and first.patient_id == "1"
    assert [tuple(b)[:4] for b in first.boxes or ()] == [(10.5, 12.0, 30.25, 40.0), (40.0, 40.0, 50.0, 52.0)]
    assert [c.split for c in dataset.cases] == ["train", "train", "val", "val", "test", "test"]


def test_a_bbox_cell_in_coco_order_is_read_as_x_y_width_height(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``bbox`` column as COCO and Kaggle exports write it, ``"[x, y, width, height]"``: read as corners, the box
    ``[40, 30, 12, 10]`` was (40, 30)-(12, 10), dropped as degenerate, and ``[5, 6, 20, 24]`` a wrong box."""
    import logging

    from PIL import Image

    lines = ["image_id,bbox,class"]
    for k in range(4):
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / f"img_{k}.png")
        lines.append(f'img_{k}.png,"[5, 6, 20, 24]",nodule')
        lines.append(f'img_{k}.png,"[40.0, 30.0, 12.0, 10.0]",mass')
    (tmp_path / "boxes.csv").write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.INFO, logger="medimg.data.layouts.csv_boxes"):
        dataset = Dataset.load(tmp_path / "boxes.csv")
    assert dataset.class_names == ["mass", "nodule"]
    assert [tuple(b)[:5] for b in dataset.cases[0].boxes or ()] == [
        (5.0, 6.0, 25.0, 30.0, 1),
        (40.0, 30.0, 52.0, 40.0, 0),
    ]
    assert "4 of 8 boxes in 'bbox' end before they start" in caplog.text


def write_siim_covid(root: Path) -> Path:
    """SIIM-FISABIO-RSNA COVID-19 Detection as Kaggle ships it: ``train/<study>/<series>/<image>.dcm``,
    ``train_image_level.csv`` (``id`` = ``<image>_image``, ``boxes`` a list of dicts, ``label`` a prediction string,
    ``none 1 0 0 1 1`` for no opacity) and ``train_study_level.csv`` beside it."""
    rows = ["id,boxes,label,StudyInstanceUID"]
    for k in range(4):
        image_id, study = f"{k:012x}", f"1.2.{k}"
        (root / "train" / study / "9.9").mkdir(parents=True)
        write_dicom(root / "train" / study / "9.9" / f"{image_id}.dcm", np.full((64, 64), 100, np.int16))
        if k % 2:
            rows.append(f"{image_id}_image,,none 1 0 0 1 1,{study}")
        else:
            boxes = (
                "[{'x': 5.5, 'y': 6.0, 'width': 20.0, 'height': 24.0}, "
                "{'x': 40.0, 'y': 30.0, 'width': 12.0, 'height': 10.0}]"
            )
            rows.append(f'{image_id}_image,"{boxes}",opacity 1 5.5 6.0 25.5 30.0 opacity 1 40.0 30.0 52.0 40.0,{study}')
    (root / "train_image_level.csv").write_text("\n".join(rows) + "\n")
    (root / "train_study_level.csv").write_text(
        "id,Negative for Pneumonia,Typical Appearance,Indeterminate Appearance,Atypical Appearance\n"
        + "".join(f"1.2.{k}_study,{k % 2},{1 - k % 2},0,0\n" for k in range(4))
    )
    return root / "train_image_level.csv"


def test_siim_covid_image_level_boxes_from_the_prediction_strings(tmp_path: Path) -> None:
    """Before: a classification table whose labels were the prediction strings and whose ids named no file."""
    table = write_siim_covid(tmp_path)
    dataset = Dataset.load(table)
    assert dataset.task == "detect" and dataset.class_names == ["opacity"] and len(dataset.cases) == 4
    first = dataset.cases[0]
    assert first.path == tmp_path / "train" / "1.2.0" / "9.9" / "000000000000.dcm"
    assert [tuple(b)[:5] for b in first.boxes or ()] == [(5.5, 6.0, 25.5, 30.0, 0), (40.0, 30.0, 52.0, 40.0, 0)]
    assert dataset.cases[1].boxes == ()  # "none 1 0 0 1 1": an image without opacity
    # the same boxes given only as the boxes cell's dicts, the label a plain class
    text = table.read_text().replace("opacity 1 5.5 6.0 25.5 30.0 opacity 1 40.0 30.0 52.0 40.0", "opacity")
    plain = tmp_path / "plain.csv"
    plain.write_text(text.replace("none 1 0 0 1 1", "opacity"))
    again = Dataset.load(plain)
    assert [tuple(b)[:5] for b in again.cases[0].boxes or ()] == [
        (5.5, 6.0, 25.5, 30.0, 0),
        (40.0, 30.0, 52.0, 40.0, 0),
    ]
    assert again.cases[1].boxes == ()  # an empty boxes cell


def test_siim_covid_folder_read_for_boxes_when_detection_is_asked(tmp_path: Path) -> None:
    """The folder as downloaded holds the study-level class table beside the image-level box table; with the task
    named, its boxes are read (before: "not a YOLO folder"); the file of boxes beside several is still refused."""
    from medimg.data.layouts import select_layout

    write_siim_covid(tmp_path)
    dataset = Dataset.load(tmp_path, task="detect")
    assert dataset.task == "detect" and dataset.class_names == ["opacity"] and len(dataset.cases) == 4
    assert sum(len(c.boxes or ()) for c in dataset.cases) == 4
    assert select_layout(tmp_path).task == "classify"  # without the task, the study table's classes
    (tmp_path / "train_image_level_copy.csv").write_text((tmp_path / "train_image_level.csv").read_text())
    assert select_layout(tmp_path, "detect").name != "csv_boxes"  # two box tables: which one?


def test_siim_covid_folder_read_for_the_study_classes_without_a_task(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without ``--task`` the study table's classes label the studies its ``<StudyInstanceUID>_study`` ids name
    (the folders ``train/<StudyInstanceUID>/``), each series a case with its study as the patient; before, every row
    "pointed to a file that does not exist"."""
    write_siim_covid(tmp_path)
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "classify" and len(dataset.cases) == 4
    assert dataset.class_names == ["Negative for Pneumonia", "Typical Appearance"]
    for k, case in enumerate(sorted(dataset.cases, key=lambda c: c.case_id)):
        assert case.path == tmp_path / "train" / f"1.2.{k}" / "9.9"
        assert dataset.class_names[case.label] == ("Negative for Pneumonia" if k % 2 else "Typical Appearance")
        assert case.patient_id == f"1.2.{k}_study"
    shutil.rmtree(tmp_path / "train" / "1.2.3")  # a study not downloaded: its row left out, with a line
    with caplog.at_level(logging.WARNING):
        assert len(Dataset.load(tmp_path).cases) == 3
    assert "1.2.3_study" in caplog.text and "left out" in caplog.text


def test_a_series_folder_of_several_chest_films_is_an_image_per_film(tmp_path: Path) -> None:
    """SIIM-FISABIO-RSNA has series of two or three chest radiographs (DX/CR, no slice position): each film is an
    image of its study's class; before, films of one size were stacked into a two-slice "volume" and films of
    different sizes dropped but one ("localizer?")."""
    write_siim_covid(tmp_path)
    series = tmp_path / "train" / "1.2.0" / "9.9"
    for old in series.iterdir():
        old.unlink()
    rng = np.random.default_rng(0)
    for j, rows in enumerate((64, 64, 72)):
        pixels = rng.integers(0, 4000, (rows, 64)).astype(np.int16)
        write_dicom(series / f"film{j}.dcm", pixels, modality="DX", series_uid="9.9", instance=j + 1)
    dataset = Dataset.load(tmp_path)
    films = [c for c in dataset.cases if c.patient_id == "1.2.0_study"]
    assert sorted(c.path.name for c in films if c.path) == ["film0.dcm", "film1.dcm", "film2.dcm"]
    assert len(dataset.cases) == 6 and len({c.label for c in films}) == 1
    assert [dataset.read(c).array.shape for c in films] == [(1, 64, 64), (1, 64, 64), (1, 72, 64)]


def test_node21_metadata_zero_boxes_are_negatives(tmp_path: Path) -> None:
    """NODE21's ``metadata.csv`` (``,img_name,x,y,width,height,label``) beside its ``images/*.mha``: negatives are
    rows ``0,0,0,0`` with label 0. Before, ``img_name`` was no image column for boxes: the table read as two classes,
    0 and 1, its boxes dropped; named otherwise, every negative was a 'degenerate' box and ``0`` a class."""
    import SimpleITK as sitk

    root = tmp_path / "cxr_images" / "proccessed_data"
    (root / "images").mkdir(parents=True)
    rows = ["", "img_name", "x", "y", "width", "height", "label"]
    lines = [",".join(rows)]
    for i in range(6):
        name = f"n{i:04d}.mha"
        sitk.WriteImage(sitk.GetImageFromArray(np.zeros((40, 40), np.float32)), str(root / "images" / name))
        box = "0,0,0,0,0" if i % 2 else "5,6,10,12,1"
        lines.append(f"{i},{name},{box}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "detect" and dataset.class_names == ["1"] and len(dataset.cases) == 6
    boxes = {c.case_id: c.boxes or () for c in dataset.cases}
    assert sum(1 for b in boxes.values() if not b) == 3
    assert [(b.x1, b.y1, b.x2, b.y2) for b in boxes["n0000.mha"]] == [(5.0, 6.0, 15.0, 18.0)]


def test_a_table_naming_videos_is_refused_as_videos(tmp_path: Path) -> None:
    """EchoNet-Dynamic: ``VolumeTracings.csv`` (``FileName,X1,Y1,X2,Y2,Frame``) names ``Videos/*.avi``; its tracing
    points read as box corners, and the error said the table had no 'label' column."""
    from medimg.errors import DatasetError

    (tmp_path / "Videos").mkdir()
    rows = ["FileName,X1,Y1,X2,Y2,Frame"]
    for i in range(3):
        (tmp_path / "Videos" / f"0X{i:016X}.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST")
        rows += [f"0X{i:016X}.avi,20.0,20,44.0,20,5", f"0X{i:016X}.avi,20.5,21,43.5,21,5"]
    (tmp_path / "VolumeTracings.csv").write_text("\n".join(rows) + "\n")
    listed = "".join(f"0X{i:016X},55.1,TRAIN\n" for i in range(3))
    (tmp_path / "FileList.csv").write_text("FileName,EF,Split\n" + listed)
    for where in (tmp_path, tmp_path / "VolumeTracings.csv"):
        with pytest.raises(DatasetError, match=r"its rows name videos \(e\.g\. 0X0000000000000000\.avi\).*ffmpeg"):
            Dataset.load(where)
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label\n" + "".join(f"Videos/0X{i:016X}.avi,{'ab'[i % 2]}\n" for i in range(3)))
    with pytest.raises(DatasetError, match="its rows name videos"):
        Dataset.load(manifest)
    # FileList.csv names its clips without a suffix: "3 row(s) point to files that do not exist" before
    with pytest.raises(DatasetError, match=r"its rows name videos \(e\.g\. .*Videos/0X0000000000000000\.avi\)"):
        Dataset.load(tmp_path / "FileList.csv", label_column="EF")
