"""A training process killed under `fit --nproc-per-node 2` (the OOM killer, kill -9): the others end with one
`error:` line, not a traceback of gloo's "Read error ... Connection reset by peer"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

from medimg.engine import run as run_module
from medimg.errors import RunFolderError

GLOO = (
    "[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:24756: Connection reset by peer. "
    "This is typically caused by a remote worker hanging or bugs in the application."
)


def _in_a_job_of(monkeypatch: pytest.MonkeyPatch, processes: int) -> None:
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *a, **k: processes)


def _failing(error: BaseException) -> Any:
    def fit(*args: Any, **kwargs: Any) -> None:
        raise error

    return fit


def test_a_collective_failing_for_a_lost_process_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _in_a_job_of(monkeypatch, 2)
    monkeypatch.setattr(run_module, "_fit_run", _failing(RuntimeError(GLOO)))
    with pytest.raises(RunFolderError, match=r"another process of this job is gone .* --resume") as caught:
        run_module.fit_run(None, None, tmp_path / "run", None)  # type: ignore[arg-type]
    assert caught.value.__suppress_context__


@pytest.mark.parametrize(("processes", "message"), [(1, GLOO), (2, "mat1 and mat2 shapes cannot be multiplied")])
def test_other_runtime_errors_stay_as_they_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, processes: int, message: str
) -> None:
    """One process alone, or an error of this process's own (a bug): nothing is hidden."""
    _in_a_job_of(monkeypatch, processes)
    monkeypatch.setattr(run_module, "_fit_run", _failing(RuntimeError(message)))
    with pytest.raises(RuntimeError, match=re.escape(message)):
        run_module.fit_run(None, None, tmp_path / "run", None)  # type: ignore[arg-type]
