"""3D image/label pairs whose headers disagree (nnU-Net's imagesTr/labelsTr): said once per case, counted by check."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg.data.dataset import SegmentationDataset
from medimg.tasks.segment.quality import check_segmentation

AFFINE = np.diag([1.5, 1.5, 2.0, 1.0])


def _pairs(root: Path, label_affines: dict[int, np.ndarray], n: int = 3) -> Path:
    """``n`` nnU-Net cases of 12^3 voxels, each label on :data:`AFFINE` unless ``label_affines`` gives another."""
    for folder in ("imagesTr", "labelsTr"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        image = rng.normal(100, 20, (12, 12, 12)).astype(np.float32)
        label = np.zeros((12, 12, 12), np.uint8)
        label[3:7, 4:8, 5:9] = 1
        flip = label_affines.get(i, AFFINE)
        stored = label[::-1] if flip[0, 0] < 0 else label  # a label stored mirrored along x, as its header says
        nib.save(nib.Nifti1Image(image, AFFINE), root / "imagesTr" / f"case_{i:03d}_0000.nii.gz")
        nib.save(nib.Nifti1Image(stored, flip), root / "labelsTr" / f"case_{i:03d}.nii.gz")
    dataset = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "tumour": 1}, "file_ending": ".nii.gz"}
    (root / "dataset.json").write_text(json.dumps({**dataset, "numTraining": n}))
    return root


def _shifted(x: float) -> np.ndarray:
    affine = AFFINE.copy()
    affine[0, 3] = x
    return affine


def test_another_spacing_is_said_once_per_case(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = SegmentationDataset.load(_pairs(tmp_path / "set", {1: np.diag([3.0, 3.0, 4.0, 1.0])}))
    with caplog.at_level(logging.WARNING, logger="medimg"):
        samples = [ds.read(case) for case in ds.cases] + [ds.read(ds.cases[1])]
    said = [r.getMessage() for r in caplog.records if "headers disagree" in r.getMessage()]
    assert len(said) == 1 and "case_001.nii.gz has voxel spacing 3x3x4 mm" in said[0] and "1.5x1.5x2 mm" in said[0]
    assert [bool(s.image.meta.get("mask_geometry")) for s in samples] == [False, True, False, True]
    assert samples[1].mask is not None and samples[1].mask.shape == (1, 12, 12, 12)  # used all the same


def test_another_origin_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = SegmentationDataset.load(_pairs(tmp_path / "set", {2: _shifted(50.0)}))
    with caplog.at_level(logging.WARNING, logger="medimg"):
        flagged = [bool(ds.read(case).image.meta.get("mask_geometry")) for case in ds.cases]
    assert flagged == [False, False, True]
    assert "case_002.nii.gz has voxel spacing 1.5x1.5x2 mm and origin (50.0, 0.0, 0.0)" in caplog.text


def test_rounding_and_a_mirrored_label_on_the_same_grid_are_quiet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mirrored = AFFINE.copy()
    mirrored[0, 0], mirrored[0, 3] = -1.5, 11 * 1.5  # voxel 0 at the image's last x voxel
    rounded = np.diag([1.5004, 1.5, 2.0, 1.0])
    rounded[0, 3] = 0.6  # 0.4 of a voxel
    ds = SegmentationDataset.load(_pairs(tmp_path / "set", {0: mirrored, 1: rounded}))
    with caplog.at_level(logging.WARNING, logger="medimg"):
        samples = [ds.read(case) for case in ds.cases]
    assert not any(s.image.meta.get("mask_geometry") for s in samples)
    assert "headers disagree" not in caplog.text
    assert samples[0].mask is not None and samples[0].mask[0, 3:7, 4:8, 5:9].all()  # reoriented onto the image


def test_check_counts_the_cases(tmp_path: Path) -> None:
    root = _pairs(tmp_path / "set", {1: np.diag([3.0, 3.0, 4.0, 1.0]), 2: _shifted(-20.0)})
    report = check_segmentation(SegmentationDataset.load(root))
    (said,) = [w for w in report.warnings if "another voxel spacing or origin" in w]
    assert said.startswith("2 label(s)") and "case_001" in said and report.ok
