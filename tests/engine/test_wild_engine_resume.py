"""Resumed runs equal uninterrupted ones in the parts a user cannot see: the mixing of Mixup/CutMix batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from medimg.engine.checkpoint import load_checkpoint
from medimg.engine.ensemble import train_members
from medimg.engine.trainer import TrainResult, train
from medimg.planning.plan import AugmentationPlan, Plan
from medimg.transforms.mixing import BatchMixer
from tests.engine.test_trainer import Interrupted, _data, _hooks, _net, _plan, _source

QUIET: dict[str, Any] = {"progress": False, "tensorboard": False}


def full_and_resumed(plan: Plan, tmp_path: Path, **options: Any) -> tuple[TrainResult, TrainResult]:
    """``plan`` trained uninterrupted in ``tmp_path/a``, and interrupted in epoch 3's validation then resumed in
    ``tmp_path/b`` (as tests/engine/test_trainer.py's, with ``train``'s ``options``)."""
    x, y = _data()
    results = []
    for folder, fail_at_call, resume in (("a", None, False), ("b", 3, False), ("b", None, True)):
        torch.manual_seed(0)
        hooks = _hooks(plan, fail_at_call=fail_at_call)
        try:
            results.append(
                train(
                    _net(plan),
                    _source(plan, x, y),
                    plan,
                    hooks,
                    tmp_path / folder,
                    seed=1,
                    resume=resume,
                    **QUIET,
                    **options,
                )
            )
        except Interrupted:
            assert fail_at_call is not None
    return results[0], results[1]


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


def test_a_budgeted_ensemble_resumed_keeps_the_share_of_the_budget_epoch_1_decided(tmp_path: Path) -> None:
    """Under a time budget the first epoch decides how many networks share it (3 here); a run resumed after it
    said 1 (its next members then took all the time left) and fitted the first network to the whole budget
    (60 epochs where it had planned 48 of its third)."""
    plan = _plan(time_budget_s=300.0, ensemble_min_epochs=2, augmentation=AugmentationPlan())
    full, resumed = full_and_resumed(plan, tmp_path, budget_networks=3)
    assert full.budget_share == 3
    assert resumed.budget_share == 3 and resumed.epochs == full.epochs
    saved = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert saved["budget"] == pytest.approx(100.0) and saved["budget_share"] == 3
    assert resumed.train_time_s >= saved["train_time_s"] * 0.99  # the time before the interruption counts


def test_resuming_an_ensemble_interrupted_in_its_first_network_warns_of_no_missing_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The members that had not started yet were "--resume: no checkpoint in RUN/member_1/checkpoints, starting
    from scratch" (a WARNING), as if something had been lost."""
    plan = _plan(epochs=2, ensemble=2, augmentation=AugmentationPlan())
    x, y = _data(32)

    with pytest.raises(Interrupted):  # in the first network's second epoch
        train_members(_net, _source(plan, x, y), plan, _hooks(plan, fail_at_call=2), tmp_path, **QUIET)
    with caplog.at_level("WARNING"):
        train_members(_net, _source(plan, x, y), plan, _hooks(plan), tmp_path, resume=True, **QUIET)
    assert (tmp_path / "member_1" / "checkpoints" / "last.pt").is_file()
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text


def test_a_network_the_time_budget_stopped_trains_no_further_epoch_when_resumed(tmp_path: Path) -> None:
    """A network that stopped because the budget had no room for another epoch (epoch 2 of 4 here), resumed
    after an interruption later in the run (another member, the evaluation), trained its remaining epochs: a
    resumed run was not the run that was interrupted. Now the checkpoint records that the time was up."""
    plan = _plan(augmentation=AugmentationPlan())
    x, y = _data()
    with pytest.raises(Interrupted):
        train(_net(plan), _source(plan, x, y), plan, _hooks(plan, fail_at_call=3), tmp_path, seed=1, **QUIET)
    last = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    assert state["out_of_time"] is False
    torch.save({**state, "out_of_time": True}, last)  # as a budgeted run writes it when no epoch fits any more
    resumed = train(_net(plan), _source(plan, x, y), plan, _hooks(plan), tmp_path, seed=1, resume=True, **QUIET)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert load_checkpoint(last)["epoch"] == 2
