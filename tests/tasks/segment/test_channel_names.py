"""A run records which modality each channel is, and other data is read in its order (the BraTS tester's report):
``dataset.json`` ``channel_names`` / ``modality`` and BraTS's file endings were ignored, so the same cases in
nnU-Net's own BraTS order (T1, T1ce, T2, FLAIR) or with BraTS 2023 names (t1c, t1n, t2f, t2w) were evaluated and
predicted on permuted modalities without a word (Dice 0.03 instead of 0.60). Also: a missing modality at predict
time is named once per case, and predicted masks are named after the case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from medimg import Model
from medimg.data.dataset import Dataset
from medimg.errors import DatasetError, ImageReadError
from medimg.planning.domain import InputReader, TrainingDomain

SHAPE = (16, 16, 16)
AFFINE = np.diag([1.0, 1.0, 1.0, 1.0])
NAMES = ["FLAIR", "T1", "T2"]
#: each modality's contrast of the lesion (so that a model needs them in order)
CONTRAST = {"FLAIR": 300.0, "T1": -100.0, "T2": 0.0}
TINY = {"epochs": 1, "iterations_per_epoch": 2, "channels": [4, 8], "tta": False, "patch_size": [16, 16, 16]}


def _save(array: np.ndarray, path: Path) -> None:
    image = nib.Nifti1Image(array, AFFINE)
    image.set_qform(AFFINE, code=1)
    image.set_sform(AFFINE, code=1)
    nib.save(image, path)


def _cases(count: int = 8) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    rng = np.random.default_rng(0)
    zz, yy, xx = np.mgrid[:16, :16, :16]
    cases = []
    for _ in range(count):
        centre = rng.integers(5, 11, 3)
        lesion = ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) <= 9
        volumes = {
            name: (100 + 10 * rng.standard_normal(SHAPE) + CONTRAST[name] * lesion + 20 * k).astype(np.float32)
            for k, name in enumerate(NAMES)
        }
        cases.append((volumes, lesion.astype(np.uint8)))
    return cases


def _nnunet(root: Path, order: list[str], names: list[str] | None = None) -> Path:
    """nnU-Net raw data with the modalities in ``order`` (``_0000``...), named by ``names`` in its dataset.json."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i, (volumes, labels) in enumerate(_cases()):
        for k, name in enumerate(order):
            _save(volumes[name], root / "imagesTr" / f"case_{i:03d}_{k:04d}.nii.gz")
        _save(labels, root / "labelsTr" / f"case_{i:03d}.nii.gz")
    channel_names = {str(k): name for k, name in enumerate(names or order)}
    (root / "dataset.json").write_text(
        json.dumps({"channel_names": channel_names, "labels": {"background": 0, "lesion": 1}})
    )
    return root


def _brats(root: Path, endings: dict[str, str], separator: str = "_") -> Path:
    """BraTS per-case folders, each modality named by ``endings`` (``{"FLAIR": "t2f"...}``)."""
    for i, (volumes, labels) in enumerate(_cases()):
        case = root / f"Case{separator}{i:03d}"
        case.mkdir(parents=True)
        for name, ending in endings.items():
            _save(volumes[name], case / f"{case.name}{separator}{ending}.nii.gz")
        _save(labels, case / f"{case.name}{separator}seg.nii.gz")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Path]:
    base = tmp_path_factory.mktemp("names")
    data = _nnunet(base / "in_order", NAMES)
    model = Model("unet", task="segment", **TINY).fit(
        data, run_dir=base / "run", progress=False, tensorboard=False, seed=0
    )
    return model, base


def test_the_run_records_its_channel_names(trained: tuple[Model, Path]) -> None:
    model, _ = trained
    fingerprint = json.loads((Path(model.run_dir_) / "fingerprint.json").read_text())
    assert fingerprint["domain"]["channel_names"] == NAMES


