"""Images saved with their label maps as arrays (``.npz`` / HDF5), one file per slice or volume: TransUNet's Synapse
(2D training slices, 3D test volumes), SSL4MIS's ACDC (slices + volumes + list files), the left atrium's
``<case>/mri_norm2.h5`` volumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset, SegmentationDataset

h5py = pytest.importorskip("h5py")


def _slice(seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = np.zeros((size, size), np.float32)
    label[4 + seed % 5 : 20, 6:22] = 1 + seed % 3
    return (rng.random((size, size)) * 0.2 + label * 0.2).astype(np.float32), label


def _volume(seed: int, depth: int = 4, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    parts = [_slice(seed * 10 + k, size) for k in range(depth)]
    return np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts])


def write_synapse(root: Path, train_cases: int = 3, slices: int = 3, test_cases: int = 2) -> Path:
    """TransUNet's Synapse as its download unpacks: ``train_npz/caseNNNN_sliceNNN.npz`` + ``test_vol_h5/*.npy.h5``."""
    data = root / "Synapse"
    (data / "train_npz").mkdir(parents=True)
    (data / "test_vol_h5").mkdir()
    for case in range(5, 5 + train_cases):
        for k in range(slices):
            image, label = _slice(case * 100 + k)
            np.savez(data / "train_npz" / f"case{case:04d}_slice{k:03d}.npz", image=image, label=label)
    for case in range(1, 1 + test_cases):
        image, label = _volume(case)
        with h5py.File(data / "test_vol_h5" / f"case{case:04d}.npy.h5", "w") as handle:
            handle["image"], handle["label"] = image, label
    return data


def write_acdc_ssl4mis(root: Path) -> Path:
    """SSL4MIS's ACDC: ``data/slices/*.h5`` (training slices), ``data/*.h5`` (every volume) and list files."""
    data = root / "ACDC" / "data"
    (data / "slices").mkdir(parents=True)
    volumes = {f"patient{p:03d}_frame{f:02d}": p * 10 + f for p in (1, 2, 3) for f in (1, 12)}
    for name, seed in volumes.items():
        image, label = _volume(seed, depth=3)
        with h5py.File(data / f"{name}.h5", "w") as handle:
            handle["image"], handle["label"] = image, label
        if name.startswith(("patient001", "patient002")):  # the training patients' slices
            for k in range(3):
                with h5py.File(data / "slices" / f"{name}_slice_{k}.h5", "w") as handle:
                    handle["image"], handle["label"] = image[k], label[k]
    lists = root / "ACDC"
    train = [n for n in volumes if not n.startswith("patient003")]
    (lists / "train_slices.list").write_text("".join(f"{n}_slice_{k}\n" for n in train for k in range(3)))
    (lists / "train.list").write_text("".join(f"{n}\n" for n in train))
    (lists / "val.list").write_text("patient003_frame01\n")
    (lists / "test.list").write_text("patient003_frame12\n")
    return root / "ACDC"


def test_synapse_trains_on_slices_and_tests_its_volumes_section_by_section(tmp_path: Path) -> None:
    root = write_synapse(tmp_path)
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset) and dataset.source == "saved_arrays"
    train = [c for c in dataset.cases if c.split == "train"]
    test = [c for c in dataset.cases if c.split == "test"]
    assert len(train) == 9 and len(test) == 8  # 3 cases x 3 slices; 2 volumes x 4 sections
    assert {c.patient_id for c in train} == {"case0005", "case0006", "case0007"}
    assert {c.patient_id for c in test} == {"case0001", "case0002"}
    assert dataset.value_names[1] == "aorta" and dataset.value_names[8] == "stomach"
    section = next(c for c in test if c.case_id == "test_vol_h5/case0002.npy.h5#3")
    sample = dataset.read(section)
    image, label = _volume(2)
    assert sample.image.array.shape == (1, 32, 32)
    np.testing.assert_array_equal(sample.image.array[0], image[2])
    assert sample.mask is not None
    np.testing.assert_array_equal(sample.mask[0], label[2])
    one = dataset.read(next(c for c in train if c.case_id.endswith("case0006_slice001.npz")))
    np.testing.assert_array_equal(one.image.array[0], _slice(601)[0])
    assert one.mask is not None
    np.testing.assert_array_equal(one.mask[0], _slice(601)[1])


