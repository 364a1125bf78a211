"""Segmentation export: `medimg export` of a U-Net run, the graph's parity with PyTorch, the numpy inference path
against its PyTorch twin, and the torch-free ONNX predictor against `Model.predict` (same masks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.serve.support import disc_files


@pytest.fixture(scope="module")
def seg_exported(seg_run: Path) -> tuple[Path, dict, str]:
    """``medimg export SEG_RUN --format onnx`` (writes RUN/model.onnx): the file, its export.json, the CLI output."""
    from typer.testing import CliRunner

    from medimg.cli.app import app

    result = CliRunner().invoke(app, ["export", str(seg_run), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    path = seg_run / "model.onnx"
    return path, json.loads(path.with_suffix(".export.json").read_text()), result.output


def test_cli_exports_a_segmentation_run_with_parity(seg_exported: tuple[Path, dict, str], seg_run: Path) -> None:
    import onnx

    path, result, output = seg_exported
    assert path.is_file() and result["task"] == "segment"
    assert "-> OK" in output and "max |PyTorch - ONNX Runtime| =" in output and "pipeline:" in output
    assert result["max_abs_diff"] <= 1e-4 and result["n_parity_images"] >= 2
    assert "test split" in result["parity_source"] and "window" in result["parity_source"]
    assert result["preprocessing_max_abs_diff"] is not None and result["preprocessing_max_abs_diff"] < 1e-5
    assert result["pipeline_max_abs_diff"] is not None and result["pipeline_max_abs_diff"] <= 1e-4
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    plan = json.loads((seg_run / "plan.json").read_text())
    assert props["medimg.task"] == "segment" and props["medimg.network"] == "unet"
    assert json.loads(props["medimg.class_names"]) == plan["class_names"] == ["background", "foreground"]
    spec = json.loads(props["medimg.preprocessing"])
    for key in ("patch_size", "sw_overlap", "normalisation", "resample_factor", "postprocessing", "num_classes"):
        assert spec[key] == plan[key], key
    aug = plan["augmentation"]
    assert plan["tta"] and aug["flip_axes"] == [0, 1]  # the run mirrors both axes (and turns square patches)
    assert len(spec["tta_passes"]) == (8 if aug["rotate90"] else 4)
    assert [[], 0] in spec["tta_passes"] and [[0], 0] in spec["tta_passes"]
    assert json.loads(props["medimg.mask_colours"]) is None


def test_graph_has_dynamic_batch_at_the_patch_size(seg_exported: tuple[Path, dict, str], seg_run: Path) -> None:
    import onnxruntime as ort

    from medimg import Model

    model = Model.load(seg_run)
    patch = list(model.plan_.patch_size)
    session = ort.InferenceSession(str(seg_exported[0]), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 1, *patch]
    network = model.network_.float().to(memory_format=torch.contiguous_format).eval()
    for batch in (1, 5):
        x = torch.randn(batch, 1, *patch, generator=torch.Generator().manual_seed(batch))
        logits, probabilities = session.run(["logits", "probabilities"], {"image": x.numpy()})
        with torch.no_grad():
            reference = network(x)
        assert logits.shape == (batch, 2, *patch)
        np.testing.assert_allclose(logits, reference.numpy(), atol=1e-4)
        np.testing.assert_allclose(probabilities, torch.softmax(reference, 1).numpy(), atol=1e-5)


def test_numpy_segmentation_steps_match_pytorch() -> None:
    """Each numpy step of the ONNX predictor against the PyTorch function it replaces (no trained model needed)."""
    from medimg.export import segment
    from medimg.tasks.segment import inference, preprocess
    from medimg.tasks.segment.planning import SegPlan

    rng = np.random.default_rng(0)
    for shape, size in [((2, 57, 43), (20, 30)), ((1, 20, 20), (37, 45)), ((1, 10, 12, 14), (7, 20, 9))]:
        array = rng.normal(size=shape).astype(np.float32)
        reference = preprocess.resize(torch.from_numpy(array), size).numpy()
        np.testing.assert_allclose(segment.resize(array, size), reference, atol=1e-5)

    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(3, 3, 3, padding=1)
    )
    network.eval()

    def run(windows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(network(torch.from_numpy(windows)), 1).numpy()

    cases = [
        ((1, 45, 37), {"tta": False}),  # several windows, no flips
        ((1, 20, 70), {"tta": True, "augmentation": {"flip_axes": [0, 1]}}),  # padded on one axis; mirrors
        ((1, 20, 70), {"tta": True, "augmentation": {"flip_axes": [0, 1], "rotate90": True}}),  # + quarter turns
        ((3, 100, 90), {"resample_factor": 2.0, "sw_overlap": 0.25, "augmentation": {"flip_axes": [1]}}),  # shrink
        (
            (1, 40, 40),
            {"normalisation": "ct", "clip_low": 20.0, "clip_high": 200.0, "norm_mean": 90.0, "norm_std": 40.0},
        ),
    ]
    for shape, fields in cases:
        plan = SegPlan(patch_size=[32, 32], in_channels=3, amp="none", channels_last=False, num_classes=3, **fields)
        spec = segment.segment_spec(plan.model_dump())
        image = rng.uniform(0, 255, shape).astype(np.float32)
        x = preprocess.prepare_image(image, None, plan)
        x_numpy = segment.prepare_image(image, None, spec)
        np.testing.assert_allclose(x_numpy, x.numpy(), atol=1e-5)
        reference = inference.sliding_window_probabilities(network, x[None], plan)[0]
        ours = segment.sliding_window_probabilities(run, x_numpy, spec, batch_size=3)
        np.testing.assert_allclose(ours, reference.numpy(), atol=1e-5)
        at = inference.probabilities_at(reference, shape[1:]).numpy()
        np.testing.assert_allclose(segment.probabilities_at(ours, shape[1:]), at, atol=1e-5)


def test_an_export_of_an_earlier_medimg_predicts(
    seg_exported: tuple[Path, dict, str], seg_run: Path, tmp_path: Path
) -> None:
    """Exports made before ``clahe`` and ``tta_passes`` existed load: no CLAHE, and the flips they recorded."""
    import onnx

    from medimg.export.predictor import OnnxPredictor
    from medimg.tasks.segment.symmetries import passes_from_spec

    model = onnx.load(str(seg_exported[0]))
    props = {p.key: p for p in model.metadata_props}
    spec = json.loads(props["medimg.preprocessing"].value)
    for key in ("clahe", "tta_passes"):
        del spec[key]
    props["medimg.preprocessing"].value = json.dumps({**spec, "tta_flip_axes": [0, 1]})
    onnx.save(model, str(tmp_path / "old.onnx"))
    predictor = OnnxPredictor(tmp_path / "old.onnx", mask_dir=tmp_path / "masks")
    assert passes_from_spec(predictor.preprocessing) == [((), 0), ((0,), 0), ((1,), 0)]
    (row,) = predictor.predict(seg_run.parent / "discs" / "images" / "case_03.png")
    assert Path(row.mask_path).is_file() and sum(row.voxels.values()) == 32 * 32


def test_the_predictor_shares_the_torch_free_steps_of_pytorch(tmp_path: Path) -> None:
    """Post-processing, masks, the prediction record and the input's normalisation are one copy for both paths."""
    from medimg.errors import ConfigError
    from medimg.export import segment
    from medimg.io import read_image
    from medimg.tasks.segment import arrays, evaluate, inference, labels, masks, preprocess

    assert segment.postprocess is masks.postprocess is inference.postprocess
    assert segment.write_mask is masks.write_mask is evaluate.write_mask
    assert segment.SegmentationPrediction is masks.SegmentationPrediction is evaluate.SegmentationPrediction
    assert segment.network_input is arrays.network_input is preprocess.network_input
    assert masks.IGNORE == labels.IGNORE

    label_map = np.zeros((12, 9), np.uint8)
    label_map[2:6, 3:7] = 1
    label_map[8:10, 1:3] = 2
    label_map[0, 0] = masks.IGNORE
    affine = np.diag([0.5, 0.8, 1.0, 1.0])
    target = masks.mask_path_for("in/case.nii.gz", tmp_path)
    path = masks.write_mask(label_map, target, affine=affine, spacing_mm=(0.5, 0.8))
    assert path == tmp_path / "case_mask.nii.gz"
    back = read_image(path)
    np.testing.assert_array_equal(back.array[0], np.where(label_map == masks.IGNORE, 0, label_map))
    assert back.spacing_mm == pytest.approx((0.5, 0.8))
    assert masks.mask_path_for(Path("in/case.v1.PNG"), tmp_path) == tmp_path / "case.v1_mask.png"
    assert masks.mask_path_for("in/scan.dcm", tmp_path) == tmp_path / "scan_mask.png"
    # out_dir the data folder: the image's annotation beside it is never written over (it was, silently)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "case00_mask.png").write_bytes(b"annotation")
    with pytest.raises(ConfigError, match=r"case00_mask\.png exists beside case00\.png: it is that image.s annotation"):
        masks.mask_path_for(tmp_path / "data" / "case00.png", tmp_path / "data")
    assert masks.mask_path_for(tmp_path / "data" / "case01.png", tmp_path / "data").name == "case01_mask.png"
    binary = np.isin(label_map, (1, 2)).astype(np.uint8)
    probs = np.stack([1 - binary, binary]).astype(np.float32)
    summary = masks.summarise(binary, probs, ["bg", "fg"], (0.5, 0.8), "x.png", keep_mask=False)
    assert summary.mask is None and summary.label == "fg" and summary.voxels == {"bg": 108 - 20, "fg": 20}
    assert summary.volume_mm3 == pytest.approx({"bg": 88 * 0.4, "fg": 20 * 0.4})