def test_evaluate_puts_another_channel_order_in_the_runs_by_name(
    trained: tuple[Model, Path], caplog: pytest.LogCaptureFixture
) -> None:
    model, base = trained
    permuted = _nnunet(base / "permuted", ["T2", "FLAIR", "T1"])
    loaded = Model.load(model.run_dir_)
    same = loaded.evaluate(base / "in_order", split="all", out_dir=base / "ev_same")
    with caplog.at_level("WARNING"):
        other = loaded.evaluate(permuted, split="all", out_dir=base / "ev_permuted")
    assert "has the channels T2, FLAIR, T1; the model was trained on FLAIR, T1, T2" in caplog.text
    assert [c["dice_mean"] for c in other.cases] == pytest.approx([c["dice_mean"] for c in same.cases])
    # names that do not match the run's are refused, naming both
    shutil.copytree(permuted, base / "renamed")
    (base / "renamed" / "dataset.json").write_text(
        json.dumps({"channel_names": {"0": "T2", "1": "FLAIR", "2": "ADC"}, "labels": {"background": 0, "lesion": 1}})
    )
    with pytest.raises(
        DatasetError, match=r"has the channels T2, FLAIR, ADC but the model was trained on FLAIR, T1, T2"
    ):
        loaded.evaluate(base / "renamed", split="all", out_dir=base / "ev_renamed")


def test_predict_stacks_each_case_in_the_runs_order_and_names_masks_after_the_case(
    trained: tuple[Model, Path], caplog: pytest.LogCaptureFixture
) -> None:
    model, base = trained
    permuted = base / "permuted" if (base / "permuted").exists() else _nnunet(base / "permuted", ["T2", "FLAIR", "T1"])
    loaded = Model.load(model.run_dir_)
    reference = loaded.predict(base / "in_order" / "imagesTr", out_dir=base / "pred_same")
    with caplog.at_level("WARNING"):
        predictions = loaded.predict(permuted / "imagesTr", out_dir=base / "pred_permuted")
    assert "names the channels T2, FLAIR, T1" in caplog.text
    assert len(predictions) == len(reference) == 8
    for ours, theirs in zip(predictions, reference, strict=True):
        assert Path(ours.mask_path).name == Path(theirs.mask_path).name  # case_000_mask.nii.gz: the case's name
        assert np.array_equal(nib.load(ours.mask_path).get_fdata(), nib.load(theirs.mask_path).get_fdata())
    assert sorted(Path(p.mask_path).name for p in predictions) == [f"case_{i:03d}_mask.nii.gz" for i in range(8)]


def test_a_missing_modality_is_named_once_per_case(
    trained: tuple[Model, Path], caplog: pytest.LogCaptureFixture
) -> None:
    model, base = trained
    folder = base / "missing"
    folder.mkdir()
    for k in range(2):
        shutil.copy(base / "in_order" / "imagesTr" / f"case_001_{k:04d}.nii.gz", folder)
    loaded = Model.load(model.run_dir_)
    with caplog.at_level("WARNING"):
        assert loaded.predict(folder, out_dir=base / "pred_missing") == []
    ((source, reason),) = loaded.failed_
    assert source.endswith("case_001_0000.nii.gz")
    assert "case case_001 lacks case_001_0002.nii.gz" in reason and "FLAIR, T1, T2" in reason
    assert "outside the model's training domain" not in caplog.text  # nothing was predicted: no domain warning


def test_brats_2023_names_are_matched_to_a_brats_2020_run_by_name(tmp_path: Path) -> None:
    """A run trained on ``flair``/``t1``/``t2`` files (its names from the endings) given BraTS 2023's ``t2f``,
    ``t1n``, ``t2w``: read in the run's order, by evaluate (the dataset) and by predict (the input reader)."""
    from medimg.tasks.segment.task import in_trained_channel_order

    run = tmp_path / "run"
    run.mkdir()
    domain = TrainingDomain(channel_suffixes=["flair.nii.gz", "t1.nii.gz", "t2.nii.gz"])
    (run / "fingerprint.json").write_text(json.dumps({"domain": domain.model_dump()}))
    data = _brats(tmp_path / "b23", {"T1": "t1n", "FLAIR": "t2f", "T2": "t2w"}, separator="-")
    dataset = Dataset.load(data, task="segment")
    assert dataset.channel_names == ["t1n", "t2f", "t2w"]  # name order of the files
    expected = [_cases()[0][0][name] for name in NAMES]
    aligned = in_trained_channel_order(dataset, SimpleNamespace(run_dir_=run))
    image = aligned.read(aligned.cases[0]).image
    np.testing.assert_allclose(image.array, np.stack(expected), atol=1e-4)
    assert image.meta["channel_names"] == ["t2f", "t1n", "t2w"]
    reader = InputReader(domain=domain, warn_each=False)
    case = data / "Case-000"
    files = sorted(case.iterdir())
    kept = [f for f in files if f not in reader.not_inputs(files, case)]
    assert [f.name for f in kept] == ["Case-000-t2f.nii.gz"]  # one input per case: its flair
    read = reader.read(kept[0])
    np.testing.assert_allclose(read.array, np.stack(expected), atol=1e-4)
    assert read.meta["case_name"] == "Case-000"
    (case / "Case-000-t2w.nii.gz").unlink()
    with pytest.raises(ImageReadError, match=r"case Case-000 lacks Case-000-t2\.nii\.gz"):
        reader.read(kept[0])


