"""The segmentation losses: clDice against pixel Dice on thin structures, ignored pixels left out."""

from __future__ import annotations

import pytest
import torch

from medimg.tasks.segment.labels import IGNORE
from medimg.tasks.segment.losses import cldice_loss, make_loss, soft_dice_loss
from medimg.tasks.segment.planning import SegPlan, resolve_seg_plan


def _logits(labels: torch.Tensor) -> torch.Tensor:
    """Confident two-class logits that predict ``labels`` exactly."""
    return torch.stack([(labels == 0).float(), (labels == 1).float()], 1) * 20 - 10


def _vessels() -> torch.Tensor:
    """A thick vertical vessel (9 px) and a thin horizontal one (1 px) on a 64 x 64 image."""
    labels = torch.zeros(1, 64, 64, dtype=torch.long)
    labels[:, :, 20:29] = 1
    labels[:, 45, 32:] = 1
    return labels


def test_cldice_is_zero_for_the_reference_and_penalises_a_missed_thin_vessel_more_than_dice() -> None:
    reference = _vessels()
    assert cldice_loss(_logits(reference), reference).item() == pytest.approx(0.0, abs=1e-3)
    missed_thin = reference.clone()
    missed_thin[:, 45, :] = 0
    missed_thin[:, 45, 20:29] = 1  # the thick vessel is kept whole
    dice_cost = soft_dice_loss(_logits(missed_thin), reference).item()
    cldice_cost = cldice_loss(_logits(missed_thin), reference).item()
    # the thin vessel is 5% of the foreground pixels but about half of the centre lines
    assert dice_cost < 0.05
    assert cldice_cost > 3 * dice_cost


def test_cldice_leaves_ignored_pixels_out() -> None:
    reference = _vessels()
    wrong_outside = reference.clone()
    wrong_outside[:, :8, :] = 1 - wrong_outside[:, :8, :]
    with_roi = reference.clone()
    with_roi[:, :8, :] = IGNORE
    assert cldice_loss(_logits(wrong_outside), with_roi).item() == pytest.approx(0.0, abs=1e-3)
    assert cldice_loss(_logits(wrong_outside), reference).item() > 0.02  # the same error counts without the ROI


def test_dice_ce_cldice_is_a_plan_loss_with_finite_gradients() -> None:
    plan = resolve_seg_plan(SegPlan(), {"loss": "dice_ce_cldice"})
    assert plan.loss == "dice_ce_cldice" and plan.reasons["loss"] == "set by user"
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 32, 32, requires_grad=True)
    target = torch.randint(0, 2, (2, 32, 32))
    target[0, :4] = IGNORE
    loss = make_loss(plan.loss)(logits, target)
    loss.backward()
    assert loss.item() > 0 and logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad[0, :, :4].abs().sum() == 0  # ignored pixels get no gradient
