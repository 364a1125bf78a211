"""The classification network of a plan, from the network registry (nothing downloaded)."""

from __future__ import annotations

from typing import Any

from torch import nn

from medimg.engine.ensemble import build_planned
from medimg.planning.plan import Plan


def build_network(plan: Plan | Any) -> nn.Module:
    """The plan's network, freshly initialised (or from ``plan.weights_path``); an ensemble of ``plan.ensemble``
    such networks when it is above 1."""
    from medimg.networks import create_network

    def one(single: Any) -> nn.Module:
        return create_network(
            single.network,
            in_channels=single.in_channels,
            num_classes=single.num_classes,
            spatial_dims=single.spatial_dims,
            input_size=single.input_size,
            width=single.width,
            dropout=single.dropout,
            weights_path=single.weights_path,
        )

    return build_planned(one, plan)
