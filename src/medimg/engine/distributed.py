"""Device and multi-process training on PyTorch's own distributed engine (torchrun + DistributedDataParallel).

One training run may span several processes, on one machine or many, started by ``torchrun`` (or by
``medimg fit --nproc-per-node N``, which starts the same agent). Each process is one *rank*: it trains a replica
of the network on its shard of every batch; DDP averages the gradients, so the replicas stay identical. Rank 0
alone validates, decides (early stopping, time budget) and writes the run folder; the other ranks receive its
decisions. Backend: NCCL when each rank has a CUDA device, gloo otherwise.

The torchrun environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...) is read here and
nowhere else.
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from medimg.errors import ConfigError

logger = logging.getLogger(__name__)

T = TypeVar("T")


#: what gloo and NCCL collectives raise when another process of the job is gone (killed, out of memory, crashed)
PEER_LOST = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "communicator was aborted")


def lost_peer(error: BaseException) -> bool:
    """Whether ``error`` is a collective of a multi-process job failing because another of its processes stopped
    (its own messages, or the launcher's line, say why): not a bug of this process, so no traceback of it."""
    dist = torch.distributed
    if not isinstance(error, RuntimeError) or not (dist.is_available() and dist.is_initialized()):
        return False
    return dist.get_world_size() > 1 and any(text in str(error) for text in PEER_LOST)


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a (possibly single-process) training run.

    Attributes:
        rank: this process's index over all nodes (0 = the one that writes).
        world_size: number of processes.
        local_rank: index on this node (selects the GPU).
        local_world_size: processes on this node (they share its CPU cores).
        device: where this process trains: ``cuda:<local_rank>`` when CUDA is present, else the CPU.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """More than one process: gradients are all-reduced and rank 0 decides."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The process that validates, decides and writes files."""
        return self.rank == 0

    # ------------------------------------------------------------------ collectives (no-ops on one process)
    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (any picklable value)."""
        if not self.enabled:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def all_true(self, flag: bool) -> bool:
        """True only when ``flag`` is true on every rank (e.g. "my loss is finite")."""
        if not self.enabled:
            return flag
        value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self._collective_device())
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MIN)
        return bool(value.item())

    def sums(self, *values: float) -> tuple[float, ...]:
        """Each of ``values`` summed over every rank (e.g. a loss total and a sample count, so a logged mean is the
        whole batch's, not rank 0's share)."""
        if not self.enabled:
            return values
        total = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        torch.distributed.all_reduce(total, op=torch.distributed.ReduceOp.SUM)
        return tuple(float(v) for v in total.tolist())

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.enabled:
            torch.distributed.barrier()

    def wrap(self, network: nn.Module) -> nn.Module:
        """``network`` as every rank should call it in training: wrapped in DDP when distributed."""
        if not self.enabled:
            return network
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(network, device_ids=ids)

    def shard(self, global_batch: torch.Tensor) -> torch.Tensor:
        """This rank's part of one global batch of indices (every ``world_size``-th, from ``rank``)."""
        return global_batch[self.rank :: self.world_size] if self.enabled else global_batch

    def _collective_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def default_device(local_rank: int = 0) -> torch.device:
    """``cuda:<local_rank>`` when a CUDA device is present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def launched_by_torchrun() -> bool:
    """True inside a process started by ``torchrun`` (its environment names the world)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


#: set by ``medimg fit --nproc-per-node`` for the processes it starts (through torchrun)
LAUNCHER_ENV = "MEDIMG_LAUNCHER"


def launched_by_medimg() -> bool:
    """True in a training process that ``medimg fit --nproc-per-node`` started: that command, not this process,
    tells the user how to go on after an interruption (with its own launch options)."""
    return launched_by_torchrun() and os.environ.get(LAUNCHER_ENV) == "1"


def init_distributed() -> Distributed:
    """This process's :class:`Distributed`: from the torchrun environment (joining the process group once), or
    a single process on the default device."""
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return Distributed(device=default_device())
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    device = default_device(local_rank)
    if device.type == "cuda" and local_world > torch.cuda.device_count():  # two ranks on one GPU: NCCL refuses
        raise ConfigError(
            f"{local_world} training processes on this machine but {torch.cuda.device_count()} GPU(s): NCCL needs "
            f"one GPU per process; give --nproc-per-node {torch.cuda.device_count()} (or --nproc_per_node for "
            "torchrun), or make more GPUs visible (CUDA_VISIBLE_DEVICES)"
        )
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend=backend)
        atexit.register(_leave_process_group)
        logger.info("rank %d of %d joined the process group (%s, %s)", rank, world, backend, device)
    return Distributed(rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world, device=device)


def _leave_process_group() -> None:
    """At exit, the process group this process joined is destroyed, as PyTorch asks: left to the interpreter's
    teardown, gloo's threads may still run when their objects are freed (``terminate called without an active
    exception``, an abort after a finished run)."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def process_rank() -> int:
    """This process's rank under torchrun (0 otherwise), without joining the process group (for logging)."""
    return int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0


def process_local_rank() -> int:
    """This process's index on its machine under torchrun (0 otherwise), without joining the process group."""
    return int(os.environ.get("LOCAL_RANK", "0")) if launched_by_torchrun() else 0


def network_device(network: nn.Module) -> torch.device:
    """The device a network's weights are on (the CPU for a network without parameters)."""
    for parameter in network.parameters():
        return parameter.device
    return torch.device("cpu")


def unwrap(network: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (or the network itself)."""
    inner: Any = getattr(network, "module", None)
    return inner if isinstance(inner, nn.Module) and type(network).__name__ == "DistributedDataParallel" else network
