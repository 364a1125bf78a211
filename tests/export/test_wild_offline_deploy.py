"""Deploying a classifier offline, as a user at another site does: the exported file says what its probabilities
are (its operating point, not only "softmax"), wherever it is copied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def youden_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-class simple-cnn run whose operating point (youden) is folded into its bias (~2 s)."""
    import torch

    from medimg import Model
    from medimg.data.synthetic import make_phantom_dataset

    root = tmp_path_factory.mktemp("youden-run")
    data = make_phantom_dataset(root / "phantoms", n_per_class=20, size=32, seed=1)
    torch.set_num_threads(1)
    Model("simple-cnn", binary_threshold="youden").fit(
        data, run_dir=root / "run", epochs=2, seed=0, progress=False, tensorboard=False
    )
    return root / "run"


def test_an_exported_operating_point_is_said_in_the_file_its_sidecar_and_the_predictor(
    youden_run: Path, tmp_path: Path
) -> None:
    """A two-class run's probabilities have its operating point folded in (0.5 = the raw threshold), but the
    exported file said "softmax over the classes" only: a client or a site reading the file alone took the
    shifted scores for raw probabilities. The file, its sidecar, the export's notes and the predictor say it."""
    from medimg.export.onnx_export import export_onnx
    from medimg.export.predictor import OnnxPredictor

    (chosen,) = json.loads((youden_run / "metadata.json").read_text())["training"]["binary_thresholds"]
    result = export_onnx(youden_run, tmp_path / "site" / "model.onnx")
    copied = tmp_path / "elsewhere"  # the exported pair copied to another machine, without the run
    copied.mkdir()
    for name in ("model.onnx", "model.export.json"):
        shutil.copy(tmp_path / "site" / name, copied / name)
    card = json.loads((copied / "model.export.json").read_text())["model"]
    point = {"rule": "youden", "class": "lesion", "thresholds": [chosen["lesion"]]}
    assert card["operating_point"] == point
    assert "medimg.operating_point" in card["onnx_metadata_keys"]
    last = card["preprocessing_steps"][-1]
    assert f"raw probability is at least {chosen['lesion']:.3f}" in last and "not the raw one" in last, last
    assert any("folded in" in note and "youden" in note for note in result.notes), result.notes
    predictor = OnnxPredictor(copied / "model.onnx")
    assert predictor.operating_point == point
    assert predictor.classes_ == predictor.class_names == ["normal", "lesion"]


