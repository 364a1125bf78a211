"""A 4D mask (X, Y, Z, K): one-hot channels are one label map, not its background channel."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg.errors import ImageReadError
from medimg.io import read_mask


def _labels() -> np.ndarray:
    labels = np.zeros((8, 8, 4), np.uint8)
    labels[1:4, 2:6, 1:3] = 1
    labels[5:7, 1:3, 2:4] = 2
    return labels


def test_a_one_hot_mask_is_its_label_map(tmp_path: Path) -> None:
    labels = _labels()
    one_hot = np.stack([labels == k for k in range(3)], -1).astype(np.uint8)  # background first
    nib.save(nib.Nifti1Image(one_hot, np.eye(4)), tmp_path / "onehot.nii.gz")
    assert np.array_equal(read_mask(tmp_path / "onehot.nii.gz").array[0], labels)


def test_a_channel_per_structure_is_numbered_from_1(tmp_path: Path) -> None:
    labels = _labels()
    structures = np.stack([labels == 1, labels == 2], -1).astype(np.uint8)
    nib.save(nib.Nifti1Image(structures, np.eye(4)), tmp_path / "structures.nii.gz")
    assert np.array_equal(read_mask(tmp_path / "structures.nii.gz").array[0], labels)


def test_overlapping_channels_are_refused(tmp_path: Path) -> None:
    labels = _labels()
    overlapping = np.stack([labels > 0, labels == 2], -1).astype(np.uint8)
    nib.save(nib.Nifti1Image(overlapping, np.eye(4)), tmp_path / "regions.nii.gz")
    with pytest.raises(ImageReadError, match=r"regions\.nii\.gz.*2 channels.*one label map"):
        read_mask(tmp_path / "regions.nii.gz")
