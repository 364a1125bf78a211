from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from medimg.engine.batches import TensorBatches
from medimg.engine.checkpoint import load_checkpoint
from medimg.engine.schedule import lr_multiplier
from medimg.engine.trainer import TaskHooks, TrainResult, networks_in_budget, train
from medimg.networks import create_network
from medimg.planning.plan import AugmentationPlan, Plan
from medimg.tasks.classify.data import PreparedSplit
from medimg.tasks.classify.inference import memory_format
from medimg.tasks.classify.step import make_hooks
from medimg.transforms.augment import BatchAugment


def _source(plan: Plan, x: torch.Tensor, y: torch.Tensor) -> TensorBatches:
    """The classification batch source the run builds for ``plan``."""
    return TensorBatches(
        x,
        y,
        plan.batch_size,
        augment=BatchAugment(plan.augmentation, plan.spatial_dims),
        memory_format=memory_format(plan),
    )


class Interrupted(Exception):
    pass


def _data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 1, 16, 16, generator=g) * 0.5 + y.view(-1, 1, 1, 1).float()
    return x.half(), y


def _plan(**kw: object) -> Plan:
    base: dict[str, object] = dict(
        input_size=[16, 16],
        network="simple-cnn",
        width=0.5,
        epochs=4,
        batch_size=16,
        amp="none",
        channels_last=False,
        early_stopping_patience=0,
        augmentation=AugmentationPlan(rotate_deg=10, brightness=0.1),
    )
    base.update(kw)
    return Plan.model_validate(base)


def _net(plan: Plan) -> torch.nn.Module:
    return create_network(plan.network, in_channels=1, num_classes=2, input_size=plan.input_size, width=plan.width)


def _hooks(plan: Plan, fail_at_call: int | None = None) -> TaskHooks:
    x, y = _data(32)
    hooks = make_hooks(plan, PreparedSplit(x=x, y=y, case_ids=[str(i) for i in range(32)]))
    calls = {"n": 0}
    validate = hooks.validate

    def maybe_fail(network: torch.nn.Module) -> dict[str, float]:
        calls["n"] += 1
        if fail_at_call is not None and calls["n"] == fail_at_call:
            raise Interrupted
        return validate(network)

    return TaskHooks(loss=hooks.loss, validate=maybe_fail)


def test_training_learns_and_writes_artifacts(tmp_path: Path) -> None:
    plan = _plan()
    x, y = _data()
    result = train(_net(plan), _source(plan, x, y), plan, _hooks(plan), tmp_path, progress=False, tensorboard=True)
    assert len(result.history) == 4
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.best_metric > 0.9
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["epoch"] == 4
    assert any((tmp_path / "tensorboard").iterdir())


def test_best_state_is_a_copy(tmp_path: Path) -> None:
    plan = _plan(epochs=3)
    x, y = _data()
    net = _net(plan)
    result = train(net, _source(plan, x, y), plan, _hooks(plan), tmp_path, progress=False, tensorboard=False)
    saved = load_checkpoint(tmp_path / "checkpoints" / "best.pt")["model"]
    for key, value in result.best_state.items():
        assert torch.equal(value, saved[key])
    # mutating the live network must not touch the kept best weights
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    first = next(k for k, v in result.best_state.items() if v.is_floating_point())
    assert not torch.equal(result.best_state[first], net.state_dict()[first])


def full_and_resumed(plan: Plan, tmp_path: Path) -> tuple[TrainResult, TrainResult]:
    """The same training twice: uninterrupted in ``tmp_path/a``; interrupted during epoch 3 and resumed in
    ``tmp_path/b``. Returns both results."""
    x, y = _data()
    torch.manual_seed(0)
    full = train(
        _net(plan), _source(plan, x, y), plan, _hooks(plan), tmp_path / "a", seed=1, progress=False, tensorboard=False
    )
    torch.manual_seed(0)
    with pytest.raises(Interrupted):
        train(
            _net(plan),
            _source(plan, x, y),
            plan,
            _hooks(plan, fail_at_call=3),
            tmp_path / "b",
            seed=1,
            progress=False,
            tensorboard=False,
        )
    assert load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["epoch"] == 2
    torch.manual_seed(0)
    resumed = train(
        _net(plan),
        _source(plan, x, y),
        plan,
        _hooks(plan),
        tmp_path / "b",
        seed=1,
        resume=True,
        progress=False,
        tensorboard=False,
    )
    return full, resumed


