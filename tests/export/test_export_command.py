"""`medimg export`: `--out` may be an existing folder (the file is written into it as model.onnx), and the note
on a run trained in bf16 says what is true: predictions run in float32 on both engines, which agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from medimg.cli.app import app


def test_export_into_an_existing_folder_writes_model_onnx_there(deploy_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    result = CliRunner().invoke(app, ["export", str(deploy_run), "--out", str(folder)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert (folder / "model.onnx").is_file() and (folder / "model.export.json").is_file()
    assert f"exported:   {folder / 'model.onnx'}" in result.stdout


def test_export_still_refuses_another_name_that_is_not_onnx(deploy_run: Path, tmp_path: Path) -> None:
    from medimg.errors import ExportError

    for out in (tmp_path / "model.txt", tmp_path / "not-made-yet"):
        result = CliRunner().invoke(app, ["export", str(deploy_run), "--out", str(out)])
        assert isinstance(result.exception, ExportError), result.output
        assert str(result.exception).startswith(f"{out}: the exported file name must end with .onnx")
        assert not out.exists()


def test_the_bf16_note_says_what_is_true(deploy_run: Path, tmp_path: Path) -> None:
    """A run planned with bf16 autocast: the note said the PyTorch predictor runs in bf16 and differs by ~1e-2; both
    engines run in float32, and their probabilities agree to the export's tolerance on real images."""
    from medimg import Model
    from medimg.export import OnnxPredictor
    from medimg.export.onnx_export import export_onnx

    model = Model.load(deploy_run)
    model.plan_ = model.plan_.model_copy(update={"amp": "bf16"})
    result = export_onnx(model, tmp_path / "bf16.onnx")
    [note] = [note for note in result.notes if "bf16" in note]
    assert "float32" in note and "agree" in note and "1e-2" not in note, note

    images = sorted(str(p) for p in (deploy_run.parent / "phantoms").rglob("*.png"))[:24]
    assert images
    torch_probs = np.array([list(p.probabilities.values()) for p in model.predict(images)])
    onnx_probs = np.array([list(p.probabilities.values()) for p in OnnxPredictor(result.path).predict(images)])
    assert np.abs(torch_probs - onnx_probs).max() <= result.tolerance
