"""``medimg fit ... --nproc-per-node N``: start the same command under PyTorch's torchrun agent.

The agent starts N processes per node running ``python -m medimg fit ...`` (the original arguments without the
launch options); they train one model with DistributedDataParallel (see :mod:`medimg.engine.distributed`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

from medimg.errors import ConfigError

#: options that belong to the launcher, with whether each takes a value
LAUNCH_OPTIONS = {
    "--nproc-per-node": True,
    "--nnodes": True,
    "--node-rank": True,
    "--rdzv-endpoint": True,
    "--rdzv-id": True,
}


def strip_launch_options(argv: list[str]) -> list[str]:
    """``argv`` without the launcher's options (``--opt VALUE`` and ``--opt=VALUE`` forms)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in LAUNCH_OPTIONS:
            skip = "=" not in arg and LAUNCH_OPTIONS[name]
            continue
        out.append(arg)
    return out


def torchrun_command(
    args: list[str],
    nproc_per_node: int,
    *,
    nnodes: int = 1,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
    rdzv_id: str = "medimg",
) -> list[str]:
    """The torchrun command line that runs ``medimg <args>`` in ``nproc_per_node`` processes per node."""
    if nproc_per_node < 1 or nnodes < 1:
        raise ConfigError("--nproc-per-node and --nnodes must be at least 1")
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc_per_node}"]
    if nnodes == 1 and rdzv_endpoint is None:
        command.append("--standalone")
    else:
        if rdzv_endpoint is None:
            raise ConfigError("multi-node training needs --rdzv-endpoint HOST:PORT that every node can reach")
        command += [
            f"--nnodes={nnodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={rdzv_endpoint}",
            f"--rdzv-id={rdzv_id}",
        ]
        if node_rank is not None:
            command.append(f"--node-rank={node_rank}")
    return [*command, "-m", "medimg", *args]


def relaunch_with_torchrun(
    nproc_per_node: int,
    *,
    nnodes: int = 1,
    node_rank: int | None = None,
    rdzv_endpoint: str | None = None,
    rdzv_id: str = "medimg",
) -> int:
    """Run this process's ``medimg`` command under torchrun; returns its exit code.

    A stop sent to this process (``kill``: SIGTERM, or SIGHUP when its terminal closes) is passed on to torchrun,
    which stops its workers: the job ends as the user asked (it went on training in the background and wrote its run
    folder). Ctrl-C reaches torchrun from the terminal itself (one process group), so SIGINT is not passed twice.
    """
    command = torchrun_command(
        strip_launch_options(sys.argv[1:]),
        nproc_per_node,
        nnodes=nnodes,
        node_rank=node_rank,
        rdzv_endpoint=rdzv_endpoint,
        rdzv_id=rdzv_id,
    )
    process = subprocess.Popen(command)

    def forward(signum: int, _frame: Any) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    def wait_for_torchrun(signum: int, _frame: Any) -> None:
        """Ctrl-C: torchrun got it too and stops its workers; this process waits for that instead of leaving."""

    handlers = {signal.SIGTERM: forward, signal.SIGHUP: forward, signal.SIGINT: wait_for_torchrun}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
