"""ONNX export: parity with PyTorch, embedded metadata, dynamic batch, the torch-free predictor and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medimg.errors import ConfigError, ExportError
from tests.serve.support import phantom_file


@pytest.fixture(scope="module")
def exported(deploy_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from medimg import Model

    target = tmp_path_factory.mktemp("onnx") / "model.onnx"
    result = Model.load(deploy_run).export(target)
    return target, result.to_dict()


def test_export_parity_and_metadata(exported: tuple[Path, dict], deploy_run: Path) -> None:
    import onnx

    path, result = exported
    assert path.is_file() and result["path"] == str(path)
    assert result["max_abs_diff"] <= 1e-4 and result["n_parity_images"] > 0
    assert "test split" in result["parity_source"]
    assert result["preprocessing_max_abs_diff"] is not None and result["preprocessing_max_abs_diff"] < 1e-2
    assert json.loads(path.with_suffix(".export.json").read_text())["max_abs_diff"] == result["max_abs_diff"]
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    metadata = json.loads((deploy_run / "metadata.json").read_text())
    assert json.loads(props["medimg.class_names"]) == metadata["class_names"]
    plan = json.loads((deploy_run / "plan.json").read_text())
    spec = json.loads(props["medimg.preprocessing"])
    for key in ("input_size", "in_channels", "clip_low", "clip_high", "norm_mean", "norm_std"):
        assert spec[key] == plan[key], key


def test_dynamic_batch_matches_pytorch(exported: tuple[Path, dict], deploy_run: Path) -> None:
    import onnxruntime as ort

    from medimg import Model

    network = Model.load(deploy_run).network_.float().eval()
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"
    for batch in (1, 7, 64):
        x = torch.randn(batch, 1, 32, 32, generator=torch.Generator().manual_seed(batch))
        logits, probabilities = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            reference = network(x)
        assert logits.shape == (batch, 2)
        np.testing.assert_allclose(logits, reference.numpy(), atol=1e-4)
        np.testing.assert_allclose(probabilities, torch.softmax(reference, 1).numpy(), atol=1e-5)


def test_parity_check_fails_on_a_divergent_graph(
    deploy_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medimg import Model
    from medimg.export import onnx_export

    original = onnx_export._WithProbabilities.forward

    def skewed(self: torch.nn.Module, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, probabilities = original(self, image)  # type: ignore[arg-type]
        return logits + 1e-3, probabilities

    monkeypatch.setattr(onnx_export._WithProbabilities, "forward", skewed)
    target = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match=r"max \|diff\| = 0\.001"):
        Model.load(deploy_run).export(target)
    assert not target.exists()
    with pytest.raises(ConfigError, match="unknown export format"):
        Model.load(deploy_run).export(tmp_path / "x.onnx", format="tflite")


def test_numpy_preprocessing_matches_monai() -> None:
    from medimg.export.preprocess import preprocess
    from medimg.planning.plan import Plan
    from medimg.transforms.preprocess import preprocess_arrays

    rng = np.random.default_rng(0)
    cases = [
        (2, [32, 32], 1, [(1, 57, 43), (3, 100, 80), (1, 32, 32), (1, 20, 20), (4, 64, 64)]),
        (2, [28, 28], 3, [(1, 200, 300), (3, 50, 50)]),
        (3, [16, 16, 16], 1, [(1, 35, 50, 35), (1, 16, 16, 16), (1, 10, 40, 12)]),
    ]
    for dims, size, channels, shapes in cases:
        normalisation = {"clip_low": 5, "clip_high": 200, "norm_mean": 50, "norm_std": 30}
        plan = Plan(spatial_dims=dims, in_channels=channels, input_size=size, **normalisation)
        arrays = [rng.uniform(0, 255, s).astype(np.float32) for s in shapes]
        reference = preprocess_arrays(arrays, plan).float().numpy()
        ours = preprocess(arrays, plan.model_dump())
        assert ours.shape == reference.shape
        np.testing.assert_allclose(ours, reference, atol=5e-3)
        assert np.abs(ours - reference).mean() < 1e-5


TORCH_FREE = """
import json, sys
sys.modules["torch"] = None  # any import of torch now fails
sys.modules["monai"] = None
from medimg.export.predictor import OnnxPredictor
predictor = OnnxPredictor(sys.argv[1])
predictions = predictor.predict(sys.argv[2:])
print(json.dumps([p.to_dict() for p in predictions]))
"""


def test_onnx_predictor_runs_without_torch(exported: tuple[Path, dict], deploy_run: Path) -> None:
    from medimg import Model
    from medimg.io import read_image
    from medimg.transforms.preprocess import preprocess_arrays

    files = [phantom_file(deploy_run, label, i) for label in ("lesion", "normal") for i in (0, 1)]
    result = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(exported[0]), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)
    model = Model.load(deploy_run)
    x = preprocess_arrays([read_image(f).array for f in files], model.plan_).float()
    with torch.no_grad():
        reference = torch.softmax(model.network_.float()(x), 1).numpy()
    for row, expected in zip(predictions, reference, strict=True):
        got = [row["probabilities"][name] for name in model.class_names_]
        np.testing.assert_allclose(got, expected, atol=1e-4)
        assert row["label"] == model.class_names_[int(expected.argmax())]


def test_cli_export_and_predict_onnx(deploy_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    runner = CliRunner()
    target = tmp_path / "cli.onnx"
    exported = runner.invoke(app, ["export", str(deploy_run), "--format", "onnx", "--out", str(target)])
    assert exported.exit_code == 0, exported.output
    assert "max |PyTorch - ONNX Runtime| =" in exported.output and target.is_file()
    csv = runner.invoke(
        app, ["predict", str(target), str(phantom_file(deploy_run)), "--engine", "onnx", "--format", "csv"]
    )
    assert csv.exit_code == 0, csv.output
    header, row = csv.output.strip().splitlines()[-2:]
    assert header == "source,label,confidence,p_normal,p_lesion,in_domain,domain_reasons"  # as the JSON's domain
    assert row.split(",")[1] in {"normal", "lesion"} and row.split(",")[5] in {"yes", "no"}
    missing = runner.invoke(app, ["predict", str(tmp_path), str(phantom_file(deploy_run)), "--engine", "onnx"])
    assert isinstance(missing.exception, ConfigError) and "medimg export" in str(missing.exception)
    # the .onnx file alone, without --engine onnx (it said "not a run folder"): the same rows
    alone = runner.invoke(app, ["predict", str(target), str(phantom_file(deploy_run)), "--format", "csv"])
    assert alone.exit_code == 0 and alone.output.strip().splitlines()[-1] == row


def test_export_3d_network(tmp_path: Path) -> None:
    """A 3D network exports with a dynamic batch (random parity inputs: this model has no run folder)."""
    import onnxruntime as ort

    from medimg import Model
    from medimg.planning.plan import Plan
    from medimg.tasks.classify.network import build_network

    plan = Plan(spatial_dims=3, input_size=[12, 12, 12], network="simple-cnn", width=0.25, amp="none")
    model = Model("simple-cnn")
    model.network_, model.plan_, model.class_names_ = build_network(plan).eval(), plan, ["a", "b"]
    result = model.export(tmp_path / "vol.onnx")
    assert result.max_abs_diff <= 1e-4 and result.parity_source == "random inputs"
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert session.run(["probabilities"], {"image": np.zeros((3, 1, 12, 12, 12), np.float32)})[0].shape == (3, 2)


def test_onnx_predictor_takes_file_bytes(exported: tuple[Path, dict], deploy_run: Path) -> None:
    from medimg.export.predictor import OnnxPredictor

    predictor = OnnxPredictor(exported[0])
    file = phantom_file(deploy_run, "lesion", 0)
    (from_file,) = predictor.predict(file)
    first, *rest = predictor.predict([file.read_bytes(), b"plain text, not an image"])
    assert first.source == "bytes[0]" and not rest
    assert first.probabilities == pytest.approx(from_file.probabilities, abs=1e-6)
    assert [path for path, _ in predictor.failed_] == ["bytes[1]"]


def test_onnx_predictor_takes_arrays_as_model_predict_does(exported: tuple[Path, dict], deploy_run: Path) -> None:
    """``OnnxPredictor.predict(array)`` (a bare pathlib TypeError before) gives what the same image as a file gives,
    with the training-domain verdict."""
    from PIL import Image

    from medimg.export.predictor import OnnxPredictor

    predictor = OnnxPredictor(exported[0])
    file = phantom_file(deploy_run, "lesion", 0)
    (from_file,) = predictor.predict(file)
    pixels = np.asarray(Image.open(file))
    from_array, from_batch = predictor.predict([pixels, pixels[None]])
    assert (from_array.source, from_batch.source) == ("array[0]", "array[1]")
    for prediction in (from_array, from_batch):
        assert prediction.probabilities == pytest.approx(from_file.probabilities, abs=1e-6)
        assert prediction.domain is not None and prediction.domain["in_domain"]
    with pytest.raises(ConfigError, match="either paths or arrays"):
        predictor.predict([pixels, str(file)])


def test_another_runs_model_onnx_is_neither_written_nor_used(
    exported: tuple[Path, dict], deploy_run: Path, tmp_path: Path
) -> None:
    """`export RUN_A --out RUN_B` replaced RUN_B's model.onnx, and `predict RUN_B --engine onnx` then answered with
    RUN_A's model while the torch engine used RUN_B's own."""
    import shutil

    from medimg import Model
    from medimg.export.predictor import OnnxPredictor

    path, _ = exported
    other = tmp_path / "run_b"
    shutil.copytree(deploy_run, other, ignore=shutil.ignore_patterns("model.onnx", "model.export.json"))
    with pytest.raises(ExportError, match="another run's folder"):
        Model.load(deploy_run).export(other)
    assert not (other / "model.onnx").exists()

    shutil.copy(path, other / "model.onnx")  # the same model's export: used
    assert OnnxPredictor(other).class_names == json.loads((other / "metadata.json").read_text())["class_names"]
    metadata = json.loads((other / "metadata.json").read_text())
    metadata["weights_sha256"]["model.pt"] = "0" * 64  # run_b was trained again: its model.onnx is stale
    (other / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ExportError, match="was not exported from the model of"):
        OnnxPredictor(other)
    OnnxPredictor(other / "model.onnx")  # the file named itself is the user's choice
