"""A full disk names the file that could not be written: `fit --run-dir` on a 3 MB file system said `error: cannot
write or read: No space left on device` with no path (write, flush and fsync raise an OSError without a file name),
so a cluster user could not tell which of scratch, home or project was full; a temporary file's random name
(`.last.pt.x1y2.tmp`) is replaced by the file the user knows."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _full(*args: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_file_being_written_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medimg.engine.checkpoint import save_checkpoint
    from medimg.fileio import atomic_text_file, atomic_write_json

    monkeypatch.setattr(os, "fsync", _full)
    with pytest.raises(OSError) as raised:
        save_checkpoint(tmp_path / "checkpoints" / "last.pt", {"epoch": 1})
    assert raised.value.filename == str(tmp_path / "checkpoints" / "last.pt")
    assert str(tmp_path / "checkpoints" / "last.pt") in str(raised.value)
    with pytest.raises(OSError) as raised:
        atomic_write_json(tmp_path / "splits.json", {"train": []})
    assert raised.value.filename == str(tmp_path / "splits.json")
    with pytest.raises(OSError) as raised, atomic_text_file(tmp_path / "predictions.csv") as handle:
        handle.write("a,b\n")
    assert raised.value.filename == str(tmp_path / "predictions.csv")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["checkpoints"]  # no temporary file left


def test_a_temporary_file_that_cannot_be_made_is_named_by_its_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medimg.fileio import atomic_write_bytes

    def refused(dir: str, prefix: str, suffix: str) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, f"{prefix}k2j4{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(PermissionError) as raised:
        atomic_write_bytes(tmp_path / "model.onnx", b"x")
    assert raised.value.filename == str(tmp_path / "model.onnx")


def test_the_metrics_log_names_itself_when_the_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medimg.engine import trainer

    path = tmp_path / "metrics.jsonl"

    class Full:
        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            _full()

        def write(self, text: str) -> int:
            return len(text)

    monkeypatch.setattr(Path, "open", lambda self, mode="r": Full())
    with pytest.raises(OSError) as raised:
        trainer._append_history(path, {"epoch": 1})
    assert raised.value.filename == str(path)


SCRIPT = """
import errno, os, sys
def full(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
os.fsync = full
sys.argv = ["medimg", *sys.argv[1:]]
from medimg.cli.app import main
main()
"""


def test_the_cli_names_the_file_on_the_full_disk(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "data" / name / f"{i}.png")
    out = tmp_path / "out" / "check.json"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, "check", str(tmp_path / "data"), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert f"error: cannot write or read {out}: No space left on device" in result.stderr, result.stderr
