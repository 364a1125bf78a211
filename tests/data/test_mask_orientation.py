"""A mask stored in another voxel orientation than its image (an annotation tool that saved it reoriented) is put
on the image's grid; a mask without a geometry of its own is taken as stored like its image."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset, SegmentationDataset

nib = pytest.importorskip("nibabel")

LPS_LIKE = np.array([[-0.8, 0, 0, 90.0], [0, -0.8, 0, 110.0], [0, 0, 2.5, -40.0], [0, 0, 0, 1]])


def _pair(root: Path, name: str, image: np.ndarray, mask_file: object) -> None:
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(image, LPS_LIKE), root / "imagesTr" / f"{name}.nii.gz")
    nib.save(mask_file, root / "labelsTr" / f"{name}.nii.gz")


def test_a_reoriented_mask_is_read_on_its_images_grid(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(12, 10, 6)).astype(np.float32)
    mask = np.zeros((12, 10, 6), np.uint8)
    mask[1:4, 2:5, 1:3] = 1  # off-centre: a flip of any axis moves it
    stored_ras = nib.as_closest_canonical(nib.Nifti1Image(mask, LPS_LIKE))  # x and y flipped on disk
    assert not np.array_equal(np.asarray(stored_ras.dataobj), mask)
    _pair(tmp_path, "case1", image, stored_ras)
    _pair(tmp_path, "case2", image, nib.Nifti1Image(mask, np.eye(4)))  # no geometry: stored like its image
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    with caplog.at_level("WARNING"):
        samples = {case.case_id: dataset.read(case) for case in dataset.cases}
    assert len(samples) == 2
    for sample in samples.values():  # volumes (and masks with them) are read in RAS order: the mask as stored RAS
        assert sample.mask is not None
        np.testing.assert_array_equal(sample.mask[0], np.asarray(stored_ras.dataobj))
    as_stored = dataclasses.replace(dataset, canonical_orientation=False)  # on the image's own grid
    for case in as_stored.cases:
        sample = as_stored.read(case)
        assert sample.mask is not None
        np.testing.assert_array_equal(sample.mask[0], mask)
    assert "another voxel orientation" in caplog.text and "case1" in caplog.text
