"""SIGTERM (Slurm's time limit, scancel, ``docker stop``, ``kill``, ``timeout``) stops ``medimg fit`` as Ctrl-C does:
at once, keeping the last complete checkpoint, no temporary file left, the command to resume printed on a line of
its own, exit status 143. Before, the process ended without a word (the log's last line a progress bar) and a
checkpoint being saved left its ``.last.pt.*.tmp`` behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medimg.data.synthetic import make_phantom_dataset

    root = tmp_path_factory.mktemp("stop") / "phantoms"
    make_phantom_dataset(root, n_per_class=20, size=32, seed=1)
    return root


def _fit_until_first_epoch(data: Path, cwd: Path, log: Path) -> subprocess.Popen[str]:
    """A long fit, its stderr going to ``log``, returned once its first epoch's checkpoint is written and that epoch
    logged (the line follows the checkpoint: a signal between the two would find no epoch line to check)."""
    args = ["fit", str(data), "--network", "simple-cnn", "--epochs", "500", "--run-dir", "r"]
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "medimg.cli.app", *args],
            cwd=cwd,
            stderr=stderr,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        (cwd / "r" / "checkpoints" / "last.pt").is_file() and "epoch 1/500" in log.read_text()
    ):
        time.sleep(0.05)
    return proc


def test_sigterm_during_fit_says_how_to_resume_and_exits_143(data: Path, tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    proc = _fit_until_first_epoch(data, tmp_path, log)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    stderr = log.read_text()
    assert proc.returncode == 143, stderr
    command = f"medimg fit {data} --network simple-cnn --epochs 500 --run-dir r --resume"
    last = stderr.rstrip("\n").split("\n")[-1]  # a line of its own, after any progress bar
    assert last == f"interrupted by SIGTERM; the fit goes on from its last checkpoint with `{command}`", stderr
    assert "Traceback" not in stderr
    # a log, not a terminal: no bar's carriage returns, a time-stamped line for the first epoch instead
    assert "\r" not in stderr, stderr
    first_epoch = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO training phantoms: epoch 1/500, loss "
    assert re.search(first_epoch, stderr, re.M), stderr
    run = tmp_path / "r"
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]  # no half-written checkpoint left
    from medimg.engine.checkpoint import load_checkpoint

    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] >= 1
