"""CSV manifests as public sets ship them: headers with spaces and their own names, bare file names or identifiers
of images kept in sub-folders, and multi-label rows (each row's findings, never combination classes)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.errors import DatasetError


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


def test_nih_style_manifest_with_images_in_subfolders(tmp_path: Path) -> None:
    rows = ["Image Index,Finding Labels,Follow-up #,Patient ID"]
    for i in range(6):
        name = f"0000000{i}_000.png"
        _image(tmp_path / f"images_00{i % 2 + 1}" / "images" / name, 10 * i)
        rows.append(f"{name},{'Effusion' if i % 2 else 'No Finding'},0,{i // 2}")
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "Data_Entry_2017.csv")
    assert set(dataset.class_names) == {"Effusion", "No Finding"}
    assert len(dataset.cases) == 6
    assert all(c.path is not None and c.path.is_file() and "images_00" in str(c.path) for c in dataset.cases)
    assert sorted({c.patient_id for c in dataset.cases}) == ["0", "1", "2"]  # "Patient ID" groups the split


def test_ham10000_style_identifiers_without_suffix(tmp_path: Path) -> None:
    rows = ["lesion_id,image_id,dx,dx_type"]
    for i in range(4):
        _image(tmp_path / f"HAM10000_images_part_{i % 2 + 1}" / f"ISIC_00{i}.jpg", 50 * i)
        rows.append(f"HAM_{i // 2},ISIC_00{i},{'mel' if i % 2 else 'nv'},histo")
    (tmp_path / "HAM10000_metadata.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "HAM10000_metadata.csv")
    assert [c.path.name for c in dataset.cases if c.path] == [f"ISIC_00{i}.jpg" for i in range(4)]
    assert [c.patient_id for c in dataset.cases] == ["HAM_0", "HAM_0", "HAM_1", "HAM_1"]  # one lesion, one split


def test_ham10000_with_its_lesion_masks_unpacked_beside(tmp_path: Path) -> None:
    """HAM10000 as the Dataverse ships it, every archive unpacked into one folder: the metadata CSV labels the
    images (the masks' folder made it three classes, one per folder, without a word), and ``task="segment"``
    pairs the images with ``HAM10000_segmentations_lesion_tschandl/<id>_segmentation.png``."""
    rows = ["lesion_id,image_id,dx,dx_type"]
    for i in range(4):
        _image(tmp_path / f"HAM10000_images_part_{i % 2 + 1}" / f"ISIC_00{i}.jpg", 50 * i)
        _image(tmp_path / "HAM10000_segmentations_lesion_tschandl" / f"ISIC_00{i}_segmentation.png", 255 * (i % 2))
        rows.append(f"HAM_{i // 2},ISIC_00{i},{'mel' if i % 2 else 'nv'},histo")
    (tmp_path / "HAM10000_metadata.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["nv", "mel"] and len(dataset.cases) == 4  # nevus the negative class
    masks = Dataset.load(tmp_path, task="segment")
    assert sorted(c.mask.name for c in masks.cases) == [f"ISIC_00{i}_segmentation.png" for i in range(4)]


@pytest.mark.parametrize(
    ("files", "row"),
    [
        (("a/x.png", "b/x.png"), "x.png"),  # one name in two folders
        (("imgs/017.png", "imgs/0017.png"), "17"),  # a number matching two zero-padded names
    ],
)
def test_a_name_found_twice_is_named_as_ambiguous(tmp_path: Path, files: tuple[str, str], row: str) -> None:
    for value, name in enumerate(files, start=1):
        _image(tmp_path / name, value)
    _image(tmp_path / "b" / "y.png", 3)
    (tmp_path / "labels.csv").write_text(f"path,label\n{row},one\ny.png,two\n")
    with pytest.raises(DatasetError, match="several files have this name"):
        Dataset.load(tmp_path / "labels.csv")


def test_findings_joined_by_a_bar_are_a_multi_label_set(tmp_path: Path) -> None:
    """NIH ChestX-ray14's ``Finding Labels``: each row's findings (never combination classes); "No Finding" is none of
    them, an empty cell an unlabelled image."""
    rows = ["Image Index,Finding Labels"]
    for i, label in enumerate(["No Finding", "Effusion", "Atelectasis|Effusion", "Effusion|Mass", ""]):
        _image(tmp_path / f"{i}.png", i)
        rows.append(f"{i}.png,{label}")
    (tmp_path / "entries.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "entries.csv")
    assert dataset.multi_label and dataset.class_names == ["Atelectasis", "Effusion", "Mass"]
    assert [[dataset.class_names[i] for i in c.findings or ()] for c in dataset.cases] == [
        [],
        ["Effusion"],
        ["Atelectasis", "Effusion"],
        ["Effusion", "Mass"],
    ]
    assert all(c.label is None for c in dataset.cases) and [c.case_id for c in dataset.unlabelled] == ["4.png"]
    assert dataset.class_counts() == {"Atelectasis": 1, "Effusion": 3, "Mass": 1}


def test_a_row_of_no_finding_beside_findings_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ "Effusion|No Finding" (a data-entry error) was read as Effusion without a word."""
    import logging

    rows = ["Image Index,Finding Labels"]
    for i, label in enumerate(["No Finding", "Effusion|No Finding", "Atelectasis|Effusion"]):
        _image(tmp_path / f"{i}.png", i)
        rows.append(f"{i}.png,{label}")
    (tmp_path / "entries.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(tmp_path / "entries.csv")
    assert "1 row(s) list 'No Finding' beside findings" in caplog.text and "'Effusion|No Finding'" in caplog.text
    assert [dataset.class_names[i] for i in dataset.cases[1].findings or ()] == ["Effusion"]


def test_isic_one_hot_ground_truth(tmp_path: Path) -> None:
    rows = ["image,MEL,NV,BCC"]
    for i, hot in enumerate(["1.0,0.0,0.0", "0.0,1.0,0.0", "0.0,0.0,1.0", "0.0,1.0,0.0"]):
        _image(tmp_path / "ISIC2018_Task3_Training_Input" / f"ISIC_{i:07d}.jpg", 40 * i)
        rows.append(f"ISIC_{i:07d},{hot}")
    (tmp_path / "ISIC2018_Task3_Training_GroundTruth.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "ISIC2018_Task3_Training_GroundTruth.csv")
    assert [dataset.class_names[c.label] for c in dataset.cases if c.label is not None] == ["MEL", "NV", "BCC", "NV"]


def test_isic_2019_test_ground_truth_weights_no_class(tmp_path: Path) -> None:
    """ISIC 2019's test table ends with ``score_weight`` (0/1 like the classes): a weight, not a tenth finding that
    made the set multi-label."""
    rows = ["image,MEL,NV,BCC,UNK,score_weight"]
    hots = ["1.0,0.0,0.0,0.0,1.0", "0.0,1.0,0.0,0.0,0.0", "0.0,0.0,1.0,0.0,1.0", "0.0,1.0,0.0,0.0,1.0"]
    for i, hot in enumerate(hots):
        _image(tmp_path / "ISIC_2019_Test_Input" / f"ISIC_{i:07d}.jpg", 40 * i)
        rows.append(f"ISIC_{i:07d},{hot}")
    (tmp_path / "ISIC_2019_Test_GroundTruth.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "ISIC_2019_Test_GroundTruth.csv")
    assert not dataset.multi_label
    assert [dataset.class_names[c.label] for c in dataset.cases if c.label is not None] == ["MEL", "NV", "BCC", "NV"]


def test_one_hot_rows_with_several_classes_are_a_multi_label_set(tmp_path: Path) -> None:
    for name in "abc":
        _image(tmp_path / f"{name}.png", ord(name))
    (tmp_path / "gt.csv").write_text("path,Effusion,Mass\na.png,1,0\nb.png,1,1\nc.png,0,0\n")
    dataset = Dataset.load(tmp_path / "gt.csv")
    assert dataset.multi_label and [c.findings for c in dataset.cases] == [(0,), (0, 1), ()]


def test_dfuc_rows_leaving_every_one_hot_column_empty_are_unlabelled_not_negatives(tmp_path: Path) -> None:
    """DFUC 2021's ``train.csv``: ``image,none,infection,ischaemia,both``, one 1 per labelled row, and the unlabelled
    images' rows left empty. They were read as images without any finding: a multi-label set of 3 findings (``none``
    lost as a class), the unlabelled images trained and tested as negatives."""
    rows = ["image,none,infection,ischaemia,both"]
    hots = ["1,0,0,0", "0,1,0,0", "0,0,1,0", "0,0,0,1"] * 2 + [",,,"] * 3
    for i, hot in enumerate(hots):
        _image(tmp_path / "images" / f"{100001 + i}.jpg", 20 * i)
        rows.append(f"{100001 + i}.jpg,{hot}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "train.csv")
    assert not dataset.multi_label and dataset.class_names == ["both", "infection", "ischaemia", "none"]
    assert [dataset.class_names[c.label] for c in dataset.cases][:4] == ["none", "infection", "ischaemia", "both"]
    assert len(dataset.cases) == 8 and len(dataset.unlabelled) == 3
    # several findings per row: still multi-label, the empty rows unlabelled
    (tmp_path / "multi.csv").write_text("\n".join([*rows[:-3], "100009.jpg,0,1,1,0", "100010.jpg,,,,"]) + "\n")
    multi = Dataset.load(tmp_path / "multi.csv")
    assert multi.multi_label and len(multi.cases) == 9 and len(multi.unlabelled) == 1


def test_chexpert_uncertain_and_blank_labels(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """CheXpert's ``train.csv``: 1 present, 0 or blank absent, -1 uncertain (read as present, with a warning); the
    ``No Finding`` column is no finding; ``Sex``/``Age`` are not label columns."""
    header = "Path,Sex,Age,No Finding,Cardiomegaly,Edema,Pleural Effusion"
    rows = [header]
    for i, cells in enumerate(["Female,60,1.0,,,", "Male,71,,1.0,-1.0,", "Male,33,,0.0,1.0,1.0"]):
        _image(tmp_path / "train" / f"patient{i}" / "view1_frontal.jpg", 30 * i)
        rows.append(f"train/patient{i}/view1_frontal.jpg,{cells}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "train.csv")
    assert dataset.multi_label and dataset.class_names == ["Cardiomegaly", "Edema", "Pleural Effusion"]
    assert [c.findings for c in dataset.cases] == [(), (0, 1), (1, 2)]
    assert "1 uncertain (-1) finding label(s) are read as present" in caplog.text


def test_without_label_or_one_hot_columns_the_label_column_is_asked_for(tmp_path: Path) -> None:
    _image(tmp_path / "a.png", 1)
    (tmp_path / "gt.csv").write_text("path,age\na.png,63\n")
    with pytest.raises(DatasetError, match="has no 'label' column"):
        Dataset.load(tmp_path / "gt.csv")


def test_a_number_to_regress_is_said_so(tmp_path: Path) -> None:
    """RSNA Bone Age's ``id,boneage,male``: the error said only "no 'label' column", and with ``boneage`` renamed
    label, each month became a class of its own with ``status OK``. Now the error says the column is a measurement
    medimg does not regress, and `check` warns about classes that are all numbers, 20 or more of them."""
    from medimg.data.quality import check_dataset

    rows = ["id,boneage,male"]
    for i in range(24):
        _image(tmp_path / "boneage-training-dataset" / f"{1377 + i}.png", 5 * i)
        rows.append(f"{1377 + i},{6 + 9 * i},{'True' if i % 2 else 'False'}")
    (tmp_path / "boneage-training-dataset.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"'boneage' holds numbers \(24 distinct, 6 to 213\): medimg classifies"):
        Dataset.load(tmp_path / "boneage-training-dataset.csv")
    (tmp_path / "boneage-training-dataset.csv").write_text("\n".join(rows).replace("boneage,", "label,", 1) + "\n")
    dataset = Dataset.load(tmp_path / "boneage-training-dataset.csv")
    warnings = check_dataset(dataset).warnings
    assert any(w.startswith("the 24 classes are all numbers (6 to 213)") for w in warnings), warnings
    grades = [f"{1377 + i},{i % 5},True" for i in range(24)]  # DR grades 0-4: categories, no warning
    (tmp_path / "boneage-training-dataset.csv").write_text("\n".join(["id,label,male", *grades]) + "\n")
    warnings = check_dataset(Dataset.load(tmp_path / "boneage-training-dataset.csv")).warnings
    assert not any("all numbers" in w for w in warnings), warnings


def test_absolute_paths_from_another_machine_are_found_by_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _image(tmp_path / "xray" / "a.png", 1)
    _image(tmp_path / "xray" / "b.png", 2)
    _image(tmp_path / "xray" / "c.png", 3)
    rows = ["path,label", "/home/alice/data/xray/a.png,normal", "C:\\Users\\bob\\xray\\b.png,effusion"]
    (tmp_path / "labels.csv").write_text("\n".join([*rows, "moved/c.png,normal"]) + "\n")
    with pytest.raises(DatasetError, match=r"1 row\(s\) point to files that do not exist:\n  line 4: .*moved/c\.png"):
        Dataset.load(tmp_path / "labels.csv")  # a relative path with folders is taken as written
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path / "labels.csv")
    assert [c.path.name for c in dataset.cases if c.path] == ["a.png", "b.png"]
    # the cases are named by the files here (Kaggle's kidneyData.csv named /kaggle/input/... in predictions.csv)
    assert [c.case_id for c in dataset.cases] == ["xray/a.png", "xray/b.png"]
    assert "2 row(s) give a path of another machine (e.g. /home/alice/data/xray/a.png)" in caplog.text


def test_isic_2020_and_rsna_class_manifests_load_as_shipped(tmp_path: Path) -> None:
    """ISIC 2020's ``image_name,patient_id,...,target`` (images ``train/<image_name>.jpg``) and RSNA's
    ``stage_2_detailed_class_info.csv`` (``patientId,class``, images ``<patientId>.dcm``)."""
    from tests.io.conftest import write_dicom

    (tmp_path / "isic" / "train").mkdir(parents=True)
    (tmp_path / "rsna" / "stage_2_train_images").mkdir(parents=True)
    isic = ["image_name,patient_id,sex,diagnosis,benign_malignant,target"]
    rsna = ["patientId,class"]
    for i in range(8):
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(tmp_path / "isic" / "train" / f"ISIC_{i:07d}.jpg")
        isic.append(f"ISIC_{i:07d},IP_{i // 2},male,nevus,benign,{i % 2}")
        write_dicom(tmp_path / "rsna" / "stage_2_train_images" / f"p{i}.dcm", np.zeros((8, 8), np.uint16))
        rsna.append(f"p{i},{'Lung Opacity' if i % 2 else 'Normal'}")
    (tmp_path / "isic" / "train.csv").write_text("\n".join(isic) + "\n")
    (tmp_path / "rsna" / "stage_2_detailed_class_info.csv").write_text("\n".join(rsna) + "\n")
    first = Dataset.load(tmp_path / "isic" / "train.csv")
    assert first.class_names == ["0", "1"] and len({c.patient_id for c in first.cases}) == 4
    second = Dataset.load(tmp_path / "rsna" / "stage_2_detailed_class_info.csv")
    assert second.class_names == ["Normal", "Lung Opacity"] and all(c.path.suffix == ".dcm" for c in second.cases)


def test_diabetic_retinopathy_manifests_load_as_shipped(tmp_path: Path) -> None:
    """APTOS 2019's ``id_code,diagnosis`` (``train_images/<id_code>.png``) and EyePACS's ``image,level``
    (``train/<image>.jpeg``): the grade is the class."""
    (tmp_path / "aptos" / "train_images").mkdir(parents=True)
    (tmp_path / "eyepacs" / "train").mkdir(parents=True)
    aptos, eyepacs = ["id_code,diagnosis"], ["image,level"]
    for i in range(6):
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(tmp_path / "aptos" / "train_images" / f"{i:04x}.png")
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(tmp_path / "eyepacs" / "train" / f"{i}_left.jpeg")
        aptos.append(f"{i:04x},{i % 3}")
        eyepacs.append(f"{i}_left,{i % 2}")
    (tmp_path / "aptos" / "train.csv").write_text("\n".join(aptos) + "\n")
    (tmp_path / "eyepacs" / "trainLabels.csv").write_text("\n".join(eyepacs) + "\n")
    assert Dataset.load(tmp_path / "aptos" / "train.csv").class_names == ["0", "1", "2"]
    assert Dataset.load(tmp_path / "eyepacs" / "trainLabels.csv").class_names == ["0", "1"]


def test_a_folder_of_image_containers_with_its_label_csv_reads_the_csv(tmp_path: Path) -> None:
    """HAM10000 as unpacked: ``HAM10000_images_part_1/``, ``..._part_2/`` and ``HAM10000_metadata.csv`` (image_id, dx,
    lesion_id). Pointed at the folder, medimg read the two parts as two classes (check said OK)."""
    from PIL import Image

    from medimg.data.dataset import Dataset

    root = tmp_path / "HAM10000"
    rows = ["lesion_id,image_id,dx,dx_type,age,sex,localization"]
    for i in range(12):
        part = root / f"HAM10000_images_part_{1 + i % 2}"
        part.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(part / f"ISIC_{i:07d}.jpg")
        rows.append(f"HAM_{i // 2:07d},ISIC_{i:07d},{('nv', 'mel', 'bkl')[i % 3]},histo,50,male,back")
    (root / "HAM10000_metadata.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(root)
    assert sorted(dataset.class_names) == ["bkl", "mel", "nv"] and len(dataset) == 12
    assert {c.patient_id for c in dataset.cases} == {f"HAM_{k:07d}" for k in range(6)}  # lesion_id groups


def test_class_folders_with_a_metadata_csv_stay_class_folders(tmp_path: Path) -> None:
    from PIL import Image

    from medimg.data.dataset import Dataset

    for cls in ("normal", "pneumonia"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8), i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "metadata.csv").write_text("image,label,age\nnormal/0.png,normal,3\n")
    assert Dataset.load(tmp_path).class_names == ["normal", "pneumonia"] and len(Dataset.load(tmp_path)) == 6


def test_nih_folder_reads_its_data_entry_beside_the_box_list(tmp_path: Path) -> None:
    """NIH ChestX-ray14 as unpacked: ``images_001/``... with ``Data_Entry_2017.csv`` and ``BBox_List_2017.csv``: the
    labels come from the data entry (multi-label rows make a multi-label set), not twelve folder classes."""
    from PIL import Image

    from medimg.data.dataset import Dataset

    rows = ["Image Index,Finding Labels,Follow-up #,Patient ID"]
    for i in range(6):
        folder = tmp_path / f"images_00{1 + i % 2}" / "images"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(folder / f"0000000{i}_000.png")
        rows.append(f"0000000{i}_000.png,{'No Finding' if i % 2 else 'Effusion'},0,{i}")
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join(rows) + "\n")
    boxes = "Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000000_000.png,Effusion,1,1,3,3,,,\n"
    (tmp_path / "BBox_List_2017.csv").write_text(boxes)
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["Effusion", "No Finding"] and len(dataset) == 6
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join([*rows, "00000000_000.png,Effusion|Mass,0,0"]) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.multi_label and dataset.class_names == ["Effusion", "Mass"] and len(dataset) == 7


@pytest.mark.parametrize("kind", ["aptos", "isic2019"])
def test_the_label_csv_is_picked_among_several(tmp_path: Path, kind: str) -> None:
    """APTOS: ``train.csv`` beside ``test.csv`` and ``sample_submission.csv``; ISIC 2019: the one-hot
    ``..._GroundTruth.csv`` beside ``..._Metadata.csv``."""
    from PIL import Image

    from medimg.data.dataset import Dataset

    images = tmp_path / ("train_images" if kind == "aptos" else "ISIC_2019_Training_Input")
    images.mkdir()
    names = [f"im{i}" for i in range(6)]
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(images / f"{name}.png")
    if kind == "aptos":
        (tmp_path / "test_images").mkdir()
        (tmp_path / "train.csv").write_text(
            "id_code,diagnosis\n" + "".join(f"{n},{i % 2}\n" for i, n in enumerate(names))
        )
        (tmp_path / "test.csv").write_text("id_code\nother\n")
        (tmp_path / "sample_submission.csv").write_text("id_code,diagnosis\nother,0\n")
    else:
        onehot = "".join(f"{n},{1.0 if i % 2 else 0.0},{0.0 if i % 2 else 1.0}\n" for i, n in enumerate(names))
        (tmp_path / "ISIC_2019_Training_GroundTruth.csv").write_text("image,MEL,NV\n" + onehot)
        meta = "".join(f"{n},50,anterior torso,BCN_{i},male\n" for i, n in enumerate(names))
        (tmp_path / "ISIC_2019_Training_Metadata.csv").write_text(
            "image,age_approx,anatom_site_general,lesion_id,sex\n" + meta
        )
    dataset = Dataset.load(tmp_path)
    assert len(dataset) == 6 and len(dataset.class_names) == 2


def test_a_label_column_given_for_train_csv_beside_a_test_csv_without_it(tmp_path: Path) -> None:
    """ISIC 2020: ``train.csv`` (``image_name,patient_id,...,diagnosis,benign_malignant,target``) beside ``test.csv``
    (no label columns) and ``jpeg/train/``, ``jpeg/test/``: read without options, but ``--label-column diagnosis``
    (or ``target``, the one medimg chooses) was refused: "test.csv has no column 'diagnosis'"."""
    from PIL import Image

    from medimg.data.dataset import Dataset

    for folder, count in (("train", 8), ("test", 3)):
        (tmp_path / "jpeg" / folder).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(tmp_path / "jpeg" / folder / f"{folder}{i}.jpg")
    rows = "".join(f"train{i},IP_{i},{('nevus', 'melanoma')[i % 2]},{i % 2}\n" for i in range(8))
    (tmp_path / "train.csv").write_text("image_name,patient_id,diagnosis,target\n" + rows)
    test_rows = "".join(f"test{i},IP_9{i},male,50,torso\n" for i in range(3))
    (tmp_path / "test.csv").write_text(
        "image_name,patient_id,sex,age_approx,anatom_site_general_challenge\n" + test_rows
    )
    dataset = Dataset.load(tmp_path, label_column="diagnosis")
    assert sorted(dataset.class_names) == ["melanoma", "nevus"] and len(dataset) == 8
    with pytest.raises(DatasetError, match="no column 'grade'"):  # a column no table has: still named
        Dataset.load(tmp_path, label_column="grade")


def test_two_label_tables_beside_the_image_folders_are_named_not_skipped(tmp_path: Path) -> None:
    """Kaggle's resized diabetic retinopathy set: ``resized_train/resized_train/`` and
    ``resized_train_cropped/resized_train_cropped/`` beside ``trainLabels.csv`` and ``trainLabels_cropped.csv``.
    Neither table could be chosen, so the folders were read as two classes ("cropped or not"), status OK."""
    rows = ["image,level"]
    for i in range(6):
        for folder in ("resized_train", "resized_train_cropped"):
            _image(tmp_path / folder / folder / f"{i}_left.jpeg", 20 * i + len(folder))
        rows.append(f"{i}_left,{i % 2}")
    (tmp_path / "trainLabels.csv").write_text("\n".join(rows) + "\n")
    cropped = [",Unnamed: 0,image,level", *(f"{k},{k},{row}" for k, row in enumerate(rows[1:]))]
    (tmp_path / "trainLabels_cropped.csv").write_text("\n".join(cropped) + "\n")
    with pytest.raises(DatasetError, match=r"2 label tables \(trainLabels.csv, trainLabels_cropped.csv\)"):
        Dataset.load(tmp_path)
    (tmp_path / "trainLabels_cropped.csv").unlink()  # one table: read through it, its names found twice named
    with pytest.raises(DatasetError, match="several files have this name"):
        Dataset.load(tmp_path)


def test_eyepacs_as_kaggle_ships_it_with_its_sample_folder(tmp_path: Path) -> None:
    """Kaggle's diabetic retinopathy download: ``train/``, ``test/`` and ``sample/`` (copies of a few training
    images) beside ``trainLabels.csv`` and ``sampleSubmission.csv``. Before: "split folders beside other folders
    (sample)" and "has no class sub-folders", the table never named. A name found twice in differently named
    folders still stops the read unless the files are the same bytes, or one lies in the folder of the split the
    table is named for (``trainLabels.csv``: ``train/``)."""
    rows = ["image,level"]
    for i in range(8):
        _image(tmp_path / "train" / f"{10 + i}_left.jpeg", 20 * i)
        rows.append(f"{10 + i}_left,{i % 3}")
    for i in range(3):
        (tmp_path / "sample").mkdir(exist_ok=True)
        (tmp_path / "sample" / f"{10 + i}_left.jpeg").write_bytes(
            (tmp_path / "train" / f"{10 + i}_left.jpeg").read_bytes()
        )
        _image(tmp_path / "test" / f"{90 + i}_left.jpeg", 7 * i)
    (tmp_path / "trainLabels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "sampleSubmission.csv").write_text("image,level\n90_left,0\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["0", "1", "2"] and len(dataset) == 8
    _image(tmp_path / "sample" / "11_left.jpeg", 255)  # another image of that name: train/'s, as trainLabels says
    assert {Path(str(c.path)).parent.name for c in Dataset.load(tmp_path).cases} == {"train"}
    (tmp_path / "trainLabels.csv").rename(tmp_path / "labels.csv")  # no split named: which one is meant?
    with pytest.raises(DatasetError, match="several files have this name"):
        Dataset.load(tmp_path)


def test_a_table_of_facts_beside_class_folders_does_not_stop_the_read(tmp_path: Path) -> None:
    """COVID-CT: ``Images-processed/CT_COVID/``, ``CT_NonCOVID/`` and ``Data-split/`` beside
    ``COVID-CT-MetaInfo.xlsx`` (file name, patient, age, gender, severity: no labels). The table was taken for the
    labels and the read stopped with "has no 'label' column"; a table with one-hot columns still labels."""
    root = tmp_path / "COVID-CT"
    for i in range(4):
        _image(root / "Images-processed" / "CT_COVID" / f"2020.0{i}.24.919183-p27-13{i}.png", 30 + i)
        _image(root / "Images-processed" / "CT_NonCOVID" / f"{i}.jpg", 90 + i)
    (root / "Data-split" / "COVID").mkdir(parents=True)
    (root / "Data-split" / "COVID" / "trainCT_COVID.txt").write_text("2020.00.24.919183-p27-130.png\n")
    meta = ["file_name,patient_id,age,gender,severity"]
    meta += [f"2020.0{i}.24.919183-p27-13{i}.png,{i},{50 + i},M,{1 + i % 3}" for i in range(4)]
    (root / "COVID-CT-MetaInfo.csv").write_text("\n".join(meta) + "\n")
    dataset = Dataset.load(root)
    assert dataset.class_names == ["CT_NonCOVID", "CT_COVID"] and len(dataset) == 8


def test_pad_ufes_20_metadata(tmp_path: Path) -> None:
    """PAD-UFES-20 (smartphone skin lesions): ``images/imgs_part_1/`` + ``metadata.csv`` with ``img_id`` and
    ``diagnostic``, patients in ``patient_id``."""
    from PIL import Image

    from medimg.data.dataset import Dataset

    (tmp_path / "images" / "imgs_part_1").mkdir(parents=True)
    rows = ["patient_id,lesion_id,smoke,age,img_id,diagnostic,biopsed"]
    for i in range(6):
        name = f"PAT_{i // 2}_{i}_{100 + i}.png"
        Image.fromarray(np.full((8, 8, 3), i * 30, np.uint8)).save(tmp_path / "images" / "imgs_part_1" / name)
        rows.append(f"PAT_{i // 2},{i},False,55,{name},{('BCC', 'NEV')[i % 2]},True")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["BCC", "NEV"] and {c.patient_id for c in dataset.cases} == {
        "PAT_0",
        "PAT_1",
        "PAT_2",
    }


def _roboflow_classification(root: Path, rows: dict[str, list[str]], header: str) -> Path:
    """Roboflow's classification CSV export: ``<split>/_classes.csv`` (``filename, A, B``: spaces after the commas)
    beside the split's images."""
    for split, lines in rows.items():
        for i, _ in enumerate(lines):
            _image(root / split / f"{split}_{i}_jpg.rf.{i:032x}.jpg", 10 * i + len(split))
        body = [f"{split}_{i}_jpg.rf.{i:032x}.jpg,{line}" for i, line in enumerate(lines)]
        (root / split / "_classes.csv").write_text("\n".join([header, *body]) + "\n")
    return root


def test_roboflow_multi_label_classification_export(tmp_path: Path) -> None:
    root = _roboflow_classification(
        tmp_path / "export",
        {"train": ["1, 1, 0", "0, 1, 0", "0, 0, 1"], "valid": ["1, 0, 0", "0, 0, 1"], "test": ["0, 1, 0"]},
        "filename, Effusion, Nodule, Normal",
    )
    dataset = Dataset.load(root)  # a folder of split folders, not three classes named train/valid/test
    assert dataset.multi_label and dataset.class_names == ["Effusion", "Nodule"]  # "Normal" is no finding
    by_id = {c.case_id: (c.split, [dataset.class_names[i] for i in c.findings or ()]) for c in dataset.cases}
    assert by_id["train/train_0_jpg.rf.00000000000000000000000000000000.jpg"] == ("train", ["Effusion", "Nodule"])
    assert by_id["valid/valid_1_jpg.rf.00000000000000000000000000000001.jpg"] == ("val", [])
    assert by_id["test/test_0_jpg.rf.00000000000000000000000000000000.jpg"] == ("test", ["Nodule"])  # one per row


def test_roboflow_single_label_classification_export(tmp_path: Path) -> None:
    root = _roboflow_classification(
        tmp_path / "export", {"train": ["1, 0", "0, 1", "0, 1"], "valid": ["1, 0", "0, 1"]}, "filename, benign, tumor"
    )
    dataset = Dataset.load(root)
    assert not dataset.multi_label and dataset.class_names == ["benign", "tumor"]
    assert [(c.split, dataset.class_names[c.label]) for c in dataset.cases if c.label is not None] == [
        ("train", "benign"),
        ("train", "tumor"),
        ("train", "tumor"),
        ("val", "benign"),
        ("val", "tumor"),
    ]


def test_split_folders_of_class_folders_with_a_csv_stay_class_folders(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for cls in ("normal", "tumor"):
            for i in range(2):
                _image(tmp_path / split / cls / f"{i}.png", i + len(cls))
        (tmp_path / split / "labels.csv").write_text("filename,label,age\nnormal/0.png,normal,3\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["normal", "tumor"] and len(dataset) == 8


def test_nih_official_split_lists_are_the_split(tmp_path: Path) -> None:
    """NIH ChestX-ray14 ships ``train_val_list.txt`` and ``test_list.txt`` beside ``Data_Entry_2017.csv``: papers
    report on that test list, so medimg uses it (validation is carved from train_val, patient-grouped)."""
    rows = ["Image Index,Finding Labels,Patient ID"]
    for i in range(6):
        _image(tmp_path / "images_001" / "images" / f"0000000{i}_000.png", i)
        rows.append(f"0000000{i}_000.png,{'Effusion|Mass' if i % 2 else 'No Finding'},{i}")
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "train_val_list.txt").write_text("00000000_000.png\n00000001_000.png\n00000002_000.png\n")
    (tmp_path / "test_list.txt").write_text("00000003_000.png\n00000004_000.png\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.multi_label
    assert [c.split for c in dataset.cases] == ["train", "train", "train", "test", "test", "train"]  # 5: unlisted


def test_chexpert_train_and_valid_csvs_with_paths_from_above(tmp_path: Path) -> None:
    """CheXpert-v1.0-small: ``train.csv`` and ``valid.csv`` at the top (one split each), their paths written from
    the folder above (``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``)."""
    root = tmp_path / "CheXpert-v1.0-small"
    for split, count in (("train", 4), ("valid", 2)):
        rows = ["Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Edema,Pleural Effusion"]
        for i in range(count):
            _image(root / split / f"patient0000{i}" / "study1" / "view1_frontal.jpg", i + count)
            cells = ["1.0,,", ",1.0,-1.0", ",0.0,1.0", ",1.0,1.0"][i]
            rows.append(
                f"CheXpert-v1.0-small/{split}/patient0000{i}/study1/view1_frontal.jpg,Male,50,Frontal,AP,{cells}"
            )
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(root)
    assert dataset.multi_label and dataset.class_names == ["Edema", "Pleural Effusion"]
    assert [(c.split, c.findings) for c in dataset.cases] == [
        ("train", ()),
        ("train", (0, 1)),
        ("train", (1,)),
        ("train", (0, 1)),
        ("val", ()),
        ("val", (0, 1)),
    ]
    assert all(c.path is not None and c.path.is_file() for c in dataset.cases)


def test_kaggle_histopathologic_cancer_detection(tmp_path: Path) -> None:
    """PCam's Kaggle edition: ``train_labels.csv`` (``id,label``: a bare id names ``train/<id>.tif``) beside
    ``sample_submission.csv``, ``train/`` and ``test/``."""
    rows = ["id,label"]
    for i in range(4):
        _image(tmp_path / "train" / f"{i:040x}.tif", i)
        rows.append(f"{i:040x},{i % 2}")
    _image(tmp_path / "test" / f"t{0:039x}.tif", 9)
    (tmp_path / "train_labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "sample_submission.csv").write_text(f"id,label\nt{0:039x},0\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["0", "1"] and [c.label for c in dataset.cases] == [0, 1, 0, 1]
    assert all(c.path is not None and c.path.parent.name == "train" for c in dataset.cases)


def test_rsna_screening_mammography_learns_cancer(tmp_path: Path) -> None:
    """RSNA Screening Mammography's ``train.csv``: ``patient_id``, ``image_id`` (``train_images/<patient>/<image>.dcm``
    here PNG), ``cancer`` beside other 0/1 columns (``biopsy``, ``invasive``, ``implant``) that are not the label."""
    rows = ["site_id,patient_id,image_id,laterality,view,age,cancer,biopsy,invasive,BIRADS,implant,density"]
    for i in range(6):
        patient = 10000 + i // 2
        _image(tmp_path / "train_images" / str(patient) / f"{4620 + i}.png", i)
        rows.append(f"2,{patient},{4620 + i},L,CC,61,{i % 2},{i % 2},0,,0,B")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "train.csv")
    assert not dataset.multi_label and dataset.class_names == ["0", "1"]
    assert [c.label for c in dataset.cases] == [0, 1, 0, 1, 0, 1]
    assert [c.patient_id for c in dataset.cases] == ["10000", "10000", "10001", "10001", "10002", "10002"]


def test_rsna_intracranial_hemorrhage_rows_per_image_and_finding(tmp_path: Path) -> None:
    """RSNA ICH's ``stage_2_train.csv``: ``ID,Label`` with one row per image and subtype (``ID_63eb1e259_epidural``),
    the image ``stage_2_train/ID_63eb1e259.dcm`` (PNG here): one multi-label case per image."""
    subtypes = ("epidural", "intraparenchymal", "intraventricular", "subarachnoid", "subdural", "any")
    positive = {"ID_000a": {"subdural", "any"}, "ID_000b": set(), "ID_000c": {"epidural", "subdural", "any"}}
    rows = ["ID,Label"]
    for i, (image, found) in enumerate(positive.items()):
        _image(tmp_path / "stage_2_train" / f"{image}.png", i)
        rows += [f"{image}_{subtype},{int(subtype in found)}" for subtype in subtypes]
    _image(tmp_path / "stage_2_test" / "ID_fff0.png", 9)
    (tmp_path / "stage_2_train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "stage_2_sample_submission.csv").write_text("ID,Label\nID_fff0_any,0.5\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.multi_label and sorted(dataset.class_names) == sorted(subtypes)
    read = {c.case_id: {dataset.class_names[i] for i in c.findings or ()} for c in dataset.cases}
    assert read == positive


def test_two_column_ids_with_a_word_at_the_end_stay_single_label(tmp_path: Path) -> None:
    """``P_00001_LEFT,1``: the id names its own file, so it is no image-and-finding pair."""
    rows = ["id,label"]
    for i, side in enumerate(("LEFT", "RIGHT", "LEFT", "RIGHT")):
        name = f"P_0000{i // 2}_{side}"
        _image(tmp_path / f"{name}.png", i)
        rows.append(f"{name},{i % 2}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "labels.csv")
    assert not dataset.multi_label and [c.label for c in dataset.cases] == [0, 1, 0, 1]


def test_labels_written_as_lists(tmp_path: Path) -> None:
    """pandas saves a list column as ``['N']``: ODIR-5K's ``full_df.csv`` (``filename``, ``labels``, and a ``target``
    one-hot string) reads its classes from the lists; lists of several names are a multi-label set."""
    rows = ["ID,filename,labels,target"]
    for i, label in enumerate(["N", "D", "N", "G"]):
        _image(tmp_path / "preprocessed_images" / f"{i}_right.jpg", i)
        rows.append(f"{i},{i}_right.jpg,['{label}'],\"[1, 0, 0]\"")
    (tmp_path / "full_df.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "full_df.csv")
    assert not dataset.multi_label and dataset.class_names == ["D", "G", "N"]
    assert [dataset.class_names[c.label] for c in dataset.cases if c.label is not None] == ["N", "D", "N", "G"]
    rows = ["filename,labels", "0_right.jpg,\"['D', 'G']\"", "1_right.jpg,['No Finding']", "2_right.jpg,['G']"]
    (tmp_path / "multi.csv").write_text("\n".join(rows) + "\n")
    multi = Dataset.load(tmp_path / "multi.csv")
    assert multi.multi_label and multi.class_names == ["D", "G"]
    assert [c.findings for c in multi.cases] == [(0, 1), (), (1,)]


def test_padchest_image_ids_name_the_files_not_the_patient_ids(tmp_path: Path) -> None:
    """PadChest's table (``ImageID,ImageDir,...,PatientID,...,Labels``): ``ImageID`` names the file; the loader took
    ``PatientID`` for the path and refused every row ("files that do not exist")."""
    rows = ["ImageID,ImageDir,StudyDate_DICOM,PatientID,Projection,Labels"]
    for i, labels in enumerate(["['normal']", "\"['pneumonia', 'infiltrates']\"", "['pneumonia']", "['normal']"]):
        name = f"2015{i:08d}_00-{i:03d}-000.png"
        _image(tmp_path / "0" / name, i)
        rows.append(f"{name},0,20150101,p{i // 2},PA,{labels}")
    (tmp_path / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.multi_label and dataset.class_names == ["infiltrates", "pneumonia"]
    assert [c.findings for c in dataset.cases] == [(), (0, 1), (1,), ()]  # 'normal': no finding
    assert [c.patient_id for c in dataset.cases] == ["p0", "p0", "p1", "p1"]


def test_mimic_cxr_jpg_joins_study_labels_to_its_images(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """MIMIC-CXR-JPG: ``files/p10/p10000032/s50414267/<dicom_id>.jpg`` with gzipped split and CheXpert tables; each
    image gets its study's findings (-1 uncertain as present), its subject as the patient, the table's split
    (``validate`` -> val); an image not downloaded is left out with a warning, a study without labels is unlabelled."""
    import gzip

    root = tmp_path / "mimic-cxr-jpg" / "2.0.0"
    images = [("d1", "50000001", "10000032", "train"), ("d2", "50000001", "10000032", "train"),
              ("d3", "50000002", "10000040", "validate"), ("d4", "50000003", "11000050", "test"),
              ("d5", "50000004", "12000060", "train"), ("d6", "50000005", "12000061", "train")]  # fmt: skip
    for dicom, study, subject, _ in images[:-1]:  # d6 is not downloaded
        _image(root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg", int(dicom[1:]))
    split = "dicom_id,study_id,subject_id,split\n" + "".join(",".join(i) + "\n" for i in images)
    labels = (
        "subject_id,study_id,Atelectasis,Cardiomegaly,Edema,No Finding\n"
        "10000032,50000001,1.0,,-1.0,\n10000040,50000002,,,,1.0\n11000050,50000003,0.0,1.0,,\n"
        "12000061,50000005,,1.0,,\n"
    )
    with gzip.open(root / "mimic-cxr-2.0.0-split.csv.gz", "wt") as f:
        f.write(split)
    with gzip.open(root / "mimic-cxr-2.0.0-chexpert.csv.gz", "wt") as f:
        f.write(labels)
    dataset = Dataset.load(root)
    assert dataset.multi_label and dataset.class_names == ["Atelectasis", "Cardiomegaly", "Edema"]
    read = [(c.path.stem, c.split, c.patient_id, c.findings) for c in dataset.cases if c.path is not None]
    assert read == [
        ("d1", "train", "10000032", (0, 2)), ("d2", "train", "10000032", (0, 2)),
        ("d3", "val", "10000040", ()), ("d4", "test", "11000050", (1,)),
    ]  # fmt: skip
    assert [c.path.stem for c in dataset.unlabelled if c.path is not None] == ["d5"]  # study 50000004 has no labels
    assert "1 of the 6 images mimic-cxr-2.0.0-split.csv.gz lists are not under files/" in caplog.text
    # the folder PhysioNet's wget makes, physionet.org/files/mimic-cxr-jpg/2.0.0/: was p10, p11... as classes
    wget = tmp_path / "physionet.org" / "files"
    wget.mkdir(parents=True)
    (tmp_path / "mimic-cxr-jpg").rename(wget / "mimic-cxr-jpg")
    assert Dataset.load(tmp_path).describe()["source"] == dataset.describe()["source"]


def test_a_partial_download_trains_on_the_images_it_has(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """NIH ChestX-ray14 with only ``images_001/`` of its twelve archives unpacked: the data entry's rows whose file is
    under no sub-folder are left out with a warning (a relative path with folders that does not exist stays an
    error; no file at all stays an error)."""
    rows = ["Image Index,Finding Labels,Patient ID"]
    for i in range(6):
        if i < 3:
            _image(tmp_path / "images_001" / "images" / f"0000000{i}_000.png", i)
        rows.append(f"0000000{i}_000.png,{'Effusion|Mass' if i % 2 else 'No Finding'},{i}")
    (tmp_path / "Data_Entry_2017.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert [c.case_id for c in dataset.cases] == [f"0000000{i}_000.png" for i in range(3)]
    assert "3 of the 6 rows name a file that is under no sub-folder" in caplog.text
    for i in range(3):
        (tmp_path / "images_001" / "images" / f"0000000{i}_000.png").unlink()
    with pytest.raises(DatasetError, match=r"6 row\(s\) point to files that do not exist"):
        Dataset.load(tmp_path)


def test_ids_whose_leading_zeros_a_spreadsheet_dropped_find_their_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``00017.png`` listed as ``17`` (Excel) or ``17.0`` (pandas, a column with gaps): matched by the number."""
    rows = ["id,label"]
    for i in range(6):
        _image(tmp_path / "train" / f"{i * 17:05d}.png", 10 * i)
        rows.append(f"{i * 17}{'.0' if i % 2 else ''},{'yes' if i % 2 else 'no'}")
    (tmp_path / "train_labels.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(tmp_path / "train_labels.csv")
    assert [c.path.name for c in dataset.cases if c.path] == [f"{i * 17:05d}.png" for i in range(6)]
    assert [dataset.class_names[c.label] for c in dataset.cases] == ["no", "yes"] * 3
    assert "6 row(s) give a number whose file or folder name has leading zeros" in caplog.text


def test_isic_2018_task_3_ground_truth_in_its_folder_and_lesions_beside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ISIC 2018 task 3 as unpacked: ``..._Training_Input/`` images, ``..._Training_GroundTruth/`` holding the
    one-hot table (and licence files), ``..._LesionGroupings.csv`` (``image,lesion_id,diagnosis_confirm_type``) at
    the top. The groupings table gave the labels (its confirmation types: histopathology, follow-up...): the
    diagnoses come from the ground truth, the lesions group the split."""
    classes = ["MEL", "NV", "BCC"]
    truth = ["image," + ",".join(classes)]
    groups = ["image,lesion_id,diagnosis_confirm_type"]
    for i in range(12):
        name = f"ISIC_{24306 + i:07d}"
        _image(tmp_path / "ISIC2018_Task3_Training_Input" / f"{name}.jpg", 20 * i)
        truth.append(f"{name}," + ",".join("1.0" if k == i % 3 else "0.0" for k in range(3)))
        groups.append(f"{name},HAM_{i // 2:07d},{'histopathology' if i % 2 else 'follow-up'}")
    (tmp_path / "ISIC2018_Task3_Training_Input" / "ATTRIBUTION.txt").write_text("by")
    (tmp_path / "ISIC2018_Task3_Training_GroundTruth").mkdir()
    (tmp_path / "ISIC2018_Task3_Training_GroundTruth" / "LICENSE.txt").write_text("CC")
    (tmp_path / "ISIC2018_Task3_Training_GroundTruth" / "ISIC2018_Task3_Training_GroundTruth.csv").write_text(
        "\n".join(truth) + "\n"
    )
    (tmp_path / "ISIC2018_Task3_Training_LesionGroupings.csv").write_text("\n".join(groups) + "\n")
    with caplog.at_level("INFO", logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == sorted(classes)
    assert len(dataset.cases) == 12
    assert dataset.class_names[dataset.cases[4].label] == "NV"  # ISIC_0024310: the second column
    assert {c.patient_id for c in dataset.cases} == {f"HAM_{k:07d}" for k in range(6)}
    assert "patients from ISIC2018_Task3_Training_LesionGroupings.csv (lesion_id), 6 of them" in caplog.text


def test_ham10000_kaggle_copies_in_folders_named_alike_but_for_case(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Kaggle's HAM10000 ships every image twice, in ``HAM10000_images_part_1/`` and ``ham10000_images_part_1/``:
    identical copies are one file (each row was "several files have this name"); copies that differ are not."""
    rows = ["lesion_id,image_id,dx"]
    for i in range(6):
        for folder in (f"HAM10000_images_part_{i % 2 + 1}", f"ham10000_images_part_{i % 2 + 1}"):
            _image(tmp_path / folder / f"ISIC_00{i}.jpg", 30 * i)
        rows.append(f"HAM_{i // 2},ISIC_00{i},{'mel' if i % 2 else 'nv'}")
    (tmp_path / "HAM10000_metadata.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("INFO", logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert len(dataset.cases) == 6 and all("HAM10000_images" in str(c.path) for c in dataset.cases)
    assert "6 row(s) name a file kept twice" in caplog.text
    _image(tmp_path / "ham10000_images_part_1" / "ISIC_000.jpg", 200)  # no longer a copy
    with pytest.raises(DatasetError, match=r"several files have this name.*give the rows their folder\)"):
        Dataset.load(tmp_path)  # no --exclude tells the two apart: patterns match regardless of case


def test_odir_kaggle_copy_beside_its_preprocessed_images_is_no_pair_of_classes(tmp_path: Path) -> None:
    """Kaggle's ODIR: ``ODIR-5K/ODIR-5K/Training Images/`` + ``Testing Images/`` beside ``preprocessed_images/`` and
    ``full_df.csv``: read as two classes (``ODIR-5K``, ``preprocessed_images``), status OK. The table, given, names
    each file found in both folders: its refusal said "keep one copy"."""
    rows = ["ID,Left-Fundus,Right-Fundus,labels,filename"]
    for k in range(6):
        for side in ("left", "right"):
            name = f"{k}_{side}.jpg"
            _image(tmp_path / "ODIR-5K" / "ODIR-5K" / "Training Images" / name, 20 * k)
            _image(tmp_path / "preprocessed_images" / name, 20 * k + 5)
            rows.append(f"{k},{k}_left.jpg,{k}_right.jpg,['{'N' if k % 2 else 'C'}'],{name}")
        _image(tmp_path / "ODIR-5K" / "ODIR-5K" / "Testing Images" / f"{1000 + k}_left.jpg", 10)
    (tmp_path / "full_df.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"ODIR-5K/ holds split folders of its own.*medimg fit .*full_df.csv"):
        Dataset.load(tmp_path)
    with pytest.raises(DatasetError, match=r"choose the folder with --exclude '[^']+'") as refused:
        Dataset.load(tmp_path / "full_df.csv")  # was: "keep one copy"
    advice = re.search(r"--exclude '([^']+)'", str(refused.value))
    assert advice and len(Dataset.load(tmp_path / "full_df.csv", exclude=(advice.group(1),)).cases) == 12
    dataset = Dataset.load(tmp_path / "full_df.csv", exclude=("ODIR-5K/*",))
    assert dataset.class_names == ["C", "N"] and len(dataset.cases) == 12
    assert {Path(str(c.path)).parent.name for c in dataset.cases} == {"preprocessed_images"}


def test_odir_rows_of_two_eyes_labelled_for_the_patient_are_refused(tmp_path: Path) -> None:
    """ODIR-5K's ``data.xlsx``: ``Left-Fundus,Right-Fundus`` name both eyes' images, ``N,D,G,C,...`` the patient's
    findings. The left images were read with the patient's findings (a normal left eye trained as cataract, from
    its right eye), the right ones dropped; a side's own label column still reads that side."""
    rows = ["ID,Left-Fundus,Right-Fundus,Left-Diagnostic Keywords,Right-Diagnostic Keywords,N,C"]
    for k in range(8):
        for side in ("left", "right"):
            _image(tmp_path / "Training Images" / f"{k}_{side}.jpg", 20 * k + (5 if side == "right" else 0))
        keywords = ("normal fundus", "cataract") if k % 2 else ("cataract", "cataract")
        rows.append(f"{k},{k}_left.jpg,{k}_right.jpg,{keywords[0]},{keywords[1]},{int(k % 4 == 0)},1")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"each row names an image per side \(Left-Fundus, Right-Fundus\)"):
        Dataset.load(tmp_path / "data.csv")
    left = Dataset.load(tmp_path / "data.csv", label_column="Left-Diagnostic Keywords")
    assert sorted(left.class_names) == ["cataract", "normal fundus"]
    assert {Path(str(c.path)).name: left.class_names[c.label] for c in left.cases}["1_left.jpg"] == "normal fundus"


def test_split_folders_without_classes_name_the_tables_beside_them(tmp_path: Path) -> None:
    """VinDr-CXR: ``train/``, ``test/`` of images beside ``annotations/`` (its box and label tables): "has no class
    sub-folders", the tables never named; given, the annotations folder reads."""
    for split in ("train", "test"):
        for k in range(3):
            _image(tmp_path / split / f"{split}{k:02d}.png", 40 * k)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "image_labels_train.csv").write_text("image_id,rad_id,Nodule\ntrain00,R1,1\n")
    with pytest.raises(DatasetError, match=r"The tables in annotations/ \(image_labels_train.csv\) may label the "):
        Dataset.load(tmp_path)


def test_idrid_grading_tables_name_images_of_their_own_split_folder(tmp_path: Path) -> None:
    """IDRiD's disease grading: ``a. Training Set/IDRiD_001.jpg`` and ``b. Testing Set/IDRiD_001.jpg`` (each split
    numbered from 1) labelled by ``a. ..._Training Labels.csv`` and ``b. ..._Testing Labels.csv``: every row was
    "several files have this name ... keep one copy" (deleting test images)."""
    images = tmp_path / "B. Disease Grading" / "1. Original Images"
    tables = tmp_path / "B. Disease Grading" / "2. Groundtruths"
    tables.mkdir(parents=True)
    for split, folder, count in (("Training", "a. Training Set", 8), ("Testing", "b. Testing Set", 4)):
        rows = ["Image name,Retinopathy grade,Risk of macular edema ,,"]
        for k in range(1, count + 1):
            _image(images / folder / f"IDRiD_{k:03d}.jpg", 10 * k + (100 if split == "Testing" else 0))
            rows.append(f"IDRiD_{k:03d},{k % 2},0,,")
        prefix = "a" if split == "Training" else "b"
        (tables / f"{prefix}. IDRiD_Disease Grading_{split} Labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "B. Disease Grading")
    assert dataset.split_counts() == {"train": 8, "test": 4}
    assert all(Path(str(c.path)).parent.name == ("a. Training Set" if c.split == "train" else "b. Testing Set")
               for c in dataset.cases)  # fmt: skip


def test_isic_2020_kaggle_with_dicom_and_jpeg_copies_and_an_unlabelled_test_csv(tmp_path: Path) -> None:
    """Kaggle's SIIM-ISIC 2020: ``train/*.dcm`` and ``jpeg/train/*.jpg`` of the same images, ``train.csv`` and a
    ``test.csv`` without labels. The test table made the folder fail ("no 'label' column"); the two formats are
    chosen between with --include, which the error now says."""
    rows = ["image_name,patient_id,sex,age_approx,anatom_site_general_challenge,diagnosis,benign_malignant,target"]
    for i in range(6):
        name = f"ISIC_{1000 + i}"
        _image(tmp_path / "jpeg" / "train" / f"{name}.jpg", 20 * i)
        (tmp_path / "train").mkdir(exist_ok=True)
        (tmp_path / "train" / f"{name}.dcm").write_bytes(b"\0" * 128 + b"DICM")
        rows.append(f"{name},IP_{i // 2},male,45,torso,{'melanoma' if i % 2 else 'nevus'},x,{i % 2}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text("image_name,patient_id,sex,age_approx,anatom_site_general_challenge\n")
    with pytest.raises(DatasetError, match=r"choose with --include '\*\.dcm' or --include '\*\.jpg'"):
        Dataset.load(tmp_path)
    dataset = Dataset.load(tmp_path, include=("*.jpg",))
    assert len(dataset.cases) == 6 and all(c.path is not None and c.path.suffix == ".jpg" for c in dataset.cases)
    assert dataset.class_names == ["0", "1"] and {c.patient_id for c in dataset.cases} == {"IP_0", "IP_1", "IP_2"}


def test_ham10000_from_dataverse_with_its_tab_separated_metadata(tmp_path: Path) -> None:
    """Harvard Dataverse exports HAM10000's metadata as ``HAM10000_metadata.tab`` (tab-separated, quoted): without
    it being read, the two image folders were the classes."""
    rows = ["lesion_id\timage_id\tdx\tdx_type\tage"]
    for i in range(6):
        _image(tmp_path / f"HAM10000_images_part_{i % 2 + 1}" / f"ISIC_00{i}.jpg", 30 * i)
        rows.append(f'"HAM_{i // 2}"\t"ISIC_00{i}"\t"{"mel" if i % 3 else "nv"}"\t"histo"\t55.0')
    (tmp_path / "HAM10000_metadata.tab").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["mel", "nv"] and len(dataset.cases) == 6
    assert {c.patient_id for c in dataset.cases} == {"HAM_0", "HAM_1", "HAM_2"}


def test_messidor_2_from_kaggle(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``messidor_data.csv`` (``image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable``) beside
    ``messidor-2/IMAGES/``: the folder was "a single class", the table a multi-label set of DME and gradability."""
    rows = ["image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable"]
    for i in range(10):
        name = f"IM{i:06d}.JPG" if i % 2 else f"20051020_{i:05d}_0100_PP.png"
        _image(tmp_path / "messidor-2" / "IMAGES" / name, 20 * i)
        rows.append(f"{name},{i % 5 if i else ''},{i % 2},{0 if i == 0 else 1}")  # the first: ungradable, no grade
    (tmp_path / "messidor_data.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("INFO", logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["0", "1", "2", "3", "4"] and not dataset.multi_label
    assert len(dataset.cases) == 9 and len(dataset.unlabelled) == 1
    assert "labels from its column 'adjudicated_dr_grade'" in caplog.text


def test_hyperkvasir_image_labels_csv(tmp_path: Path) -> None:
    """``image-labels.csv`` (``Video file,Organ,Finding,Classification``; the first column is the image's name
    without ``.jpg``): no column was named as paths or labels. The findings are the classes."""
    rows = ["Video file,Organ,Finding,Classification"]
    findings = {"cecum": "anatomical-landmarks", "polyps": "pathological-findings", "pylorus": "anatomical-landmarks"}
    for i in range(9):
        finding = list(findings)[i % 3]
        name = f"{i:08x}-8261-4d32-9142-bb167c05289d"
        organ = "upper-gi-tract" if finding == "pylorus" else "lower-gi-tract"
        _image(tmp_path / organ / findings[finding] / finding / f"{name}.jpg", 20 * i)
        rows.append(f"{name},{'Upper GI' if finding == 'pylorus' else 'Lower GI'},{finding},{findings[finding]}")
    (tmp_path / "image-labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "image-labels.csv")
    assert sorted(dataset.class_names) == ["cecum", "polyps", "pylorus"] and len(dataset.cases) == 9


def test_loni_ida_download_adni_nifti(tmp_path: Path) -> None:
    """ADNI as LONI's IDA downloads it as NIfTI: ``ADNI/<subject>/<description>/<date>/I12345/ADNI_..._I12345.nii``
    beside the search table (``Image Data ID``, ``Subject``, ``Group``); the table's folder or the table loads."""

    rows = ["Image Data ID,Subject,Group,Sex,Age,Visit,Modality,Description,Type,Acq Date,Format,Downloaded"]
    for i in range(9):
        subject, image_id = f"002_S_{i // 2:04d}", f"I{10000 + i}"
        folder = tmp_path / "ADNI" / subject / "MPRAGE" / f"2006-04-1{i}_08_20_30.0" / image_id
        folder.mkdir(parents=True)
        volume = np.full((8, 8, 6), i, np.float32)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), folder / f"ADNI_{subject}_MR_MPRAGE_br_raw_S{i}_{image_id}.nii")
        rows.append(f"{image_id},{subject},{['AD', 'CN', 'MCI'][i % 3]},M,70,sc,MRI,MPRAGE,Original,4/18/2006,NiFTI,")
    (tmp_path / "ADNI1_Screening_1.5T.csv").write_text("\n".join(rows) + "\n")
    for given in (tmp_path, tmp_path / "ADNI1_Screening_1.5T.csv"):
        dataset = Dataset.load(given)
        assert dataset.class_names == ["AD", "CN", "MCI"] and len(dataset.cases) == 9
        for case in dataset.cases:
            assert case.path is not None and case.path.suffix == ".nii" and case.path.parent.name in case.case_id
            assert case.patient_id == case.path.parts[-5]


def test_lesion_groups_with_empty_cells_and_in_the_ground_truth_folder(tmp_path: Path) -> None:
    """ISIC 2019's metadata leaves ``lesion_id`` empty for whole sources: the images with one are still grouped (one
    empty cell dropped the grouping of all, lesions straddled the splits); ISIC 2018's groupings table is found in
    the ground truth's own folder too."""
    isic2019 = tmp_path / "isic2019"
    truth, metadata = ["image,MEL,NV"], ["image,age_approx,lesion_id,sex"]
    for i in range(8):
        _image(isic2019 / "ISIC_2019_Training_Input" / f"ISIC_{i:07d}.jpg", 20 * i)
        truth.append(f"ISIC_{i:07d},{'1.0,0.0' if i % 2 else '0.0,1.0'}")
        metadata.append(f"ISIC_{i:07d},50,{f'BCN_{i // 2:07d}' if i < 6 else ''},male")
    (isic2019 / "ISIC_2019_Training_GroundTruth.csv").write_text("\n".join(truth) + "\n")
    (isic2019 / "ISIC_2019_Training_Metadata.csv").write_text("\n".join(metadata) + "\n")
    dataset = Dataset.load(isic2019 / "ISIC_2019_Training_GroundTruth.csv")
    assert [c.patient_id for c in dataset.cases] == [f"BCN_{i // 2:07d}" for i in range(6)] + [None, None]
    isic2018 = tmp_path / "isic2018"
    gt = isic2018 / "ISIC2018_Task3_Training_GroundTruth"
    groupings = ["image,lesion_id"]
    for i in range(4):
        _image(isic2018 / "ISIC2018_Task3_Training_Input" / f"ISIC_{i:07d}.jpg", 40 * i)
        groupings.append(f"ISIC_{i:07d},HAM_{i // 2:07d}")
    gt.mkdir(parents=True)
    (gt / "ISIC2018_Task3_Training_GroundTruth.csv").write_text("\n".join(truth[:5]) + "\n")
    (gt / "ISIC2018_Task3_Training_LesionGroupings.csv").write_text("\n".join(groupings) + "\n")
    dataset = Dataset.load(isic2018)
    assert [c.patient_id for c in dataset.cases] == ["HAM_0000000", "HAM_0000000", "HAM_0000001", "HAM_0000001"]


def test_a_set_unpacked_into_a_wrapper_folder_reads_its_label_table(tmp_path: Path) -> None:
    """Kaggle's ``archive/<set>/`` (a read-me beside): the set's label table inside is read, as for the set's own
    folder; through the wrapper the two image folders were the classes (check said OK)."""
    from medimg.data.layouts import data_task

    root = tmp_path / "archive"
    rows = ["lesion_id,image_id,dx,dx_type"]
    for i in range(12):
        _image(root / "HAM10000" / f"HAM10000_images_part_{i % 2 + 1}" / f"ISIC_{i:07d}.jpg", 20 * i)
        rows.append(f"HAM_{i // 2:07d},ISIC_{i:07d},{('nv', 'mel', 'bkl')[i % 3]},histo")
    (root / "HAM10000" / "HAM10000_metadata.csv").write_text("\n".join(rows) + "\n")
    (root / "README.txt").write_text("downloaded from Kaggle")
    dataset = Dataset.load(root)
    assert sorted(dataset.class_names) == ["bkl", "mel", "nv"] and len(dataset.cases) == 12
    assert {c.patient_id for c in dataset.cases} == {f"HAM_{k:07d}" for k in range(6)}
    task, layout = data_task(root)
    assert task == "classify" and layout is not None and layout.name == "csv_manifest"


def test_ground_truth_tables_named_for_their_splits(tmp_path: Path) -> None:
    """ISIC 2019 with its test ground truth beside the training one (and a metadata table for each), ISIC 2018 task
    3 with its three ``_Input`` and ``_GroundTruth`` folders: each table labels its split. Two tables made both be
    ignored silently, the input folders read as the classes (check said OK)."""
    isic2019 = tmp_path / "isic2019"
    for part, count in (("Training", 8), ("Test", 4)):
        truth, metadata = ["image,MEL,NV"], ["image,age_approx,lesion_id,sex"]
        for i in range(count):
            name = f"ISIC_{part[:2]}{i:05d}"
            _image(isic2019 / f"ISIC_2019_{part}_Input" / f"{name}.jpg", 20 * i)
            truth.append(f"{name},{'1.0,0.0' if i % 2 else '0.0,1.0'}")
            metadata.append(f"{name},50,L{i // 2},male")
        (isic2019 / f"ISIC_2019_{part}_GroundTruth.csv").write_text("\n".join(truth) + "\n")
        (isic2019 / f"ISIC_2019_{part}_Metadata.csv").write_text("\n".join(metadata) + "\n")
    dataset = Dataset.load(isic2019)
    assert sorted(dataset.class_names) == ["MEL", "NV"] and len(dataset.cases) == 12
    assert {c.path.name[5:7]: c.split for c in dataset.cases if c.path} == {"Tr": "train", "Te": "test"}
    isic2018 = tmp_path / "isic2018"
    for part, count in (("Training", 8), ("Validation", 2), ("Test", 4)):
        truth = ["image,MEL,NV,BCC"]
        for i in range(count):
            name = f"ISIC_{part[:2]}{i:05d}"
            _image(isic2018 / f"ISIC2018_Task3_{part}_Input" / f"{name}.jpg", 20 * i)
            truth.append(f"{name}," + ",".join("1.0" if k == i % 3 else "0.0" for k in range(3)))
        folder = isic2018 / f"ISIC2018_Task3_{part}_GroundTruth"
        folder.mkdir()
        (folder / f"ISIC2018_Task3_{part}_GroundTruth.csv").write_text("\n".join(truth) + "\n")
    dataset = Dataset.load(isic2018)
    assert sorted(dataset.class_names) == ["BCC", "MEL", "NV"] and len(dataset.cases) == 14
    splits = {c.path.name[5:7]: c.split for c in dataset.cases if c.path}
    assert splits == {"Tr": "train", "Va": "val", "Te": "test"}
    assert all(not c.case_id.startswith("ISIC2018_Task3_Training_GroundTruth") for c in dataset.cases)


def test_labels_in_json_are_named_in_the_error(tmp_path: Path) -> None:
    """A JSON of labels per image beside the images: the error named only the folder layout ("a single class
    ('images')"); it now names the JSON file and the table to write instead."""
    import json

    for i in range(4):
        _image(tmp_path / "images" / f"{i}.png", 30 * i)
    (tmp_path / "labels.json").write_text(
        json.dumps({f"{i}.png": "pneumonia" if i % 2 else "normal" for i in range(4)})
    )
    with pytest.raises(DatasetError, match=r"labels\.json is not read for labels.*path,label"):
        Dataset.load(tmp_path)
    with pytest.raises(DatasetError, match=r"labels\.json is not read for labels"):
        Dataset.load(tmp_path / "labels.json")


def test_padchest_numbered_image_folders_beside_its_table(tmp_path: Path) -> None:
    """PadChest unpacks its images into numbered folders (``ImageDir`` 0, 1... 54) beside its label table: the
    folders were read as classes "0", "1", "2" (status OK), the table's findings never."""
    rows = ["ImageID,ImageDir,StudyID,PatientID,Projection,Labels"]
    findings = ["['normal']", "['pneumonia']", "['pneumonia', 'cardiomegaly']"]
    for i in range(12):
        name = f"{2000 + i}_{i:02d}.png"
        _image(tmp_path / "PADCHEST" / str(i % 3) / name, 40 * (i % 3))
        rows.append(f'{name},{i % 3},study{i},patient{i // 2},PA,"{findings[i % 3]}"')
    (tmp_path / "PADCHEST" / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv").write_text("\n".join(rows) + "\n")
    data = Dataset.load(tmp_path / "PADCHEST")
    assert data.multi_label and sorted(data.class_names) == ["cardiomegaly", "pneumonia"]
    assert {c.patient_id for c in data.cases} == {f"patient{p}" for p in range(6)}


def test_padchest_quality_flags_are_no_findings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """PadChest's ``Labels`` hold ``exclude`` (an image its readers marked unfit) and ``suboptimal study`` beside the
    findings: both were classes a model learned to predict, and the excluded images were trained on."""
    import logging

    rows = ["ImageID,ImageDir,PatientID,Projection,Labels"]
    flagged = "\"['pneumonia', 'suboptimal study']\""
    labels = ["['normal']", flagged, "['exclude']", "['suboptimal study']", "['pneumonia']"]
    for i, label in enumerate(labels):
        _image(tmp_path / "0" / f"{i}.png", 30 * i)
        rows.append(f"{i}.png,0,p{i},PA,{label}")
    (tmp_path / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        data = Dataset.load(tmp_path)
    assert data.multi_label and data.class_names == ["pneumonia"]
    assert [(c.path.name, c.findings) for c in data.cases if c.path is not None] == [
        ("0.png", ()),
        ("1.png", (0,)),
        ("4.png", (0,)),
    ]
    assert [c.path.name for c in data.unlabelled if c.path is not None] == ["3.png"]  # a quality note alone
    assert "1 image(s) labelled 'exclude'" in caplog.text and "'suboptimal study' on 2 image(s)" in caplog.text


def test_cmmd_rows_per_breast_take_the_films_of_their_side(tmp_path: Path) -> None:
    """CMMD's clinical table names the patient folder (``ID1``) with a row per breast (``LeftRight``, ``classification``
    Benign / Malignant); the folder holds both breasts' films. A patient with a benign left and a malignant right
    breast had each film read twice, once per label: 'duplicate groups' with label conflicts 0 and status OK, and fit
    trained on the contradictions."""
    from tests.io.conftest import write_dicom

    rows = ["ID1,LeftRight,Age,number,abnormality,classification,subtype"]
    for p, sides in enumerate(["L", "R", "LR", "LR"]):
        patient = f"D1-{p + 1:04d}"
        for f, (side, view) in enumerate([("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")], start=1):
            series = tmp_path / "CMMD" / patient / "07-18-2010-NA-NA-7000" / "1.000000-NA-5000"
            pixels = np.full((16, 12), 100 * p + 10 * f, np.uint16)
            extra = {"ImageLaterality": side, "ViewPosition": view}
            series.mkdir(parents=True, exist_ok=True)
            write_dicom(series / f"1-{f}.dcm", pixels, modality="MG", series_uid=f"1.2.{p}", extra=extra)
        for side in sides:
            malignant = side == "R" and p >= 2
            rows.append(f"{patient},{side},60,2,mass,{'Malignant' if malignant else 'Benign'},")
    (tmp_path / "CMMD_clinicaldata_revision.csv").write_text("\n".join(rows) + "\n")
    data = Dataset.load(tmp_path / "CMMD_clinicaldata_revision.csv")
    assert data.class_names == ["Benign", "Malignant"] and len(data.cases) == 12
    paths = [c.path for c in data.cases]
    assert len(set(paths)) == len(paths)  # each film once
    malignant = sorted(c.case_id for c in data.cases if data.class_names[c.label] == "Malignant")
    assert malignant == [f"D1-000{p}/07-18-2010-NA-NA-7000/1.000000-NA-5000/1-{f}.dcm" for p in (3, 4) for f in (3, 4)]
    assert {c.patient_id for c in data.cases} == {f"D1-000{p}" for p in range(1, 5)}


def test_one_film_given_two_labels_by_two_rows_is_a_label_conflict(tmp_path: Path) -> None:
    """Rows naming a folder of films without a side to tell them apart: each film once per label, so check reports
    the conflict and fit leaves it out (the rows' films had one case id: no conflict was seen)."""
    from tests.io.conftest import write_dicom

    (tmp_path / "P1" / "s").mkdir(parents=True)
    for f in (1, 2):
        film = np.full((8, 8), f, np.uint16)
        write_dicom(tmp_path / "P1" / "s" / f"1-{f}.dcm", film, modality="MG", series_uid="1.2")
    (tmp_path / "table.csv").write_text("path,label\nP1,benign\nP1,malignant\nP1,benign\n")
    data = Dataset.load(tmp_path / "table.csv")
    assert sorted(c.case_id for c in data.cases) == ["P1/s/1-1.dcm", "P1/s/1-1.dcm (line 3)", "P1/s/1-2.dcm",
                                                    "P1/s/1-2.dcm (line 3)"]  # fmt: skip


def test_a_label_table_of_several_readers_gives_each_image_once_with_their_majority(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """VinDr-CXR's ``image_labels_train.csv``: one one-hot row per radiologist (``rad_id``), three per image. Read
    row by row, every image the readers disagreed on was a label conflict and left out: most abnormal images."""
    import logging

    header = "image_id,rad_id,Cardiomegaly,Pleural effusion,No finding"
    votes = {  # image -> each reader's (cardiomegaly, effusion, no finding)
        "a1": [(1, 0, 0), (1, 0, 0), (0, 0, 1)],  # two of three: cardiomegaly
        "b2": [(0, 0, 1), (0, 0, 1), (0, 0, 1)],
        "c3": [(0, 1, 0), (0, 0, 1), (0, 0, 1)],  # one of three: no finding
        "d4": [(1, 1, 0), (0, 1, 0), (1, 1, 0)],
    }
    rows = [header]
    for k, (image, readers) in enumerate(votes.items()):
        _image(tmp_path / "train" / f"{image}.png", 50 * k)
        rows += [f"{image},R{r + 1},{a},{b},{c}" for r, (a, b, c) in enumerate(readers)]
    (tmp_path / "image_labels_train.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO):
        data = Dataset.load(tmp_path / "image_labels_train.csv")
    assert "4 image(s) were labelled by several readers (column 'rad_id', up to 3 each)" in caplog.text
    assert len(data.cases) == 4
    found = {Path(c.case_id).stem: c for c in data.cases}
    assert data.multi_label  # d4's readers gave two findings
    given = {k: sorted(data.class_names[i] for i in (c.findings or ())) for k, c in found.items()}
    assert given == {"a1": ["Cardiomegaly"], "b2": [], "c3": [], "d4": ["Cardiomegaly", "Pleural effusion"]}


@pytest.mark.parametrize("twin", [False, True])
def test_rfmid_split_folders_each_with_its_table_beside_a_folder_of_images(tmp_path: Path, twin: bool) -> None:
    """RFMiD: ``Training_Set/`` (``Training/1.png`` + ``RFMiD_Training_Labels.csv``), ``Evaluation_Set/``
    (``Validation/``) and ``Test_Set/`` (``Test/``), one-hot findings. The top folder was refused ("class folder(s)
    test/Test have no training folder"), and Evaluation_Set was no split. A Kaggle mirror unzips each as its own twin,
    ``Training_Set/Training_Set/``: refused as "class folder(s) val/Evaluation_Set, test/Test_Set have no training
    folder of the same class"."""
    header = "ID,Disease_Risk,DR,ARMD,MH"
    for split, inner, table, count in (
        ("Training_Set", "Training", "RFMiD_Training_Labels.csv", 8),
        ("Evaluation_Set", "Validation", "RFMiD_Validation_Labels.csv", 4),
        ("Test_Set", "Test", "RFMiD_Testing_Labels.csv", 4),
    ):
        rows = [header]
        folder = tmp_path / "RFMiD" / split / split if twin else tmp_path / "RFMiD" / split
        for i in range(1, count + 1):
            _image(folder / inner / f"{i}.png", 30 * (i % 3))
            rows.append(f"{i},{int(i % 3 > 0)},{int(i % 3 == 1)},{int(i % 3 == 2)},0")
        (folder / table).write_text("\n".join(rows) + "\n")
    data = Dataset.load(tmp_path / "RFMiD")
    assert {split: sum(c.split == split for c in data.cases) for split in ("train", "val", "test")} == {
        "train": 8,
        "val": 4,
        "test": 4,
    }
    assert {"DR", "ARMD"} <= set(data.class_names)


def test_a_folder_whose_table_names_its_images_by_hash_points_at_the_table(tmp_path: Path) -> None:
    """Fitzpatrick17k: ``fitzpatrick17k.csv`` (``md5hash,fitzpatrick_scale,label,...``) beside ``images/<md5>.jpg``.
    The folder read as one class, ``images``, and the error never named the table, which reads as given."""
    rows = ["md5hash,fitzpatrick_scale,fitzpatrick_centaur,label,nine_partition_label,three_partition_label,qc,url"]
    for i in range(8):
        digest = f"{i:032x}"
        _image(tmp_path / "images" / f"{digest}.jpg", 20 * i)
        label = "psoriasis" if i % 2 else "acne"
        rows.append(f"{digest},{1 + i % 6},{1 + i % 6},{label},inflammatory,non-neoplastic,,")
    (tmp_path / "fitzpatrick17k.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"fitzpatrick17k\.csv beside the images may hold their labels: give the"):
        Dataset.load(tmp_path)
    table = Dataset.load(tmp_path / "fitzpatrick17k.csv")
    assert table.class_names == ["acne", "psoriasis"] and len(table.cases) == 8
    # ISIC 2024: the training table is named, not a submission template or the test table sorted before it
    (tmp_path / "fitzpatrick17k.csv").rename(tmp_path / "train-metadata.csv")
    (tmp_path / "sample_submission.csv").write_text("isic_id,target\nISIC_0015657,0.3\n")
    (tmp_path / "test-metadata.csv").write_text("isic_id,age_approx\nISIC_0015657,45\n")
    with pytest.raises(DatasetError, match=r"\. train-metadata\.csv beside the images may hold their labels"):
        Dataset.load(tmp_path)
    # Aariz: a table of each image's X-ray machine says how it was taken, never what it shows: not named
    for table in ("train-metadata.csv", "sample_submission.csv", "test-metadata.csv"):
        (tmp_path / table).unlink()
    (tmp_path / "cephalogram_machine_mappings.csv").write_text("cephalogram_id,machine\ncks2ip8fq,Vatech PaX-i\n")
    with pytest.raises(DatasetError) as raised:
        Dataset.load(tmp_path)
    assert "may hold their labels" not in str(raised.value)


def test_the_one_column_named_for_labels_gives_them(tmp_path: Path) -> None:
    """MHIST's ``annotations.csv``: ``Image Name,Majority Vote Label,Number of Annotators who Selected SSA (Out of
    7),Partition``. No column was a known label name: 'has no label column'."""
    rows = ["Image Name,Majority Vote Label,Number of Annotators who Selected SSA (Out of 7),Partition"]
    for i in range(8):
        _image(tmp_path / "images" / f"MHIST_a{i:02d}.png", 25 * i)
        rows.append(f"MHIST_a{i:02d}.png,{'SSA' if i % 2 else 'HP'},{5 if i % 2 else 1},{'test' if i > 5 else 'train'}")
    (tmp_path / "annotations.csv").write_text("\n".join(rows) + "\n")
    data = Dataset.load(tmp_path / "annotations.csv")
    assert data.class_names == ["HP", "SSA"] and data.split_counts() == {"train": 6, "test": 2}
    (tmp_path / "two.csv").write_text("path,nine_partition_label,three_partition_label\nimages/MHIST_a00.png,a,b\n")
    with pytest.raises(DatasetError, match="no 'label' column"):
        Dataset.load(tmp_path / "two.csv")  # two columns named for labels: which is meant is not guessed


@pytest.mark.parametrize("chunked", [True, False])
def test_airogs_labels_come_from_its_table_not_its_chunk_folders(tmp_path: Path, chunked: bool) -> None:
    """AIROGS: ``0/``, ``1/``, ``2/``... each holding a chunk of ``TRAIN000000.jpg``..., beside ``train_labels.csv``
    (``challenge_id,class``: RG/NRG). The chunk folders were the classes (``check`` said OK) and the table was unread;
    with the images in one ``train/`` folder the read stopped with "no class sub-folders"."""
    rows = ["challenge_id,class"]
    for i in range(12):
        folder = str(i // 4) if chunked else "train"
        _image(tmp_path / folder / f"TRAIN{i:06d}.jpg", 20 * i)
        rows.append(f"TRAIN{i:06d},{'RG' if i % 3 == 0 else 'NRG'}")
    (tmp_path / "train_labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["NRG", "RG"] and len(dataset) == 12
    labels = {c.path.stem: dataset.class_names[c.label] for c in dataset.cases if c.path is not None}
    assert labels["TRAIN000003"] == "RG" and labels["TRAIN000004"] == "NRG"


def test_cdd_cesm_learns_the_pathology_not_the_birads_beside_it(tmp_path: Path) -> None:
    """CDD-CESM's ``Radiology manual annotations.xlsx``: ``Image_name,Patient_ID,Side,Type,BIRADS,...,Pathology
    Classification/ Follow up`` (Normal, Benign, Malignant). The BIRADS score was taken for the label."""
    rows = ["Image_name,Patient_ID,Side,Type,BIRADS,Findings,Pathology Classification/ Follow up"]
    for i in range(6):
        pathology = ("Normal", "Benign", "Malignant")[i % 3]
        for kind, folder in (("DM", "Low energy images of CDD-CESM"), ("CM", "Subtracted images of CDD-CESM")):
            _image(tmp_path / folder / f"P{i}_L_{kind}_MLO.jpg", 20 * i + (kind == "CM"))
            rows.append(f"P{i}_L_{kind}_MLO,{i},L,{kind},{1 + i % 5},mass,{pathology}")
    (tmp_path / "Radiology manual annotations.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["Benign", "Malignant", "Normal"] and len(dataset) == 12


def test_breast_lesions_usg_learns_the_classification_not_the_birads_beside_it(tmp_path: Path) -> None:
    """BrEaST-Lesions-USG's clinical table: ``CaseID,Image_filename,...,BIRADS,Diagnosis,Classification`` (benign,
    malignant, normal); the Diagnosis names too many kinds of lesion to be the classes, and the BIRADS score was taken
    for the label."""
    rows = ["CaseID,Image_filename,Age,BIRADS,Diagnosis,Classification"]
    diagnoses = ("fibroadenoma", "invasive ductal carcinoma", "not applicable", "cyst", "ductal carcinoma in situ")
    for i in range(18):
        _image(tmp_path / "BrEaST-Lesions_USG-images_and_masks" / f"case{i:03d}.png", 10 * i)
        kind = ("benign", "malignant", "normal")[i % 3]
        rows.append(f"{i},case{i:03d}.png,{40 + i},{(2, 5, 1)[i % 3]},{diagnoses[i % 5]} {i % 4},{kind}")
    (tmp_path / "BrEaST-Lesions-USG-clinical-data.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "BrEaST-Lesions-USG-clinical-data.csv")
    assert dataset.class_names == ["benign", "malignant", "normal"] and len(dataset) == 18


def test_fetal_planes_db_train_flag_is_its_split(tmp_path: Path) -> None:
    """FETAL_PLANES_DB_data.csv (``;``-separated): ``Image_name;Patient_num;Plane;...;Train`` with ``Train`` 1/0, the
    published split; it was ignored (a random split instead), and ``Patient_num`` was no patient column."""
    from PIL import Image

    (tmp_path / "Images").mkdir()
    rows = ["Image_name;Patient_num;Plane;Brain_plane;Operator;US_Machine;Train "]
    for i in range(24):
        name = f"Patient{i // 2:05d}_Plane{i % 3}_{i % 2 + 1}_of_2"
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(tmp_path / "Images" / f"{name}.png")
        plane = ("Fetal brain", "Fetal femur", "Other")[i % 3]
        rows.append(f"{name};{i // 2};{plane};Not A Brain;Op. 1;Voluson E6;{int(i < 16)}")
    (tmp_path / "FETAL_PLANES_DB_data.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path, label_column="Plane")
    assert dataset.class_names == ["Fetal brain", "Fetal femur", "Other"]
    assert dataset.split_counts() == {"train": 16, "test": 8}
    assert len({c.patient_id for c in dataset.cases}) == 12


def test_a_test_sets_table_beside_the_training_folders_is_not_the_whole_data(tmp_path: Path) -> None:
    """C-NMC 2019: ``C-NMC_test_prelim_phase_data_labels.csv`` (``Patient_ID,new_names,labels``) and its folder of
    ``1.bmp``... beside ``C-NMC_training_data/fold_0/{all,hem}/``. The table was taken for the folder's labels: a model
    trained and tested on the 10 test images, the 36 training images left out without a word."""
    rows = ["Patient_ID,new_names,labels"]
    for i in range(1, 11):
        _image(tmp_path / "C-NMC_test_prelim_phase_data" / f"{i}.bmp", 10 * i)
        rows.append(f"UID_5{i}_1_1_all.bmp,{i}.bmp,{i % 2}")
    (tmp_path / "C-NMC_test_prelim_phase_data_labels.csv").write_text("\n".join(rows) + "\n")
    for fold in range(3):
        for cls in ("all", "hem"):
            for k in range(6):
                _image(tmp_path / "C-NMC_training_data" / f"fold_{fold}" / cls / f"UID_{fold}{k}_1_{cls}.bmp", 7 * k)
    with pytest.raises(DatasetError, match=r"names 10 image\(s\), but 36 other.*medimg fit '.*C-NMC_training_data'"):
        Dataset.load(tmp_path)
    assert len(Dataset.load(tmp_path / "C-NMC_test_prelim_phase_data_labels.csv").cases) == 10


def test_tdsc_abus_label_tables_in_split_folders_beside_their_volumes_and_masks(tmp_path: Path) -> None:
    """TDSC-ABUS 2023: ``Train/labels.csv`` (``case_id,label,data_path,mask_path``) beside ``Train/DATA/`` and
    ``Train/MASK/``, ``Validation/`` likewise. ``--label-column label`` on the top folder said it "holds none with a
    column 'label'"; the table given alone lost the validation split."""
    for split, first in (("Train", 0), ("Validation", 10)):
        rows = ["case_id,label,data_path,mask_path"]
        for i in range(first, first + 6):
            _image(tmp_path / split / "DATA" / f"DATA_{i:03d}.png", 15 * i)
            _image(tmp_path / split / "MASK" / f"MASK_{i:03d}.png", 255)
            rows.append(f"{i},{'BM'[i % 2]},./DATA/DATA_{i:03d}.png,./MASK/MASK_{i:03d}.png")
        (tmp_path / split / "labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path, task="classify", label_column="label")
    assert dataset.class_names == ["B", "M"] and dataset.split_counts() == {"train": 6, "val": 6}
    assert all("DATA" in str(c.path) for c in dataset.cases)


def test_brixia_consensus_test_flag_is_its_test_split(tmp_path: Path) -> None:
    """Brixia's ``metadata_global_v2.csv`` (``;``-separated): ``ConsensusTestset`` 1 marks the consensus test set.
    It was ignored: a random split put the consensus test images into training."""
    from PIL import Image

    (tmp_path / "dicom_clean").mkdir()
    rows = ["Filename;StudyDate;Sex;BrixiaScoreGlobal;ConsensusTestset;Subject"]
    for i in range(20):
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(tmp_path / "dicom_clean" / f"{1000 + i}.png")
        rows.append(f"{1000 + i}.png;20200310;F;{i % 3};{int(i >= 15)};{i}")
    (tmp_path / "metadata_global_v2.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "metadata_global_v2.csv", label_column="BrixiaScoreGlobal")
    assert dataset.split_counts() == {"train": 15, "test": 5}
    assert {c.case_id for c in dataset.cases if c.split == "test"} == {f"{1000 + i}.png" for i in range(15, 20)}


def test_tn_scui_ids_name_the_images_not_their_masks_of_the_same_name(tmp_path: Path) -> None:
    """TN-SCUI 2020: ``train.csv`` (``ID,CATE``) names ``1`` of ``image/1.PNG`` and ``mask/1.PNG``: refused as "several
    files have this name ... keep one copy"; the mask is no copy, the image is meant."""
    from PIL import Image

    rows = ["ID,CATE"]
    for i in range(1, 13):
        for folder in ("image", "mask"):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(np.full((8, 8), 20 * i if folder == "image" else 255, np.uint8)).save(
                tmp_path / folder / f"{i}.PNG"
            )
        rows.append(f"{i},{i % 2}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "train.csv")
    assert {c.path.parent.name for c in dataset.cases if c.path} == {"image"}
    assert dataset.class_names == ["0", "1"] and len(dataset) == 12


def test_dmid_names_the_images_not_the_masks_of_a_folder_named_otherwise(tmp_path: Path) -> None:
    """DMID: ``Metadata.xlsx`` names ``IMG001`` of ``TIFF Images/IMG001.tif`` and ``Pixel-level annotation/IMG001.tif``:
    refused with "choose the folder with --exclude 'TIFF Images/*'", which, followed, trained on the masks."""
    from PIL import Image

    rows = ["Image,Severity"]
    for i in range(1, 13):
        for folder in ("TIFF Images", "Pixel-level annotation"):
            (tmp_path / folder).mkdir(exist_ok=True)
            value = 20 * i if folder == "TIFF Images" else 255 * (i % 2)
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(tmp_path / folder / f"IMG{i:03d}.tif")
        rows.append(f"IMG{i:03d},{'BM'[i % 2]}")
    (tmp_path / "Metadata.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "Metadata.csv", label_column="Severity")
    assert {c.path.parent.name for c in dataset.cases if c.path} == {"TIFF Images"} and len(dataset) == 12


def test_cq500_readers_columns_are_one_finding_each_by_majority(tmp_path: Path) -> None:
    """CQ500's ``reads.csv``: ``name,Category,R1:ICH,R1:SDH,R2:ICH,R2:SDH,R3:ICH,R3:SDH`` (three radiologists): each
    reader's column was a finding of its own (``R2:ICH`` scored apart from ``R1:ICH``)."""
    from PIL import Image

    rows = ["name,Category,R1:ICH,R1:SDH,R2:ICH,R2:SDH,R3:ICH,R3:SDH"]
    votes = {0: "1,0,1,0,0,0", 1: "1,1,0,1,0,1", 2: "0,0,0,0,1,0", 3: "1,0,1,0,1,0"}
    for i in range(12):
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(tmp_path / f"CQ500-CT-{i}.png")
        rows.append(f"CQ500-CT-{i},B1,{votes[i % 4]}")
    (tmp_path / "reads.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "reads.csv")
    assert dataset.multi_label and dataset.class_names == ["ICH", "SDH"]
    findings = {c.case_id: {dataset.class_names[f] for f in c.findings or ()} for c in dataset.cases}
    assert findings["CQ500-CT-0"] == {"ICH"}  # two of three
    assert findings["CQ500-CT-1"] == {"SDH"}  # ICH by one reader only
    assert findings["CQ500-CT-2"] == set()
    assert findings["CQ500-CT-3"] == {"ICH"}


def test_mnms2_rows_naming_folders_of_nifti_files_choose_one_with_include(tmp_path: Path) -> None:
    """M&Ms-2's ``dataset_information.csv`` (``SUBJECT_CODE,DISEASE,VENDOR``) names ``dataset/001/``, a folder of
    ``001_SA_ED.nii.gz``, ``001_SA_ES.nii.gz``, ``001_LA_ED.nii.gz``...: refused as "a folder without DICOM slices",
    and with --include '*_SA_ED.nii.gz' as "no images listed"."""

    rows = ["SUBJECT_CODE,DISEASE,VENDOR"]
    for n in range(1, 9):
        folder = tmp_path / "dataset" / f"{n:03d}"
        folder.mkdir(parents=True)
        for view in ("SA_ED", "SA_ES", "LA_ED", "SA_ED_gt"):
            volume = np.full((6, 6, 3), n, np.float32)
            nib.save(nib.Nifti1Image(volume, np.eye(4)), folder / f"{n:03d}_{view}.nii.gz")
        rows.append(f"{n:03d},{('NOR', 'DCM')[n % 2]},Siemens")
    (tmp_path / "dataset_information.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"a folder of 4 image files, not DICOM slices.*--include"):
        Dataset.load(tmp_path / "dataset_information.csv", label_column="DISEASE")
    chosen = Dataset.load(tmp_path / "dataset_information.csv", label_column="DISEASE", include="*_SA_ED.nii.gz")
    assert set(chosen.class_names) == {"DCM", "NOR"}
    assert sorted(c.path.name for c in chosen.cases if c.path) == [f"{n:03d}_SA_ED.nii.gz" for n in range(1, 9)]


def test_derm7pt_meta_table_gives_classes_image_column_and_row_index_splits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Derm7pt: ``images/<folder>/`` + ``meta/meta.csv`` (``diagnosis``; ``clinic`` and ``derm`` naming each
    lesion's two photographs from inside ``images/``) + ``meta/{train,valid,test}_indexes.csv`` of row numbers: the
    image folders (``Aal``, ``Abl``...) were read as the classes, status OK."""
    rows = ["case_num,diagnosis,seven_point_score,clinic,derm,management"]
    for i in range(12):
        folder, diagnosis = ("Aal", "basal cell carcinoma") if i % 2 else ("Abl", "melanoma")
        for name, value in ((f"{folder}{i:03d}.jpg", 40), (f"{folder.lower()}{i:03d}d.jpg", 200)):
            _image(tmp_path / "release_v0" / "images" / folder / name, value + i)
        rows.append(f"{i + 1},{diagnosis},{i % 3},{folder}/{folder}{i:03d}.jpg,{folder}/{folder.lower()}{i:03d}d.jpg,x")
    meta = tmp_path / "release_v0" / "meta"
    meta.mkdir()
    (meta / "meta.csv").write_text("\n".join(rows) + "\n")
    for split, numbers in (("train", range(8)), ("valid", range(8, 10)), ("test", range(10, 12))):
        (meta / f"{split}_indexes.csv").write_text("indexes\n" + "".join(f"{n}\n" for n in numbers))
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(tmp_path / "release_v0")
    assert dataset.class_names == ["basal cell carcinoma", "melanoma"] and dataset.name == "release_v0"
    assert dataset.split_counts() == {"train": 8, "val": 2, "test": 2}
    assert all(c.path.name[0].isupper() for c in dataset.cases)  # the first image column, clinic
    assert "2 columns name image files (clinic, derm)" in caplog.text
    test = {c.path.name for c in dataset.cases if c.split == "test"}
    assert test == {"Abl010.jpg", "Aal011.jpg"}


def test_odir_patient_id_column_naming_no_file_gives_way_to_the_fundus_columns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ODIR-5K: ``data.xlsx`` of ``ID`` (0, 1, 2... the patients), ``Left-Fundus``, ``Right-Fundus`` (0_left.jpg...)
    and one-hot N, D, G... beside ``Training Images/``: ``ID`` was taken as the images' column, refused as "36 row(s)
    point to files that do not exist: line 2: 0". The fundus columns name both eyes, the one-hot columns the
    patient's findings: refused as the labels of the left images (see the test below), a side's column read."""
    rows = ["ID,Patient Age,Patient Sex,Left-Fundus,Right-Fundus,Left-Diagnostic Keywords,N,D,G"]
    for i in range(9):
        for side in ("left", "right"):
            _image(tmp_path / "Training Images" / f"{i}_{side}.jpg", 20 * i + (side == "left"))
        hot = ["0", "0", "0"]
        hot[i % 3] = "1"
        rows.append(f"{i},{50 + i},Male,{i}_left.jpg,{i}_right.jpg,normal fundus,{','.join(hot)}")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("INFO"), pytest.raises(DatasetError, match=r"each row names an image per side"):
        Dataset.load(tmp_path / "data.csv")
    assert "its column 'ID' names no file" in caplog.text
    rows = [row.replace("normal fundus", ("normal fundus", "cataract")[k % 2]) for k, row in enumerate(rows)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("INFO"):
        dataset = Dataset.load(tmp_path / "data.csv", label_column="Left-Diagnostic Keywords")
    assert sorted(c.path.name for c in dataset.cases if c.path) == [f"{i}_left.jpg" for i in range(9)]
    assert "2 columns name image files (Left-Fundus, Right-Fundus)" in caplog.text


def test_abide_site_column_naming_shared_folders_gives_way_to_the_subject_column(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ABIDE: ``Phenotypic_V1_0b_preprocessed1.csv`` (``SITE_ID`` first, then ``SUB_ID``, ``DX_GROUP``...) beside
    ``<site>/<subject 00NNNNN>/mprage.nii.gz``: ``SITE_ID``'s values name the site folders, and each row's image was
    read as its site's whole folder ("18 row(s) point to files that do not exist: Pitt (a folder without DICOM
    slices)"). Each row's own subject folder is read."""
    rows = ["SITE_ID,SUB_ID,FILE_ID,DX_GROUP,AGE_AT_SCAN,SEX"]
    for i in range(12):
        site, subject = ("Pitt", "NYU")[i // 6], 50003 + i
        volume = np.full((8, 8, 8), 30 + 100 * (i % 2), dtype=np.float32)
        path = tmp_path / site / f"{subject:07d}" / "mprage.nii.gz"
        path.parent.mkdir(parents=True)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
        rows.append(f"{site},{subject},{site}_{subject:07d},{1 + i % 2},{20 + i},{1 + i % 3 // 2}")
    (tmp_path / "Phenotypic_V1_0b_preprocessed1.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("INFO"):
        dataset = Dataset.load(tmp_path / "Phenotypic_V1_0b_preprocessed1.csv", label_column="DX_GROUP")
    assert sorted(c.path.parent.name for c in dataset.cases if c.path) == [f"{50003 + i:07d}" for i in range(12)]
    labels = {c.path.parent.name: dataset.class_names[c.label] for c in dataset.cases if c.path}
    assert labels["0050003"] == "1" and labels["0050004"] == "2"
    assert "the values of 'SITE_ID' name folders that hold several rows' images; 'SUB_ID' names each" in caplog.text


def test_abide_file_ids_beginning_the_derivatives_names_are_named_in_the_refusal(tmp_path: Path) -> None:
    """ABIDE preprocessed: ``Outputs/cpac/nofilt_noglobal/func_preproc/Pitt_0050003_func_preproc.nii.gz`` beside the
    phenotypic table, whose ``FILE_ID`` (``Pitt_0050003``, ``no_filename`` for rows without a scan) begins each
    file's name: refused as "has no 'path' column", naming no column and no fix."""
    rows = ["SITE_ID,SUB_ID,FILE_ID,DX_GROUP"]
    folder = tmp_path / "Outputs" / "cpac" / "nofilt_noglobal" / "func_preproc"
    folder.mkdir(parents=True)
    for i in range(10):
        file_id = f"Pitt_{50003 + i:07d}" if i != 4 else "no_filename"
        if i != 4:
            nib.save(
                nib.Nifti1Image(np.zeros((6, 6, 6), np.float32), np.eye(4)), folder / f"{file_id}_func_preproc.nii.gz"
            )
        rows.append(f"Pitt,{50003 + i},{file_id},{1 + i % 2}")
    (tmp_path / "Phenotypic_V1_0b_preprocessed1.csv").write_text("\n".join(rows) + "\n")
    expected = (
        r"the values of its column 'FILE_ID' begin their names \(Pitt_0050003 -> Pitt_0050003_func_preproc.nii.gz\): "
        r"add a column named path of each file's name \(FILE_ID followed by '_func_preproc.nii.gz'\)"
    )
    with pytest.raises(DatasetError, match=expected):
        Dataset.load(tmp_path / "Phenotypic_V1_0b_preprocessed1.csv")


def test_airogs_table_beside_half_its_parts_reads_the_parts_there(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """AIROGS: ``train_labels.csv`` (``challenge_id,class``: ``TRAIN000000,NRG``) beside ``0/``, ``1/``, ``2/`` of
    its six parts (a partial download): refused as "has no 'path' column", the ids naming no file in some rows."""
    rows = ["challenge_id,class"]
    for i in range(16):
        if i % 4 < 2:  # the parts downloaded
            _image(tmp_path / str(i % 4) / f"TRAIN{i:06d}.jpg", 30 + 9 * i)
        rows.append(f"TRAIN{i:06d},{'RG' if i % 3 == 0 else 'NRG'}")
    (tmp_path / "train_labels.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path / "train_labels.csv")
    assert sorted(c.path.name for c in dataset.cases if c.path) == [f"TRAIN{i:06d}.jpg" for i in range(16) if i % 4 < 2]
    assert "8 of the 16 rows name a file that is under no sub-folder" in caplog.text


def test_a_table_without_a_header_keeps_its_first_row(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ISIC 2016's ``ISBI2016_ISIC_Part3_Training_GroundTruth.csv``: ``ISIC_0000000,benign`` lines, no header. Its
    first line was taken as the header, its image silently lost (23 of 24)."""
    rows = [f"ISIC_{i:07d},{'malignant' if i % 2 else 'benign'}" for i in range(8)]
    for i in range(8):
        _image(tmp_path / "ISBI2016_ISIC_Part3_Training_Data" / f"ISIC_{i:07d}.jpg", 30 * i)
    table = tmp_path / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv"
    table.write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(table)
    assert len(dataset.cases) == 8 and dataset.class_names == ["benign", "malignant"]
    first = next(c for c in dataset.cases if c.path and c.path.stem == "ISIC_0000000")
    assert dataset.class_names[first.label] == "benign"
    assert "has no header row" in caplog.text


def test_inspect_person_id_groups_a_persons_scans(tmp_path: Path) -> None:
    """INSPECT's ``labels_20250611.csv``: ``impression_id`` (the CT's file name), ``person_id`` (OMOP's), outcomes:
    ``person_id`` was not read, one person's scans split between train and test ("no patient ids")."""
    rows = ["impression_id,person_id,pe_positive_nlp"]
    for i in range(8):
        _image(tmp_path / "CTPA" / f"PE{i:012x}.png", 20 * i)
        rows.append(f"PE{i:012x},{1000 + i // 2},{i % 2}")
    (tmp_path / "labels_20250611.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "labels_20250611.csv", label_column="pe_positive_nlp")
    assert [c.patient_id for c in dataset.cases] == [str(1000 + i // 2) for i in range(8)]


def test_unitopatho_labels_from_the_column_naming_the_class_folders(tmp_path: Path) -> None:
    """UniToPatho: ``800/<class>/<crop>.png`` beside ``800/train.csv`` and ``test.csv`` of ``image_id``,
    ``top_label_name`` (the folders' names: HP, TA.HG...), ``type``, ``grade`` (-1, 0, 1): ``grade`` was read as the
    labels (3 classes of 6), status OK. An outright ``label`` column stays the labels."""
    classes = ["HP", "NORM", "TA.HG", "TA.LG"]
    tables = {"train": ["image_id,top_label_name,top_label,type,grade,wsi"], "test": ["image_id,label,where"]}
    for i in range(16):
        cls = classes[i % 4]
        name = f"{i}-B1.ndpi_ROI__mpp0.44_reg000_crop_sk00000_(1,2,3,4).png"
        _image(tmp_path / "800" / cls / name, 15 * i)
        split = "train" if i < 12 else "test"
        if split == "train":
            tables[split].append(f'"{name}",{cls},{i % 4},{cls.split(".")[0]},{i % 3 - 1},{i}-B1.ndpi')
        else:
            tables[split].append(f'"{name}",{"yes" if i % 2 else "no"},{cls}')
    for split, rows in tables.items():
        (tmp_path / "800" / f"{split}.csv").write_text("\n".join(rows) + "\n")
    train = Dataset.load(tmp_path / "800" / "train.csv")
    assert train.class_names == classes
    assert all(train.class_names[c.label] == c.path.parent.name for c in train.cases if c.path)
    assert Dataset.load(tmp_path / "800" / "test.csv").class_names == ["no", "yes"]
    # VinDr-Mammo: images/<study_id>/<image_id>.png: the study column names the folders, and is no label
    rows = ["study_id,image_id,laterality,breast_birads"]
    for i in range(16):
        study = f"{i // 4:08x}a9c1d2e3f4b5c6d7"
        _image(tmp_path / "vindr" / "images" / study / f"img{i:03d}.png", 12 * i)
        rows.append(f"{study},img{i:03d},{'LR'[i % 2]},BI-RADS {1 + i % 3}")
    (tmp_path / "vindr" / "breast-level_annotations.csv").write_text("\n".join(rows) + "\n")
    vindr = Dataset.load(tmp_path / "vindr" / "breast-level_annotations.csv")
    assert vindr.class_names == ["BI-RADS 1", "BI-RADS 2", "BI-RADS 3"]


def test_a_path_column_naming_missing_files_is_still_refused_naming_them(tmp_path: Path) -> None:
    """A column named as the images' whose files are missing is not swapped for another column: the rows are said."""
    rows = ["image,label,other"]
    for i in range(4):
        _image(tmp_path / f"x{i}.png", 30 * i)
        rows.append(f"{f'gone{i}' if i else 'x0'}.png,{i % 2},x{i}.png")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="point to files that do not exist"):
        Dataset.load(tmp_path / "labels.csv")


def test_chaoyang_json_lists_of_records_are_label_tables_with_their_splits(tmp_path: Path) -> None:
    """Chaoyang: ``train/`` and ``test/`` of images beside ``train.json`` and ``test.json``, each a list of
    ``{"name": "train/<file>.JPG", "label": 0}``: refused as "has no class sub-folders", the JSON files unnamed."""
    import json

    for split, count in (("train", 8), ("test", 4)):
        records = []
        for i in range(count):
            name = f"{split}/{539868 + i + (100 if split == 'test' else 0)}-1-IMG{i:03d}x000-{i % 2}.JPG"
            _image(tmp_path / name, 40 + 120 * (i % 2))
            records.append({"name": name, "label": i % 2})
        (tmp_path / f"{split}.json").write_text(json.dumps(records))
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["0", "1"] and dataset.split_counts() == {"train": 8, "test": 4}
    assert all(c.path.parent.name == c.split for c in dataset.cases)
    assert all(c.label == int(c.path.stem[-1]) for c in dataset.cases)
    nested = tmp_path / "nested"  # an annotation export (records holding lists) is no table
    nested.mkdir()
    (nested / "train.json").write_text(json.dumps([{"file_name": "a.png", "boxes": [[1, 2, 3, 4]]}]))
    from medimg.data.layouts.common import is_manifest

    assert is_manifest(tmp_path / "train.json") and not is_manifest(nested / "train.json")


def test_stoic_table_in_metadata_reads_again_from_the_data_folder(tmp_path: Path) -> None:
    """STOIC2021: ``data/mha/<PatientID>.mha`` + ``metadata/reference.csv`` (``PatientID,probCOVID,probSevere``):
    fit read it from the folder, but the run kept the table as the data's root, so ``medimg evaluate RUN`` read the
    table alone: "24 row(s) point to files that do not exist" (the images are not below the table's folder)."""
    rows = ["PatientID,probCOVID,probSevere"]
    for i in range(8):
        _image(tmp_path / "stoic" / "data" / "mha" / f"{100 + i}.png", 20 * i)
        rows.append(f"{100 + i},{i % 2},{int(i % 4 == 1)}")
    (tmp_path / "stoic" / "metadata").mkdir()
    (tmp_path / "stoic" / "metadata" / "reference.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "stoic")
    assert dataset.root == tmp_path / "stoic" and len(dataset.cases) == 8
    again = Dataset.load(dataset.root)  # as evaluate reads a run's data
    assert [c.path for c in again.cases] == [c.path for c in dataset.cases]


def test_box_json_and_raw_img_files_are_named_when_no_layout_reads_a_folder(tmp_path: Path) -> None:
    """ChestX-Det's ``train/*.png`` beside ``ChestX_Det_train.json`` (records of ``syms``, ``boxes``, ``polygons``):
    "has no class sub-folders" named no JSON; JSRT's ``All247images/JPCLN001.IMG`` (raw pixels, no header): "has
    no class sub-folders", the .IMG files unnamed."""
    import json

    for i in range(3):
        _image(tmp_path / "chestx" / "train" / f"3600{i}.png", 40 * i)
    records = [{"file_name": "36000.png", "syms": ["Nodule"], "boxes": [[1, 1, 4, 4]], "polygons": []}]
    (tmp_path / "chestx" / "ChestX_Det_train.json").write_text(json.dumps(records))
    with pytest.raises(DatasetError, match=r"ChestX_Det_train\.json is not read for labels.*path,x1,y1,x2,y2,label"):
        Dataset.load(tmp_path / "chestx")
    raw = tmp_path / "JSRT" / "All247images"
    raw.mkdir(parents=True)
    for i in range(2):
        (raw / f"JPCLN00{i}.IMG").write_bytes(bytes(64))
    with pytest.raises(DatasetError, match=r"found 2 headerless raw \.IMG file\(s\).*numpy\.fromfile"):
        Dataset.load(raw)


def test_hep2_image_class_labels_and_specimens_group_the_split(tmp_path: Path) -> None:
    """The HEp-2 cell sets' gt_training.csv (ID,Image class,Intensity,Specimen): the folder was refused as "no class
    sub-folders", and with --label-column every specimen's cells straddled train and test (its protocol leaves one
    specimen out at a time)."""
    rows = ["ID,Image class,Intensity,Specimen"]
    for i in range(1, 25):
        _image(tmp_path / "train" / f"{i:05d}.png", 10 * (i % 3))
        rows.append(f"{i},{('Homogeneous', 'Speckled', 'Golgi')[i % 3]},positive,{(i - 1) // 4 + 1}")
    (tmp_path / "gt_training.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["Golgi", "Homogeneous", "Speckled"] and len(dataset.cases) == 24
    assert len({c.patient_id for c in dataset.cases}) == 6 and all(c.patient_id for c in dataset.cases)


def test_vindr_pcxr_image_label_tables_per_split_beside_box_tables_classify(tmp_path: Path) -> None:
    """VinDr-PCXR: ``annotations_{train,test}.csv`` (boxes) and ``image_labels_{train,test}.csv`` (one-hot findings).
    Asked for classes, the folder was refused as detection data; the train table alone carved its own test split."""
    findings = ("No finding", "Pneumonia")
    for split, count in (("train", 8), ("test", 4)):
        boxes = ["image_id,rad_ID,class_name,x_min,y_min,x_max,y_max"]
        labels = ["image_id,rad_ID," + ",".join(findings)]
        for i in range(count):
            name = f"{split}{i:03d}"
            _image(tmp_path / split / f"{name}.png", 20 * i)
            sick = i % 2
            boxes.append(f"{name},R1,Pneumonia,1,1,5,5" if sick else f"{name},R1,No finding,,,,")
            labels.append(f"{name},R1,{1 - sick},{sick}")
        (tmp_path / f"annotations_{split}.csv").write_text("\n".join(boxes) + "\n")
        (tmp_path / f"image_labels_{split}.csv").write_text("\n".join(labels) + "\n")
    dataset = Dataset.load(tmp_path, task="classify")
    assert sorted((c.split or "") for c in dataset.cases) == ["test"] * 4 + ["train"] * 8


def test_ranzcr_one_hot_table_wins_over_its_line_annotations(tmp_path: Path) -> None:
    """RANZCR CLiP: ``train/<uid>.jpg``, ``train.csv`` (one-hot catheter findings, ``PatientID``) and
    ``train_annotations.csv`` (``StudyInstanceUID,label,data``: a line's points for some images). Its ``label``
    column made the annotations the folder's table, refused as naming a few of the images."""
    findings = ("ETT - Normal", "NGT - Normal", "CVC - Normal")
    rows = ["StudyInstanceUID," + ",".join(findings) + ",PatientID"]
    notes = ["StudyInstanceUID,label,data"]
    for i in range(12):
        uid = f"1.2.826.0.1.{1000 + i}"
        _image(tmp_path / "train" / f"{uid}.jpg", 20 * i)
        rows.append(f"{uid}," + ",".join("1" if k == i % 3 else "0" for k in range(3)) + f",p{i // 2}")
        if i < 3:
            notes.append(f'{uid},{findings[i % 3]},"[[10, 20], [30, 40], [35, 50]]"')
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "train_annotations.csv").write_text("\n".join(notes) + "\n")
    dataset = Dataset.load(tmp_path)
    assert len(dataset.cases) == 12 and len({c.patient_id for c in dataset.cases}) == 6


def test_a_folder_of_images_the_table_names_in_no_row_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """HAM10000 with the ISIC 2018 task 3 test set unpacked beside it (``ISIC2018_Task3_Test_Images/`` and its
    one-hot ``ISIC2018_Task3_Test_GroundTruth.csv``): the test images were left out without a word, the test split
    drawn from HAM10000."""
    rows = ["lesion_id,image_id,dx,dx_type"]
    for i in range(24):
        _image(tmp_path / f"HAM10000_images_part_{i % 2 + 1}" / f"ISIC_00{i:02d}.jpg", 5 * i)
        rows.append(f"HAM_{i // 2},ISIC_00{i:02d},{'mel' if i % 2 else 'nv'},histo")
    (tmp_path / "HAM10000_metadata.csv").write_text("\n".join(rows) + "\n")
    truth = ["image,MEL,NV"]
    for i in range(12):
        _image(tmp_path / "ISIC2018_Task3_Test_Images" / f"ISIC_01{i:02d}.jpg", 7 * i)
        truth.append(f"ISIC_01{i:02d},{i % 2},{1 - i % 2}")
    (tmp_path / "ISIC2018_Task3_Test_GroundTruth.csv").write_text("\n".join(truth) + "\n")
    with caplog.at_level("WARNING", logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert len(dataset.cases) == 24
    assert "ISIC2018_Task3_Test_Images/ (12 images) holds images that HAM10000_metadata.csv names in no row" in (
        caplog.text
    )
    assert "medimg evaluate RUN " in caplog.text and "ISIC2018_Task3_Test_GroundTruth.csv" in caplog.text
    # Kaggle's copy: the image folders twice (a lower-case copy of each) and pixel tables beside the metadata. The
    # copies are no folder in no row, and a table of pixels is no table to score a run on
    caplog.clear()
    (tmp_path / "ISIC2018_Task3_Test_GroundTruth.csv").unlink()
    for i in range(24):
        _image(tmp_path / f"ham10000_images_part_{i % 2 + 1}" / f"ISIC_00{i:02d}.jpg", 5 * i)
    (tmp_path / "hmnist_28_28_L.csv").write_text("pixel0000,pixel0001,label\n12,40,2\n")
    with caplog.at_level("WARNING", logger="medimg"):
        Dataset.load(tmp_path)
    assert "ham10000_images_part_1/" not in caplog.text and "hmnist" not in caplog.text
    assert "ISIC2018_Task3_Test_Images/ (12 images) holds images" in caplog.text


def test_a_split_column_is_never_offered_as_the_label_column(tmp_path: Path) -> None:
    """BreakHis' Folds.csv (``fold,mag,grp,filename``): the refusal offered ``--label-column grp``, whose values are
    train and test; followed, the splits became the classes."""
    rows = ["fold,mag,grp,filename"]
    for i in range(8):
        name = f"BreaKHis_v1/SOB_B_A-14-{i}-40-001.png"
        _image(tmp_path / name, 10 * i)
        rows.append(f"1,{(40, 100)[i % 2]},{('train', 'test')[i % 2]},{name}")
    (tmp_path / "Folds.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="has no label column") as error:
        Dataset.load(tmp_path / "Folds.csv")
    assert "--label-column grp" not in str(error.value) and "'grp'" not in str(error.value)


def test_a_label_table_beside_masks_of_a_few_images_is_the_task(tmp_path: Path) -> None:
    """UBC-OCEAN: ``train_images/<id>.png`` labelled by ``train.csv`` (``image_id,label``), ``masks/`` for a few of
    them: read as segmentation of the few images with masks, the subtypes unread."""
    rows = ["image_id,label,image_width,image_height,is_tma"]
    for i in range(12):
        _image(tmp_path / "train_images" / f"{i}.png", 10 * i)
        rows.append(f"{i},{('HGSC', 'EC', 'CC')[i % 3]},8,8,False")
        if i < 2:
            _image(tmp_path / "masks" / f"{i}.png", 255)
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "classify" and len(dataset.cases) == 12
    assert len(Dataset.load(tmp_path, task="segment").cases) == 2


def test_padchest_lateral_projections_are_warned_of(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """PadChest's ``Projection`` (PA, AP, L): its lateral films were trained on beside the frontal ones unsaid
    (CheXpert's and MIMIC-CXR's were warned of)."""
    rows = ["ImageID,ImageDir,PatientID,Projection,Labels"]
    for i in range(6):
        name = f"2015{i:08d}_00-{i:03d}-000.png"
        _image(tmp_path / "0" / name, 10 * i)
        rows.append(
            f"{name},0,p{i // 2},{'L' if i % 2 else 'PA'},['pneumonia']" if i % 3 else f"{name},0,p{i},PA,['normal']"
        )
    (tmp_path / "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING", logger="medimg"):
        Dataset.load(tmp_path)
    assert "are lateral radiographs (column 'Projection'" in caplog.text


def test_justraigs_final_label_beside_numbered_batch_folders(tmp_path: Path) -> None:
    """JustRAIGS: ``0/TRAIN000000.JPG``, ``1/TRAIN001000.JPG`` (one folder per zip) and a semicolon table
    ``Eye ID;Final Label;Fellow Eye ID;Age;Label G1``: the batch folders 0 and 1 were the classes, status OK."""
    rows = ["Eye ID;Final Label;Fellow Eye ID;Age;Label G1"]
    for i in range(12):
        eye = f"TRAIN{(i // 6) * 1000 + i % 6:06d}"
        _image(tmp_path / str(i // 6) / f"{eye}.JPG", 10 * i)
        rows.append(f"{eye};{'RG' if i % 3 == 0 else 'NRG'};;60;NRG")
    (tmp_path / "JustRAIGS_Train_labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["NRG", "RG"] and len(dataset.cases) == 12


def test_images_found_by_name_in_numbered_case_folders_keep_their_case_together(tmp_path: Path) -> None:
    """The osteosarcoma set (UT Southwestern): ``ML_Features_1144.csv`` (``image.name,...,classification``) names
    each image without its folder, ``Training-Set-1/Set1_Case1/Case 1 - P1 - 0.jpg``. Was: no patients, one case's
    tiles in train and test; the folder of numbered cases holding each image is its patient."""
    rows = ["image.name,Nuclei.Area,classification"]
    classes = ("Non-Tumor", "Viable-Tumor", "Non-Viable-Tumor")
    for case in range(1, 7):
        for tile in range(4):
            name = f"Case {case} - P{tile} - {tile}.jpg"
            _image(
                tmp_path / f"Training-Set-{1 + case // 4}" / f"Set{1 + case // 4}_Case{case}" / name, 10 * tile + case
            )
            rows.append(f"{name},0.5,{classes[(case + tile) % 3]}")
    (tmp_path / "ML_Features_1144.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "ML_Features_1144.csv")
    patients = {c.case_id: c.patient_id for c in dataset.cases}
    assert len(set(patients.values())) == 6
    assert patients["Case 3 - P1 - 1.jpg"] == patients["Case 3 - P2 - 2.jpg"] == "Training-Set-1/Set1_Case3"


def test_a_label_table_of_names_prefixed_by_their_split_keeps_that_split(tmp_path: Path) -> None:
    """GlaS's ``Grade.csv`` (``name, patient ID, grade (GlaS)``) names ``train_1``, ``testA_1``, ``testB_1``: without
    a split column, medimg made its own split and trained on the official test images."""
    rows = []
    for prefix, count in (("train", 8), ("testA", 3), ("testB", 3)):
        for i in range(1, count + 1):
            _image(tmp_path / f"{prefix}_{i}.bmp", 40 + 20 * (i % 2))
            rows.append(f"{prefix}_{i},{i},{'benign' if i % 2 else 'malignant'}")
    (tmp_path / "Grade.csv").write_text("name, patient ID, grade (GlaS)\n" + "\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "Grade.csv", label_column="grade (GlaS)")
    splits = {case.path.stem: case.split for case in dataset.cases}
    assert splits["train_1"] == "train" and splits["testA_1"] == splits["testB_3"] == "test"
    assert sum(split == "test" for split in splits.values()) == 6


def test_windows_paths_of_another_machine_find_the_file_under_their_own_folders(tmp_path: Path) -> None:
    """``C:\\Users\\jo\\dataset\\images\\train\\case1.png`` beside ``images\\test\\case1.png`` (one name in two split
    folders): refused as "several files have this name ... --exclude 'images/train/*'", which, followed, pointed the
    train rows at the test images."""
    rows = ["filename,label"]
    for split, flip in (("train", 0), ("test", 1)):
        for i in range(1, 7):
            _image(tmp_path / "images" / split / f"case{i}.png", 30 * i + 5 * flip)
            rows.append(f"C:\\Users\\jo\\dataset\\images\\{split}\\case{i}.png,{'ab'[(i + flip) % 2]}")
    (tmp_path / "labels.csv").write_text("\r\n".join(rows) + "\r\n")
    dataset = Dataset.load(tmp_path / "labels.csv")
    found = {(c.path.parent.name, c.path.name): dataset.class_names[c.label] for c in dataset.cases if c.path}
    assert len(found) == 12 and found[("train", "case1.png")] == "b" and found[("test", "case1.png")] == "a"


def test_soft_or_tied_one_hot_rows_are_refused_by_line(tmp_path: Path) -> None:
    """ISIC 2019's ``image,MEL,NV,BCC,...,UNK`` with one row ``0.5,0.5,0,...``: MEL and NV were no one-hot columns
    then, their 24 images read as "no finding" of a multi-label set, melanoma gone, status OK. Probabilities per row
    (soft labels) were "'MEL' holds numbers ... bin the values into classes (e.g. age groups)"."""
    classes = ["MEL", "NV", "BCC", "UNK"]
    rows = []
    for i in range(12):
        _image(tmp_path / "ISIC_2019_Training_Input" / f"ISIC_{i:07d}.jpg", 20 * (i % 3) + 10)
        rows.append([f"ISIC_{i:07d}", *("1.0" if k == i % 3 else "0.0" for k in range(4))])
    rows[5][1:3] = ["0.5", "0.5"]
    table = tmp_path / "ISIC_2019_Training_GroundTruth.csv"
    table.write_text("image," + ",".join(classes) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    with pytest.raises(DatasetError, match=r"1 row\(s\) give the class columns values between 0 and 1 \(line 7: "):
        Dataset.load(table)
    soft = [[r[0], "0.7", "0.2", "0.1", "0.0"] for r in rows]
    table.write_text("image," + ",".join(classes) + "\n" + "\n".join(",".join(r) for r in soft) + "\n")
    with pytest.raises(DatasetError, match=r"12 row\(s\) .*soft or tied labels"):
        Dataset.load(table)
    rows[5][1:3] = ["0.0", "0.0"]  # one class each again (BCC): read as such
    table.write_text("image," + ",".join(classes) + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    dataset = Dataset.load(table)
    assert not dataset.multi_label and {"BCC", "MEL", "NV"} <= set(dataset.class_names)


def test_a_few_rows_setting_two_one_hot_columns_are_warned_of_by_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ISIC 2019 with one row ``1.0,1.0,0.0...`` (MEL and NV): the table became a multi-label set with an INFO line
    only, predictions "MEL|NV"; now a warning names the row."""
    import logging

    rows = ["image,MEL,NV,BCC"]
    for i in range(30):
        _image(tmp_path / "images" / f"ISIC_{i:07d}.jpg", 20 * (i % 3) + 10)
        rows.append(
            f"ISIC_{i:07d}," + ",".join("1.0" if k == i % 3 or (i == 4 and k == 0) else "0.0" for k in range(3))
        )
    (tmp_path / "truth.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path / "truth.csv")
    assert dataset.multi_label
    assert "1 of its 30 rows set several of the one-hot columns MEL, NV, BCC (e.g. line 6)" in caplog.text


def test_bccd_labels_give_numbers_of_word_and_number_names(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """BCCD's ``labels.csv`` (``,Image,Category``: ``,0,EOSINOPHIL``) names ``JPEGImages/BloodImage_00000.jpg`` by its
    number; one row lists ``NEUTROPHIL, NEUTROPHIL`` (two cells of one class), and a few numbers have no image. It
    was refused ("its column 'Image' names no file"), then the repeated class made the table multi-label."""
    root = tmp_path / "dataset-master"
    classes = ["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"]
    rows = [",Image,Category"]
    for n in range(16):
        if n != 6:
            _image(root / "JPEGImages" / f"BloodImage_{n:05d}.jpg", n + 1)
        rows.append(f",{n},{classes[n % 4]}" if n != 9 else f',{n},"NEUTROPHIL, NEUTROPHIL"')
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(root / "labels.csv", label_column="Category")
    assert dataset.class_names == classes and len(dataset.cases) == 15
    by_name = {c.path.name: dataset.class_names[c.label] for c in dataset.cases if c.path and c.label is not None}
    assert by_name["BloodImage_00009.jpg"] == "NEUTROPHIL" and by_name["BloodImage_00002.jpg"] == "MONOCYTE"
    assert "give a number, each the image of that number (e.g. 0 -> JPEGImages/BloodImage_00000.jpg)" in caplog.text
    assert "name one class several times" in caplog.text and "(a partial download?)" in caplog.text
    assert "leading zeros" not in caplog.text
