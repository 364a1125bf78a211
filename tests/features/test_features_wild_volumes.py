"""Mask volumes beside CT/MR volumes as they are stored: in LPS (not RAS) axis order, in another orientation than
their image, or on another grid."""

from __future__ import annotations

import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError
from medimg.features import FeatureExtractor

LPS = np.diag([-0.8, -0.8, 2.5, 1.0])


def _volumes(root, mask_affine=None):
    import nibabel as nib

    rng = np.random.default_rng(0)
    true_means = []
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            volume = rng.normal(0, 10, (16, 16, 8)).astype(np.float32)
            mask = np.zeros(volume.shape, np.uint8)
            mask[1:5, 2:6, 1:4] = 1  # a corner: flipped, it would cover other voxels
            volume[mask > 0] += 500
            true_means.append(float(volume[mask > 0].mean()))
            nib.save(nib.Nifti1Image(volume, LPS), root / name / f"{name}{i}.nii.gz")
            stored, affine = mask, LPS
            if mask_affine is not None:
                stored, affine = mask_affine(mask)
            nib.save(nib.Nifti1Image(stored, affine), root / name / f"{name}{i}_mask.nii.gz")
    return true_means


def _roi_means(root):
    dataset = Dataset.load(root, task="classify", exclude="*_mask.nii.gz")
    extractor = FeatureExtractor("first-order", masks="{stem}_mask.nii.gz", cache_dir=None)
    matrix = extractor.extract(dataset, dataset.cases)
    column = matrix.feature_names.index("first_order__mean_ch0_roi")
    return {case_id: row[column] for case_id, row in zip(matrix.case_ids, matrix.X, strict=True)}


def test_the_mask_of_an_lps_volume_covers_the_voxels_drawn(tmp_path):
    true_means = _volumes(tmp_path / "data")
    means = _roi_means(tmp_path / "data")
    assert means["a/a0.nii.gz"] == pytest.approx(true_means[0], rel=1e-5)  # not the flipped corner (about 0)
    assert means["b/b2.nii.gz"] == pytest.approx(true_means[5], rel=1e-5)


def test_a_mask_stored_in_another_orientation_is_brought_onto_its_image(tmp_path):
    las = LPS.copy()
    las[0, 0], las[0, 3] = 0.8, -0.8 * 15  # the same voxels in the world, stored LAS (x flipped)
    true_means = _volumes(tmp_path / "data", lambda mask: (mask[::-1].copy(), las))
    assert _roi_means(tmp_path / "data")["a/a1.nii.gz"] == pytest.approx(true_means[1], rel=1e-5)


def test_a_mask_on_another_grid_is_a_clear_error(tmp_path):
    _volumes(tmp_path / "data", lambda mask: (mask, np.diag([-1.6, -1.6, 2.5, 1.0])))
    with pytest.raises(DatasetError, match=r"a0_mask\.nii\.gz lies on another voxel grid than its image"):
        _roi_means(tmp_path / "data")
