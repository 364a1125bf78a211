"""Segmentation data in one folder per case: KiTS (``case_00000/imaging.nii.gz`` + ``segmentation.nii.gz``) pairs
as it is; BraTS (four modality files beside ``<case>_seg.nii.gz``) is one case of four channels; a flat folder's
mask without an image is still only reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError


def _nifti(path: Path, array: np.ndarray) -> None:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.eye(4)), path)


def _mask() -> np.ndarray:
    mask = np.zeros((6, 6, 6), np.uint8)
    mask[1:4, 1:4, 1:4] = 1
    return mask


def _annotators(folder: Path) -> None:
    """KiTS21's and KiTS23's masks of each annotator of each kidney, tumour and cyst instance."""
    for name in ("kidney_instance-1_annotation-1", "kidney_instance-2_annotation-1", "cyst_instance-1_annotation-2"):
        _nifti(folder / f"{name}.nii.gz", _mask())


def test_kits_case_folders_pair_by_folder(tmp_path: Path) -> None:
    for i in range(3):
        _nifti(tmp_path / f"case_{i:05d}" / "imaging.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
        _nifti(tmp_path / f"case_{i:05d}" / "segmentation.nii.gz", _mask())
    dataset = Dataset.load(tmp_path)  # recognised as segmentation data by itself, not 3 classes of one case each
    assert dataset.task == "segment"
    pairs = sorted((c.image.parent.name, c.image.name, c.mask.name) for c in dataset.cases)
    assert pairs == [(f"case_{i:05d}", "imaging.nii.gz", "segmentation.nii.gz") for i in range(3)]
    assert not dataset.unpaired and not dataset.unlabelled


def test_kits19_test_cases_without_masks_are_unlabelled_cases(tmp_path: Path) -> None:
    """KiTS19's ``data/case_00210/imaging.nii.gz`` alone (its 90 test cases, a third of the folders) beside the
    labelled cases: the set was refused as "a single class ('data')" whenever the sampled folders held them."""
    for i in (*range(6), 210, 211, 212):
        _nifti(tmp_path / "data" / f"case_{i:05d}" / "imaging.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
        if i < 210:
            _nifti(tmp_path / "data" / f"case_{i:05d}" / "segmentation.nii.gz", _mask())
    (tmp_path / "README.md").write_text("KiTS19\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 6
    assert sorted(dataset.unlabelled) == [f"case_{i:05d}/imaging.nii.gz" for i in (210, 211, 212)]  # in data/


def test_kits23_instances_are_annotations_not_images(tmp_path: Path) -> None:
    """KiTS23 as downloaded: each case's ``instances/`` holds every annotator's mask of each kidney, tumour and cyst.
    They were images without masks (72 in a probe), and ``predict`` on a case folder predicted each as a CT."""
    from medimg.data.layouts.image_mask_pairs import annotation_files

    for i in range(3):
        case = tmp_path / f"case_{i:05d}"
        _nifti(case / "imaging.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
        _nifti(case / "segmentation.nii.gz", _mask())
        _annotators(case / "instances")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 3
    assert not dataset.unpaired and not dataset.unlabelled
    case = tmp_path / "case_00000"
    files = sorted(p for p in case.rglob("*.nii.gz"))
    assert sorted(annotation_files(files, case)) == [p for p in files if p.name != "imaging.nii.gz"]


def test_kits21_majority_vote_is_the_mask_not_annotators_as_structures(tmp_path: Path) -> None:
    """KiTS21 as downloaded: each case holds ``imaging.nii.gz``, the annotators' ``aggregated_AND_seg``,
    ``aggregated_OR_seg`` and ``aggregated_MAJ_seg`` label maps, and ``segmentations/<structure>_instance-<n>_
    annotation-<m>.nii.gz``. It was read as structure masks: one class per annotator's instance file (12 in a probe),
    the majority-vote label map unused."""
    from medimg.data.layouts.image_mask_pairs import annotation_files

    for i in range(4):
        case = tmp_path / f"case_{i:05d}"
        _nifti(case / "imaging.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
        majority = _mask()
        majority[4:6, 4:6, 4:6] = 2
        _nifti(case / "aggregated_MAJ_seg.nii.gz", majority)
        _nifti(case / "aggregated_AND_seg.nii.gz", _mask())
        _nifti(case / "aggregated_OR_seg.nii.gz", np.ones((6, 6, 6), np.uint8))
        _annotators(case / "segmentations")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment"
    pairs = sorted((c.image.parent.name, c.image.name, c.mask.name) for c in dataset.cases)
    assert pairs == [(f"case_{i:05d}", "imaging.nii.gz", "aggregated_MAJ_seg.nii.gz") for i in range(4)]
    assert all(not c.structures and not c.extra_masks for c in dataset.cases)
    assert not dataset.unpaired and not dataset.unlabelled
    assert dataset.value_names == {0: "background", 1: "kidney", 2: "tumour", 3: "cyst"}
    case = tmp_path / "case_00000"
    files = sorted(case.rglob("*.nii.gz"))
    assert sorted(annotation_files(files, case)) == [p for p in files if p.name != "imaging.nii.gz"]


def test_brats_modalities_are_the_channels_of_one_case(tmp_path: Path) -> None:
    for i in range(3):
        case = tmp_path / f"BraTS2021_0000{i}"
        for channel, modality in enumerate(("flair", "t1", "t1ce", "t2")):
            _nifti(case / f"{case.name}_{modality}.nii.gz", np.full((6, 6, 6), channel, np.float32))
        _nifti(case / f"{case.name}_seg.nii.gz", _mask())
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment"
    assert sorted(c.image.name for c in dataset.cases) == [f"BraTS2021_0000{i}_flair.nii.gz" for i in range(3)]
    assert not dataset.unlabelled
    sample = dataset.read(dataset.cases[0])
    assert sample.image.array.shape == (4, 6, 6, 6)
    assert [float(sample.image.array[c].mean()) for c in range(4)] == [0.0, 1.0, 2.0, 3.0]  # flair, t1, t1ce, t2
    assert sample.image.meta["channel_suffixes"] == ["flair.nii.gz", "t1.nii.gz", "t1ce.nii.gz", "t2.nii.gz"]
    (tmp_path / "BraTS2021_00001" / "BraTS2021_00001_t1ce.nii.gz").unlink()  # one case lacks a modality
    with pytest.raises(DatasetError, match="different channel files") as error:
        Dataset.load(tmp_path, task="segment")
    assert "t1ce.nii.gz" in str(error.value)
    exclude = "*_t1ce.nii.gz"
    assert len(Dataset.load(tmp_path, task="segment", exclude=(exclude,)).cases[0].channels) == 2


def test_brats_2020s_misnamed_mask_is_its_case_folders_mask(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """BraTS 2020 ships ``BraTS20_Training_355/W39_1998.09.19_Segm.nii``: it was an image, its case had no mask, and
    whenever that folder was among those sampled the whole set was read as class folders named for the cases."""
    import logging

    for i in range(350, 360):
        case = tmp_path / f"BraTS20_Training_{i}"
        for channel, modality in enumerate(("flair", "t1", "t1ce", "t2")):
            _nifti(case / f"{case.name}_{modality}.nii", np.full((6, 6, 6), channel, np.float32))
        _nifti(case / (f"{case.name}_seg.nii" if i != 355 else "W39_1998.09.19_Segm.nii"), _mask())
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 10 and not dataset.unlabelled
    case = next(c for c in dataset.cases if c.image.parent.name == "BraTS20_Training_355")
    assert case.mask.name == "W39_1998.09.19_Segm.nii" and case.image.name == "BraTS20_Training_355_flair.nii"
    assert [p.name.split("_")[-1] for p in case.channels] == ["t1.nii", "t1ce.nii", "t2.nii"]
    assert "the only mask of the case folder BraTS20_Training_355" in caplog.text
    assert "rename it BraTS20_Training_355_seg.nii" in caplog.text


def test_one_case_folder_in_ten_without_a_mask_leaves_the_set_case_folders(tmp_path: Path) -> None:
    """Every sampled folder had to be a case with a mask: one case without its mask among the first twenty read the
    whole set as class folders, one class per case."""
    for i in range(10):
        case = tmp_path / f"case_{i:05d}"
        _nifti(case / "imaging.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
        if i != 4:
            _nifti(case / "segmentation.nii.gz", _mask())
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 9
    assert [Path(p).parent.name for p in dataset.unlabelled] == ["case_00004"]


def test_a_flat_folder_mask_without_its_image_is_only_reported(tmp_path: Path) -> None:
    from PIL import Image

    for name in ("case_01.png", "case_01_mask.png", "case_02.png", "case_02_mask.png", "case_03_mask.png"):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / name)
    dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 2 and dataset.unpaired == ["case_03_mask.png"]


def test_split_prefixed_image_and_mask_folders(tmp_path: Path) -> None:
    """Kaggle-style ``train_images/`` + ``train_masks/`` and ``test_images/`` + ``test_masks/``."""
    from PIL import Image

    for split in ("train", "test"):
        for kind in ("images", "masks"):
            folder = tmp_path / f"{split}_{kind}"
            folder.mkdir()
            for i in range(2):
                Image.fromarray(np.full((4, 4), 255 if kind == "masks" else i, np.uint8)).save(folder / f"{i}.png")
    dataset = Dataset.load(tmp_path, task="segment")
    assert sorted((c.split, c.image.parent.name, c.mask.parent.name) for c in dataset.cases) == [
        ("test", "test_images", "test_masks"),
        ("test", "test_images", "test_masks"),
        ("train", "train_images", "train_masks"),
        ("train", "train_images", "train_masks"),
    ]


def test_brats_2023_names_with_hyphens(tmp_path: Path) -> None:
    for i in range(3):
        case = tmp_path / f"BraTS-GLI-0000{i}-000"
        for modality in ("t1c", "t1n", "t2f", "t2w"):
            _nifti(case / f"{case.name}-{modality}.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
        _nifti(case / f"{case.name}-seg.nii.gz", _mask())
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 3 and not dataset.unlabelled
    assert [p.name.split("-")[-1] for p in dataset.cases[0].channels] == ["t1n.nii.gz", "t2f.nii.gz", "t2w.nii.gz"]


def test_acdc_patient_folders_inside_split_folders(tmp_path: Path) -> None:
    """ACDC: ``training/patient001/patient001_frame01.nii.gz`` + ``_gt``, two frames per patient, beside a 4D cine
    file without a mask."""
    for split, patients in (("training", range(1, 4)), ("testing", range(101, 103))):
        for i in patients:
            folder = tmp_path / split / f"patient{i:03d}"
            _nifti(folder / f"patient{i:03d}_4d.nii.gz", np.random.rand(6, 6, 6, 3).astype(np.float32))
            for frame in (1, 12):
                _nifti(folder / f"patient{i:03d}_frame{frame:02d}.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
                _nifti(folder / f"patient{i:03d}_frame{frame:02d}_gt.nii.gz", _mask())
    dataset = Dataset.load(tmp_path)  # segmentation by itself, not one class per patient
    assert dataset.task == "segment" and len(dataset.cases) == 10
    assert dataset.split_counts() == {"train": 6, "test": 4}
    assert sorted(Path(p).name for p in dataset.unlabelled)[0] == "patient001_4d.nii.gz"


def _metaimage(path: Path, array: np.ndarray) -> None:
    """A MetaImage header + ``.raw`` pair, as RETOUCH ships its volumes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        f"DimSize = {' '.join(str(n) for n in array.shape[::-1])}\nElementSpacing = 0.01 0.004 0.05\n"
        f"ElementType = MET_UCHAR\nElementDataFile = {path.stem}.raw\n"
    )
    path.write_text(header)
    path.with_suffix(".raw").write_bytes(np.ascontiguousarray(array, np.uint8).tobytes())


