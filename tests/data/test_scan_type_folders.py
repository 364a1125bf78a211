"""Folders named for kinds of scan of the same subjects (IXI's ``IXI-T1/``, ``IXI-T2/``) are not classes."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError


def _volume(path: Path, value: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full((6, 6, 4), value, np.float32), np.eye(4)), path)


def test_ixi_sequence_folders_of_the_same_subjects_are_refused_naming_the_table(tmp_path: Path) -> None:
    """IXI: ``IXI-T1/IXI002-Guys-0828-T1.nii.gz`` and ``IXI-T2/IXI002-Guys-0828-T2.nii.gz``, one subject in each,
    beside ``IXI.xls``: a T1-versus-T2 classifier was trained, status OK, the table never named."""
    for k in range(2, 14):
        for kind in ("T1", "T2"):
            _volume(tmp_path / f"IXI-{kind}" / f"IXI{k:03d}-Guys-{800 + k:04d}-{kind}.nii.gz", 10.0 * k)
    (tmp_path / "IXI.csv").write_text("IXI_ID,SEX_ID,AGE\n2,1,35.8\n")
    with pytest.raises(DatasetError, match=r"named for kinds of scan of the same subjects \(12 in each\).*IXI.csv"):
        Dataset.load(tmp_path)


def test_kinds_of_scan_of_different_subjects_stay_classes(tmp_path: Path) -> None:
    """A modality classifier's folders (``CT/``, ``PET/``), each its own patients, are classes."""
    for kind, first in (("CT", 100), ("PET", 200)):
        for k in range(first, first + 6):
            _volume(tmp_path / kind / f"patient{k}_{kind}_1.nii.gz", float(k))
    assert Dataset.load(tmp_path).class_names == ["CT", "PET"]


def test_kinds_of_scan_whose_names_give_no_subjects_stay_classes(tmp_path: Path) -> None:
    """A study's ``ct_head/0.dcm...`` beside ``mr_t1/0.dcm...``: names without subjects compare nothing (it was
    refused, "the same subjects (0 in each)")."""
    for kind in ("ct_head", "mr_t1"):
        for k in range(4):
            _volume(tmp_path / kind / f"{k}.nii.gz", float(k))
    assert sorted(Dataset.load(tmp_path).class_names) == ["ct_head", "mr_t1"]


def test_cesm_low_energy_and_subtracted_folders_are_refused_naming_the_table_to_fit(tmp_path: Path) -> None:
    """CDD-CESM: ``Low energy images of CDD-CESM/P1_L_DM_MLO.jpg`` beside ``Subtracted images of CDD-CESM/
    P1_L_CM_MLO.jpg`` (each breast in both) were two classes, status OK: a model told the low energy image from the
    subtracted one, and ``Radiology manual annotations.xlsx``'s pathology went unread. The error names the table to
    fit, quoted for the shell."""
    data = tmp_path / "PKG - CDD-CESM"
    for k in range(1, 9):
        for folder, kind in (("Low energy images of CDD-CESM", "DM"), ("Subtracted images of CDD-CESM", "CM")):
            for side in ("L", "R"):
                path = data / "CDD-CESM" / folder / f"P{k}_{side}_{kind}_MLO.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((16, 16), 10 * k, np.uint8)).save(path)
    (data / "Radiology manual annotations.csv").write_text("Image_name,Patient_ID,Pathology\nP1_L_DM_MLO,1,Benign\n")
    with pytest.raises(DatasetError, match=r"kinds of scan of the same subjects \(8 in each\).*medimg fit '.*PKG - "):
        Dataset.load(data)


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16), value, np.uint8)).save(path)


def test_radimagenet_modality_folders_holding_category_folders_are_refused_naming_the_fix(tmp_path: Path) -> None:
    """RadImageNet: ``CT/abd/pancreatitis/*.png``, ``MR/knee/acl_pathology/*.png``, ``US/thyroid/thyroid_nodule/``
    were read as three classes CT, MR and US (status OK): a modality classifier, every finding dropped."""
    data = tmp_path / "radiology_ai"
    leaves = ("CT/abd/normal", "CT/abd/pancreatitis", "CT/lung/nodule", "MR/knee/acl_pathology", "US/thyroid/normal")
    for n, leaf in enumerate(leaves):
        for k in range(6):
            _png(data / leaf / f"{leaf.rsplit('/', 1)[1]}{k:04d}.png", 20 * n + k)
    with pytest.raises(DatasetError, match=r"\(CT, MR, US\) name imaging modalities.*medimg fit .*radiology_ai/CT/abd"):
        Dataset.load(data)
    assert Dataset.load(data / "CT" / "abd").class_names == ["normal", "pancreatitis"]


def test_modality_folders_holding_their_images_or_patient_folders_stay_classes(tmp_path: Path) -> None:
    """A CT-versus-MR set (images directly in ``CT/`` and ``MR/``), or one of patient folders (``CT/case001/``), is
    a modality classifier on purpose."""
    for kind in ("CT", "MR"):
        for k in range(6):
            _png(tmp_path / "flat" / kind / f"{kind}_{k}.png", k)
            _png(tmp_path / "patients" / kind / f"case{k:03d}" / "slice0.png", k)
    assert Dataset.load(tmp_path / "flat").class_names == ["CT", "MR"]
    assert Dataset.load(tmp_path / "patients").class_names == ["CT", "MR"]
