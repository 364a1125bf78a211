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
