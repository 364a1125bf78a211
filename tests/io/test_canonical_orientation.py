"""Volumes stored in another axis order are read, trained on and segmented in the closest RAS+ order, and the
predictions go back to each file's own grid."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from medimg.io.image import ImageData
from medimg.io.orientation import canonical

RAS = np.diag([1.5, 1.0, 2.0, 1.0])


def _stored_otherwise(volume: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels stored (z, y, x) with x mirrored: the affine changes, the anatomy does not."""
    flipped = volume[::-1]
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, volume.shape[0] - 1
    swap = np.zeros((4, 4))
    swap[3, 3] = swap[0, 2] = swap[1, 1] = swap[2, 0] = 1
    return np.ascontiguousarray(flipped.transpose(2, 1, 0)), affine @ flip @ swap


def _volume(shape: tuple[int, int, int] = (12, 10, 8)) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=shape).astype(np.float32)


def test_canonical_puts_any_storage_order_back_to_ras_and_restores_it() -> None:
    volume = _volume()
    stored, affine = _stored_otherwise(volume, RAS)
    image = ImageData(stored[None], spacing_mm=(2.0, 1.0, 1.5), affine=affine, source="x.nii.gz")
    oriented, orientation = canonical(image)
    assert orientation is not None and orientation.codes == ("S", "A", "L")
    np.testing.assert_array_equal(oriented.array[0], volume)
    np.testing.assert_allclose(oriented.affine, RAS)
    assert oriented.spacing_mm == (1.5, 1.0, 2.0)
    assert oriented.meta["stored_orientation"] == "SAL"
    np.testing.assert_array_equal(orientation.restore(oriented.array), stored[None])
    np.testing.assert_array_equal(orientation.apply(stored), volume)
    probabilities = np.stack([volume, -volume])  # (K, *spatial) back on the file's grid
    np.testing.assert_array_equal(orientation.restore(probabilities), np.stack([stored, -stored]))


@pytest.mark.parametrize(
    "image",
    [
        ImageData(np.zeros((1, 4, 5, 6), np.float32), affine=RAS),  # already RAS
        ImageData(np.zeros((1, 4, 5, 6), np.float32)),  # no geometry
        ImageData(np.zeros((1, 4, 5, 6), np.float32), affine=np.eye(4)),  # a bare array saved as NIfTI
        ImageData(np.zeros((3, 4, 5), np.float32), affine=RAS),  # 2D
    ],
)
def test_canonical_leaves_alone_what_needs_nothing(image: ImageData) -> None:
    same, orientation = canonical(image)
    assert orientation is None and same is image


