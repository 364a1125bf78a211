"""Folders that archivers, operating systems and NAS boxes add beside data (``__MACOSX`` from a zip made on a Mac,
Synology's ``@eaDir`` thumbnails, ``$RECYCLE.BIN``) are never classes, images or inputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.errors import DatasetError
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


def test_predicting_a_kaggle_folder_leaves_its_nested_copy_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`medimg predict RUN chest_xray` predicted every image twice, once under ``chest_xray/chest_xray/``, while
    check, fit and evaluate leave that copy out; the malaria set's ``cell_images/cell_images/`` the same. A folder
    named like its parent that is not a copy (other sub-folders) is predicted."""
    data = tmp_path / "chest_xray"
    for root in (data, data / "chest_xray"):
        for split in ("train", "test"):
            for cls in ("NORMAL", "PNEUMONIA"):
                _png(root / split / cls / "a.png", 1)
    cells = tmp_path / "cell_images"
    for root in (cells, cells / "cell_images"):
        for cls in ("Parasitized", "Uninfected"):
            _png(root / cls / "C1_thinF_IMG_1_cell_1.png", 2)
    with caplog.at_level("WARNING"):
        assert len(expand_inputs([data])) == 4 and len(expand_inputs([cells])) == 2
    assert "chest_xray/ holds the same folders as its siblings" in caplog.text
    assert len(expand_inputs([data / "chest_xray"])) == 4  # named: predicted
    _png(tmp_path / "scans" / "scans" / "day2" / "b.png")  # named like its parent, other folders inside: no copy
    _png(tmp_path / "scans" / "day1" / "a.png")
    assert len(expand_inputs([tmp_path / "scans"])) == 2


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
    wrapped = tmp_path / "download" / "COVID-19_Radiography_Dataset"  # as Kaggle's archive unpacks
    wrapped.mkdir(parents=True)
    for cls in ("COVID", "Normal"):
        (tmp_path / cls).rename(wrapped / cls)
    caplog.clear()
    with caplog.at_level("INFO"):
        assert Dataset.load(tmp_path / "download").class_names == ["Normal", "COVID"]
    assert caplog.text.count("the data is in COVID-19_Radiography_Dataset") == 1  # said once, not per layout test
    assert "read as one sub-folder per class" in caplog.text  # as it is read (it said "read as image/mask pairs")
    caplog.clear()
    with caplog.at_level("INFO"):
        segmentation = Dataset.load(tmp_path / "download", task="segment")  # the lung masks, when asked for
    assert isinstance(segmentation, SegmentationDataset) and len(segmentation) == 6
    assert "read as image/mask pairs" in caplog.text


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


