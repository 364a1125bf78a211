"""Batches drawn ahead in a background thread: the same batches in the same order, errors raised in the training
thread, and the thread stopped when training stops early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import torch

from medimg.engine.batches import Batch, SampledBatches, prefetched


class _Patches:
    """A sampler drawing only from the generator it is given (as the segmentation patch sampler does)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.threads: set[str] = set()

    def sample(self, n: int, generator: torch.Generator) -> Batch:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.fail_at is not None and self.calls == self.fail_at:
            raise ValueError("patch 3 is broken")
        x = torch.rand((n, 1, 4, 4), generator=generator)
        return x, (x > 0.5).long()[:, 0]


def _epoch(prefetch: int, sampler: _Patches | None = None) -> list[Batch]:
    source = SampledBatches(sampler or _Patches(), batch_size=3, steps=7, prefetch=prefetch)
    return list(source.epoch(torch.Generator().manual_seed(5)))


def test_prefetched_batches_are_the_batches_drawn_in_turn() -> None:
    sampler = _Patches()
    ahead, in_turn = _epoch(2, sampler), _epoch(0)
    assert len(ahead) == len(in_turn) == 7
    for (xa, ya), (xb, yb) in zip(ahead, in_turn, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert sampler.threads == {"medimg-batches"}  # drawn in the background thread


def test_an_error_while_drawing_is_raised_in_the_training_thread() -> None:
    with pytest.raises(ValueError, match="patch 3 is broken"):
        _epoch(2, _Patches(fail_at=3))


def test_stopping_early_stops_the_drawing_thread() -> None:
    drawn: list[int] = []

    def endless() -> Iterator[Batch]:
        i = 0
        while True:
            drawn.append(i)
            yield torch.zeros(1), torch.zeros(1)
            i += 1

    batches = prefetched(endless(), depth=2)
    next(batches)
    batches.close()  # a break out of the loop, an interrupt or an error in the step
    assert not any(t.name == "medimg-batches" for t in threading.enumerate())
    count = len(drawn)
    time.sleep(0.1)
    assert len(drawn) == count <= 4  # at most the queue and the one in hand were drawn, and nothing after


def test_depth_zero_draws_in_the_calling_thread() -> None:
    sampler = _Patches()
    _epoch(0, sampler)
    assert sampler.threads == {threading.current_thread().name}
