"""Resumed runs equal uninterrupted ones in the parts a user cannot see: the mixing of Mixup/CutMix batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medimg.engine.checkpoint import load_checkpoint
from medimg.planning.plan import AugmentationPlan
from medimg.transforms.mixing import BatchMixer
from tests.engine.test_trainer import _plan, full_and_resumed


def test_a_run_with_mixup_resumed_mid_way_trains_as_the_uninterrupted_one(tmp_path: Path) -> None:
    """The mixer drew from one stream seeded when the run started: a run resumed at epoch 3 mixed its epochs 3
    and 4 with the draws of epochs 1 and 2, so its weights (and chosen epoch) differed from the uninterrupted run's
    while README promises "same epochs, same result"."""
    plan = _plan(augmentation=AugmentationPlan(), mixup=0.4, cutmix=1.0)  # each batch one of them
    full, resumed = full_and_resumed(plan, tmp_path)
    for a, b in zip(full.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5), a["epoch"]
    last_a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["model"]
    last_b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model"]
    for key in last_a:
        assert torch.allclose(last_a[key].float(), last_b[key].float(), atol=1e-5), key


def test_the_mixer_follows_the_seed_the_loop_sets_per_epoch() -> None:
    """An epoch's mixing depends on its seed alone, not on how many batches were mixed before it."""
    x = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 1, 4, 4)
    went_through, resumed = BatchMixer(mixup=0.4, cutmix=0.0, seed=1), BatchMixer(mixup=0.4, cutmix=0.0, seed=1)
    torch.manual_seed(101)
    went_through(x)
    torch.manual_seed(102)
    a = went_through(x)
    torch.manual_seed(102)
    b = resumed(x)
    assert torch.equal(a.partner, b.partner) and a.share == b.share