def test_resume_after_interruption_matches_uninterrupted(tmp_path: Path) -> None:
    full, resumed = full_and_resumed(_plan(), tmp_path)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 4
    for a, b in zip(full.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    last_a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["model"]
    last_b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["model"]
    for key in last_a:
        assert torch.allclose(last_a[key].float(), last_b[key].float(), atol=1e-5), key


def test_early_stopping(tmp_path: Path) -> None:
    plan = _plan(epochs=30, early_stopping_patience=2, monitor="loss", learning_rate=1e-9, warmup_epochs=0)
    x, y = _data()
    result = train(_net(plan), _source(plan, x, y), plan, _hooks(plan), tmp_path, progress=False, tensorboard=False)
    assert result.stopped_early and len(result.history) < 30


def test_lr_schedules() -> None:
    cosine = lr_multiplier("cosine", 100, 10)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(99) < 0.05
    step = lr_multiplier("step", 100, 0, (0.5, 0.75))
    assert step(49) == 1.0 and step(50) == pytest.approx(0.1) and step(80) == pytest.approx(0.01)


def test_schedule_length_matches_the_batches_actually_run() -> None:
    from medimg.engine.batches import TensorBatches

    for n, bs in ((64, 16), (65, 16), (66, 16), (3, 2), (2, 8)):
        source = TensorBatches(torch.zeros(n, 1, 4, 4), torch.zeros(n, dtype=torch.long), bs)
        ran = list(source.epoch(torch.Generator().manual_seed(0)))
        assert len(ran) == source.steps_per_epoch()
        assert all(len(xb) > 1 for xb, _ in ran)


def test_distributed_shards_cover_each_global_batch_once() -> None:
    """Two ranks take disjoint halves of every global batch and run the same number of steps."""
    from medimg.engine.distributed import Distributed

    n, bs = 37, 8
    x, y = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1), torch.arange(n)
    ranks = [TensorBatches(x, y, bs, distributed=Distributed(rank=r, world_size=2)) for r in range(2)]
    epochs = [list(source.epoch(torch.Generator().manual_seed(3))) for source in ranks]
    assert len(epochs[0]) == len(epochs[1]) == ranks[0].steps_per_epoch()
    whole = list(TensorBatches(x, y, bs).epoch(torch.Generator().manual_seed(3)))
    for step, full in enumerate(whole[: len(epochs[0])]):
        shards = torch.cat([epochs[0][step][1], epochs[1][step][1]])
        assert sorted(shards.tolist()) == sorted(full[1].tolist())  # nothing lost, nothing twice


def test_networks_in_budget() -> None:
    assert networks_in_budget(3, None, 1.0, 100.0) == 1  # no minimum: the first network takes it all
    assert networks_in_budget(3, 10, 1.0, 100.0) == 3  # room for 10 networks of 10 epochs, at most 3
    assert networks_in_budget(3, 10, 4.0, 100.0) == 2  # 25 epochs fit: two networks of 12
    assert networks_in_budget(3, 10, 20.0, 100.0) == 1  # not even one network of 10 epochs: it keeps the budget


def test_budgeted_epochs() -> None:
    from medimg.engine.trainer import budgeted_epochs

    assert budgeted_epochs(30, 10.0, None) == 30
    assert budgeted_epochs(30, 10.0, 95.0) == 9
    assert budgeted_epochs(30, 10.0, 1000.0) == 30
    assert budgeted_epochs(30, 10.0, 5.0) == 1


class _FakeClock:
    """Stands in for the trainer's clock: time passes only when validation says so (load-independent test)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_time_budget_cuts_epochs_and_fits_the_schedule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import medimg.engine.trainer as trainer_module

    clock = _FakeClock()
    monkeypatch.setattr(trainer_module, "time", clock)
    plan = _plan(epochs=8, time_budget_s=3.5, warmup_epochs=0)
    hooks = _hooks(plan)

    def validate(network: torch.nn.Module) -> dict[str, float]:
        clock.now += 1.0  # every epoch "takes" one second
        return hooks.validate(network)

    x, y = _data()
    result = train(_net(plan), _source(plan, x, y), plan, TaskHooks(hooks.loss, validate), tmp_path, progress=False)
    assert result.epochs == 3 and len(result.history) == 3
    # the cosine schedule was re-fitted to the shorter run: it ends at its floor (1% of the peak)
    assert result.history[-1]["lr"] == pytest.approx(0.01 * plan.learning_rate, rel=0.05)
    # resuming a finished budgeted run trains nothing more (the budgeted length is saved)
    again = train(
        _net(plan), _source(plan, x, y), plan, TaskHooks(hooks.loss, validate), tmp_path, resume=True, progress=False
    )
    assert len(again.history) == 3


def test_time_budget_with_room_lengthens_the_schedule_up_to_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``budget_epochs_max``: a budget with room for more than the planned epochs trains more, up to the cap; without
    it the planned epochs are the most."""
    import medimg.engine.trainer as trainer_module

    clock = _FakeClock()
    monkeypatch.setattr(trainer_module, "time", clock)
    x, y = _data()
    for cap, budget, expected in ((None, 20.5, 3), (6, 20.5, 6), (6, 4.5, 4)):
        plan = _plan(epochs=3, budget_epochs_max=cap, time_budget_s=budget, warmup_epochs=0)
        hooks = _hooks(plan)

        def validate(network: torch.nn.Module, hooks: TaskHooks = hooks) -> dict[str, float]:
            clock.now += 1.0  # every epoch "takes" one second
            return hooks.validate(network)  # type: ignore[misc]

        clock.now = 0.0
        result = train(
            _net(plan), _source(plan, x, y), plan, TaskHooks(hooks.loss, validate), tmp_path / f"{cap}_{budget}",
            progress=False,
        )  # fmt: skip
        assert (result.epochs, len(result.history)) == (expected, expected), (cap, budget)
        assert result.history[-1]["lr"] == pytest.approx(0.01 * plan.learning_rate, rel=0.05)  # the schedule's end


