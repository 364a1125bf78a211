"""The classification loss's class weights follow the network onto its device.

A CUDA run failed on its first step when the class-weighted loss kept its weights on the CPU. CI has no GPU:
PyTorch's ``meta`` device checks the loss's placement the same way (mixing it with CPU weights raises), so this
test fails on the old code without one. (The logit adjustment's CPU shifts added to a GPU bias, the next failure
of that run, are not caught by ``meta``, which accepts the in-place add: it was checked on the GPU.)
"""

from __future__ import annotations

import torch
from torch import nn

from medimg.planning.plan import Plan
from medimg.tasks.classify.data import PreparedSplit
from medimg.tasks.classify.step import make_hooks


def _plan() -> Plan:
    return Plan(num_classes=2, input_size=[8, 8], class_weights=[2.0, 0.5], logit_adjustment=True)


class _Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(64, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1))


def test_class_weighted_loss_runs_on_the_networks_device() -> None:
    plan = _plan()
    empty = PreparedSplit(x=torch.zeros(0, 1, 8, 8), y=torch.zeros(0, dtype=torch.long), case_ids=[])
    hooks = make_hooks(plan, empty)
    network = _Head().to("meta")
    loss = hooks.loss(network, torch.zeros(4, 1, 8, 8, device="meta"), torch.zeros(4, dtype=torch.long, device="meta"))
    assert loss.device.type == "meta" and loss.shape == ()
