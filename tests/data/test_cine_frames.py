"""Cardiac cine MRI as M&Ms ships it: 4D ``<code>_sa.nii.gz`` with a 4D ``<code>_sa_gt.nii.gz`` labelled at the
end-diastolic and end-systolic frames only; each labelled frame is a 3D case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset

nib = pytest.importorskip("nibabel")

AFFINE = np.diag([1.5, 1.25, 10.0, 1.0])
SUBJECTS = {
    "Training/Labeled": ("A0S9V9", "A1D0Q7", "A1D9Z7", "A1E9Q1"),
    "Validation": ("A5C2D2",),
    "Testing": ("A7D9L8",),
}


def _cine(seed: int, frames: tuple[int, ...] = (0, 4)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 200, (24, 20, 5, 8)).astype(np.int16)
    gt = np.zeros(image.shape, np.uint8)
    for t in frames:
        size = 8 if t == frames[0] else 5  # the ventricle smaller at end-systole
        gt[4 : 4 + size, 4 : 4 + size, 1:4, t] = 1
        gt[2:4, 4:14, 1:4, t] = 2
        gt[15:19, 12:17, 1:4, t] = 3
    return image, gt


def write_mnms(root: Path, *, table: bool = True) -> Path:
    """M&Ms' ``OpenDataset``: subject folders per split, ``Training/Unlabeled/`` cines without ground truth."""
    data = root / "OpenDataset"
    for k, (folder, codes) in enumerate(SUBJECTS.items()):
        for j, code in enumerate(codes):
            (data / folder / code).mkdir(parents=True)
            image, gt = _cine(10 * k + j)
            nib.save(nib.Nifti1Image(image, AFFINE), data / folder / code / f"{code}_sa.nii.gz")
            nib.save(nib.Nifti1Image(gt, AFFINE), data / folder / code / f"{code}_sa_gt.nii.gz")
    (data / "Training" / "Unlabeled" / "C0S7KZ").mkdir(parents=True)
    nib.save(nib.Nifti1Image(_cine(99)[0], AFFINE), data / "Training" / "Unlabeled" / "C0S7KZ" / "C0S7KZ_sa.nii.gz")
    if table:
        (data / "211230_M&Ms_Dataset_information_diagnosis_opendataset.csv").write_text(
            "External code,VendorName,Vendor,Centre,ED,ES\n" + "".join(f"{c},Siemens,A,1,0,4\n" for c in SUBJECTS)
        )
    return data


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))


def test_each_labelled_frame_is_a_3d_case_of_its_subject_and_split(tmp_path: Path) -> None:
    root = write_mnms(tmp_path)
    dataset = Dataset.load(root, task="segment")
    assert dataset.source == "cine_frames"
    assert len(dataset.cases) == 12  # 6 subjects x 2 labelled frames; the unlabelled cine left out
    by_id = {c.case_id: c for c in dataset.cases}
    first = by_id["Training/Labeled/A1D0Q7/A1D0Q7_sa.nii.gz#frame5"]
    assert first.patient_id == "A1D0Q7" and first.split == "train"
    assert {c.split for c in dataset.cases if c.patient_id == "A7D9L8"} == {"test"}
    assert {c.split for c in dataset.cases if c.patient_id == "A5C2D2"} == {"val"}
    sample = dataset.read(first)
    image, gt = _cine(1)
    assert sample.image.array.shape == (1, 24, 20, 5)
    np.testing.assert_array_equal(sample.image.array[0], image[..., 4])
    assert sample.mask is not None
    np.testing.assert_array_equal(sample.mask[0], gt[..., 4])
    assert sample.image.spacing_mm == pytest.approx((1.5, 1.25, 10.0))
    assert dataset.value_names == {0: "background", 1: "left ventricle", 2: "myocardium", 3: "right ventricle"}
    again = Dataset.load(root, task="segment")  # the frames are written once and read from the cache
    assert [c.image for c in again.cases] == [c.image for c in dataset.cases]


def test_without_the_mnms_table_the_labels_are_not_named_and_a_damaged_file_is_named(tmp_path: Path) -> None:
    from medimg.errors import DatasetError

    root = write_mnms(tmp_path, table=False)
    assert Dataset.load(root, task="segment").value_names == {}
    gt = root / "Testing" / "A7D9L8" / "A7D9L8_sa_gt.nii.gz"
    data = gt.read_bytes()
    gt.write_bytes(data[: len(data) // 2])  # a download cut short
    (tmp_path / "cache").rename(tmp_path / "old_cache")  # the frames are written anew
    with pytest.raises(
        DatasetError, match=r"Testing/A7D9L8/A7D9L8_sa\.nii\.gz / A7D9L8_sa_gt\.nii\.gz: cannot be read"
    ):
        Dataset.load(root, task="segment")