def test_time_budget_stops_a_run_that_slows_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import medimg.engine.trainer as trainer_module

    clock = _FakeClock()
    monkeypatch.setattr(trainer_module, "time", clock)
    plan = _plan(epochs=8, time_budget_s=4.5, warmup_epochs=0)
    hooks = _hooks(plan)

    def validate(network: torch.nn.Module) -> dict[str, float]:
        clock.now += 1.0 if clock.now < 1 else 3.0  # the first epoch is fast, later ones (load) slow
        return hooks.validate(network)

    x, y = _data()
    result = train(_net(plan), _source(plan, x, y), plan, TaskHooks(hooks.loss, validate), tmp_path, progress=False)
    # 1 s + 3 s = 4 s: a third epoch (estimated 3 s, like the last) would end after the 4.5 s budget; the schedule
    # was re-fitted to the slower epochs (3 instead of 4) so the learning rate is further down its curve
    assert result.epochs == 3 and len(result.history) == 2


def test_time_budget_refits_the_schedule_when_the_machine_gets_faster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Epoch 1 ran while another job shared the CPU (2 s); later epochs take 0.5 s: the run fills its budget with
    18 epochs instead of the 5 epoch 1 suggested, and its cosine schedule still ends at the floor."""
    import medimg.engine.trainer as trainer_module

    clock = _FakeClock()
    monkeypatch.setattr(trainer_module, "time", clock)
    plan = _plan(epochs=20, time_budget_s=10.5, warmup_epochs=0)
    hooks = _hooks(plan)

    def validate(network: torch.nn.Module) -> dict[str, float]:
        clock.now += 2.0 if clock.now < 1 else 0.5
        return hooks.validate(network)

    x, y = _data()
    result = train(_net(plan), _source(plan, x, y), plan, TaskHooks(hooks.loss, validate), tmp_path, progress=False)
    assert result.epochs == 18 and len(result.history) == 18
    assert [row["epochs"] for row in result.history][:3] == [5, 5, 18]  # re-fitted after epoch 2
    assert result.history[-1]["lr"] == pytest.approx(0.01 * plan.learning_rate, rel=0.05)


def test_refitted_epochs() -> None:
    from medimg.engine.trainer import refitted_epochs

    assert refitted_epochs(5, 2, 2.5, 0.5, 10.5, 20) == 18  # faster: more epochs, up to the plan
    assert refitted_epochs(5, 2, 2.5, 0.1, 10.5, 20) == 20
    assert refitted_epochs(10, 2, 4.0, 1.05, 12.0, 20) == 10  # within 10%: unchanged
    assert refitted_epochs(10, 2, 9.0, 5.0, 12.0, 20) == 3  # slower: fewer, but always one more


def test_no_budget_runs_the_planned_epochs(tmp_path: Path) -> None:
    plan = _plan(epochs=3, grad_clip_norm=None)
    x, y = _data()
    result = train(_net(plan), _source(plan, x, y), plan, _hooks(plan), tmp_path, progress=False, tensorboard=False)
    assert result.epochs == 3 and len(result.history) == 3


class _NanGradUnderAutocast(torch.autograd.Function):
    """Adds 0 to the loss, but its gradient is NaN: what oneDNN's bf16 kernels produced on tiny 3D maps."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def, override]
        ctx.shape = x.shape
        return x.sum() * 0

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def, override]
        return torch.full(ctx.shape, float("nan"))