def test_patient_folders_holding_class_folders(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Kaggle's Breast Histopathology Images (IDC): ``<patient>/0/*.png`` and ``<patient>/1/*.png``; the patient
    folders were read as classes (a patient-ID classifier, with check saying OK)."""
    for patient in range(8900, 8912):
        for label in ("0", "1"):
            for k in range(3):
                _png(tmp_path / str(patient) / label / f"{patient}_idx5_x{k}_y{k}_class{label}.png", 10 * k + 1)
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["0", "1"] and len(dataset) == 72
    assert "<patient>/<class>/" in caplog.text
    assert {c.patient_id for c in dataset.cases} == {str(p) for p in range(8900, 8912)}
    assert all(c.label == int(c.path.parent.name) for c in dataset.cases)
    # inside the archive's folder, as Kaggle ships it (IDC_regular_ps50_idx5/): read as one class and refused
    wrapped = tmp_path.parent / f"{tmp_path.name}_wrapped"
    wrapped.mkdir()
    tmp_path.rename(wrapped / "IDC_regular_ps50_idx5")
    caplog.clear()
    with caplog.at_level("WARNING"):
        inside = Dataset.load(wrapped)
    assert inside.class_names == ["0", "1"] and len(inside) == 72
    assert caplog.text.count("<patient>/<class>/") == 1  # said once, not once per look


def test_group_folders_of_classes_inside_a_wrapper_folder(tmp_path: Path) -> None:
    """LC25000: ``lung_colon_image_set/{lung_image_sets,colon_image_sets}/<class>/`` was "a single class"."""
    groups = {"lung_image_sets": ["lung_aca", "lung_n", "lung_scc"], "colon_image_sets": ["colon_aca", "colon_n"]}
    for group, classes in groups.items():
        for cls in classes:
            for k in range(3):
                _png(tmp_path / "lung_colon_image_set" / group / cls / f"{cls}{k + 1}.jpeg", k + 1)
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["colon_aca", "colon_n", "lung_aca", "lung_n", "lung_scc"]
    assert all(c.patient_id is None for c in dataset.cases) and len(dataset) == 15


def test_category_sub_folders_are_not_taken_for_patients(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """HyperKvasir's ``labeled-images/<organ>/<category>/<finding>/``: the findings (words, 17 of them) were taken for
    patients, so whole findings sat in the test split, never trained on. Numbered patient folders still group."""
    findings = {
        "lower-gi-tract": ["cecum", "ileum", "polyps", "retroflex-rectum", "bbps-0-1", "hemorrhoids", "dyed-lifted"],
        "upper-gi-tract": ["pylorus", "z-line", "barretts", "esophagitis-a", "retroflex-stomach", "impacted-stool"],
    }
    for organ, names in findings.items():
        for k, finding in enumerate(names):
            for i in range(2):
                _png(tmp_path / "kvasir" / organ / f"category-{k % 2}" / finding / f"{finding}{i}.jpg", 10 * k + i)
    (tmp_path / "kvasir" / "image-labels.csv").write_text("Video file,Organ,Finding,Classification\n")
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(tmp_path / "kvasir")
    assert not any(c.patient_id for c in dataset.cases)
    assert "named as categories, not patients" in caplog.text and "image-labels.csv" in caplog.text


def test_graded_finding_folders_are_not_taken_for_patients(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """HyperKvasir's ``labeled-images/lower-gi-tract/<category>/<finding>/``: half of its 16 findings hold a digit
    (``bbps-0-1``, ``ulcerative-colitis-grade-2-3``), so the findings were taken for patients with an INFO line, and
    whole findings sat in the validation or test split, never trained on."""
    findings = {
        "anatomical-landmarks": ["cecum", "ileum", "retroflex-rectum"],
        "pathological-findings": ["hemorrhoids", "polyps"]
        + [f"ulcerative-colitis-grade-{g}" for g in ("0-1", "1", "1-2", "2", "2-3", "3")],
        "quality-of-mucosal-views": ["bbps-0-1", "bbps-2-3", "impacted-stool"],
        "therapeutic-interventions": ["dyed-lifted-polyps", "dyed-resection-margins"],
    }
    for k, (category, names) in enumerate(findings.items()):
        for j, finding in enumerate(names):
            for i in range(2):
                _png(tmp_path / "lower-gi-tract" / category / finding / f"{finding}{i}.jpg", 20 * k + 2 * j + i)
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(tmp_path / "lower-gi-tract")
    assert not any(c.patient_id for c in dataset.cases)
    assert "named as categories, not patients" in caplog.text


def test_octa500_modality_folders_of_the_same_eyes_are_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """OCTA-500: ``OCT/10001/1.bmp``, ``OCTA/10001/1.bmp`` (each eye in both) beside ``Projection Maps/OCT(FULL)/
    10001.bmp``: the maps' words made all the sub-folders categories (18 ids of 24 folders), and nothing said that
    the classes were two modalities of the same eyes. Each class's folders are judged by their own names, and the
    check names the classes holding the same patients."""
    from medimg.data.quality import check_dataset

    root = tmp_path / "OCTA_6mm"
    for eye in range(10001, 10013):
        for modality in ("OCT", "OCTA"):
            for b_scan in (1, 2):
                _png(
                    root / modality / str(eye) / f"{b_scan}.bmp",
                    (eye - 10000) * 10 + b_scan + (100 if modality == "OCTA" else 0),
                )
        for kind in ("OCT(FULL)", "OCTA(FULL)"):
            _png(root / "Projection Maps" / kind / f"{eye}.bmp", eye - 9950 + (30 if kind == "OCTA(FULL)" else 0))
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(root)
    patients = {dataset.class_names[c.label]: c.patient_id for c in dataset.cases if c.label is not None}
    assert patients["OCT"] and patients["OCTA"] and patients["Projection Maps"] is None
    assert "named as categories, not patients (e.g. OCT(FULL))" in caplog.text
    warnings = check_dataset(dataset).warnings
    assert any("the classes OCT and OCTA hold the same 12 patients (e.g. 10001 in each)" in w for w in warnings)


def test_class_folders_of_patients_or_views_keep_the_outer_folders_as_classes(tmp_path: Path) -> None:
    """``<class>/<patient>/`` (numbered), ``<class>/<view>/`` with few classes, a wrapper around class folders, and a
    wrapper around one class folder (still refused as a single class)."""
    for cls in ("benign", "malignant"):
        for p in range(12):
            _png(tmp_path / "patients" / cls / f"P{p:03d}" / "a.png", p + 1)
    assert Dataset.load(tmp_path / "patients").class_names == ["benign", "malignant"]
    for cls in ("normal", "benign", "malignant"):
        for view in ("CC", "MLO"):
            for k in range(2):
                _png(tmp_path / "views" / cls / view / f"{k}.png", k + 1)
    assert sorted(Dataset.load(tmp_path / "views").class_names) == ["benign", "malignant", "normal"]
    for cls in ("normal", "pneumonia"):
        for k in range(3):
            _png(tmp_path / "wrapped" / "chest_xray" / cls / f"{k}.png", k + 1)
    assert Dataset.load(tmp_path / "wrapped").class_names == ["normal", "pneumonia"]
    for cls in ("CT-0", "CT-1", "CT-2"):  # MosMedData's severity classes, numbered but not like IDs
        for k in range(2):
            _png(tmp_path / "mosmed" / "studies" / cls / f"study_{k:04d}.png", k + 1)
    assert Dataset.load(tmp_path / "mosmed").class_names == ["CT-0", "CT-1", "CT-2"]
    for k in range(3):
        _png(tmp_path / "single" / "inner" / "pneumonia" / f"{k}.png", k + 1)
    with pytest.raises(DatasetError, match="single class"):
        Dataset.load(tmp_path / "single")
    for series in ("1.2.840.113619.2.1", "1.2.840.113619.2.2", "1.2.840.113619.2.3"):  # one patient's PACS export
        for k in range(2):
            _png(tmp_path / "pacs" / "STUDY01" / series / f"IM{k:04d}.png", k + 1)
    with pytest.raises(DatasetError, match="single class"):  # its series are not classes
        Dataset.load(tmp_path / "pacs")


def test_patients_several_levels_down_stay_on_one_side(tmp_path: Path) -> None:
    """BreakHis: ``<class>/SOB/<tumour type>/<patient>/<magnification>/*.png``; grouping by the first sub-folder
    (``SOB``, one for all) kept no patient together: one patient's magnifications straddled train and test."""
    from medimg.data.splits import make_splits

    types = {"benign": ["adenosis", "fibroadenoma"], "malignant": ["ductal_carcinoma", "lobular_carcinoma"]}
    for cls, tumours in types.items():
        for tumour in tumours:
            for p in range(3):
                patient = f"SOB_{cls[0].upper()}_{tumour[:2].upper()}_14-{p}{tumour[:3]}"
                for zoom in ("40X", "100X", "200X", "400X"):
                    _png(tmp_path / cls / "SOB" / tumour / patient / zoom / f"{patient}-{zoom}-1.png", p + 1)
    dataset = Dataset.load(tmp_path)
    patients = {c.patient_id for c in dataset.cases}
    assert len(patients) == 12 and all(p is not None and p.count("/") == 2 for p in patients)
    splits = make_splits(dataset.cases, seed=0)
    side: dict[str | None, set[str | None]] = {}
    for case in dataset.cases:
        side.setdefault(case.patient_id, set()).add(splits.assignment[case.case_id])
    assert all(len(s) == 1 for s in side.values())


def test_classes_with_sub_type_folders_stay_the_classes(tmp_path: Path) -> None:
    """``benign/{adenosis,fibroadenoma}``, ``malignant/{ductal,lobular}``: classes with sub-types, not four classes
    (the outer names share no word with the inner ones); Kaggle's Multi Cancer groups do (``Lymphoma/lymph_cll``)."""
    for cls, subtypes in {"benign": ["adenosis", "fibroadenoma"], "malignant": ["ductal", "lobular"]}.items():
        for subtype in subtypes:
            for k in range(2):
                _png(tmp_path / "subtypes" / cls / subtype / f"{k}.png", k + 1)
    assert sorted(Dataset.load(tmp_path / "subtypes").class_names) == ["benign", "malignant"]
    groups = {"Lymphoma": ["lymph_cll", "lymph_fl"], "Cervical Cancer": ["cervix_dyk", "cervix_koc"]}
    for group, classes in groups.items():
        for cls in classes:
            for k in range(2):
                _png(tmp_path / "multi" / group / cls / f"{k}.jpg", k + 1)
    assert sorted(Dataset.load(tmp_path / "multi").class_names) == ["cervix_dyk", "cervix_koc", "lymph_cll", "lymph_fl"]


def test_many_class_folders_with_view_folders_stay_classes(tmp_path: Path) -> None:
    """Twelve class folders each holding ``CC/`` and ``MLO/``: not two classes (the views) of twelve patients."""
    classes = [f"finding_{name}" for name in "abcdefghijkl"]
    for cls in classes:
        for view in ("CC", "MLO"):
            _png(tmp_path / cls / view / "a.png", 5)
    assert sorted(Dataset.load(tmp_path).class_names) == sorted(classes)


def test_a_copy_of_the_class_folders_beside_them_is_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Kaggle's brain MRI archive: ``brain_tumor_dataset/{yes,no}/`` beside ``yes/`` and ``no/``, the same files:
    read as three classes, every image in two of them; fit refused the label conflicts and advised --keep-conflicts,
    which trained a "brain_tumor_dataset" class."""
    data = tmp_path / "archive"
    for label, value in (("yes", 200), ("no", 20)):
        for i in range(4):
            _png(data / label / f"{label[0].upper()}{i}.jpg", value + i)
            _png(data / "brain_tumor_dataset" / label / f"{label[0].upper()}{i}.jpg", value + i)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(data)
    assert sorted(dataset.class_names) == ["no", "yes"] and len(dataset.cases) == 8
    assert "brain_tumor_dataset/ holds the same class folders as its siblings" in caplog.text
    (data / "brain_tumor_dataset" / "yes" / "Y0.jpg").write_bytes(b"another picture of another size")
    assert sorted(Dataset.load(data).class_names) == ["brain_tumor_dataset", "no", "yes"]  # not a copy: as before


def test_folders_named_for_splits_after_the_datasets_name_are_not_classes(tmp_path: Path) -> None:
    """DFUC 2021: ``DFUC2021_train/`` (images/ and train.csv) and ``DFUC2021_test/``. They were classes
    "DFUC2021_train" and "DFUC2021_test", status OK, and the table inside unread; now an error naming the table."""
    data = tmp_path / "dfuc2021"
    for i in range(3):
        _png(data / "DFUC2021_train" / "images" / f"10000{i}.jpg", 10 * i + 1)
        _png(data / "DFUC2021_test" / f"20000{i}.jpg", 10 * i + 2)
    (data / "DFUC2021_train" / "train.csv").write_text("image,none,infection\n100000.jpg,1,0\n")
    with pytest.raises(DatasetError, match=r"named for splits \(test, train\), not classes.*DFUC2021_train/train\.csv"):
        Dataset.load(data)
    (data / "DFUC2021_train" / "train.csv").unlink()  # class names that end in a split word, not all: classes
    for name in ("normal", "abnormal_test"):
        _png(tmp_path / "classes" / name / "a.png", 3 if name == "normal" else 9)
    assert sorted(Dataset.load(tmp_path / "classes").class_names) == ["abnormal_test", "normal"]


def test_split_folders_of_images_with_masks_beside_them_name_task_segment(tmp_path: Path) -> None:
    """MM-WHS: ``ct_train/ct_train_1001_image.nii.gz`` beside ``ct_train_1001_label.nii.gz``, ``mr_train/``,
    ``ct_test/``: refused as split folders "not classes; point medimg at the training split's folder when it holds
    class folders", no word of the masks, which --task segment reads."""
    data = tmp_path / "mmwhs"
    for modality in ("ct", "mr"):
        for i in range(3):
            _png(data / f"{modality}_train" / f"{modality}_train_100{i}_image.png", 10 * i + 1)
            _png(data / f"{modality}_train" / f"{modality}_train_100{i}_label.png", 255 * (i % 2))
            _png(data / f"{modality}_test" / f"{modality}_test_200{i}_image.png", 10 * i + 2)
    with pytest.raises(DatasetError, match=r"not classes; .*; ct_train/ holds images with their masks: --task segment"):
        Dataset.load(data)


def test_folders_named_for_splits_in_the_middle_of_their_names_are_not_classes(tmp_path: Path) -> None:
    """RSNA Pediatric Bone Age: ``boneage-training-dataset/boneage-training-dataset/1377.png`` and
    ``boneage-test-dataset/boneage-test-dataset/4360.png`` beside ``boneage-training-dataset.csv`` (id,boneage,male).
    They were classes "boneage-training-dataset" and "boneage-test-dataset" (the wrappers read as class folders),
    status OK, and the official test images trained on; now an error naming the training split's table."""
    data = tmp_path / "boneage"
    for i in range(3):
        _png(data / "boneage-training-dataset" / "boneage-training-dataset" / f"137{i}.png", 10 * i + 1)
        _png(data / "boneage-test-dataset" / "boneage-test-dataset" / f"436{i}.png", 10 * i + 2)
    (data / "boneage-training-dataset.csv").write_text("id,boneage,male\n1370,143,True\n")
    (data / "boneage-test-dataset.csv").write_text("Case ID,Sex\n4360,M\n")
    with pytest.raises(
        DatasetError, match=r"named for splits \(test, train\), not classes.*boneage-training-dataset\.csv"
    ):
        Dataset.load(data)


def test_a_challenges_leaderboard_folder_is_its_validation_split(tmp_path: Path) -> None:
    """NCI-ISBI 2013's ``Training/`` beside ``Leaderboard/`` (its validation phase's cases): was "mixes split folders
    (Training) with class folders", and a model told Training from Leaderboard (accuracy 1.0, rc 0)."""
    for split in ("Training", "Leaderboard"):
        for cls in ("benign", "malignant"):
            for i in range(2):
                _png(tmp_path / split / cls / f"{split}{i}.png", 10 * i + (1 if cls == "benign" else 5))
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["benign", "malignant"]
    assert dataset.split_counts() == {"train": 4, "val": 4}


def test_folders_of_forms_of_the_images_are_not_classes(tmp_path: Path) -> None:
    """BCNB: ``WSIs/1.jpg`` (+ ``1.json``), the whole slides, beside ``paper_patches/patches/1/1_0.jpg``, patches cut
    from them, and ``patient-clinical-data.xlsx`` of each patient's ALN status. They were classes "WSIs" and
    "paper_patches", status OK; now an error naming the table. Classes of one form each stay classes."""
    data = tmp_path / "BCNB"
    for i in range(1, 4):
        _png(data / "WSIs" / f"{i}.jpg", 10 * i + 1)
        for j in range(2):
            _png(data / "paper_patches" / "patches" / str(i) / f"{i}_{j}.jpg", 10 * i + j + 2)
    (data / "dataset-splitting").mkdir()
    (data / "dataset-splitting" / "train_id.txt").write_text("1\n2\n")
    (data / "patient-clinical-data.csv").write_text("Patient ID,ALN status\n1,N0\n2,N+(1-2)\n3,N0\n")
    with pytest.raises(DatasetError, match=r"\(WSIs, paper_patches\) are named for forms of the images.*clinical-data"):
        Dataset.load(data)
    for name in ("tumor_patches", "normal_patches"):
        for i in range(2):
            _png(tmp_path / "pcam" / name / f"{i}.png", 10 * i + (3 if name == "normal_patches" else 9))
    assert sorted(Dataset.load(tmp_path / "pcam").class_names) == ["normal_patches", "tumor_patches"]
    # POCUS: data/pocus_images/convex/Cov_1.jpg beside data/pocus_videos/convex/Cov-Atlas.gif (the class in the
    # name's prefix, dataset_metadata.csv's Label): classes "pocus_images" and "pocus_videos", status OK, before
    for i in range(3):
        _png(tmp_path / "pocus" / "pocus_images" / "convex" / f"{'Cov' if i else 'Reg'}_{i}.jpg", 10 * i + 1)
        _png(tmp_path / "pocus" / "pocus_videos" / "convex" / f"{'Cov' if i else 'Reg'}-clip{i}.gif", 10 * i + 4)
    (tmp_path / "pocus" / "dataset_metadata.csv").write_text("Filename,Label\nCov_1,COVID-19\n")
    with pytest.raises(DatasetError, match=r"\(pocus_images, pocus_videos\) are named for forms .*dataset_metadata"):
        Dataset.load(tmp_path / "pocus")
    for name in ("ct_images", "xray_images"):  # one form each: classes
        for i in range(2):
            _png(tmp_path / "modality" / name / f"{i}.png", 10 * i + (3 if name == "ct_images" else 9))
    assert sorted(Dataset.load(tmp_path / "modality").class_names) == ["ct_images", "xray_images"]


def test_versions_of_the_data_side_by_side_are_not_classes(tmp_path: Path) -> None:
    """The Monkeypox Skin Lesion Dataset: ``Original Images/``, ``Augmented Images/``, ``Fold1/`` each holding the
    class folders; Kaggle's blood cells: ``dataset-master/`` and ``dataset2-master/``. They were read as classes
    ("Original Images": 28 images...) with status OK; now an error that points at the class folders inside."""
    for version in ("Original Images", "Augmented Images"):
        for cls in ("Monkey Pox", "Others"):
            for i in range(2):
                _png(tmp_path / "mpox" / version / version / cls / f"M0{i}_0{i}.png", 10 * i + 1)
    for cls in ("Monkeypox", "Others"):
        _png(tmp_path / "mpox" / "Fold1" / "Fold1" / "Train" / cls / "a.png", 3)
    # the original images are suggested, not the augmented copies (of test images too: a leak)
    with pytest.raises(DatasetError, match=r"look like versions or parts of the data.*medimg fit '.*Original Images"):
        Dataset.load(tmp_path / "mpox")
    for cls in ("EOSINOPHIL", "NEUTROPHIL"):
        _png(tmp_path / "cells" / "dataset2-master" / "dataset2-master" / "images" / "TRAIN" / cls / "_0_1.jpeg", 5)
        _png(tmp_path / "cells" / "dataset2-master" / "dataset2-master" / "images" / "TEST" / cls / "_0_2.jpeg", 5)
    _png(tmp_path / "cells" / "dataset-master" / "dataset-master" / "JPEGImages" / "BloodImage_00000.jpg", 7)
    with pytest.raises(DatasetError, match=r"medimg fit '.*dataset2-master/images'"):
        Dataset.load(tmp_path / "cells")
    classes = Dataset.load(tmp_path / "mpox" / "Original Images").class_names  # the folder the error names
    assert sorted(classes) == ["Monkey Pox", "Others"]
    # OASIS-1's download discs: disc1/, disc2/ of subject folders, the labels (CDR) in a table beside them; read as
    # two classes "disc1" and "disc2" before, exit 0
    for disc, subject in (("disc1", "OAS1_0001_MR1"), ("disc1", "OAS1_0002_MR1"), ("disc2", "OAS1_0042_MR1")):
        for folder in ("RAW", "PROCESSED"):
            _png(tmp_path / "oasis" / disc / subject / folder / f"{subject}_{folder}.png", len(subject + folder))
    (tmp_path / "oasis" / "oasis_cross-sectional.csv").write_text("ID,M/F,Age,CDR\nOAS1_0001_MR1,F,74,0\n")
    with pytest.raises(DatasetError, match=r"\(disc1, disc2\) look like .* in a table beside them \(oasis_cross"):
        Dataset.load(tmp_path / "oasis")


def test_classes_named_with_container_words_stay_classes(tmp_path: Path) -> None:
    """``Covid images/`` and ``Normal images/`` holding their images are classes."""
    for cls in ("Covid images", "Normal images"):
        for i in range(3):
            _png(tmp_path / cls / f"{i}.png", 10 * i + 1)
    assert sorted(Dataset.load(tmp_path).class_names) == ["Covid images", "Normal images"]


def test_sets_holding_the_same_class_folders_are_not_classes(tmp_path: Path) -> None:
    """Kather's two zips unpacked side by side: ``NCT-CRC-HE-100K/`` and ``CRC-VAL-HE-7K/``, each holding the nine
    tissue folders. They were two classes (which archive), status OK; now an error naming the fit and the evaluation.
    Views (three folders in each of two classes) and magnifications stay parts of their classes."""
    tissues = ["ADI", "BACK", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM"]
    for zipped, count in (("NCT-CRC-HE-100K", 3), ("CRC-VAL-HE-7K", 1)):
        for k, tissue in enumerate(tissues):
            for i in range(count):
                _png(tmp_path / "kather" / zipped / tissue / f"{tissue}-A{i}.tif", 20 * k + i)
    with pytest.raises(
        DatasetError,
        match=r"each hold the same 9 class folders \(ADI, BACK.*medimg fit '.*NCT-CRC-HE-100K'.*evaluate RUN '.*VAL",
    ):
        Dataset.load(tmp_path / "kather")
    assert len(Dataset.load(tmp_path / "kather" / "CRC-VAL-HE-7K").class_names) == 9
    # Mendeley's knee X-rays: MedicalExpert-I/ and MedicalExpert-II/ of grades 0Normal/ .. 4Severe/, taken for
    # patients by their digits: two classes of raters, status OK
    grades = ["0Normal", "1Doubtful", "2Mild", "3Moderate", "4Severe"]
    for expert in ("MedicalExpert-I", "MedicalExpert-II"):
        for k, grade in enumerate(grades):
            for i in range(2):
                _png(tmp_path / "knee" / expert / grade / f"{grade[1:]}G{k} ({i}).png", 20 * k + i + len(expert))
    with pytest.raises(DatasetError, match=r"each hold the same 5 class folders \(0Normal, 1Doubtful"):
        Dataset.load(tmp_path / "knee")
    for cls in ("benign", "malignant"):
        for inner in ("40X", "100X", "200X", "400X"):
            _png(tmp_path / "breakhis" / cls / inner / "a.png", len(cls + inner))
        for view in ("AP", "PA", "LL"):
            _png(tmp_path / "views" / cls / view / "a.png", len(cls + view))
    assert sorted(Dataset.load(tmp_path / "breakhis").class_names) == ["benign", "malignant"]
    assert sorted(Dataset.load(tmp_path / "views").class_names) == ["benign", "malignant"]


def test_sets_named_for_image_sizes_and_versions_of_the_data_are_not_classes(tmp_path: Path) -> None:
    """GasHisSDB: ``160/``, ``120/``, ``80/`` (crop sizes), each of ``Normal/`` and ``Abnormal/``: read as three
    classes of sizes, status OK. BRACS: ``BRACS_RoI/latest_version/`` beside ``previous_versions/``: read as two
    classes of versions (accuracy 1.0). Grade folders 0-4 holding the same view folders stay classes."""
    for size in ("160", "120", "80"):
        for cls in ("Normal", "Abnormal"):
            for i in range(2):
                _png(tmp_path / "GasHisSDB" / size / cls / f"{cls}{i}.png", int(size) // 10 + i + len(cls))
    with pytest.raises(DatasetError, match=r"each hold the same 2 class folders \(Abnormal, Normal.*medimg fit '"):
        Dataset.load(tmp_path / "GasHisSDB")
    assert sorted(Dataset.load(tmp_path / "GasHisSDB" / "160").class_names) == ["Abnormal", "Normal"]
    for version in ("latest_version", "previous_versions/Version1_MedIA"):
        for split in ("train", "test"):
            for cls in ("0_N", "6_IC"):
                _png(tmp_path / "BRACS_RoI" / version / split / cls / f"BRACS_1_{cls}_{split}.png", len(version + cls))
    with pytest.raises(DatasetError, match=r"look like versions or parts.*medimg fit '.*latest_version'"):
        Dataset.load(tmp_path / "BRACS_RoI")
    for grade in ("0", "1", "2"):
        for view in ("CC", "MLO"):
            _png(tmp_path / "grades" / grade / view / "a.png", 10 * int(grade) + len(view))
    assert sorted(Dataset.load(tmp_path / "grades").class_names) == ["0", "1", "2"]


def test_two_partitions_of_one_set_are_not_classes(tmp_path: Path) -> None:
    """RIM-ONE DL: ``partitioned_by_hospital/`` and ``partitioned_randomly/``, each of ``training_set/`` and
    ``test_set/`` of ``glaucoma/`` and ``normal/``: read as two classes (every image a label conflict), then fit's
    "the split left 0 training and 0 validation cases"."""
    for partition in ("partitioned_by_hospital", "partitioned_randomly"):
        for split in ("training_set", "test_set"):
            for cls in ("glaucoma", "normal"):
                for i in range(2):
                    _png(tmp_path / partition / split / cls / f"{cls[0]}{i}.png", 10 * i + len(cls))
    with pytest.raises(DatasetError, match=r"look like versions or parts.*medimg fit '.*partitioned_by_hospital'"):
        Dataset.load(tmp_path)
    assert Dataset.load(tmp_path / "partitioned_by_hospital").class_names == ["normal", "glaucoma"]


def test_images_compressed_one_by_one_are_named_with_the_fix(tmp_path: Path) -> None:
    """STARE as distributed: ``stare-images/im0001.ppm.gz``, ``labels-ah/im0001.ah.ppm.gz``: "no images found",
    the 54 files it skipped unnamed."""
    import gzip

    for folder, name in (("stare-images", "im000{}.ppm.gz"), ("labels-ah", "im000{}.ah.ppm.gz")):
        (tmp_path / "STARE" / folder).mkdir(parents=True, exist_ok=True)
        for k in range(1, 4):
            (tmp_path / "STARE" / folder / name.format(k)).write_bytes(gzip.compress(b"P5 2 2 255\n" + bytes(4)))
    with pytest.raises(DatasetError, match=r"found 6 gzip-compressed image file\(s\).*gunzip -r FOLDER"):
        Dataset.load(tmp_path / "STARE")


def test_a_table_naming_the_cases_of_site_folders_is_named_with_its_label_column(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ABIDE: ``RawData/{Pitt,NYU}/0050003/session_1/anat_1/mprage.nii.gz`` beside ``Phenotypic.csv`` (``SUB_ID``
    50003, ``SITE_ID`` Pitt, ``DX_GROUP`` 1/2): the sites were the classes, status OK, the table unnamed. A warning
    names the table and its label column, which reads each subject's one scan down its folders."""
    import nibabel as nib

    rows = ["SUB_ID,SITE_ID,DX_GROUP,AGE"]
    for k, site in enumerate(["Pitt", "NYU"] * 6):
        subject = 50003 + k
        anat = tmp_path / "ABIDE" / "RawData" / site / f"{subject:07d}" / "session_1" / "anat_1"
        anat.mkdir(parents=True)
        nib.save(nib.Nifti1Image(np.full((6, 6, 4), float(k), np.float32), np.eye(4)), anat / "mprage.nii.gz")
        rows.append(f"{subject},{site},{1 + k % 2 if k < 6 else 2 - k % 2},{20 + k}")
    (tmp_path / "ABIDE" / "Phenotypic.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING", logger="medimg"):
        dataset = Dataset.load(tmp_path / "ABIDE" / "RawData")
    assert dataset.class_names == ["NYU", "Pitt"]
    assert "Phenotypic.csv names 12 of the 12 images' cases in its column 'SUB_ID'" in caplog.text
    assert "--label-column DX_GROUP" in caplog.text
    table = Dataset.load(tmp_path / "ABIDE" / "Phenotypic.csv", label_column="DX_GROUP")
    assert len(table.cases) == 12 and all(c.path and c.path.name == "mprage.nii.gz" for c in table.cases)


def test_a_table_beside_the_images_is_named_with_a_diagnosis_column_not_the_patients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GRAZPEDWRI-DX: ``images/0001_1297860395_01_WRI-L1_M014.png`` beside ``dataset.csv`` (``patient_id``,
    ``filestem``, ``laterality``, ``projection``, ``gender``, ``fracture_visible``...): the warning advised
    ``--label-column patient_id``, a class per patient."""
    rows = ["patient_id,filestem,laterality,projection,gender,fracture_visible"]
    for k in range(12):
        stem = f"{k // 2 + 1:04d}_{1297860395 + k}_01_WRI-{'LR'[k % 2]}1_M014"
        _png(tmp_path / "GRAZPEDWRI-DX" / "images" / f"{stem}.png", k)
        (tmp_path / "GRAZPEDWRI-DX" / "other").mkdir(parents=True, exist_ok=True)
        rows.append(f"{k // 2 + 1},{stem},{'LR'[k % 2]},{['ap', 'lat'][k % 2]},{'MF'[k % 3 == 0]},{k % 3 == 0:d}")
    _png(tmp_path / "GRAZPEDWRI-DX" / "other" / "x.png", 1)
    (tmp_path / "GRAZPEDWRI-DX" / "dataset.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING", logger="medimg"):
        Dataset.load(tmp_path / "GRAZPEDWRI-DX")
    assert "images' cases in its column 'filestem'" in caplog.text
    assert "--label-column fracture_visible" in caplog.text


def test_a_table_restating_the_folder_classes_is_not_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = ["image_id,dx,sex"]
    for k in range(12):
        cls = ["benign", "malignant"][k % 2]
        _png(tmp_path / "set" / cls / f"ISIC_{k:07d}.jpg", k)
        rows.append(f"ISIC_{k:07d},{cls},{['male', 'female'][k // 6]}")
    (tmp_path / "set" / "metadata.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING", logger="medimg"):
        Dataset.load(tmp_path / "set")
    assert "names 12 of the 12" not in caplog.text


def test_split_lists_beside_the_class_folders_are_said_to_be_unused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SD-198: ``images/<class>/*.jpg`` beside ``8_2_split/train_0.txt``, ``val_0.txt``... (``Class/file.jpg 0`` a
    line): the set's split was replaced by a random one, said only at INFO ("annotations or documents")."""
    for cls in ("Acne_Keloidalis_Nuchae", "Actinic_solar_Damage"):
        for k in range(4):
            _png(tmp_path / "SD-198" / "images" / cls / f"{cls[:5].lower()}_{k}.jpg", k)
    (tmp_path / "SD-198" / "8_2_split").mkdir()
    for name in ("train_0.txt", "val_0.txt"):
        (tmp_path / "SD-198" / "8_2_split" / name).write_text("Acne_Keloidalis_Nuchae/acne__0.jpg 0\n")
    with caplog.at_level("WARNING", logger="medimg"):
        dataset = Dataset.load(tmp_path / "SD-198")
    assert dataset.class_names == ["Acne_Keloidalis_Nuchae", "Actinic_solar_Damage"]
    assert "beside it 8_2_split/ holds split lists (train_0.txt, val_0.txt), which this reading does not use" in (
        caplog.text
    )
