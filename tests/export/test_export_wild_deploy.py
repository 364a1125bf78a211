"""Taking a model offline as a deployment engineer does: options that disabled the export's check without a word,
ONNX files altered after export, and a deployment folder (only model.onnx) given where a run folder goes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.errors import ExportError, RunFolderError

#: the preprocessing of the tiny hand-made classifier below (4 x 4 grey images)
TINY_SPEC = {
    "spatial_dims": 2,
    "in_channels": 1,
    "input_size": [4, 4],
    "clip_low": 0.0,
    "clip_high": 255.0,
    "norm_mean": 0.0,
    "norm_std": 255.0,
    "tta_flip_axes": [],
}


def tiny_onnx(path: Path, **metadata: str) -> Path:
    """A two-class classifier ONNX file with medimg's metadata (``metadata`` overrides entries), built without
    torch: ``image (batch, 1, 4, 4) -> flatten -> matmul -> logits, softmax -> probabilities``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.linspace(-1, 1, 32, dtype=np.float32).reshape(16, 2), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["image"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 4, 4])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2]),
        ],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entries = {
        "medimg.task": "classify",
        "medimg.class_names": json.dumps(["normal", "lesion"]),
        "medimg.preprocessing": json.dumps(TINY_SPEC),
        **metadata,
    }
    for key, value in entries.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def test_the_tiny_file_predicts(tmp_path: Path) -> None:
    from medimg.export.predictor import OnnxPredictor

    predictor = OnnxPredictor(tiny_onnx(tmp_path / "ok.onnx"))
    [prediction] = predictor.predict_arrays([np.full((1, 4, 4), 100.0, dtype=np.float32)])
    assert prediction.label in {"normal", "lesion"}


@pytest.mark.parametrize("tolerance", [math.nan, 0.0, -1e-4, math.inf])
def test_a_tolerance_that_disables_or_fails_every_check_is_refused(
    deploy_run: Path, tmp_path: Path, tolerance: float
) -> None:
    """`--tolerance nan` exported with "-> OK" whatever the difference (nothing compares above NaN); 0 or a negative
    one failed with a message blaming the model."""
    from medimg.export.onnx_export import export_onnx

    target = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match=r"--tolerance .*positive number"):
        export_onnx(deploy_run, target, tolerance=tolerance)
    assert not target.exists()


def test_parity_data_none_of_which_can_be_read_is_refused(deploy_run: Path, tmp_path: Path) -> None:
    """`--parity-data` naming only unreadable files fell back to random inputs and printed "-> OK ... from 0 given
    image(s)": the check the user asked for never ran on an image."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    target = tmp_path / "m.onnx"
    result = CliRunner().invoke(app, ["export", str(deploy_run), "--out", str(target), "--parity-data", str(broken)])
    assert isinstance(result.exception, ExportError), result.output
    message = str(result.exception)
    assert "none of the --parity-data images could be read" in message and str(broken) in message, message
    assert not target.exists()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("medimg.preprocessing", "{not json", "medimg.preprocessing is not valid JSON"),
        ("medimg.class_names", '"normal"', "medimg.class_names is a JSON str"),
        ("medimg.input", "[1, 2", "medimg.input is not valid JSON"),
    ],
)
def test_altered_metadata_is_a_clear_error(tmp_path: Path, key: str, value: str, expected: str) -> None:
    """A metadata entry edited by hand (or by another tool) was a JSONDecodeError traceback."""
    from medimg.export.predictor import OnnxPredictor

    path = tiny_onnx(tmp_path / "edited.onnx", **{key: value})
    with pytest.raises(ExportError, match="altered after `medimg export`") as caught:
        OnnxPredictor(path)
    assert str(caught.value).startswith(f"{path}: its metadata entry {expected}"), caught.value


def test_class_names_that_do_not_match_the_network_are_refused(tmp_path: Path) -> None:
    """Three class names over a two-output network: a `zip()` traceback at the first prediction (segment: masks
    named with the wrong classes)."""
    from medimg.export.predictor import OnnxPredictor

    path = tiny_onnx(tmp_path / "three.onnx", **{"medimg.class_names": json.dumps(["a", "b", "c"])})
    with pytest.raises(ExportError, match=r"names 3 classes \(a, b, c\) but its network outputs 2"):
        OnnxPredictor(path)
    result = CliRunner().invoke(app, ["predict", str(path), str(tmp_path)])
    assert isinstance(result.exception, ExportError), result.output


def test_a_deployment_folder_given_as_a_run_says_how_to_predict(tmp_path: Path) -> None:
    """`export RUN --out deploy/` then `predict deploy/ IMAGES` (the default torch engine): "not a medimg run folder
    ... give the folder a training run wrote", as if the model were missing."""
    from medimg.run_folder import run_folder_to_load

    deploy = tmp_path / "deploy"
    deploy.mkdir()
    model = tiny_onnx(deploy / "model.onnx")
    with pytest.raises(RunFolderError, match="holds an exported model, not a training run") as caught:
        run_folder_to_load(deploy)
    assert f"medimg predict {model} IMAGES" in str(caught.value)
    result = CliRunner().invoke(app, ["predict", str(deploy), str(model)])
    assert isinstance(result.exception, RunFolderError) and "exported model" in str(result.exception)


