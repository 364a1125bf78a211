"""Case folders with one mask at the top and the scans in a sub-folder: MICCAI WMH 2017."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.data.layouts import case_masks
from medimg.errors import DatasetError

GRID = (12, 10, 6)


def _nifti(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.diag([1.0, 1.0, 3.0, 1.0])), str(path))


def write_wmh(root: Path, per_site: int = 2) -> Path:
    """WMH 2017 as unpacked: ``training/<site>/<id>/wmh.nii.gz`` (float labels 1 WMH, 2 other pathology),
    ``pre/FLAIR`` + ``pre/T1`` on its grid, ``orig/FLAIR`` on it too and ``orig/3DT1`` on another."""
    rng = np.random.default_rng(0)
    for s, site in enumerate(("Utrecht", "Singapore", "GE3T")):
        for i in range(per_site):
            case = root / "training" / site / str(50 * s + i)
            lesion = np.zeros(GRID, np.float32)
            lesion[2 + i : 6 + i, 3:7, 2:4] = 1
            lesion[8:10, 1:3, 1:2] = 2
            flair = rng.normal(100, 5, GRID).astype(np.float32) + 300 * (lesion == 1)
            _nifti(case / "wmh.nii.gz", lesion)
            _nifti(case / "pre" / "FLAIR.nii.gz", flair)
            _nifti(case / "pre" / "T1.nii.gz", rng.normal(80, 5, GRID).astype(np.float32))
            _nifti(case / "orig" / "FLAIR.nii.gz", flair.astype(np.int16))
            _nifti(case / "orig" / "3DT1.nii.gz", rng.normal(80, 5, (20, 16, 10)).astype(np.int16))
    return root


def test_wmh_case_folders_read_as_masks_on_the_preprocessed_scans(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Read as class folders, the three sites were the classes (the masks flagged as images beside them)."""
    with caplog.at_level(logging.INFO):
        data = Dataset.load(write_wmh(tmp_path / "WMH"))
    assert isinstance(data, SegmentationDataset) and data.source == "case_masks" and len(data.cases) == 6
    assert "on the FLAIR + T1 scans (one channel each) in pre/" in caplog.text
    assert "orig/ left out" in caplog.text
    for case in data.cases:
        assert case.mask is not None and case.mask.name == "wmh.nii.gz"
        assert case.image.relative_to(case.mask.parent).as_posix() == "pre/FLAIR.nii.gz"
        assert [c.name for c in case.channels] == ["T1.nii.gz"]
        assert case.patient_id == case.mask.parent.relative_to(tmp_path / "WMH").as_posix()
        assert case.split == "train"
    sample = data.read(data.cases[0])
    assert sample.image.array.shape[0] == 2 and sample.mask is not None
    assert sorted(np.unique(sample.mask).tolist()) == [0, 1, 2]
    wmh = sample.mask[0] == 1
    assert sample.image.array[0][wmh].mean() > sample.image.array[0][~wmh].mean() + 200  # FLAIR bright


def test_a_scan_folder_named_for_masks_is_no_case_folder(tmp_path: Path) -> None:
    """TotalSegmentator's ``s0000/ct.nii.gz`` + ``segmentations/<organ>.nii.gz``: the CT is the image, not a mask."""
    for s in range(3):
        case = tmp_path / "totalseg" / f"s{s:04d}"
        _nifti(case / "ct.nii.gz", np.zeros(GRID, np.float32))
        _nifti(case / "segmentations" / "liver.nii.gz", np.zeros(GRID, np.uint8))
    assert not case_masks.detect(tmp_path / "totalseg")
    assert case_masks.detect(write_wmh(tmp_path / "wmh"))
    assert not case_masks.detect(tmp_path / "wmh" / "training" / "Utrecht" / "0")  # one case folder: not a set


def test_masks_without_a_scan_on_their_grid_are_named(tmp_path: Path) -> None:
    root = write_wmh(tmp_path / "wmh", per_site=1)
    for mask in root.rglob("wmh.nii.gz"):
        _nifti(mask, np.zeros((4, 4, 4), np.float32))
    with pytest.raises(DatasetError, match="no case folder has a scan on its mask's grid"):
        case_masks.load(root)


def test_msseg_consensus_in_the_masks_folder_on_the_preprocessed_scans(tmp_path: Path) -> None:
    """MSSEG-2016: ``Training/Center_01/Patient_01/Masks/Consensus.nii.gz`` beside each reader's
    ``ManualSegmentation_N`` and ``Brain_Mask``, the scans in ``Preprocessed_Data/<seq>_preprocessed.nii.gz`` and
    ``Raw_Data/<seq>.nii.gz``: "no image has a mask with a matching name (e.g. mask Brain_Mask.nii.gz ...)"."""
    rng = np.random.default_rng(0)
    for centre in (1, 3):
        for p in (1, 2):
            case = tmp_path / "Training" / f"Center_{centre:02d}" / f"Patient_{p:02d}"
            lesion = np.zeros(GRID, np.float32)
            lesion[2:6, 3:7, 2:4] = 1
            _nifti(case / "Masks" / "Consensus.nii.gz", lesion)
            _nifti(case / "Masks" / "Brain_Mask.nii.gz", np.ones(GRID, np.float32))
            for reader in (1, 2):
                _nifti(case / "Masks" / f"ManualSegmentation_{reader}.nii.gz", lesion)
            for sequence in ("FLAIR", "T1", "T2"):
                scan = rng.normal(100, 5, GRID).astype(np.float32)
                _nifti(case / "Preprocessed_Data" / f"{sequence}_preprocessed.nii.gz", scan)
                _nifti(case / "Raw_Data" / f"{sequence}.nii.gz", scan)
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, SegmentationDataset) and dataset.source == "case_masks" and len(dataset.cases) == 4
    assert {c.mask.name for c in dataset.cases} == {"Consensus.nii.gz"}
    assert all(c.image.parent.name == "Preprocessed_Data" and len(c.channels) == 2 for c in dataset.cases)
    assert {c.split for c in dataset.cases} == {"train"}