def test_retouch_vendor_folders_of_case_folders_are_segmentation(tmp_path: Path) -> None:
    """RETOUCH: ``TrainingSet-Release/<vendor>/TRAIN001/oct.mhd`` + ``reference.mhd`` (1 IRF, 2 SRF, 3 PED). It was
    a classifier of the three scanner vendors, the masks left out; ``--task segment`` found "no masks"."""
    from medimg.data.layouts.image_mask_pairs import annotation_files

    root = tmp_path / "TrainingSet-Release"
    rng = np.random.default_rng(0)
    for v, vendor in enumerate(("Cirrus", "Spectralis", "Topcon")):
        for i in range(3):
            case = root / vendor / f"TRAIN{v * 24 + i + 1:03d}"
            _metaimage(case / "oct.mhd", rng.integers(0, 255, (4, 6, 6)))
            reference = np.zeros((4, 6, 6), np.uint8)
            reference[1:3, 1:4, 1:4] = 1 + (i % 3)
            _metaimage(case / "reference.mhd", reference)
    dataset = Dataset.load(root)
    assert dataset.task == "segment" and len(dataset.cases) == 9
    assert {(c.image.name, c.mask.name) for c in dataset.cases} == {("oct.mhd", "reference.mhd")}
    assert dataset.value_names[1] == "intraretinal fluid (IRF)" and len(dataset.value_names) == 4
    case = root / "Cirrus" / "TRAIN001"
    assert annotation_files(sorted(case.glob("*.mhd")), case) == [case / "reference.mhd"]