def test_the_sidecar_and_the_file_carry_the_recipe_for_a_client_without_medimg(
    deploy_run: Path, tmp_path: Path
) -> None:
    """The `.export.json` beside the file held only the parity numbers; the ONNX metadata held the preprocessing
    numbers without what to do with them (resize how, channels how, flips how). A client with onnxruntime, numpy
    and Pillow only, following the steps, gets the probabilities of `medimg predict --engine onnx`."""
    import onnxruntime as ort
    from PIL import Image

    from medimg.export.onnx_export import export_onnx
    from medimg.export.predictor import OnnxPredictor

    result = export_onnx(deploy_run, tmp_path / "deploy" / "model.onnx")
    card = json.loads(result.path.with_suffix(".export.json").read_text())["model"]
    assert card["task"] == "classify" and card["class_names"] == ["normal", "lesion"]
    assert card["inputs"] == {"image": ["batch", 1, 32, 32]} and set(card["outputs"]) == {"logits", "probabilities"}
    steps = card["preprocessing_steps"]
    assert any("resize to [32, 32] (rows, columns; bilinear, align_corners=False)" in step for step in steps), steps
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map["medimg.preprocessing_steps"]) == steps

    spec = card["preprocessing"]  # the client: the numbers of the card, the steps in its own code
    files = sorted((deploy_run.parent / "phantoms").rglob("*.png"))[:8]
    pixels = np.stack([np.asarray(Image.open(f).convert("L"), np.float32)[None] for f in files])  # 32 px: no resize
    x = (np.clip(pixels, spec["clip_low"], spec["clip_high"]) - spec["norm_mean"]) / spec["norm_std"]
    x = x.astype(np.float16).astype(np.float32)
    theirs = session.run(["probabilities"], {"image": x})[0]
    ours = np.array(
        [list(p.probabilities.values()) for p in OnnxPredictor(result.path).predict([str(f) for f in files])]
    )
    assert np.abs(theirs - ours).max() < 1e-6


def test_the_steps_name_orientation_and_test_time_flips_when_the_plan_has_them() -> None:
    from medimg.export.preprocess import preprocessing_steps

    spec = {**TINY_SPEC, "spatial_dims": 3, "input_size": [8, 16, 16], "canonical_orientation": True}
    steps = preprocessing_steps({**spec, "tta_flip_axes": [0, 2]}, window="lung", multi_label=True)
    text = "\n".join(steps)
    assert "(C, D, H, W)" in text and "closest RAS+ orientation" in text and "window lung" in text
    assert "trilinear" in text and "mirror along each spatial axis [0, 2]" in text and "sigmoid per finding" in text
    plain = "\n".join(preprocessing_steps(TINY_SPEC))
    assert "RAS+" not in plain and "mirror" not in plain and "softmax over the classes" in plain


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_check(deploy_run: Path, tmp_path: Path) -> None:
    """`--out` under a file (or a read-only folder) failed after the parity check with "cannot write or read
    FOLDER: File exists; choose a folder you can write to (--run-dir, --out)" (for a read-only folder, the name of a
    temporary folder medimg had tried to make)."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    result = CliRunner().invoke(app, ["export", str(deploy_run), "--out", str(blocker / "model.onnx")])
    assert isinstance(result.exception, ExportError), result.output
    assert str(result.exception).startswith(f"cannot write model.onnx into {blocker}: a file is in the way"), (
        result.exception
    )


DETECT_SPEC = {
    "network": "fcos",
    "in_channels": 3,
    "input_size": [64, 64],
    "clip_low": 0.0,
    "clip_high": 255.0,
    "norm_mean": [0.5, 0.5, 0.5],
    "norm_std": [0.2, 0.2, 0.2],
    "fpn_strides": [8, 16, 32],
    "anchor_sizes": [8.0, 16.0, 32.0],
    "anchor_scales": [1.0],
    "aspect_ratios": [1.0],
    "candidate_threshold": 0.05,
    "score_threshold": 0.15,
    "nms_iou": 0.5,
    "detections_per_image": 100,
    "topk_candidates": 1000,
}


def test_a_volume_given_to_a_2d_detector_on_onnx_is_skipped_as_on_pytorch(tmp_path: Path) -> None:
    """`predict DET_RUN scan.nii.gz --engine onnx`: "ValueError: too many values to unpack" (the PyTorch engine
    lists the file: "detection works on 2D images")."""
    import nibabel as nib

    from medimg.errors import DatasetError
    from medimg.export.detect import prepare_image
    from medimg.export.predictor import OnnxPredictor

    path = tiny_onnx(
        tmp_path / "det.onnx",
        **{
            "medimg.task": "detect",
            "medimg.class_names": json.dumps(["disc"]),
            "medimg.preprocessing": json.dumps(DETECT_SPEC),
        },
    )
    volume = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((16, 16, 16)).astype(np.float32), np.eye(4)), volume)
    predictor = OnnxPredictor(path)
    assert predictor.predict(volume) == []
    assert predictor.failed_ == [(str(volume), "detection works on 2D images; got an array of shape (1, 16, 16, 16)")]
    result = CliRunner().invoke(app, ["predict", str(path), str(volume)])
    assert "detection works on 2D images" in result.output, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception  # no traceback
    with pytest.raises(DatasetError, match="detection works on 2D images"):
        prepare_image(np.zeros((1, 4, 8, 8), np.float32), DETECT_SPEC)