TORCH_FREE = """
import json, sys
sys.modules["torch"] = None  # any import of torch now fails
sys.modules["monai"] = None
from medimg.export.predictor import OnnxPredictor
predictor = OnnxPredictor(sys.argv[1], mask_dir=sys.argv[2], batch_size=3)
predictions = predictor.predict(sys.argv[3:])
print(json.dumps([p.to_dict() for p in predictions]))
"""


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 1.0 if not (a.any() or b.any()) else float(2 * (a & b).sum() / (a.sum() + b.sum()))


def test_onnx_predictor_segments_like_pytorch_without_torch(
    seg_exported: tuple[Path, dict, str], seg_run: Path, tmp_path: Path
) -> None:
    from medimg import Model
    from medimg.io import read_image

    files = disc_files(seg_run, tmp_path / "inputs")
    ordered = [files[k] for k in ("png", "large", "small", "nifti")]
    result = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(seg_exported[0]), str(tmp_path / "onnx"), *map(str, ordered)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    onnx_rows = json.loads(result.stdout)
    torch_rows = [p.to_dict() for p in Model.load(seg_run).predict(ordered, out_dir=tmp_path / "torch")]
    assert [Path(r["mask_path"]).name for r in onnx_rows] == [Path(r["mask_path"]).name for r in torch_rows]
    assert [Path(r["mask_path"]).name for r in onnx_rows][-1] == "slice_mask.nii.gz"
    total_foreground = 0
    for ours, theirs, source in zip(onnx_rows, torch_rows, ordered, strict=True):
        mask, reference = read_image(ours["mask_path"]).array[0], read_image(theirs["mask_path"]).array[0]
        assert mask.shape == reference.shape == read_image(source).array.shape[1:]
        assert _dice(mask, reference) >= 0.99, source.name
        assert abs(ours["voxels"]["foreground"] - theirs["voxels"]["foreground"]) <= 0.01 * mask.size
        for name, p in theirs["probabilities"].items():
            assert ours["probabilities"][name] == pytest.approx(p, abs=1e-3)
        total_foreground += ours["voxels"]["foreground"]
    assert total_foreground > 0  # the model does segment something: the comparison is not between empty masks
    nifti = onnx_rows[-1]
    assert nifti["volume_mm3"]["foreground"] == pytest.approx(nifti["voxels"]["foreground"] * 0.5 * 0.8)
    assert onnx_rows[0]["volume_mm3"] is None  # a PNG has no spacing


