"""Image arrays in HDF5 files: PatchCamelyon's per-split files (as Zenodo and torchvision ship them) and one file named
as an ``.npz``; rows are read from disk as cases are read."""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest

from medimg import Dataset
from medimg.errors import DatasetError

RNG = np.random.default_rng(0)


def write_pcam(folder: Path, n: tuple[int, int, int] = (8, 4, 4)) -> dict[str, np.ndarray]:
    """``camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5`` of 16 px patches; returns the x arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, count in zip(("train", "valid", "test"), n, strict=True):
        x = RNG.integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)
        y = (np.arange(count) % 2).astype(np.uint8).reshape(count, 1, 1, 1)
        with h5py.File(folder / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as handle:
            handle.create_dataset("x", data=x, chunks=(1, 16, 16, 3), compression="gzip")
        with h5py.File(folder / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as handle:
            handle.create_dataset("y", data=y)
        written[split] = x
    return written


def test_pcam_split_files_in_torchvisions_folder(tmp_path: Path) -> None:
    x = write_pcam(tmp_path / "pcam")
    (tmp_path / "pcam" / "camelyonpatch_level_2_split_train_meta.csv").write_text("coord_y,coord_x,tumor_patch\n")
    dataset = Dataset.load(tmp_path)  # root/pcam/, as torchvision.datasets.PCAM downloads it
    assert dataset.class_names == ["normal", "tumour"]
    splits = [c.split for c in dataset.cases]
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (8, 4, 4)
    case = next(c for c in dataset.cases if c.split == "val" and c.index == 3)
    assert dataset.class_names[case.label] == "tumour"
    np.testing.assert_array_equal(dataset.read(case).array, np.moveaxis(x["valid"][3], -1, 0).astype(np.float32))


def test_one_file_named_as_an_npz_with_channel_first_images(tmp_path: Path) -> None:
    images = RNG.integers(0, 256, (10, 3, 12, 12), dtype=np.uint8)  # PyTorch's (N, C, H, W)
    with h5py.File(tmp_path / "lesions.h5", "w") as handle:
        handle["x_train"], handle["y_train"] = images[:8], np.array(["nevus", "melanoma"] * 4, dtype="S8")
        handle["x_test"], handle["y_test"] = images[8:], np.array([b"nevus", b"melanoma"])
    dataset = Dataset.load(tmp_path / "lesions.h5")
    assert sorted(dataset.class_names) == ["melanoma", "nevus"] and len(dataset.cases) == 10
    last = dataset.cases[-1]
    assert last.split == "test" and dataset.class_names[last.label] == "melanoma"
    np.testing.assert_array_equal(dataset.read(last).array, images[9].astype(np.float32))


def test_unusable_files_are_refused_with_the_fix(tmp_path: Path) -> None:
    write_pcam(tmp_path / "gz")
    train_x = tmp_path / "gz" / "camelyonpatch_level_2_split_train_x.h5"
    train_x.with_suffix(".h5.gz").write_bytes(gzip.compress(train_x.read_bytes()))
    train_x.unlink()
    with pytest.raises(DatasetError, match=r"is gzipped: unpack it first \(gunzip -k"):
        Dataset.load(tmp_path / "gz")
    write_pcam(tmp_path / "two")
    with h5py.File(tmp_path / "two" / "camelyonpatch_level_2_split_test_y.h5", "a") as handle:
        handle["extra"] = np.zeros(3)
    with pytest.raises(DatasetError, match="holds 2 arrays"):
        Dataset.load(tmp_path / "two")
    with h5py.File(tmp_path / "odd.h5", "w") as handle:
        handle["volumes"] = np.zeros((2, 4, 4))
    with pytest.raises(DatasetError, match=r"hold no images with labels; name them train_images"):
        Dataset.load(tmp_path / "odd.h5")
    (tmp_path / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(DatasetError, match=r"cannot read .*broken\.h5 as HDF5"):
        Dataset.load(tmp_path / "broken.h5")


def test_lysto_counts_as_labels_are_warned_of_as_a_measurement(tmp_path: Path) -> None:
    """LYSTO's ``training.h5``: ``x`` patches, ``y`` the lymphocyte count of each: read as classes ``class_0`` ...
    ``class_29`` (status OK, no warning) with nothing saying the labels are counts."""
    from medimg.data.quality import check_dataset

    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "training.h5", "w") as handle:
        handle["x"] = rng.integers(0, 255, (60, 8, 8, 3), dtype=np.uint8)
        handle["y"] = np.arange(60) % 30
        handle["organ"] = np.array([b"colon"] * 60)
    dataset = Dataset.load(tmp_path / "training.h5")
    assert len(dataset.class_names) == 30
    report = check_dataset(dataset)
    assert any("the 30 classes are all numbers (0 to 29): a measurement" in w for w in report.warnings)
