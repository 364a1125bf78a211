"""A fit that stopped after training (an image of its test split it could not use) left model.pt but no report:
re-running it was refused with "already holds a trained run; ... pass --resume" alone. The refusal says what the
folder holds and every way on; a folder a fit left before training (no checkpoint, no model) never blocks a re-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medimg.errors import RunFolderError
from medimg.run_folder import BUNDLE_FILES, RunFolder


def _run(tmp_path: Path, *files: str, test: int = 4) -> Path:
    run = tmp_path / "run"
    for name in ("config.json", "dataset.json", "fingerprint.json", *files):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text("{}")
    (run / "config.json").write_text(json.dumps({"task": "classify", "data": str(tmp_path / "data"), "options": {}}))
    (run / "splits.json").write_text(json.dumps({"counts": {"train": 8, "val": 4, "test": test}}))
    return run


def test_a_fit_stopped_before_its_test_evaluation_is_described(tmp_path: Path) -> None:
    run = _run(tmp_path, *BUNDLE_FILES, "checkpoints/last.pt", "checkpoints/best.pt")
    with pytest.raises(RunFolderError) as caught:
        RunFolder(run).ensure_writable(resume=False)
    message = str(caught.value)
    assert "stopped before evaluating it on the test split" in message
    assert f"medimg evaluate {run}" in message and "--resume" in message and "another --run-dir" in message
    RunFolder(run).ensure_writable(resume=True)


def test_an_unfinished_training_is_described(tmp_path: Path) -> None:
    run = _run(tmp_path, "plan.json", "checkpoints/last.pt")
    with pytest.raises(RunFolderError, match=r"unfinished training \(checkpoints/last\.pt, no model\.pt yet\)"):
        RunFolder(run).ensure_writable(resume=False)


def test_a_finished_run_keeps_its_message(tmp_path: Path) -> None:
    run = _run(tmp_path, *BUNDLE_FILES, "checkpoints/last.pt", "report/report.json")
    with pytest.raises(RunFolderError, match="already holds a trained run"):
        RunFolder(run).ensure_writable(resume=False)


def test_a_fit_that_failed_before_training_does_not_block_a_rerun(tmp_path: Path) -> None:
    RunFolder(_run(tmp_path, "plan.json")).ensure_writable(resume=False)  # its files are written over


def test_a_run_without_a_test_split_keeps_its_message(tmp_path: Path) -> None:
    run = _run(tmp_path, *BUNDLE_FILES, test=0)
    with pytest.raises(RunFolderError, match="already holds a trained run"):
        RunFolder(run).ensure_writable(resume=False)