def test_predict_says_the_probabilities_are_relative_to_the_operating_point(
    youden_run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`medimg predict` wrote p_<class> columns that a user read as raw probabilities (0.6 = 60%), not saying that
    the run's operating point is folded in; now one line says it, for both engines, and Model says it as
    OnnxPredictor does."""
    import logging

    from typer.testing import CliRunner

    from medimg import Model
    from medimg.cli.app import app
    from medimg.export.onnx_export import export_onnx

    (chosen,) = json.loads((youden_run / "metadata.json").read_text())["training"]["binary_thresholds"]
    point = {"rule": "youden", "class": "lesion", "thresholds": [chosen["lesion"]]}
    assert Model.load(youden_run).operating_point_ == point
    image = next((youden_run.parent / "phantoms").rglob("*.png"))
    export_onnx(youden_run)
    for engine in ("torch", "onnx"):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="medimg"):
            done = CliRunner().invoke(app, ["predict", str(youden_run), str(image), "--engine", engine])
        assert done.exit_code == 0, done.output
        assert f"“lesion” when its raw probability is at least {chosen['lesion']:.3f}" in caplog.text, engine
        assert "folded into the probabilities" in caplog.text, engine


def test_an_argmax_export_records_no_operating_point(deploy_run: Path, tmp_path: Path) -> None:
    from medimg.export.onnx_export import export_onnx
    from medimg.export.predictor import OnnxPredictor

    result = export_onnx(deploy_run, tmp_path / "model.onnx")
    card = json.loads(result.path.with_suffix(".export.json").read_text())["model"]
    assert card["operating_point"] is None
    assert card["preprocessing_steps"][-1] == (
        "output 'probabilities': softmax over the classes of medimg.class_names, in that order"
    )
    assert OnnxPredictor(result.path).operating_point is None


def test_the_sidecar_or_a_folder_with_another_file_name_finds_the_exported_file(
    deploy_run: Path, tmp_path: Path
) -> None:
    """`predict model.export.json --engine onnx` (the file a user opens to see the model) was read as an ONNX file
    (INVALID_PROTOBUF), and a folder holding `grey.onnx` (export --out DIR/grey.onnx) was told to export first."""
    from medimg.errors import ConfigError
    from medimg.export.onnx_export import export_onnx
    from medimg.export.predictor import OnnxPredictor

    site = tmp_path / "site"
    site.mkdir()
    result = export_onnx(deploy_run, site / "grey.onnx")
    assert OnnxPredictor(site / "grey.export.json").path == result.path
    with pytest.raises(ConfigError, match=r"has no model\.onnx but holds grey\.onnx: give the file"):
        OnnxPredictor(site)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(site / "grey.export.json", alone / "grey.export.json")
    with pytest.raises(ConfigError, match=r"its file .*grey\.onnx is not beside it"):
        OnnxPredictor(alone / "grey.export.json")


def test_a_volume_among_the_parity_images_is_skipped_as_a_broken_file_is(
    deploy_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`export --parity-data site_folder/` with a NIfTI volume among a 2D model's PNGs stopped the whole export
    with the volume's shape error, while a broken PNG beside it was skipped."""
    import nibabel as nib
    import numpy as np

    from medimg.export.onnx_export import export_onnx

    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(deploy_run.parent / "phantoms" / "lesion" / "phantom_0000.png", folder / "a.png")
    nib.save(nib.Nifti1Image(np.zeros((32, 32, 4), np.float32), np.eye(4)), folder / "b.nii.gz")
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with caplog.at_level("WARNING", logger="medimg.export.parity"):
        result = export_onnx(deploy_run, tmp_path / "model.onnx", parity_inputs=[folder])
    assert result.n_parity_images == 1
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("parity check skips")]
    assert any("b.nii.gz: 3D, the model takes 2D images" in line for line in skipped), skipped
    assert any("c.png" in line for line in skipped), skipped


def test_an_out_folder_that_does_not_exist_yet_is_told_how_to_give_it(deploy_run: Path, tmp_path: Path) -> None:
    from medimg.errors import ExportError
    from medimg.export.onnx_export import export_onnx

    with pytest.raises(
        ExportError, match=r"must end with \.onnx; for a folder, create it first or give .*deploy/model"
    ):
        export_onnx(deploy_run, tmp_path / "deploy")


def test_arrays_holding_nan_given_to_either_engine_directly_are_refused_by_name(
    deploy_run: Path, tmp_path: Path
) -> None:
    """`OnnxPredictor.predict_arrays` (and the PyTorch engine's `predict_images`) answered an image holding one
    NaN pixel with NaN probabilities and the first class as its label; files and `predict(array)` were refused."""
    import numpy as np

    from medimg import Model
    from medimg.errors import ImageReadError
    from medimg.export.onnx_export import export_onnx
    from medimg.export.predictor import OnnxPredictor
    from medimg.io.image import ImageData
    from medimg.tasks.classify.predict import predict_images

    image = np.full((1, 32, 32), 100.0, np.float32)
    image[0, 2, 2] = np.nan
    predictor = OnnxPredictor(export_onnx(deploy_run, tmp_path / "model.onnx").path)
    with pytest.raises(ImageReadError, match=r"scan\.tif: 1 of 1024 pixel values are NaN"):
        predictor.predict_arrays([np.zeros_like(image), image], ["ok.tif", "scan.tif"])
    model = Model.load(deploy_run)
    with pytest.raises(ImageReadError, match=r"scan\.tif: 1 of 1024 pixel values are NaN"):
        predict_images(model.network_, model.plan_, model.class_names_, [ImageData(image, source="scan.tif")])
    [fine] = predictor.predict_arrays([np.nan_to_num(image, nan=100.0)], ["fixed.tif"])
    assert all(np.isfinite(list(fine.probabilities.values())))