def test_ctpelvic1k_data_and_mask_4label_pair_with_the_sides_named(tmp_path: Path) -> None:
    """CTPelvic1K: ``CTPelvic1K_dataset6_data/dataset6_CLINIC_0001_data.nii.gz`` and
    ``CTPelvic1K_dataset6_Anonymized_mask/dataset6_CLINIC_0001_mask_4label.nii.gz`` (1 sacrum, 2 left hip, 3 right
    hip, 4 lumbar spine). No image had "a mask with a matching name"; with a manifest the unnamed classes let the
    plan flip left and right, swapping the hips."""
    for i in range(1, 4):
        name = f"dataset6_CLINIC_{i:04d}"
        _nifti(tmp_path / "CTPelvic1K_dataset6_data" / f"{name}_data.nii.gz", np.random.rand(6, 6, 6).astype("f4"))
        labels = _mask() * np.uint8(i + 1)
        _nifti(tmp_path / "CTPelvic1K_dataset6_Anonymized_mask" / f"{name}_mask_4label.nii.gz", labels)
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 3 and not dataset.unpaired
    assert all(c.mask.name == c.image.name.replace("_data", "_mask_4label") for c in dataset.cases)
    assert dataset.value_names[2] == "left hip" and dataset.value_names[3] == "right hip"


