"""An exponential moving average (EMA) of a network's weights while it trains.

The average is what gets validated and kept: it smooths the last steps' noise (Polyak averaging; the "model EMA"
of timm and of most recent image-classification recipes), which matters most on small medical sets whose
validation metrics jump from epoch to epoch.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

EMA_WARMUP = 10.0
"""The decay at update ``t`` is ``min(decay, (1 + t) / (EMA_WARMUP + t))``: early on the average tracks the network,
so a short run is not averaged with its near-initial weights."""


def decay_at(decay: float, updates: int) -> float:
    """The warmed-up decay after ``updates`` updates (see :data:`EMA_WARMUP`)."""
    return min(decay, (1 + updates) / (EMA_WARMUP + updates))


@torch.no_grad()
def ema_update(average: nn.Module, current: nn.Module, decay: float, *, average_buffers: bool = True) -> None:
    """``average = decay * average + (1 - decay) * current`` for every parameter, and for the floating-point
    buffers (BatchNorm running statistics) when ``average_buffers``, else those are copied; integer buffers
    (BatchNorm's batch counter) are always copied."""
    for mean, value in zip(average.parameters(), current.parameters(), strict=True):
        mean.lerp_(value.detach(), 1 - decay)
    for buffer, live in zip(average.buffers(), current.buffers(), strict=True):
        if average_buffers and buffer.is_floating_point():
            buffer.lerp_(live, 1 - decay)
        else:
            buffer.copy_(live)


class WeightAverage:
    """The EMA of a training network: ``update`` after each optimiser step; ``module`` is the averaged network.

    Args:
        network: the network being trained (copied; the copy never trains).
        decay: the EMA decay per update (0.999 averages over about the last 1,000 steps).
    """

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(network)
        self.module.requires_grad_(False)
        self.module.eval()

    def update(self, network: nn.Module) -> None:
        self.updates += 1
        ema_update(self.module, network, decay_at(self.decay, self.updates))

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
