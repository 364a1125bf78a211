"""Atomic writers in medimg.fileio."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from medimg import fileio
from medimg.errors import ConfigError


def test_writes_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    assert fileio.atomic_write_text(target, "héllo\n") == target
    assert target.read_text(encoding="utf-8") == "héllo\n"
    fileio.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    fileio.atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.bin", "sub"]


def test_json_converts_numpy_and_non_finite(tmp_path: Path) -> None:
    obj = {
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "arr": np.arange(3),
        "nan": float("nan"),
        "inf": np.float64(np.inf),
        "path": Path("x/y"),
        1: "int key",
        "t": (1, 2),
    }
    path = fileio.atomic_write_json(tmp_path / "o.json", obj)
    text = path.read_text()
    assert text.startswith('{\n  "i": 3')  # indent=2
    assert json.loads(text) == {
        "i": 3,
        "f": 0.5,
        "b": True,
        "arr": [0, 1, 2],
        "nan": None,
        "inf": None,
        "path": "x/y",
        "1": "int key",
        "t": [1, 2],
    }


def test_existing_file_untouched_when_serialisation_fails(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    fileio.atomic_write_json(path, {"ok": 1})
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"\$\.model\[1\].*object"):
        fileio.atomic_write_json(path, {"model": [1, object()]})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_existing_file_untouched_when_the_write_crashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.txt"
    path.write_text("old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        fileio.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.txt"]


def test_permissions_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    fileio.atomic_write_text(path, "a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o600)
    fileio.atomic_write_text(path, "b")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_type_errors() -> None:
    with pytest.raises(TypeError):
        fileio.atomic_write_text("x.txt", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fileio.atomic_write_bytes("x.bin", "text")  # type: ignore[arg-type]