def test_image_mask_pairs_inside_a_wrapper_folder_are_read_through_it(tmp_path: Path) -> None:
    """COVID-19-20: ``covid19-20/COVID-19-20_v2/Train/volume-covid19-A-0003_ct.nii.gz`` + ``..._seg.nii.gz``: "has no
    class sub-folders" from the top folder, read only from the inner one or with --task segment."""
    for i in range(3):
        train = tmp_path / "covid19-20" / "COVID-19-20_v2" / "Train"
        _nifti(train / f"volume-covid19-A-{i:04d}_ct.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
        _nifti(train / f"volume-covid19-A-{i:04d}_seg.nii.gz", _mask())
    dataset = Dataset.load(tmp_path / "covid19-20")
    assert dataset.task == "segment" and len(dataset.cases) == 3


def test_a_decathlon_task_inside_a_wrapper_keeps_its_dataset_json_names(tmp_path: Path) -> None:
    """``msd/Task04_Hippocampus/{imagesTr,labelsTr,dataset.json}`` given as ``msd/``: classes class_1, class_2, the
    names in dataset.json lost one folder up."""
    import json

    task = tmp_path / "msd" / "Task04_Hippocampus"
    for i in range(3):
        _nifti(task / "imagesTr" / f"hippocampus_{i:03d}.nii.gz", np.random.rand(6, 6, 6).astype(np.float32))
        _nifti(task / "labelsTr" / f"hippocampus_{i:03d}.nii.gz", _mask())
    labels = {"0": "background", "1": "Anterior"}
    (task / "dataset.json").write_text(json.dumps({"labels": labels, "modality": {"0": "MRI"}}))
    (tmp_path / "msd" / "._Task04_Hippocampus").write_bytes(b"\0\x05\x16\x07")  # macOS' resource fork
    from medimg.tasks.segment.class_names import value_names_of

    dataset = Dataset.load(tmp_path / "msd")
    assert dataset.task == "segment" and value_names_of(dataset)[1] == "Anterior"


def test_one_folder_of_images_beside_one_folder_of_masks_named_otherwise_are_pairs(tmp_path: Path) -> None:
    """ACOUSLIC-AI: ``images/stacked_fetal_ultrasound/<uuid>.mha`` beside ``masks/stacked_fetal_abdomen/<uuid>.mha``
    and ``circumferences/*.csv``: "has a single class ('stacked_fetal_ultrasound')" unless --task segment."""
    for i in range(3):
        uuid = f"{i:08x}-0b1c-4d2e-8f3a-5b6c7d8e9f0a"
        _nifti(tmp_path / "images" / "stacked_fetal_ultrasound" / f"{uuid}.nii.gz", np.random.rand(6, 6, 6))
        _nifti(tmp_path / "masks" / "stacked_fetal_abdomen" / f"{uuid}.nii.gz", _mask())
    (tmp_path / "circumferences").mkdir()
    (tmp_path / "circumferences" / "fetal_abdominal_circumferences_per_sweep.csv").write_text("uuid,sweep_1\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 3
