"""End to end on synthetic shapes with known masks: a network must learn them (Dice > 0.9) in seconds, and the
run folder must reload, evaluate and predict masks in the input's own format and geometry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medimg import Model
from tests.tasks.segment.synthetic import write_2d_pairs, write_3d_pairs

FAST_2D = {
    "epochs": 6,
    "iterations_per_epoch": 10,
    "batch_size": 16,
    "channels": [8, 16, 32],
    "learning_rate": 1e-2,
    "tta": False,
}
FAST_3D = {
    "epochs": 6,
    "iterations_per_epoch": 10,
    "batch_size": 4,
    "channels": [8, 16, 32],
    "learning_rate": 2e-2,
    "tta": False,
    "amp": "none",  # tiny 3D tensors (8 channels) hit slow bf16 channels_last_3d kernels
    "channels_last": False,
}


@pytest.fixture(scope="module")
def run_2d(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Model]:
    root = tmp_path_factory.mktemp("seg2d")
    data = write_2d_pairs(root / "discs", n=20, size=32)
    model = Model("unet", task="segment", **FAST_2D).fit(data, run_dir=root / "run", progress=False)
    return data, model


def test_2d_learns_discs(run_2d: tuple[Path, Model]) -> None:
    _, model = run_2d
    report = json.loads((model.last_report_dir_ / "report.json").read_text())
    assert report["task"] == "segment"
    assert report["metrics"]["dice_mean"] > 0.9
    ci = report["confidence_intervals"]["dice_mean"]
    assert ci["low"] <= report["metrics"]["dice_mean"] <= ci["high"]
    assert (model.last_report_dir_ / "report.html").read_text().count("<img") >= 1
    assert (model.last_report_dir_ / "per_case.csv").is_file()
    # the training curves, which a segmentation report did not show (classification's did)
    assert (model.last_report_dir_ / "training_curves.png").is_file()
    assert "<h2>Training</h2>" in (model.last_report_dir_ / "report.html").read_text()


def test_2d_reload_predicts_png_at_original_size(run_2d: tuple[Path, Model], tmp_path: Path) -> None:
    from PIL import Image

    data, model = run_2d
    meta = json.loads((model.run_dir_ / "metadata.json").read_text())
    assert meta["task"] == "segment" and meta["network"] == "unet"
    loaded = Model.load(model.run_dir_)
    assert type(loaded) is Model and loaded.task == "segment" and loaded.plan_.task == "segment"
    source = data / "images" / "case_00.png"
    big = tmp_path / "big.png"
    Image.open(source).resize((45, 37)).save(big)  # any size: sliding window + resampling back
    predictions = loaded.predict([source, big], out_dir=tmp_path / "out")
    assert [Path(p.mask_path).name for p in predictions] == ["case_00_mask.png", "big_mask.png"]
    mask = np.asarray(Image.open(predictions[1].mask_path))
    assert mask.shape == (37, 45) and set(np.unique(mask)) <= {0, 255}
    truth = np.asarray(Image.open(data / "masks" / "case_00.png")) > 0
    predicted = np.asarray(Image.open(predictions[0].mask_path)) > 0
    assert 2 * (truth & predicted).sum() / (truth.sum() + predicted.sum()) > 0.85
    row = predictions[0].to_dict()
    assert row["label"] == "foreground" and row["voxels"]["foreground"] > 0


def test_3d_learns_two_classes_and_keeps_geometry(tmp_path: Path) -> None:
    import nibabel as nib

    data = write_3d_pairs(tmp_path / "vols", n=10, shape=(16, 16, 16))
    model = Model("unet", task="segment", **FAST_3D).fit(data, run_dir=tmp_path / "run", progress=False)
    report = model.evaluate(split="all", n_resamples=100)
    assert report.metrics["dice_mean"] > 0.9, report.metrics["per_class"]
    assert set(report.metrics["per_class"]) == {"class_1", "class_2"}
    source = data / "images" / "vol_03.nii.gz"
    (prediction,) = Model.load(tmp_path / "run").predict(source, out_dir=tmp_path / "out")
    written = nib.load(prediction.mask_path)
    original = nib.load(source)
    assert written.shape == original.shape
    np.testing.assert_allclose(written.affine, original.affine)
    truth = np.asarray(nib.load(data / "labels" / "vol_03.nii.gz").dataobj)
    assert (np.asarray(written.dataobj) == truth).mean() > 0.97
    assert prediction.volume_mm3 is not None and prediction.volume_mm3["class_1"] > 0


def test_cli_evaluate_and_predict(run_2d: tuple[Path, Model], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    data, model = run_2d
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", str(model.run_dir_), "--split", "val", "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["split"] == "val"
    result = runner.invoke(app, ["predict", str(model.run_dir_), str(data / "images" / "case_01.png")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["mask_path"].endswith("case_01_mask.png") and Path(rows[0]["mask_path"]).is_file()
