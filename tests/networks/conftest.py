"""Run the network tests single-threaded.

On a small shared CPU box, OpenMP's spin-waiting makes ``torch.set_num_threads(2)`` up to 100x slower for nets
made of many tiny ops (EfficientNet) as soon as another process competes for a core; one thread is robust
and within 2x of the best case. The previous setting is restored after each module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
