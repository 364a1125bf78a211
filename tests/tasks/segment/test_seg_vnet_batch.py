"""``--set network=vnet`` with 16-voxel patches and a batch of 1: its deepest batch norm sees one value per channel,
a PyTorch traceback on the first step ("Expected more than 1 value per channel") -> a one-line ConfigError."""

from __future__ import annotations

import pytest

from medimg.errors import ConfigError
from medimg.tasks.segment.networks import build_segmentation_network
from medimg.tasks.segment.planning import SegPlan


def _plan(batch_size: int, patch: list[int]) -> SegPlan:
    return SegPlan(network="vnet", spatial_dims=3, patch_size=patch, batch_size=batch_size, num_classes=2)


def test_vnet_refuses_one_voxel_at_the_bottom_with_a_batch_of_one() -> None:
    with pytest.raises(ConfigError, match="batch_size=2"):
        build_segmentation_network(_plan(1, [16, 16, 16]))


def test_vnet_builds_when_its_bottom_holds_two_values() -> None:
    build_segmentation_network(_plan(2, [16, 16, 16]))
    build_segmentation_network(_plan(1, [32, 16, 16]))
