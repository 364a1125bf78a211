"""The ``.export.json`` sidecar records the ``.onnx`` file relative to itself (was: the absolute path of the
exporting machine, stale once the folder is moved or copied to a deployment machine); old sidecars stay readable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medimg.errors import ExportError
from medimg.export.onnx_export import ExportResult


def test_sidecar_path_is_relative_and_survives_a_move(deploy_run: Path, tmp_path: Path) -> None:
    from medimg import Model

    folder = tmp_path / "deploy"
    folder.mkdir()
    result = Model.load(deploy_run).export(folder)
    assert result.path == folder / "model.onnx" and result.to_dict()["path"] == str(folder / "model.onnx")
    record = json.loads((folder / "model.export.json").read_text())
    assert record["path"] == "model.onnx" and record["model"]["task"] == "classify"
    moved = tmp_path / "elsewhere" / "deploy"
    shutil.move(str(folder), moved)
    read = ExportResult.from_sidecar(moved / "model.export.json")
    assert read.path == moved / "model.onnx" and read.path.is_file()
    assert read.max_abs_diff == result.max_abs_diff and read.task == "classify"


def test_an_old_absolute_sidecar_is_read_from_its_folder(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    old = {"path": "/gone/machine/run/model.onnx", "max_abs_diff": 1e-6, "n_parity_images": 4,
           "parity_source": "test split", "task": "segment", "model": {"task": "segment"}}  # fmt: skip
    (tmp_path / "model.export.json").write_text(json.dumps(old))
    read = ExportResult.from_sidecar(tmp_path / "model.export.json")
    assert read.path == tmp_path / "model.onnx" and read.task == "segment" and read.n_parity_images == 4
    still_there = {**old, "path": str(tmp_path / "model.onnx")}  # an absolute path that exists is kept
    (tmp_path / "model.export.json").write_text(json.dumps(still_there))
    assert ExportResult.from_sidecar(tmp_path / "model.export.json").path == tmp_path / "model.onnx"
    (tmp_path / "model.export.json").write_text("{}")
    with pytest.raises(ExportError, match=r"model\.export\.json is not a readable \.export\.json record"):
        ExportResult.from_sidecar(tmp_path / "model.export.json")


SEGMENT_SPEC = {
    "spatial_dims": 2,
    "in_channels": 1,
    "num_classes": 3,
    "normalisation": "ct",
    "clip_low": -100.0,
    "clip_high": 300.0,
    "norm_mean": 40.0,
    "norm_std": 80.0,
    "resample_factor": 2.0,
    "target_spacing_mm": None,
    "patch_size": [32, 48],
    "sw_overlap": 0.25,
    "tta_passes": [[[], 0], [[0], 0], [[1], 0], [[0, 1], 0]],
    "postprocessing": "largest_component",
    "min_object_fraction": 0.1,
}


def test_segmentation_steps_say_the_predictors_numbers() -> None:
    """The steps in words give what the ONNX predictor's numpy path computes (was: numbers only, no steps)."""
    import numpy as np

    from medimg.export import segment
    from medimg.tasks.segment.arrays import network_shape

    steps = segment.segment_preprocessing_steps(SEGMENT_SPEC)
    text = "\n".join(steps)
    assert "clip to [-100.0, 300.0], subtract 40.0, divide by 80.0" in text
    assert "round(side / 2)" in text and network_shape((101, 64), None, SEGMENT_SPEC) == (round(101 / 2), 32)
    assert "sliding windows of [32, 48]" in text and "(N, 1, 32, 48)" in text
    step = max(int(48 * (1 - 0.25)), 1)  # the rule the steps give, against the predictor's window corners
    assert "max(int(window * (1 - 0.25)), 1)" in text
    assert sorted({s[1] for s in segment.window_starts((32, 100), (32, 48), 0.25)}) == [0, step, 100 - 48]
    weight = segment.gaussian_importance((32, 48))  # sigma = 0.125 * side
    centre_row = weight[16]
    expected = np.exp(-(((np.arange(48) - 23.5) / (0.125 * 48)) ** 2) / 2)
    assert np.allclose(centre_row / centre_row.max(), np.maximum(expected / expected.max(), 1e-3), atol=1e-3)
    assert "on 4 copies" in text and "largest connected component" in text
    assert steps[-1].startswith("post-processing") and steps[-2].startswith("label = argmax")
    zscore = segment.segment_preprocessing_steps({**SEGMENT_SPEC, "normalisation": "zscore", "clahe": True})
    assert any(s.startswith("CLAHE") and "standard deviation" in s for s in zscore)


def test_detection_steps_say_the_predictors_numbers() -> None:
    import numpy as np

    from medimg.export import detect
    from tests.export.test_export_wild_deploy import DETECT_SPEC

    steps = detect.detect_preprocessing_steps(DETECT_SPEC, window="soft-tissue")
    text = "\n".join(steps)
    assert "soft-tissue" in steps[0] and "(x - 0.0) / (255.0 - 0.0)" in text
    x, (sy, sx) = detect.prepare_image(np.zeros((3, 100, 40), np.float32), DETECT_SPEC)
    scale = min(64 / 40, 64 / 100)  # the resize the steps give
    assert (
        x.shape[1:] == (round(100 * scale), round(40 * scale))
        and sy == round(100 * scale) / 100
        and sx == round(40 * scale) / 40
    )
    assert "min(64 / min(H, W), 64 / max(H, W))" in text
    assert "multiples of 32" in text and "'bbox_ctrness'" in text and "sqrt(sigmoid" in text
    assert "above 0.05, at most the 1000 highest" in text and "IoU with a kept one is above 0.5" in text
    assert steps[-1].startswith("report the boxes scoring at least 0.15")
    retina = detect.detect_preprocessing_steps({**DETECT_SPEC, "network": "retinanet"})
    assert "'bbox_ctrness'" not in "\n".join(retina) and any("aspect ratio" in s for s in retina)


def test_a_segmentation_export_carries_its_steps(seg_run: Path, tmp_path: Path) -> None:
    import onnx

    from medimg.export import export_onnx

    result = export_onnx(seg_run, tmp_path / "seg.onnx")
    props = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    steps = json.loads(props["medimg.preprocessing_steps"])
    assert any(s.startswith("sliding windows of") for s in steps) and steps[-1]
    card = json.loads((tmp_path / "seg.export.json").read_text())
    assert card["model"]["preprocessing_steps"] == steps and card["path"] == "seg.onnx"


def test_a_detection_export_carries_its_steps(tmp_path: Path) -> None:
    import onnx
    import torch

    from medimg import Model
    from medimg.export import export_onnx
    from tests.tasks.detect.synthetic import TINY, write_voc

    torch.set_num_threads(1)
    voc = write_voc(tmp_path / "voc", n=10, seed=1)
    trained = Model("fcos", task="detect", **{**TINY, "epochs": 1}).fit(
        voc, run_dir=tmp_path / "run", progress=False, tensorboard=False
    )
    result = export_onnx(trained, tmp_path / "det.onnx")
    steps = json.loads(
        {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}["medimg.preprocessing_steps"]
    )
    assert any(s.startswith("non-maximum suppression per class") for s in steps)
    assert steps[-1].startswith("report the boxes scoring at least")
    assert json.loads((tmp_path / "det.export.json").read_text())["model"]["preprocessing_steps"] == steps
