"""Images whose channels lie in separate files, as nnU-Net's raw data keeps them (``imagesTr/<case>_0000`` and
``<case>_0001`` + ``labelsTr/<case>``: MSD prostate T2 + ADC converted by nnU-Net), train as one multi-channel image
per case and predict that way from a folder (``imagesTs/``); before, such a set was refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.data.dataset import Dataset
from medimg.errors import DatasetError, ImageReadError

TINY = {"epochs": 3, "iterations_per_epoch": 5, "channels": [8, 16, 32], "learning_rate": 1e-2, "tta": False}


def _write_case(folder: Path, case: str, rng: np.random.Generator, labels: Path | None) -> None:
    """A disc bright in channel 0 and dark in channel 1 (only the two together show it without noise)."""
    yy, xx = np.mgrid[:32, :32]
    cy, cx = rng.integers(10, 22, 2)
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= 36
    folder.mkdir(parents=True, exist_ok=True)
    for channel, sign in ((0, 1), (1, -1)):
        pixels = np.clip(128 + sign * 80 * disc + rng.normal(0, 20, disc.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{case}_{channel:04d}.png")
    if labels is not None:
        labels.mkdir(parents=True, exist_ok=True)
        Image.fromarray(disc.astype(np.uint8)).save(labels / f"{case}.png")


def _nnunet_set(root: Path, train: int = 12, test: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for i in range(train):
        _write_case(root / "imagesTr", f"disc_{i:03d}", rng, root / "labelsTr")
    for i in range(train, train + test):
        _write_case(root / "imagesTs", f"disc_{i:03d}", rng, None)
    (root / "dataset.json").write_text(
        json.dumps({"channel_names": {"0": "a", "1": "b"}, "labels": {"background": 0, "disc": 1}})
    )
    return root


def test_channel_files_of_a_case_are_read_as_one_image(tmp_path: Path) -> None:
    dataset = Dataset.load(_nnunet_set(tmp_path / "set", train=4, test=1), task="segment")
    assert len(dataset.cases) == 4 and not dataset.unpaired
    case = dataset.cases[0]
    assert case.image.name == "disc_000_0000.png" and [p.name for p in case.channels] == ["disc_000_0001.png"]
    assert not any("imagesTr" in name for name in dataset.unlabelled)  # channel 1 is not an image without a mask
    sample = dataset.read(case)
    assert sample.image.array.shape == (2, 32, 32)
    first = np.asarray(Image.open(case.image), dtype=np.float32)
    second = np.asarray(Image.open(case.channels[0]), dtype=np.float32)
    assert np.array_equal(sample.image.array[0], first) and np.array_equal(sample.image.array[1], second)


def test_a_gap_in_the_channel_numbers_is_an_error_naming_the_files(tmp_path: Path) -> None:
    root = _nnunet_set(tmp_path / "set", train=3, test=0)
    (root / "imagesTr" / "disc_001_0001.png").rename(root / "imagesTr" / "disc_001_0002.png")
    with pytest.raises(DatasetError, match=r"_0000, _0001, \.\.\. without a gap"):
        Dataset.load(root, task="segment")


def test_a_multi_channel_run_predicts_each_case_from_its_channel_files(tmp_path: Path) -> None:
    root = _nnunet_set(tmp_path / "set")
    model = Model("unet", task="segment", **TINY).fit(root, run_dir=tmp_path / "run", progress=False, tensorboard=False)
    fingerprint = json.loads((tmp_path / "run" / "fingerprint.json").read_text())
    assert set(fingerprint["domain"]["channels"]) == {"2"}  # the training split, two channels each
    predictions = Model.load(model.run_dir_).predict(root / "imagesTs", out_dir=tmp_path / "out")
    assert sorted(Path(p.source).name for p in predictions) == [f"disc_{i:03d}_0000.png" for i in (12, 13, 14)]
    assert all(p.to_dict()["domain"]["in_domain"] for p in predictions)
    mask = np.asarray(Image.open(predictions[0].mask_path))
    assert mask.shape == (32, 32)
    (root / "imagesTs" / "disc_014_0001.png").unlink()  # one channel alone: refused, never repeated into two
    loaded = Model.load(model.run_dir_)
    assert loaded.predict(root / "imagesTs" / "disc_014_0000.png", out_dir=tmp_path / "alone") == []
    ((source, reason),) = loaded.failed_
    assert source.endswith("disc_014_0000.png") and "case disc_014 lacks disc_014_0001.png" in reason
    assert "2 channel files per case (disc_014_0000.png, disc_014_0001.png: a, b)" in reason
    pytest.importorskip("onnxruntime")
    from medimg.export import OnnxPredictor

    exported = Model.load(model.run_dir_).export()
    onnx = OnnxPredictor(exported.path).predict(root / "imagesTs", out_dir=tmp_path / "onnx")
    assert sorted(Path(p.source).name for p in onnx) == [f"disc_{i:03d}_0000.png" for i in (12, 13, 14)][:2]


def test_an_input_named_like_the_first_channel_is_read_with_the_others(tmp_path: Path) -> None:
    """BraTS-style names: a run trained on flair/t1/t1ce/t2 cases reads ``<case>_flair.nii.gz`` with its three
    siblings; they are not inputs of their own (any of them given alone reads the case); a missing sibling is named."""
    import nibabel as nib

    from medimg.planning.domain import InputReader, TrainingDomain

    modalities = ("flair", "t1", "t1ce", "t2")
    case = tmp_path / "BraTS2021_01000"
    case.mkdir()
    for channel, modality in enumerate(modalities):
        volume = np.full((5, 6, 7), channel, np.float32)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), case / f"{case.name}_{modality}.nii.gz")
    suffixes = [f"{m}.nii.gz" for m in modalities]
    reader = InputReader(domain=TrainingDomain(channels={"4": 10}, channel_suffixes=suffixes))
    image = reader.read(case / f"{case.name}_flair.nii.gz")
    assert image.array.shape == (4, 5, 6, 7) and image.source.endswith("_flair.nii.gz")
    assert [float(image.array[c].mean()) for c in range(4)] == [0.0, 1.0, 2.0, 3.0]
    files = sorted(case.iterdir())
    assert sorted(p.name for p in reader.not_inputs(files, case)) == [f"{case.name}_{m}.nii.gz" for m in modalities[1:]]
    assert reader.read(case / f"{case.name}_t1.nii.gz").array.shape == (4, 5, 6, 7)  # any channel file: its case
    (case / f"{case.name}_t2.nii.gz").unlink()
    with pytest.raises(ImageReadError, match=r"case BraTS2021_01000 lacks BraTS2021_01000_t2\.nii\.gz"):
        reader.read(case / f"{case.name}_flair.nii.gz")  # a sibling is missing: said, never read as one channel


def test_a_pool_of_channel_files_is_one_image_per_case(tmp_path: Path) -> None:
    """``--unlabelled imagesTs/`` of such a set: each case's channel files are one pool image of two channels."""
    root = _nnunet_set(tmp_path / "set", train=10, test=3)
    model = Model("unet", task="segment", **TINY).fit(
        root,
        run_dir=tmp_path / "run",
        unlabelled=root / "imagesTs",
        semi_supervised={"warmup_epochs": 0},
        progress=False,
        tensorboard=False,
    )
    assert model.metadata_["training"]["semi_supervised"]["unlabelled_images"] == 3


