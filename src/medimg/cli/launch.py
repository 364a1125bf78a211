"""``medimg fit ... --nproc-per-node N``: start the same command under PyTorch's torchrun agent.

The agent starts N processes per node running ``python -m medimg fit ...`` (the original arguments without the
launch options); they train one model with DistributedDataParallel (see :mod:`medimg.engine.distributed`).
The agent runs as ``python -m medimg.cli.launch`` (torchrun's own code, its arguments unchanged), so that a worker
that stops with medimg's one-line ``error:`` ends the job with that line and exit status, not with torchrun's
traceback and failure table.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
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
    if nproc_per_node < 1:
        raise ConfigError(
            f"--nproc-per-node {nproc_per_node}: give the number of training processes on this machine, 1 or more "
            "(e.g. --nproc-per-node 2, or one per GPU)"
        )
    if nnodes < 1:
        raise ConfigError(f"--nnodes {nnodes}: give the number of machines taking part, 1 or more")
    if node_rank is not None and not 0 <= node_rank < nnodes:
        raise ConfigError(f"--node-rank {node_rank}: give this machine's index, 0 to {nnodes - 1} (--nnodes {nnodes})")
    if rdzv_endpoint is not None:
        _check_endpoint(rdzv_endpoint, hosted_here=nnodes == 1 or node_rank == 0)
    command = [sys.executable, "-m", "medimg.cli.launch", f"--nproc-per-node={nproc_per_node}"]
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


def _check_endpoint(endpoint: str, *, hosted_here: bool) -> None:
    """Refuse an ``--rdzv-endpoint`` that is not ``HOST:PORT``, or whose port on this machine is already taken
    (torchrun then waited on the other program's port without a word)."""
    host, _, port_text = endpoint.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"--rdzv-endpoint {endpoint!r}: give HOST:PORT, e.g. node0.example:29400")
    host = host.strip("[]")
    local = {"localhost", "127.0.0.1", "::1", "0.0.0.0", socket.gethostname(), socket.getfqdn()}
    if not hosted_here or host not in local:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as torch's store: a closed port is free
        try:
            probe.bind(("" if host in {"0.0.0.0", socket.gethostname(), socket.getfqdn()} else host, int(port_text)))
        except OSError as error:
            raise ConfigError(
                f"--rdzv-endpoint {endpoint}: port {port_text} on this machine is in use ({error.strerror}; another "
                "job, or an earlier run still going): choose another port, or on one machine leave --rdzv-endpoint "
                "out (a free port is chosen)"
            ) from None


def run_agent(argv: list[str]) -> int:
    """torchrun's agent with ``argv`` (its own arguments); returns the job's exit status.

    A worker that failed with medimg's own exit status (1: some inputs unusable, 2: an ``error:`` line, 130/143:
    interrupted) has said why on its own: the status is returned without torchrun's traceback. Any other failure (a
    crash, a kill) gets one ``error:`` line naming the process and what ended it.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    for name in list(logging.root.manager.loggerDict):  # the agent's loggers, each with its own level
        if name.startswith("torch.distributed"):  # the workers and this function say what went wrong
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        run(parse_args(argv))
    except ChildFailedError as error:
        rank, failure = error.get_first_failure()
        if failure.exitcode in (1, 2, 130, 143):
            return failure.exitcode
        what = f"signal {failure.signal_name()}" if failure.exitcode < 0 else f"exit status {failure.exitcode}"
        hint = " (out of memory? try a smaller --batch-size)" if failure.signal_name() == "SIGKILL" else ""
        print(f"error: training process {rank} ended with {what}{hint}; see its messages above", file=sys.stderr)
        return 1
    except SignalException as stop:
        return 128 + int(stop.sigval)
    return 0


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
    from medimg.engine.distributed import LAUNCHER_ENV

    process = subprocess.Popen(command, env={**os.environ, LAUNCHER_ENV: "1"})

    def forward(signum: int, _frame: Any) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    def wait_for_torchrun(signum: int, _frame: Any) -> None:
        """Ctrl-C: torchrun got it too and stops its workers; this process waits for that instead of leaving."""

    handlers = {signal.SIGTERM: forward, signal.SIGHUP: forward, signal.SIGINT: wait_for_torchrun}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        code = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if code in (128 + signal.SIGTERM, 128 + signal.SIGHUP):  # Ctrl-C's 130 is told by the CLI itself
        from medimg.interrupts import advice

        print(advice(sys.argv[1:], code - 128), file=sys.stderr)
    return code


if __name__ == "__main__":  # the agent relaunch_with_torchrun starts
    sys.exit(run_agent(sys.argv[1:]))
