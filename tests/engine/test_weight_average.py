from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from medimg.engine.checkpoint import load_checkpoint
from medimg.engine.trainer import train
from medimg.engine.weight_average import WeightAverage, decay_at, ema_update
from tests.engine.test_trainer import _data, _hooks, _net, _plan, _source, full_and_resumed


def test_decay_warms_up_then_holds() -> None:
    assert decay_at(0.99, 0) == pytest.approx(0.1)
    assert decay_at(0.99, 10) == pytest.approx(11 / 20)
    assert decay_at(0.99, 100_000) == 0.99


def test_ema_update_averages_weights_and_batchnorm_statistics() -> None:
    average, current = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    with torch.no_grad():
        current.weight.fill_(3.0)
        current.running_mean.fill_(2.0)
    current.num_batches_tracked.fill_(7)
    ema_update(average, current, 0.75)
    assert torch.allclose(average.weight, torch.full((2,), 1.5))  # 0.75 * 1 + 0.25 * 3
    assert torch.allclose(average.running_mean, torch.full((2,), 0.5))
    assert int(average.num_batches_tracked) == 7
    ema_update(average, current, 0.75, average_buffers=False)
    assert torch.allclose(average.running_mean, torch.full((2,), 2.0))


def test_weight_average_is_a_frozen_copy() -> None:
    network = nn.Linear(2, 1)
    average = WeightAverage(network, 0.9)
    assert average.module is not network
    assert not any(p.requires_grad for p in average.module.parameters())
    with torch.no_grad():
        network.weight.add_(10.0)
    before = average.module.weight.clone()
    average.update(network)  # first update: the warm-up's decay 2/11, so it moves most of the way
    decay = decay_at(0.9, 1)
    assert decay == pytest.approx(2 / 11)
    assert torch.allclose(average.module.weight, decay * before + (1 - decay) * network.weight)


def test_training_keeps_the_averaged_weights(tmp_path: Path) -> None:
    plan = _plan(epochs=3, weight_ema=0.9)
    x, y = _data()
    network = _net(plan)
    result = train(network, _source(plan, x, y), plan, _hooks(plan), tmp_path, progress=False, tensorboard=False)
    assert result.best_metric > 0.9
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    averaged = last["weight_average"]["module"]
    assert last["weight_average"]["updates"] == 3 * 4  # 64 samples in batches of 16, 3 epochs
    if result.best_epoch == 3:  # the kept weights are the average's, not the live network's
        key = next(k for k, v in averaged.items() if v.is_floating_point() and v.ndim > 1)
        assert torch.equal(result.best_state[key], averaged[key])
        assert not torch.equal(result.best_state[key], network.state_dict()[key])


def test_resume_restores_the_average(tmp_path: Path) -> None:
    full_and_resumed(_plan(weight_ema=0.9), tmp_path)
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["weight_average"]
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["weight_average"]
    assert a["updates"] == b["updates"] == 16
    for key, value in a["module"].items():
        assert torch.allclose(value.float(), b["module"][key].float(), atol=1e-5), key


def test_a_loss_that_asks_for_the_average_gets_the_network_that_is_validated(tmp_path: Path) -> None:
    import dataclasses

    plan = _plan(epochs=1, weight_ema=0.9)
    x, y = _data()
    given: list[nn.Module] = []
    validated: list[nn.Module] = []
    hooks = _hooks(plan)
    validate = hooks.validate

    def record(network: nn.Module) -> dict[str, float]:
        validated.append(network)
        return validate(network)

    hooks = dataclasses.replace(hooks, validate=record, use_average=given.append)
    train(_net(plan), _source(plan, x, y), plan, hooks, tmp_path, progress=False, tensorboard=False)
    assert len(given) == 1 and given[0] is validated[-1]  # the EMA network, frozen
    assert not any(p.requires_grad for p in given[0].parameters())


def test_without_weight_ema_no_average_is_given(tmp_path: Path) -> None:
    import dataclasses

    plan = _plan(epochs=1, weight_ema=0.0)
    x, y = _data()
    given: list[nn.Module] = []
    hooks = dataclasses.replace(_hooks(plan), use_average=given.append)
    train(_net(plan), _source(plan, x, y), plan, hooks, tmp_path, progress=False, tensorboard=False)
    assert given == []
