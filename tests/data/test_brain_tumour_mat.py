"""The figshare brain tumour set as it ships (``cjdata`` structs in MATLAB 7.3 files ``1.mat`` ... ``3064.mat``): it was
no dataset (no images, only ``.mat`` files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg import Dataset
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import select_layout
from medimg.data.splits import make_splits
from medimg.errors import DatasetError


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_cjdata(
    root: Path, n: int = 36, size: tuple[int, int] = (24, 20), seed: int = 0
) -> dict[str, tuple[np.ndarray, int, str]]:
    """``brainTumorDataPublic_1-<n>/<k>.mat`` as MATLAB 7.3 writes them (HDF5 after a 512-byte header, arrays stored
    column-major, ``PID`` as character codes); 12 patients of 3 slices each. Returns (mask, label, patient) by id."""
    import h5py

    folder = root / f"brainTumorDataPublic_1-{n}"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    truth = {}
    for k in range(1, n + 1):
        image = rng.integers(0, 900, size).astype(np.int16)
        mask = np.zeros(size, np.uint8)
        top, left = int(rng.integers(2, 12)), int(rng.integers(2, 10))
        mask[top : top + 6, left : left + 4] = 1
        image[mask > 0] = 1500
        label, patient = (k - 1) // 3 % 3 + 1, f"1000{(k - 1) // 3:02d}"
        file = folder / f"{k}.mat"
        with h5py.File(file, "w", userblock_size=512) as handle:
            data = handle.create_group("cjdata")
            data["image"] = image.T
            data["label"] = np.array([[float(label)]])
            data["PID"] = np.array([[ord(c)] for c in patient], np.uint16)
            data["tumorMask"] = mask.T
            data["tumorBorder"] = np.zeros((1, 8))
        with file.open("r+b") as handle:
            handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Tue Apr 14 2015")
        truth[f"{folder.name}/{k}.mat"] = (mask, label, patient)
    return truth


def test_slices_are_tumour_classes_grouped_by_patient(tmp_path: Path) -> None:
    truth = write_cjdata(tmp_path / "figshare")
    assert select_layout(tmp_path / "figshare").name == "brain_tumour_classes"
    dataset = Dataset.load(tmp_path / "figshare")
    assert dataset.class_names == ["meningioma", "glioma", "pituitary"] and len(dataset.cases) == 36
    for case in dataset.cases:
        _, label, patient = truth[case.case_id]
        assert (case.label, case.patient_id) == (label - 1, patient)
    image = dataset.read(dataset.cases[0]).array
    assert image.shape[-2:] == (24, 20) and float(image.max()) == 1500.0  # the slice, not its transpose
    splits = make_splits(dataset.cases)
    sides: dict[str, set[str]] = {}
    for case in dataset.cases:
        sides.setdefault(str(case.patient_id), set()).add(splits.assignment[case.case_id])
    assert all(len(side) == 1 for side in sides.values())


def test_the_tumour_masks_with_task_segment(tmp_path: Path) -> None:
    truth = write_cjdata(tmp_path / "figshare", n=9)
    dataset = Dataset.load(tmp_path / "figshare", task="segment")
    assert isinstance(dataset, SegmentationDataset) and dataset.value_names == {0: "background", 1: "tumour"}
    for case in dataset.cases:
        assert np.array_equal(np.asarray(dataset.read(case).mask[0]) > 0, truth[case.case_id][0] > 0)


def test_files_of_one_name_in_two_folders_keep_their_own_masks(tmp_path: Path) -> None:
    """A set re-numbered per folder (``part1/.../1.mat``, ``part2/.../1.mat``) was cached as one ``1.png``: the second
    folder's slices were read as the first's."""
    first = write_cjdata(tmp_path / "figshare" / "part1", n=6)
    second = write_cjdata(tmp_path / "figshare" / "part2", n=6, seed=1)
    truth = {f"part1/{k}": v for k, v in first.items()} | {f"part2/{k}": v for k, v in second.items()}
    dataset = Dataset.load(tmp_path / "figshare", task="segment")
    assert len(dataset.cases) == 12
    for case in dataset.cases:
        assert np.array_equal(np.asarray(dataset.read(case).mask[0]) > 0, truth[case.case_id][0] > 0), case.case_id


def test_the_sets_cross_validation_indices_file_is_left_out(tmp_path: Path) -> None:
    """``cvind.mat`` (the set's fold of each slice) beside the slices: refused as "not a readable cjdata file"."""
    import h5py

    write_cjdata(tmp_path / "figshare", n=9)
    with h5py.File(tmp_path / "figshare" / "cvind.mat", "w", userblock_size=512) as handle:
        handle["cvind"] = np.arange(9, dtype=float).reshape(9, 1) % 5 + 1
    with (tmp_path / "figshare" / "cvind.mat").open("r+b") as handle:
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Tue Apr 14 2015")
    assert len(Dataset.load(tmp_path / "figshare").cases) == 9


def test_a_cross_validation_indices_file_of_an_older_matlab_is_left_out_and_a_broken_slice_is_not(
    tmp_path: Path,
) -> None:
    """``cvind.mat`` saved by an older MATLAB (version 5, not HDF5): the whole set was refused, "cvind.mat: not a
    readable cjdata file (OSError: ... file signature not found)". A truncated slice stays a problem."""
    from scipy.io import savemat

    write_cjdata(tmp_path / "figshare", n=9)
    savemat(tmp_path / "figshare" / "cvind.mat", {"cvind": np.arange(9, dtype=float).reshape(9, 1) % 5 + 1})
    assert len(Dataset.load(tmp_path / "figshare").cases) == 9
    part = tmp_path / "figshare" / "brainTumorDataPublic_1-9"
    (part / "99.mat").write_bytes((part / "1.mat").read_bytes()[:700])
    with pytest.raises(DatasetError, match=r"99\.mat: not a readable cjdata file"):
        Dataset.load(tmp_path / "figshare")