def test_cli_predict_with_the_onnx_engine_writes_masks(seg_exported: tuple[Path, dict, str], seg_run: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    source = seg_run.parent / "discs" / "images" / "case_03.png"
    result = CliRunner().invoke(app, ["predict", str(seg_run), str(source), "--engine", "onnx"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output[result.output.index("[") :])
    mask = Path(row["mask_path"])  # RUN/predictions, or predictions2... when an earlier test's masks are there
    assert mask.name == "case_03_mask.png" and mask.parent.parent == seg_run
    assert mask.parent.name.startswith("predictions")
    assert Path(row["mask_path"]).is_file() and sum(row["voxels"].values()) == 32 * 32


def test_a_second_onnx_prediction_call_never_replaces_the_first_ones_masks(
    seg_exported: tuple[Path, dict, str], seg_run: Path, tmp_path: Path
) -> None:
    import shutil

    from medimg.export.predictor import OnnxPredictor

    run = Path(shutil.copytree(seg_run, tmp_path / "run", ignore=shutil.ignore_patterns("predictions*")))
    predictor = OnnxPredictor(run)
    other = tmp_path / "elsewhere" / "case_00.png"  # another image of the same name
    other.parent.mkdir()
    shutil.copy(seg_run.parent / "discs" / "images" / "case_01.png", other)
    first = predictor.predict(seg_run.parent / "discs" / "images" / "case_00.png")[0]
    second = predictor.predict(other)[0]
    assert Path(first.mask_path).parent == run / "predictions"
    assert Path(second.mask_path).parent == run / "predictions2" and Path(first.mask_path).is_file()
    in_memory = predictor.predict(other, write_masks=False)[0]  # claims no folder: nothing is written
    assert in_memory.mask_path is None and in_memory.mask is not None
    assert sorted(p.name for p in run.glob("predictions*")) == ["predictions", "predictions2"]