class _LeftHalf(nn.Module):
    """A stand-in network that knows anatomy by position: foreground where the input is bright in the first half
    of the first spatial axis (as a network trained on RAS volumes knows the right side by where it lies)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(1, -1, x.shape[2]).view(1, 1, -1, 1, 1)
        foreground = 20 * ramp * (x > 0).float()
        return torch.cat([torch.zeros_like(foreground), foreground], dim=1)


def test_a_volume_stored_in_another_axis_order_gets_the_same_mask(tmp_path: Path) -> None:
    from medimg.tasks.segment.evaluate import predict_files
    from medimg.tasks.segment.planning import SegPlan

    volume = np.full((16, 16, 16), -1.0, np.float32)
    volume[2:6, 6:10, 6:10] = 3.0  # a bright blob on the right (low x)
    volume[10:14, 6:10, 6:10] = 3.0  # and its twin on the left
    stored, affine = _stored_otherwise(volume, RAS)
    nib.save(nib.Nifti1Image(volume, RAS), tmp_path / "ras.nii.gz")
    nib.save(nib.Nifti1Image(stored, affine), tmp_path / "sal.nii.gz")
    masks = {}
    for canonical_orientation in (True, False):
        plan = SegPlan(spatial_dims=3, patch_size=[16, 16, 16], tta=False, canonical_orientation=canonical_orientation)
        out = tmp_path / f"out_{canonical_orientation}"
        predictions, failed = predict_files(_LeftHalf(), plan, [tmp_path / "ras.nii.gz", tmp_path / "sal.nii.gz"], out)
        assert not failed
        ras, sal = (nib.load(p.mask_path) for p in predictions)
        np.testing.assert_allclose(sal.affine, affine)  # each mask on its own file's grid
        assert sal.shape == stored.shape
        in_ras = np.asarray(nib.as_closest_canonical(sal).dataobj)
        masks[canonical_orientation] = (np.asarray(ras.dataobj), in_ras)
    ras_mask, sal_mask = masks[True]
    assert ras_mask[2:6, 6:10, 6:10].all() and not ras_mask[10:14].any()  # the right blob only
    np.testing.assert_array_equal(sal_mask, ras_mask)
    ras_mask, sal_mask = masks[False]  # a run made before: the stored axes go to the network as they are
    assert not np.array_equal(sal_mask, ras_mask)


def test_segmentation_cases_are_read_in_ras_order_with_their_masks(tmp_path: Path) -> None:
    from medimg.data.dataset import Dataset

    volume = _volume((8, 8, 8))
    labels = (volume > 0.5).astype(np.uint8)
    stored, affine = _stored_otherwise(volume, RAS)
    stored_labels, _ = _stored_otherwise(labels, RAS)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    nib.save(nib.Nifti1Image(stored, affine), tmp_path / "images" / "case_1.nii.gz")
    nib.save(nib.Nifti1Image(stored_labels, affine), tmp_path / "labels" / "case_1.nii.gz")
    dataset = Dataset.load(tmp_path, task="segment")
    sample = dataset.read(dataset[0])
    np.testing.assert_array_equal(sample.image.array[0], volume)
    assert sample.mask is not None
    np.testing.assert_array_equal(sample.mask[0], labels)
    np.testing.assert_allclose(sample.image.affine, RAS)
    as_stored = dataclasses.replace(dataset, canonical_orientation=False).read(dataset[0])
    np.testing.assert_array_equal(as_stored.image.array[0], stored)


def test_volume_plans_record_the_orientation_and_refuse_a_contradicting_override(tmp_path: Path) -> None:
    from tests.tasks.segment.synthetic import write_3d_pairs

    from medimg import Model
    from medimg.errors import ConfigError

    golden = Path(__file__).parents[1] / "golden"
    assert json.loads((golden / "msd_hippocampus.plan.json").read_text())["plan"]["canonical_orientation"] is True
    assert json.loads((golden / "drive.plan.json").read_text())["plan"]["canonical_orientation"] is False
    data = write_3d_pairs(tmp_path / "vols", n=10, shape=(12, 12, 12))
    with pytest.raises(ConfigError, match="canonical_orientation"):
        Model("unet", task="segment", canonical_orientation=False, epochs=1).fit(
            data, run_dir=tmp_path / "run", progress=False
        )


def test_the_training_domain_judges_a_volume_in_the_order_the_network_sees_it() -> None:
    """Thick-slice volumes (1 x 1 x 3 mm, RAS) and an input stored (z, y, x): its spacing reads 3 x 1 x 1 mm as
    stored, the training spacing in the order the network sees it."""
    from medimg.planning.domain import InputReader, TrainingDomain

    domain = TrainingDomain(
        spatial_dims=3,
        min_shape=[12, 10, 8],
        max_shape=[12, 10, 8],
        min_spacing_mm=[1.0, 1.0, 3.0],
        max_spacing_mm=[1.0, 1.0, 3.0],
    )
    stored, affine = _stored_otherwise(_volume(), np.diag([1.0, 1.0, 3.0, 1.0]))
    image = ImageData(stored[None], spacing_mm=(3.0, 1.0, 1.0), affine=affine, source="sal.nii.gz")
    seen = InputReader(domain=domain, warn_each=False, canonical_orientation=True).check(image)
    assert seen is not None and seen.in_domain, seen.reasons
    as_stored = InputReader(domain=domain, warn_each=False).check(image)
    assert as_stored is not None and not as_stored.in_domain


def test_classification_volumes_are_read_and_predicted_in_ras_order(tmp_path: Path) -> None:
    """A classifier's training volumes and its inputs go to the network in the same axis order, however each file
    stores them; detection reads volumes as stored (its boxes are in the stored axes)."""
    from medimg.data.dataset import Dataset
    from medimg.planning.domain import InputReader

    volume = _volume((10, 8, 6))
    stored, affine = _stored_otherwise(volume, RAS)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            nib.save(nib.Nifti1Image(stored, affine), tmp_path / label / f"{label}{i}.nii.gz")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "classify"
    np.testing.assert_array_equal(dataset.read(dataset.cases[0]).array[0], volume)
    as_stored = dataclasses.replace(dataset, canonical_orientation=False).read(dataset.cases[0])
    np.testing.assert_array_equal(as_stored.array[0], stored)
    path = tmp_path / "a" / "a0.nii.gz"
    np.testing.assert_array_equal(InputReader(reorient_inputs=True).read(path).array[0], volume)
    np.testing.assert_array_equal(InputReader().read(path).array[0], stored)
