"""Challenge sets as downloaded, without a ``dataset.json``: BraTS (a folder per case: four modality files beside
``<case>_seg``), KiTS (``case_00000/imaging.nii.gz`` + ``segmentation.nii.gz``) and ACDC
(``patient001/patient001_frame01.nii.gz`` + ``_gt``). The classes are named as the challenge names its label values
(BraTS per edition); before, ``class_1..``, so a report could not say which Dice was the enhancing tumour, the
kidney or the myocardium."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medimg import Dataset
from medimg.tasks.segment.cases import determine_dataset_encoding, read_samples
from medimg.tasks.segment.class_names import class_names_for, value_names_of

nib = pytest.importorskip("nibabel")


def _brats_set(root: Path, modalities: tuple[str, ...], separator: str, values: tuple[int, ...]) -> Path:
    rng = np.random.default_rng(0)
    for i in range(3):
        case = root / f"BraTS-GLI-{i:05d}"
        case.mkdir(parents=True)
        for modality in modalities:
            volume = rng.normal(100, 10, (8, 8, 8)).astype(np.float32)
            nib.save(nib.Nifti1Image(volume, np.eye(4)), case / f"{case.name}{separator}{modality}.nii.gz")
        labels = np.zeros((8, 8, 8), np.uint8)
        for k, value in enumerate(values):
            labels[2 + k, 2:6, 2:6] = value
        nib.save(nib.Nifti1Image(labels, np.eye(4)), case / f"{case.name}{separator}seg.nii.gz")
    return root


def _class_names(root: Path) -> list[str]:
    dataset = Dataset.load(root, task="segment")
    samples = read_samples(dataset, dataset.cases).samples
    value_names = value_names_of(dataset)  # as training reads them: the layout's, else a dataset.json's
    return class_names_for(determine_dataset_encoding(dataset, samples, value_names), value_names)


def test_brats_2021_label_values_are_named(tmp_path: Path) -> None:
    root = _brats_set(tmp_path / "brats21", ("flair", "t1", "t1ce", "t2"), "_", (1, 2, 4))
    names = _class_names(root)
    assert len(names) == 5 and names[0] == "background"
    assert "necrotic" in names[1] and "oedema" in names[2] and names[3] == "class_3" and "enhancing" in names[4]


def test_brats_2023_label_values_are_named(tmp_path: Path) -> None:
    root = _brats_set(tmp_path / "brats23", ("t1c", "t1n", "t2f", "t2w"), "-", (1, 2, 3))
    names = _class_names(root)
    assert len(names) == 4 and "non-enhancing" in names[1] and "FLAIR" in names[2] and "enhancing" in names[3]


def test_other_multi_channel_cases_keep_generic_names(tmp_path: Path) -> None:
    """Two modalities that are not a BraTS edition's four: no BraTS names."""
    root = _brats_set(tmp_path / "other", ("t1", "t2"), "_", (1, 2, 3))
    assert _class_names(root) == ["background", "class_1", "class_2", "class_3"]


def test_a_dataset_json_beside_names_the_labels_instead(tmp_path: Path) -> None:
    """The user's own ``dataset.json`` (nnU-Net's ``{"labels": {name: value}}``) wins over the edition's names."""
    root = _brats_set(tmp_path / "brats21", ("flair", "t1", "t1ce", "t2"), "_", (1, 2, 4))
    labels = {"background": 0, "necrosis": 1, "edema": 2, "unused": 3, "enhancing": 4}
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    assert _class_names(root) == list(labels)


def _cases(root: Path, image: str, mask: str, values: tuple[int, ...]) -> Path:
    """Three cases: ``image``/``mask`` name patterns of the case number, label values ``values`` in each mask."""
    rng = np.random.default_rng(0)
    for i in range(1, 4):
        (root / image.format(i=i)).parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(rng.normal(0, 1, (8, 8, 8)).astype(np.float32), np.eye(4)), root / image.format(i=i))
        labels = np.zeros((8, 8, 8), np.uint8)
        for k, value in enumerate(values):
            labels[2 + k, 2:6, 2:6] = value
        nib.save(nib.Nifti1Image(labels, np.eye(4)), root / mask.format(i=i))
    return root


def test_kits_label_values_are_named_kits19_without_cysts(tmp_path: Path) -> None:
    kits = ("case_{i:05d}/imaging.nii.gz", "case_{i:05d}/segmentation.nii.gz")
    assert _class_names(_cases(tmp_path / "kits19", *kits, (1, 2))) == ["background", "kidney", "tumour"]
    assert _class_names(_cases(tmp_path / "kits23", *kits, (1, 2, 3))) == ["background", "kidney", "tumour", "cyst"]


def test_acdc_label_values_are_named(tmp_path: Path) -> None:
    acdc = ("patient{i:03d}/patient{i:03d}_frame01.nii.gz", "patient{i:03d}/patient{i:03d}_frame01_gt.nii.gz")
    names = _class_names(_cases(tmp_path / "acdc", *acdc, (1, 2, 3)))
    assert names == ["background", "right ventricle (RV)", "myocardium (MYO)", "left ventricle (LV)"]


def test_other_case_folders_keep_generic_names(tmp_path: Path) -> None:
    """Case folders of KiTS's file names but not its folder names: no KiTS names."""
    other = ("scan_{i}/imaging.nii.gz", "scan_{i}/segmentation.nii.gz")
    assert _class_names(_cases(tmp_path / "other", *other, (1, 2))) == ["background", "class_1", "class_2"]
