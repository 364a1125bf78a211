"""Batch sources: what the training loop iterates over in one epoch, task-agnostic.

A batch source yields ``(inputs, targets)`` pairs of tensors for one epoch from a seeded generator, so a
resumed run sees the same batches as an uninterrupted one. They are CPU tensors, except where a classification
training split small enough for the GPU was put there (:func:`resident_device`): its batches are then drawn and
augmented on the GPU (the random draws stay on the CPU generator, so the batches are the same on either device).
Under distributed training each rank draws its shard of every global batch (``plan.batch_size`` samples over all
ranks), and every rank runs the same number of steps.

* :class:`TensorBatches`: shuffled passes over preprocessed tensors (classification), with batched augmentation.
* :class:`SampledBatches`: a fixed number of steps drawn from a sampler (segmentation patches).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import torch

from medimg.engine.distributed import Distributed

logger = logging.getLogger(__name__)

#: Share of a GPU's free memory a training split may take to stay on it (the rest is the network's and its batches').
RESIDENT_SHARE = 0.25

#: ``(inputs, targets)``: tensors, or lists/dicts of tensors (e.g. detection: a list of images and of box targets)
Batch = tuple[Any, Any]


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` on ``device``: a tensor, or the tensors inside lists, tuples and dicts (other values unchanged)."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value


def resident_device(tensors: Sequence[torch.Tensor], device: torch.device) -> torch.device:
    """Where a training split's ``tensors`` should live during training: on the CUDA ``device`` when together they
    take at most :data:`RESIDENT_SHARE` of its free memory (no host-to-device copy and no CPU augmentation per
    step: on an H200 the 28 px classifier's loop kept the GPU 9% busy with the data on the host), else the host."""
    if device.type != "cuda":
        return torch.device("cpu")
    free, _ = torch.cuda.mem_get_info(device)
    size = sum(t.numel() * t.element_size() for t in tensors)
    if size <= RESIDENT_SHARE * free:
        return device
    logger.info(
        "the training split (%.1f GB) stays in host memory: it is more than %.0f%% of the GPU's free %.1f GB",
        size / 1e9,
        100 * RESIDENT_SHARE,
        free / 1e9,
    )
    return torch.device("cpu")


class _End:
    """What the drawing thread leaves last: the end of the epoch, or the error that ended it."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(batches: Iterator[Batch], depth: int) -> Iterator[Batch]:
    """``batches`` drawn up to ``depth`` ahead in a background thread while the caller trains on the one in hand.

    The same batches in the same order (one thread draws them, in turn, from the epoch's generator), so a source
    whose draws come only from that generator stays reproducible. An error raised while drawing is raised here;
    closing the iterator (a break, an interrupt, an error in the step) stops the thread before it returns.
    ``depth`` 0: ``batches`` itself.
    """
    if depth <= 0:
        yield from batches
        return
    ready: queue.Queue[Batch | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Batch | _End) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def draw() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
        except BaseException as error:  # handed to the training thread, which raises it
            offer(_End(error))
            return
        offer(_End())

    worker = threading.Thread(target=draw, name="medimg-batches", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        worker.join()


class BatchSource(Protocol):
    """One epoch of training batches.

    Attributes:
        unit: what one sample is, for throughput rows (``"images"``, ``"patches"``).
        memory_format: the layout the network and its inputs should use (channels_last...).
    """

    unit: str
    memory_format: torch.memory_format

    def steps_per_epoch(self) -> int:
        """Optimisation steps in one epoch (the same on every rank)."""
        ...

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        """The epoch's batches, drawn with ``generator`` (seeded per epoch by the loop)."""
        ...


def batch_starts(n: int, batch_size: int, min_last: int = 2) -> range:
    """Start index of every global batch; a last batch smaller than ``min_last`` is dropped (BatchNorm cannot
    train on one sample, and under DDP every rank needs at least one)."""
    remainder = n % batch_size
    stop = n - remainder if 0 < remainder < min_last and n > remainder else n
    return range(0, stop, batch_size)


class TensorBatches:
    """Shuffled mini-batches over ``inputs`` ``(N, C, *spatial)`` (any float dtype) and ``targets`` ``(N, ...)``.

    Args:
        inputs, targets: the training split, index-aligned.
        batch_size: samples per global batch (over all ranks).
        augment: ``(batch float32, generator) -> batch``, applied to each drawn batch.
        memory_format: layout of the batches handed to the network.
        distributed: this rank's place; each rank takes every ``world_size``-th index of each global batch.
        device: where ``inputs`` and ``targets`` are kept and the batches drawn and augmented (default: where
            they are); the order and the augmentation's random draws come from the CPU generator either way.
    """

    unit = "images"

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        batch_size: int,
        *,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        memory_format: torch.memory_format = torch.contiguous_format,
        distributed: Distributed | None = None,
        device: torch.device | None = None,
    ) -> None:
        if device is not None:
            inputs, targets = inputs.to(device), targets.to(device)
        self.inputs, self.targets = inputs, targets
        self.batch_size = batch_size
        self.augment = augment
        self.memory_format = memory_format
        self.distributed = distributed or Distributed()
        self.min_last = max(2, 2 * self.distributed.world_size)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def steps_per_epoch(self) -> int:
        return len(batch_starts(len(self), self.batch_size, self.min_last))

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(len(self), generator=generator)
        for start in batch_starts(len(self), self.batch_size, self.min_last):
            index = self.distributed.shard(order[start : start + self.batch_size]).to(self.inputs.device)
            xb = self.inputs[index].float()
            if self.augment is not None:
                xb = self.augment(xb, generator)
            yield xb.contiguous(memory_format=self.memory_format), self.targets[index]


class Sampler(Protocol):
    """Draws ``n`` training samples (e.g. foreground-aware patches) with a generator."""

    def sample(self, n: int, generator: torch.Generator) -> Batch: ...


class SampledBatches:
    """``steps`` batches per epoch, each drawn from ``sampler``.

    Under distributed training each rank draws ``batch_size / world_size`` samples a step from its own stream
    (the epoch's generator, offset by the rank), so the ranks see different samples. With ``prefetch`` > 0 a
    background thread draws that many batches ahead (:func:`prefetched`; the sampler must draw only from the
    generator it is given), so the host prepares the next batch while the device trains on this one.
    """

    def __init__(
        self,
        sampler: Sampler,
        batch_size: int,
        steps: int,
        *,
        unit: str = "patches",
        memory_format: torch.memory_format = torch.contiguous_format,
        distributed: Distributed | None = None,
        prefetch: int = 0,
    ) -> None:
        self.sampler = sampler
        self.prefetch = prefetch
        self.distributed = distributed or Distributed()
        self.batch_size = max(1, batch_size // self.distributed.world_size)
        self.steps = steps
        self.unit = unit
        self.memory_format = memory_format

    def steps_per_epoch(self) -> int:
        return self.steps

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        if self.distributed.rank:
            offset = int(torch.randint(0, 2**62, (1,), generator=generator))
            generator = torch.Generator().manual_seed(offset + self.distributed.rank)
        return prefetched(self._draw(generator), self.prefetch)

    def _draw(self, generator: torch.Generator) -> Iterator[Batch]:
        for _ in range(self.steps):
            x, y = self.sampler.sample(self.batch_size, generator)
            yield x.contiguous(memory_format=self.memory_format), y
