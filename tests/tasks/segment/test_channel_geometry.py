"""The channel files of one case are stacked on one voxel grid (the BraTS tester's report): a modality stored in
another voxel orientation (a T1 exported LAS beside an RAS FLAIR) was stacked by voxel index, mirrored against the
other channels in training and prediction, and channels not co-registered (an origin 20 mm away) passed unnoticed."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.errors import ImageReadError
from medimg.planning.domain import InputReader, TrainingDomain

SHAPE = (16, 16, 8)
AFFINE = np.diag([0.8, 0.8, 5.0, 1.0])


def _save(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    image = nib.Nifti1Image(array, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)


def _nnunet_set(root: Path, cases: int = 3, channels: int = 3) -> Path:
    rng = np.random.default_rng(0)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i in range(cases):
        for c in range(channels):  # an x ramp per channel: a mirrored channel is easy to see
            ramp = np.arange(SHAPE[0], dtype=np.float32)[:, None, None] * (c + 1)
            volume = ramp + rng.normal(0, 0.1, SHAPE).astype(np.float32)
            _save(volume, AFFINE, root / "imagesTr" / f"case_{i:03d}_{c:04d}.nii.gz")
        labels = np.zeros(SHAPE, np.uint8)
        labels[4:9, 4:9, 2:5] = 1
        _save(labels, AFFINE, root / "labelsTr" / f"case_{i:03d}.nii.gz")
    return root


def _flip_x(path: Path) -> None:
    """Store ``path`` mirrored in x with an affine that keeps every voxel at its place in the world (LAS)."""
    image = nib.load(path)
    affine = image.affine.copy()
    affine[0, 0] *= -1
    affine[0, 3] = image.affine[0, 3] + (image.shape[0] - 1) * image.affine[0, 0]
    _save(np.asarray(image.dataobj)[::-1].copy(), affine, path)


def _shift_z(path: Path, mm: float) -> None:
    image = nib.load(path)
    affine = image.affine.copy()
    affine[2, 3] += mm
    _save(np.asarray(image.dataobj), affine, path)


def test_a_channel_stored_in_another_orientation_is_put_on_the_first_channels_grid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _nnunet_set(tmp_path / "set")
    before = Dataset.load(root, task="segment")
    expected = before.read(before.cases[1]).image.array
    _flip_x(root / "imagesTr" / "case_001_0001.nii.gz")
    flipped = Dataset.load(root, task="segment")
    with caplog.at_level("WARNING", logger="medimg.io.channels"):
        image = flipped.read(flipped.cases[1]).image
    np.testing.assert_allclose(image.array, expected, atol=1e-5)  # was: channel 1 mirrored in x
    assert "case_001_0001.nii.gz is stored in another voxel orientation (LAS)" in caplog.text
    assert "case_001_0000.nii.gz (RAS)" in caplog.text
    # the predict side stacks the same way
    reader = InputReader(
        domain=TrainingDomain(channel_suffixes=["0000.nii.gz", "0001.nii.gz", "0002.nii.gz"]), warn_each=False
    )
    read = reader.read(root / "imagesTr" / "case_001_0000.nii.gz")
    np.testing.assert_allclose(read.array, expected, atol=1e-5)


def test_channels_that_are_not_co_registered_are_refused_naming_the_case_and_files(tmp_path: Path) -> None:
    root = _nnunet_set(tmp_path / "set")
    _shift_z(root / "imagesTr" / "case_002_0001.nii.gz", 20.0)
    dataset = Dataset.load(root, task="segment")
    with pytest.raises(ImageReadError) as raised:
        dataset.read(dataset.cases[2])
    message = str(raised.value)
    assert "case_002_0001.nii.gz" in message and "case_002_0000.nii.gz" in message
    assert "not on the voxel grid" in message and "20 mm" in message and "co-registered" in message
    reader = InputReader(domain=TrainingDomain(channel_suffixes=["0000.nii.gz", "0001.nii.gz", "0002.nii.gz"]))
    with pytest.raises(ImageReadError, match="not on the voxel grid"):
        reader.read(root / "imagesTr" / "case_002_0000.nii.gz")
    # header rounding (a hundredth of a voxel) is the same grid
    _shift_z(root / "imagesTr" / "case_001_0002.nii.gz", 0.05)
    assert dataset.read(dataset.cases[1]).image.array.shape == (3, *SHAPE)


def _hecktor_set(root: Path, cases: int = 3, pet_origin_mm: float = 0.0) -> Path:
    """HECKTOR 2022 as downloaded: ``imagesTr/<centre>-<n>__CT.nii.gz`` + ``__PT.nii.gz`` (the PET on coarser
    voxels), ``labelsTr/<centre>-<n>.nii.gz`` on the CT's grid."""
    ct_affine, pet_affine = np.diag([1.0, 1.0, 3.0, 1.0]), np.diag([2.0, 2.0, 6.0, 1.0])
    pet_affine[2, 3] = pet_origin_mm
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i in range(cases):
        case = f"CHUM-{i + 1:03d}"
        _save(np.full((16, 16, 8), -100.0, np.float32), ct_affine, root / "imagesTr" / f"{case}__CT.nii.gz")
        pet = np.zeros((8, 8, 4), np.float32)
        pet[2:4, 2:4, 1:3] = 10.0  # uptake at x, y 4..6 mm, z 6..12 mm
        _save(pet, pet_affine, root / "imagesTr" / f"{case}__PT.nii.gz")
        labels = np.zeros((16, 16, 8), np.uint8)
        labels[4:7, 4:7, 2:4] = 1
        labels[10:12, 10:12, 2:4] = 2
        _save(labels, ct_affine, root / "labelsTr" / f"{case}.nii.gz")
    return root


def test_hecktor_ct_and_pet_are_one_case_with_the_pet_resampled_onto_the_ct(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The masks of HECKTOR (``labelsTr/CHUM-001.nii.gz``) matched no image (``CHUM-001__CT``, ``__PT``): fit stopped
    with "no image has a mask with a matching name"; and a PET of other voxels than its CT was refused."""
    root = _hecktor_set(tmp_path / "hecktor2022_training")
    dataset = Dataset.load(root)
    assert dataset.task == "segment" and not dataset.unpaired and not dataset.unlabelled
    assert sorted((c.image.name, tuple(p.name for p in c.channels)) for c in dataset.cases) == [
        (f"CHUM-00{i}__CT.nii.gz", (f"CHUM-00{i}__PT.nii.gz",)) for i in (1, 2, 3)
    ]
    assert dataset.value_names == {0: "background", 1: "primary tumour (GTVp)", 2: "lymph nodes (GTVn)"}
    with caplog.at_level("WARNING", logger="medimg.io.channels"):
        sample = dataset.read(dataset.cases[0])
    image = sample.image.array
    assert image.shape == (2, 16, 16, 8)  # the CT's grid, the mask's
    assert np.all(image[0] == -100.0)
    assert image[1, 5, 5, 3] == pytest.approx(10.0) and image[1, 12, 12, 6] == pytest.approx(0.0)
    assert "__PT.nii.gz (8x8x4 voxels of 2x2x6 mm) is sampled otherwise" in caplog.text
    # a PET whose field of view misses most of its CT (a header 40 mm off) is refused, naming both files
    far = _hecktor_set(tmp_path / "far", cases=1, pet_origin_mm=40.0)
    with pytest.raises(ImageReadError, match=r"covers only \d+% of the field of view.*CHUM-001__CT"):
        Dataset.load(far).read(Dataset.load(far).cases[0])