def test_non_finite_bf16_gradients_fall_back_to_fp32(tmp_path: Path) -> None:
    plan = _plan(epochs=3, amp="bf16")
    x, y = _data()
    hooks = _hooks(plan)
    autocast_steps = {"n": 0}

    def loss(network: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        value = hooks.loss(network, xb, yb)
        if torch.is_autocast_enabled("cpu"):
            autocast_steps["n"] += 1
            value = value + _NanGradUnderAutocast.apply(next(network.parameters()))
        return value

    net = _net(plan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(
            net, _source(plan, x, y), plan, TaskHooks(loss=loss, validate=hooks.validate), tmp_path, progress=False
        )
    # the skipped first batch does not step the schedule before the optimiser (PyTorch's UserWarning reached users)
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]
    assert autocast_steps["n"] == 1  # the first bf16 step failed, every later step ran in fp32
    assert [row["amp"] for row in result.history] == [0.0, 0.0, 0.0]
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert result.best_metric > 0.9  # and the model still learned


def test_non_finite_fp32_gradients_are_a_clear_error(tmp_path: Path) -> None:
    from medimg.errors import RunFolderError

    plan = _plan(epochs=1)
    x, y = _data()
    hooks = _hooks(plan)

    def loss(network: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return hooks.loss(network, xb, yb) + _NanGradUnderAutocast.apply(next(network.parameters()))

    with pytest.raises(RunFolderError, match=r"non-finite at epoch 1.*learning_rate"):
        train(
            _net(plan),
            _source(plan, x, y),
            plan,
            TaskHooks(loss=loss, validate=hooks.validate),
            tmp_path,
            progress=False,
        )


def test_log_lines_never_round_a_short_budget_to_zero_seconds() -> None:
    from medimg.engine.trainer import _seconds

    assert [_seconds(v) for v in (270.4, 9.6, 0.5)] == ["270 s", "9.6 s", "0.5 s"]


def test_a_validation_metric_never_defined_is_logged_as_undefined_not_minus_infinity(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a validation split of one class has no AUC: the progress lines said "val_auc_bacc -inf (best epoch 1)"
    plan = _plan(epochs=2)
    x, y = _data()
    hooks = _hooks(plan)
    undefined = TaskHooks(loss=hooks.loss, validate=lambda network: {"auc_bacc": float("nan")})
    with caplog.at_level("INFO", logger="medimg"):
        train(_net(plan), _source(plan, x, y), plan, undefined, tmp_path, progress=True, tensorboard=False)
    epochs = [r.getMessage() for r in caplog.records if "epoch 2/2" in r.getMessage()]
    assert epochs and "val_auc_bacc undefined" in epochs[0] and "inf" not in epochs[0]


def test_the_progress_line_shows_the_epochs_own_score_and_the_best_with_its_epoch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It showed the best score under the epoch's name: "epoch 3/3 ... val_auc_bacc 0.9000 (best epoch 1)" for an
    epoch that scored 0.5."""
    plan = _plan(epochs=3)
    x, y = _data()
    hooks = _hooks(plan)
    scores = iter([0.9, 0.7, 0.5])
    falling = TaskHooks(loss=hooks.loss, validate=lambda network: {"auc_bacc": next(scores)})
    with caplog.at_level("INFO", logger="medimg"):
        train(_net(plan), _source(plan, x, y), plan, falling, tmp_path, progress=True, tensorboard=False)
    last = next(r.getMessage() for r in caplog.records if "epoch 3/3" in r.getMessage())
    assert "val_auc_bacc 0.5000 (best 0.9000 at epoch 1)" in last


class CountingState:
    """A loss's running statistic (a count of training steps) as the engine checkpoints it."""

    def __init__(self, hooks: TaskHooks) -> None:
        self.steps = 0
        self.loaded: list[dict[str, int] | None] = []
        self.inner = hooks.loss

    def loss(self, network: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.steps += 1
        return self.inner(network, x, y)

    def state_dict(self) -> dict[str, int]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, int] | None) -> None:
        self.loaded.append(state)
        self.steps = 0 if state is None else state["steps"]


def test_a_losss_running_state_is_checkpointed_and_restored_on_resume(tmp_path: Path) -> None:
    plan = _plan()
    x, y = _data()
    first = CountingState(_hooks(plan, fail_at_call=3))
    hooks = TaskHooks(loss=first.loss, validate=_hooks(plan, fail_at_call=3).validate, state=first)
    with pytest.raises(Interrupted):
        train(_net(plan), _source(plan, x, y), plan, hooks, tmp_path, progress=False, tensorboard=False)
    assert first.loaded == [None]  # a network starting from scratch: afresh
    steps_per_epoch = len(x) // plan.batch_size
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["task_state"] == {"steps": 2 * steps_per_epoch}
    again = CountingState(_hooks(plan))
    hooks = TaskHooks(loss=again.loss, validate=_hooks(plan).validate, state=again)
    train(_net(plan), _source(plan, x, y), plan, hooks, tmp_path, resume=True, progress=False, tensorboard=False)
    assert again.loaded == [{"steps": 2 * steps_per_epoch}] and again.steps == 4 * steps_per_epoch