def test_a_dataset_json_naming_another_number_of_channels_is_refused(tmp_path: Path) -> None:
    root = _nnunet(tmp_path / "set", NAMES)
    for extra in (root / "imagesTr").glob("*_0002.nii.gz"):
        extra.unlink()
    with pytest.raises(
        DatasetError, match=r"names 3 channel\(s\) \(FLAIR, T1, T2\) but the cases have 2 channel files"
    ):
        Dataset.load(root, task="segment")


def test_a_run_without_channel_names_says_the_order_cannot_be_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run trained before the names were recorded (numbered files): data naming its channels is used as numbered,
    with a warning instead of silence."""
    from medimg.tasks.segment.task import in_trained_channel_order

    run = tmp_path / "run"
    run.mkdir()
    domain = TrainingDomain(channel_suffixes=["0000.nii.gz", "0001.nii.gz", "0002.nii.gz"])
    (run / "fingerprint.json").write_text(json.dumps({"domain": domain.model_dump()}))
    data = _nnunet(tmp_path / "permuted", ["T2", "FLAIR", "T1"])
    with caplog.at_level("WARNING"):
        dataset = in_trained_channel_order(Dataset.load(data, task="segment"), SimpleNamespace(run_dir_=run))
        InputReader(domain=domain, warn_each=False).read(data / "imagesTr" / "case_000_0000.nii.gz")
    assert dataset.channel_order is None
    assert caplog.text.count("the model does not record its channels' names") == 2


def test_channels_named_alike_keep_their_order() -> None:
    """nnU-Net's channel_names {"0": "MRI", "1": "MRI"} (they name the normalisation, so repeats are normal) passed
    check, then failed the fit's own test evaluation: 'has the channels MRI, MRI but the model was trained on MRI,
    MRI'. Repeated names cannot say which channel is which: the same names keep their order."""
    from medimg.io.channels import channel_order

    assert channel_order(["MRI", "MRI"], ["mri", "MRI"]) == [0, 1]
    assert channel_order(["CT", "MRI", "MRI"], ["CT", "MRI", "MRI"]) == [0, 1, 2]
    assert channel_order(["MRI", "MRI"], ["CT", "CT"]) is None
    assert channel_order(["T1", "FLAIR"], ["flair", "t1"]) == [1, 0]


def test_files_of_no_case_beside_a_whole_case_are_not_inputs(tmp_path: Path) -> None:
    """MRBrainS18's case folder: ``pre/FLAIR.nii.gz``, ``pre/reg_IR.nii.gz``, ``pre/reg_T1.nii.gz`` (the model's
    channels) beside ``orig/`` (the unregistered scans) and ``segm.nii.gz`` (the reference). Predicting the folder
    gave a prediction for each of ``orig/IR.nii.gz``, ``orig/T1.nii.gz`` (a 1-channel image given to a 3-channel
    model) and ``segm.nii.gz`` besides the case; now the case alone (``orig/FLAIR``'s case lacks channels: refused)."""
    case = tmp_path / "training" / "1"
    names = ["pre/FLAIR", "pre/reg_IR", "pre/reg_T1", "orig/FLAIR", "orig/IR", "orig/T1", "orig/T1_mask", "segm"]
    for name in names:
        (case / name).parent.mkdir(parents=True, exist_ok=True)
        (case / f"{name}.nii.gz").write_bytes(b"")
    domain = TrainingDomain(channel_suffixes=["FLAIR.nii.gz", "reg_IR.nii.gz", "reg_T1.nii.gz"])
    reader = InputReader(domain=domain, warn_each=False)
    files = sorted(p for p in case.rglob("*.nii.gz"))
    kept = [f.relative_to(case).as_posix() for f in files if f not in reader.not_inputs(files, case)]
    assert kept == ["orig/FLAIR.nii.gz", "pre/FLAIR.nii.gz"]