def test_acdc_lists_split_and_volumes_with_slices_are_not_read_twice(tmp_path: Path) -> None:
    root = write_acdc_ssl4mis(tmp_path)
    dataset = Dataset.load(root, task="segment")
    assert dataset.source == "saved_arrays"
    by_split: dict[str, list[str]] = {}
    for case in dataset.cases:
        by_split.setdefault(str(case.split), []).append(case.case_id)
    assert len(by_split["train"]) == 12  # 4 volumes x 3 slices, the volumes themselves left out
    assert all("/slices/" in c for c in by_split["train"])
    assert by_split["val"] == [f"data/patient003_frame01.h5#{k}" for k in (1, 2, 3)]
    assert by_split["test"] == [f"data/patient003_frame12.h5#{k}" for k in (1, 2, 3)]
    assert {c.patient_id for c in dataset.cases} == {"patient001", "patient002", "patient003"}
    assert dataset.value_names == {0: "background", 1: "right ventricle", 2: "myocardium", 3: "left ventricle"}


def test_volumes_in_case_folders_are_3d_cases_named_by_their_folder(tmp_path: Path) -> None:
    """The left atrium set of the semi-supervised papers: ``<case>/mri_norm2.h5``, every file named alike."""
    for n in range(4):
        (tmp_path / "LA" / f"CASE{n}").mkdir(parents=True)
        image, label = _volume(n, depth=5)
        with h5py.File(tmp_path / "LA" / f"CASE{n}" / "mri_norm2.h5", "w") as handle:
            handle["image"], handle["label"] = image, label.astype(np.uint8)
    dataset = Dataset.load(tmp_path / "LA", task="segment")
    assert sorted(c.patient_id or "" for c in dataset.cases) == [f"CASE{n}" for n in range(4)]
    assert all(c.page is None and c.split is None for c in dataset.cases)
    sample = dataset.read(dataset.cases[0])
    assert sample.image.array.shape == (1, 5, 32, 32) and sample.mask is not None and sample.mask.max() >= 1


def test_files_without_a_label_array_are_unlabelled_and_none_is_a_clear_error(tmp_path: Path) -> None:
    from medimg.data.layouts import saved_arrays
    from medimg.errors import DatasetError

    root = tmp_path / "arrays"
    root.mkdir()
    for k in range(2):
        image, label = _slice(k)
        np.savez(root / f"with_{k}.npz", image=image, label=label)
    np.savez(root / "without.npz", image=_slice(5)[0])
    dataset = saved_arrays.load(root)
    assert len(dataset.cases) == 2 and dataset.unlabelled == ["without.npz"]
    only_images = tmp_path / "images_only"
    only_images.mkdir()
    np.savez(only_images / "a.npz", image=_slice(1)[0])
    assert saved_arrays.detect(only_images) is False
    with pytest.raises(DatasetError, match=r"no \.npz or HDF5 file holds both an image and a label array"):
        saved_arrays.load(only_images)


def test_a_synapse_model_segments_a_test_volume_with_the_cli(tmp_path: Path) -> None:
    """End to end: ``medimg fit`` on the slices (a few seconds), ``medimg predict`` on the folder of ``.h5`` test
    volumes."""
    import json

    from typer.testing import CliRunner

    from medimg.cli.app import app

    root = write_synapse(tmp_path, train_cases=8, slices=2, test_cases=2)
    run = tmp_path / "run"
    runner = CliRunner()
    fitted = runner.invoke(
        app, ["fit", str(root), "--task", "segment", "--run-dir", str(run), "--set", "time_budget_s=8"]
    )
    assert fitted.exit_code == 0, fitted.output
    assert "outside the model's training domain" not in fitted.output
    out = tmp_path / "pred"
    predicted = runner.invoke(app, ["predict", str(run), str(root / "test_vol_h5"), "--out", str(out)])
    assert predicted.exit_code == 0, predicted.output
    records = json.loads((out / "predictions.json").read_text())
    assert len(records) == 2  # the folder's two volumes (it holds no other image)
    from medimg.io import read_image

    masks = sorted(out.glob("*_mask.nii.gz"))
    assert len(masks) == 2
    assert read_image(masks[0]).array.shape[-3:] == (4, 32, 32)  # the volume, predicted section by section
