"""`medimg fit --nproc-per-node N` launcher: bad values and a busy port are refused in one line before anything
starts; a worker's own `error:` ends the job without torchrun's traceback; a SIGTERM'd job says how to go on with
its launch options. No training here (torchrun's agent runs a shell command)."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from medimg.cli import launch
from medimg.cli.launch import torchrun_command
from medimg.errors import ConfigError


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nproc_per_node": 0}, r"--nproc-per-node 0: give the number of training processes"),
        ({"nproc_per_node": 2, "nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h:29400"}, r"--node-rank 2: .* 0 to 1"),
        ({"nproc_per_node": 2, "rdzv_endpoint": "node0"}, r"--rdzv-endpoint 'node0': give HOST:PORT"),
    ],
)
def test_bad_launch_values_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        torchrun_command(["fit", "data"], **kwargs)


def test_a_port_in_use_is_refused_before_torchrun_waits_on_it() -> None:
    """torchrun waited without a word on another program's port (a hang until its 15-minute timeout)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"port {port} on this machine is in use.*choose another port"):
            torchrun_command(["fit", "data"], 2, rdzv_endpoint=f"127.0.0.1:{port}")


def _agent(capfd: pytest.CaptureFixture[str], *command: str) -> tuple[int, str]:
    """torchrun's agent as `medimg fit --nproc-per-node` runs it, with one process running ``command``."""
    code = launch.run_agent(["--standalone", "--nproc-per-node=1", "--no-python", *command])
    return code, capfd.readouterr().err


def test_a_workers_error_line_ends_the_job_without_torchruns_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    assert torchrun_command(["fit", "d"], 2)[1:3] == ["-m", "medimg.cli.launch"]  # the agent below
    code, err = _agent(capfd, "sh", "-c", "echo 'error: weights file nope.pt does not exist' >&2; exit 2")
    assert code == 2
    assert "error: weights file nope.pt" in err
    assert "Traceback" not in err and "ChildFailedError" not in err and "FAILED" not in err


def test_a_killed_worker_is_named_in_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    code, err = _agent(capfd, sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert code == 1
    assert "error: training process 0 ended with signal SIGKILL (out of memory?" in err
    assert "Traceback" not in err


def test_a_sigtermed_job_says_how_to_go_on_with_its_launch_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The worker said `medimg fit ... --resume` without --nproc-per-node (a 1-process resume); now the workers
    leave it to the launcher, which names its own command."""
    seen: dict[str, Any] = {}

    class Torchrun:
        def __init__(self, command: list[str], env: dict[str, str]) -> None:
            seen.update(command=command, env=env)

        def poll(self) -> int:
            return 143

        def wait(self) -> int:
            return 128 + signal.SIGTERM

    monkeypatch.setattr(launch.subprocess, "Popen", Torchrun)
    run = str(tmp_path / "run")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)  # what the ranks wrote before the signal
    monkeypatch.setattr(sys, "argv", ["medimg", "fit", "data", "--nproc-per-node", "2", "--run-dir", run])
    assert launch.relaunch_with_torchrun(2) == 143
    assert seen["env"]["MEDIMG_LAUNCHER"] == "1"
    assert "--nproc-per-node" not in seen["command"][seen["command"].index("medimg") :]
    resume = f"`medimg fit data --nproc-per-node 2 --run-dir {run} --resume`"
    assert f"interrupted by SIGTERM; the fit goes on from its last checkpoint with {resume}" in capsys.readouterr().err


def test_more_processes_than_gpus_is_refused_before_nccl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ranks were put on one GPU (local_rank % count), which NCCL refuses with its own error."""
    import torch

    from medimg.engine import distributed

    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"2 training processes on this machine but 1 GPU\(s\).*--nproc-per-node 1"):
        distributed.init_distributed()