def test_files_named_by_their_channel_alone_are_one_case(tmp_path: Path) -> None:
    """WMH 2017's ``Utrecht/0/pre/FLAIR.nii.gz`` beside ``pre/T1.nii.gz``: a model trained on those two channels
    refused every input ("image has 1 channels but the model expects 2") given the file, its folder or its case."""
    from medimg.io.channels import channel_groups, find_case_files

    suffixes = ["FLAIR.nii.gz", "T1.nii.gz"]
    pre = tmp_path / "Utrecht" / "0" / "pre"
    pre.mkdir(parents=True)
    for name in suffixes:
        (pre / name).write_bytes(b"")
    found = find_case_files(pre / "FLAIR.nii.gz", suffixes, None)
    assert found is not None and found.files == (pre / "FLAIR.nii.gz", pre / "T1.nii.gz") and found.case == "pre"
    assert channel_groups([pre / "FLAIR.nii.gz", pre / "T1.nii.gz"], suffixes) == {
        pre / "FLAIR.nii.gz": [pre / "T1.nii.gz"]
    }
    numbered = ["0000.png", "0001.png"]  # a folder of numbered images: no case of channels
    for name in numbered:
        (tmp_path / name).write_bytes(b"")
    assert channel_groups([tmp_path / "0000.png", tmp_path / "0001.png"], numbered) == {}
    assert find_case_files(tmp_path / "0000.png", numbered, None) is None
