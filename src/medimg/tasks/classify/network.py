"""The classification network of a plan, from the network registry (nothing downloaded)."""

from __future__ import annotations

from typing import Any

from torch import nn

from medimg.engine.ensemble import build_planned


def build_network(plan: Any) -> nn.Module:
    """The plan's network, freshly initialised (or from ``plan.weights_path``); an ensemble of ``plan.ensemble``
    such networks when it is above 1."""
    from medimg.tasks.classify.task import CLASSIFY

    return build_planned(CLASSIFY.build_network, plan)
