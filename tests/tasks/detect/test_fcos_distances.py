"""FCOS's box-side distances keep learning (softplus), where torchvision's relu could die for one side."""

from __future__ import annotations

import pytest
import torch

from medimg.tasks.detect.networks import SoftplusDistances, build_detector
from medimg.tasks.detect.plan import DetectPlan


def _plan(distances: str) -> DetectPlan:
    return DetectPlan(
        network="fcos",
        num_classes=1,
        class_names=["lesion"],
        in_channels=1,
        input_size=[64, 64],
        norm_mean=[0.5],
        norm_std=[0.25],
        backbone_widths=[8, 8, 16, 16],
        backbone_depths=[1, 1, 1, 1],
        fpn_channels=8,
        head_convs=1,
        box_distances=distances,
    )


def _bottom_gradient(distances: str) -> float:
    """The gradient reaching the bottom side's bias from one training step, its raw output below 0 everywhere."""
    torch.manual_seed(0)
    detector = build_detector(_plan(distances)).train()
    with torch.no_grad():
        detector.head.regression_head.bbox_reg.bias[3] = -5.0
    image = torch.zeros(1, 64, 64)
    image[:, 16:40, 16:40] = 1.0
    target = {"boxes": torch.tensor([[16.0, 16.0, 40.0, 40.0]]), "labels": torch.tensor([0])}
    losses = detector([image, image.flip(-1)], [target, {**target, "boxes": torch.tensor([[24.0, 16.0, 48.0, 40.0]])}])
    sum(losses.values()).backward()
    grad = detector.head.regression_head.bbox_reg.bias.grad
    assert grad is not None
    return float(grad[3].abs())


def test_a_side_whose_distance_went_negative_everywhere_still_learns() -> None:
    """ChestX-Det, 40 epochs: the bottom distance's raw output was below 0 at every location, relu made it 0 with no
    gradient, and the bottom of all 579 predicted boxes sat on the 8-px grid (mAP@0.75 0). A planned detector's
    softplus still passes a gradient; torchvision's relu (runs planned before) passes none."""
    assert _bottom_gradient("softplus") > 1e-6
    assert _bottom_gradient("relu") == 0.0


def test_the_planner_chooses_softplus_and_a_plan_without_the_field_keeps_relu() -> None:
    """A bundle trained before keeps the activation it was trained with: its plan.json has no box_distances."""
    assert DetectPlan().box_distances == "relu"
    assert isinstance(build_detector(_plan("softplus")).head.regression_head.bbox_reg, SoftplusDistances)
    assert type(build_detector(_plan("relu")).head.regression_head.bbox_reg) is torch.nn.Conv2d


@pytest.mark.parametrize("saved", ["relu", "softplus"])
def test_weights_of_either_load_into_the_other(saved: str) -> None:
    other = "relu" if saved == "softplus" else "softplus"
    state = build_detector(_plan(saved)).state_dict()
    build_detector(_plan(other)).load_state_dict(state)
