"""The one training loop of every task: optimiser and schedule with warm-up, gradient clipping, bf16/fp16
autocast with a non-finite fallback, validation cadence, early stopping, time budget, atomic checkpoints,
resume, ``metrics.jsonl``, TensorBoard, progress, and DDP across processes.

A task brings a :class:`~medimg.engine.batches.BatchSource` (what one epoch iterates over) and
:class:`TaskHooks` (the loss of a batch, the validation metrics); nothing else in the loop is task-specific.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from medimg.engine.batches import BatchSource, to_device
from medimg.engine.checkpoint import copy_state, load_checkpoint, save_checkpoint
from medimg.engine.distributed import Distributed
from medimg.engine.progress import EpochProgress, network_label
from medimg.engine.schedule import lr_multiplier
from medimg.engine.weight_average import WeightAverage
from medimg.errors import RunFolderError
from medimg.fileio import atomic_write_text
from medimg.interrupts import raise_if_interrupted
from medimg.planning.plan import TrainingPlan

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = {"loss", "fd"}
"""Validation metrics where lower is better (``fd``: Fréchet distance of a generative model)."""


class OptimisationStep(Protocol):
    """A task's own optimisation step, for models the one-loss, one-optimiser step does not fit (a GAN: a
    discriminator and a generator update, each with its own optimiser). It runs the forward and backward
    passes and the optimiser steps itself; its state (optimisers, EMA counters) goes into the checkpoints."""

    def __call__(self, network: nn.Module, inputs: Any, targets: Any) -> torch.Tensor:
        """Train on one batch; returns the (detached) loss to log."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class TaskState(Protocol):
    """Running statistics of a task's loss that must survive an interruption (a semi-supervised loss's
    distribution-alignment means, its adaptive thresholds and per-epoch history): saved with every checkpoint."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore a checkpoint's ``state``; ``None``: a network starts from scratch (the next one of an
        ensemble, or a run without a checkpoint), so the running statistics start afresh."""
        ...


@dataclass
class TaskHooks:
    """What the loop needs from a task.

    Attributes:
        loss: ``(network, inputs, targets) -> scalar loss`` for one training batch.
        validate: ``network -> {"loss": .., "auc": .., ...}`` on the validation set (network in eval mode);
            ``None`` when the run has no validation (``--train-on-all``): the last epoch's weights are kept.
        begin_epoch: called with the epoch number (1-based, also after a resume) before its first batch, for
            losses that change over training (e.g. the warm-up of a semi-supervised term).
        step: optional ``(network, plan, wrap) -> OptimisationStep`` for a task that owns its optimisation step;
            the loop then calls it for each batch instead of ``loss``, backward, clipping and the optimiser (it runs
            in fp32, on the unwrapped network, at its own learning rates: the loop's schedule does not apply).
            ``wrap`` wraps a module in DDP under torchrun (the step wraps the parts it updates, at its first batch).
        use_average: called once, before the first batch, with the weight average (the EMA network, when the plan
            keeps one), for losses that take their targets from it (a mean teacher).
        state: the loss's running statistics (:class:`TaskState`), saved with each checkpoint, restored by
            ``--resume`` and started afresh for each network trained.
    """

    loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    validate: Callable[[nn.Module], dict[str, float]] | None
    begin_epoch: Callable[[int], None] | None = None
    step: Callable[[nn.Module, TrainingPlan, Callable[[nn.Module], nn.Module]], OptimisationStep] | None = None
    use_average: Callable[[nn.Module], None] | None = None
    state: TaskState | None = None


@dataclass
class TrainResult:
    """What training produced. ``best_state`` is a detached copy of the selected weights."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_metric: float
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    train_time_s: float = 0.0
    epochs: int = 0
    budget_share: int = 1


def networks_in_budget(most: int, min_epochs: int | None, epoch_time_s: float, budget_s: float) -> int:
    """How many networks (1 to ``most``) can share ``budget_s`` with at least ``min_epochs`` epochs each, at the
    first epoch's ``epoch_time_s`` (1 when ``min_epochs`` is ``None``)."""
    if min_epochs is None or epoch_time_s <= 0:
        return 1
    return int(max(1, min(most, math.floor(budget_s / (min_epochs * epoch_time_s)))))


def budgeted_epochs(planned: int, epoch_time_s: float, budget_s: float | None) -> int:
    """How many epochs fit: all ``planned`` ones, or as many as ``budget_s`` allows (at least one), estimated
    from the time the first epoch took (training, validation and checkpoint; the first is the slowest)."""
    if budget_s is None or epoch_time_s <= 0:
        return planned
    return int(max(1, min(planned, math.floor(budget_s / epoch_time_s))))


def most_epochs(plan: TrainingPlan) -> int:
    """The most epochs a budgeted run may train: the plan's, or more up to ``plan.budget_epochs_max``."""
    return max(plan.epochs, plan.budget_epochs_max or plan.epochs)


#: The schedule is re-fitted to the budget during its first quarter when the epoch time changes by more than this
#: share of the epochs (another job starting or ending on the machine): later, the cosine tail is left alone.
REFIT_TOLERANCE = 0.1


def refitted_epochs(
    current: int, done: int, elapsed_s: float, epoch_time_s: float, budget_s: float, planned: int
) -> int:
    """The epoch count that fills ``budget_s`` at the recent ``epoch_time_s`` after ``done`` epochs took
    ``elapsed_s`` (between ``done + 1`` and the ``planned`` count), or ``current`` when it differs by no more than
    :data:`REFIT_TOLERANCE` of it."""
    if epoch_time_s <= 0:
        return current
    fit = done + math.floor(max(0.0, budget_s - elapsed_s) / epoch_time_s)
    fit = int(min(planned, max(done + 1, fit)))
    return fit if abs(fit - current) > REFIT_TOLERANCE * current else current


def autocast_context(plan: TrainingPlan, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager[Any]:
    """The plan's autocast on ``device`` (bf16 on CPU or GPU; fp16 on GPU), else a no-op."""
    device_type = torch.device(device).type
    if plan.amp == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if plan.amp == "fp16" and device_type == "cuda":
        return torch.autocast(device_type, dtype=torch.float16)
    return contextlib.nullcontext()


def build_optimizer(network: nn.Module, plan: TrainingPlan) -> torch.optim.Optimizer:
    """AdamW / Adam / SGD; no weight decay on biases and normalisation weights."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in network.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": plan.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if plan.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=plan.learning_rate, momentum=plan.momentum, nesterov=True)
    if plan.optimizer == "adam":
        return torch.optim.Adam(groups, lr=plan.learning_rate)
    return torch.optim.AdamW(groups, lr=plan.learning_rate)


def train(
    network: nn.Module,
    batches: BatchSource,
    plan: TrainingPlan,
    hooks: TaskHooks,
    run_dir: Path,
    *,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    tensorboard: bool = True,
    label: str = "",
    distributed: Distributed | None = None,
    budget_networks: int = 1,
) -> TrainResult:
    """Train ``network`` on the batches of ``batches`` following ``plan``; the task's ``hooks`` give the loss of a
    batch and the validation metrics.

    Every ``plan.val_every`` epochs (and at the last) a validation pass picks the best weights; every epoch ends
    with an append to ``run_dir/metrics.jsonl`` and an atomic ``run_dir/checkpoints/last.pt``; the best epoch's
    weights are also written to ``best.pt``. With ``resume=True`` training continues after the last completed
    epoch and ends at the planned epoch, with the same batches as an uninterrupted run (seeded per epoch).

    With ``budget_networks > 1`` (the first of an ensemble under a time budget) and ``plan.ensemble_min_epochs``,
    the first epoch's time decides how many networks share the budget (:func:`networks_in_budget`); this one is
    fitted to its share (``TrainResult.budget_share`` says how many), and ``label`` is the ensemble's: the progress
    calls this network 1 of as many as share the budget.

    The network trains on ``distributed.device`` (CUDA when present). Under torchrun every rank calls this with its
    shard of the batches; the network is wrapped in DDP, rank 0 validates, decides (early stop, time budget) and
    writes, the others follow its decisions.

    Returns:
        The best weights (a copy), the epoch they came from and the history of epoch metrics.
    """
    dist = distributed or Distributed()
    writes = dist.is_main
    ckpt_dir = run_dir / "checkpoints"
    if writes:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    steps_per_epoch = batches.steps_per_epoch()
    if steps_per_epoch < 1:
        raise RunFolderError("training needs at least 2 samples")
    torch.manual_seed(seed)
    network = network.to(dist.device).to(memory_format=batches.memory_format)
    optimizer = build_optimizer(network, plan)
    own_step = hooks.step(network, plan, dist.wrap) if hooks.step is not None else None
    # the EMA of the weights (a task with its own step, a GAN, keeps its own averages)
    average = WeightAverage(network, plan.weight_ema) if plan.weight_ema and own_step is None else None
    selected = average.module if average is not None else network  # what is validated and kept
    if average is not None and hooks.use_average is not None:
        hooks.use_average(average.module)

    def make_scheduler(epochs: int, last_step: int = -1) -> torch.optim.lr_scheduler.LambdaLR:
        schedule = lr_multiplier(
            plan.scheduler, epochs * steps_per_epoch, int(plan.warmup_epochs * steps_per_epoch), plan.step_milestones
        )
        return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule, last_epoch=last_step)

    epochs = plan.epochs
    scheduler = make_scheduler(epochs)
    amp = plan.amp != "none"  # switched off for good if autocast ever yields non-finite values
    scaler = torch.amp.GradScaler("cuda") if plan.amp == "fp16" and dist.device.type == "cuda" else None
    higher = plan.monitor not in LOWER_IS_BETTER
    best_metric = -math.inf if higher else math.inf
    best_epoch, stale, start_epoch = 0, 0, 1
    best_state = copy_state(selected)
    history: list[dict[str, float]] = []
    budget = plan.time_budget_s  # this network's budget (a share of the plan's when networks split it)
    budget_share = 1
    epoch_times: list[float] = []
    spent_before = 0.0  # training time of the epochs a resumed run had done before it was interrupted
    out_of_time = False  # the time budget leaves no room for another epoch
    if resume and last_path.is_file():
        state = load_checkpoint(last_path)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if hooks.state is not None:  # a checkpoint written before the loss kept its state: afresh
            hooks.state.load_state_dict(state.get("task_state"))
        if own_step is not None:
            own_step.load_state_dict(state["task_step"])
        if average is not None and "weight_average" in state:
            average.load_state_dict(state["weight_average"])
        epochs = int(state.get("epochs", plan.epochs))
        amp = bool(state.get("amp", amp))
        scheduler = make_scheduler(epochs, int(state["scheduler"]["last_epoch"]) - 1)
        scheduler.load_state_dict(state["scheduler"])
        best_metric, best_epoch, stale = state["best_metric"], state["best_epoch"], state["stale_epochs"]
        history = list(state["history"])
        start_epoch = int(state["epoch"]) + 1
        best_state = load_checkpoint(best_path)["model"] if best_path.is_file() else copy_state(selected)
        if "budget" in state:  # the share of the time budget epoch 1 decided, and the time already spent of it
            budget, budget_share = state["budget"], int(state["budget_share"])
            epoch_times, spent_before = list(state["epoch_times"]), float(state["train_time_s"])
            out_of_time = bool(state.get("out_of_time", False))
        if start_epoch > epochs or out_of_time:  # every epoch ran (interrupted in the evaluation, or finished)
            logger.info(
                "resuming %s: all %d epochs %s trained; going on with what follows them",
                run_dir,
                epoch_count := int(state["epoch"]),
                "the time budget allowed were" if epoch_count < epochs else "were",
            )
        else:
            logger.info("resuming %s from epoch %d of %d", run_dir, start_epoch, epochs)
    else:
        if resume:
            logger.warning("--resume: no checkpoint in %s, starting from scratch", ckpt_dir)
        if hooks.state is not None:
            hooks.state.load_state_dict(None)
    trained = dist.wrap(network) if own_step is None else network  # a task's own step wraps its parts itself
    if writes:
        _write_history(run_dir / "metrics.jsonl", history)
    writer = _tensorboard_writer(run_dir / "tensorboard") if tensorboard and writes else None

    def shown(networks: int) -> str:
        return f"training {network_label(label, 0, networks) if budget_networks > 1 else label}".strip()

    with EpochProgress(
        shown(budget_share if start_epoch > 1 else budget_networks),
        total=epochs,
        done=start_epoch - 1,
        enabled=progress and writes,
    ) as epochs_bar:  # closed however the loop ends (a Ctrl-C or SIGTERM message then starts on a new line)
        started = time.perf_counter() - spent_before
        stopped_early = False
        last_state: dict[str, Any] = {}  # the last checkpoint's contents (rank 0)
        epoch = start_epoch - 1
        while epoch < epochs:
            epoch += 1
            if plan.early_stopping_patience and stale >= plan.early_stopping_patience:
                stopped_early = True
                break
            if out_of_time:
                break
            epoch_started = time.perf_counter()
            torch.manual_seed(seed * 100_003 + epoch)
            generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
            network.train()
            if hooks.begin_epoch is not None:
                hooks.begin_epoch(epoch)
            total_loss, seen = 0.0, 0
            for xb, yb in batches.epoch(generator):
                raise_if_interrupted()  # a Ctrl-C that Python dropped (see medimg.interrupts)
                xb, yb = to_device(xb, dist.device), to_device(yb, dist.device)
                if own_step is not None:
                    loss = own_step(network, xb, yb)
                    if not torch.isfinite(loss):
                        raise RunFolderError(
                            f"the training loss became non-finite at epoch {epoch} (loss {loss.item()}): lower "
                            "learning_rate (e.g. --set learning_rate=1e-4)"
                        )
                    total_loss += float(loss) * len(xb)
                    seen += len(xb)
                    continue
                with torch.autocast(dist.device.type, dtype=_amp_dtype(plan), enabled=amp):
                    loss = hooks.loss(trained, xb, yb)
                optimizer.zero_grad(set_to_none=True)
                finite = dist.all_true(bool(torch.isfinite(loss)))
                if finite:
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                    if scaler is not None:
                        scaler.unscale_(optimizer)
                    norm = nn.utils.clip_grad_norm_(network.parameters(), plan.grad_clip_norm or math.inf)
                    finite = scaler is not None or bool(torch.isfinite(norm))
                if not finite:
                    if not amp:
                        raise RunFolderError(
                            f"the training loss or its gradients became non-finite at epoch {epoch} (loss "
                            f"{loss.item()}): lower learning_rate (e.g. --set learning_rate=1e-4) or check the images "
                            "for extreme values"
                        )
                    logger.warning(
                        "non-finite loss or gradients under %s autocast at epoch %d (oneDNN's bf16 kernels can "
                        "fail on very small feature maps); the batch is skipped and training continues in fp32",
                        plan.amp,
                        epoch,
                    )
                    amp = False  # the schedule does not step for the skipped batch (it would warn on a first step)
                    continue
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                if average is not None:
                    average.update(network)
                scheduler.step()
                total_loss += float(loss.detach()) * len(xb)
                seen += len(xb)
            train_time = time.perf_counter() - epoch_started
            total_loss, seen_everywhere = dist.sums(total_loss, seen)  # every rank's share of each batch
            network.eval()
            selected.eval()
            val_started = time.perf_counter()
            val: dict[str, float] = {}
            if hooks.validate is not None and (epoch % plan.val_every == 0 or epoch == epochs):
                if writes:
                    with torch.no_grad():
                        val = hooks.validate(selected)
                val = dist.broadcast(val)
            row: dict[str, float] = {
                "epoch": epoch,
                "train_loss": total_loss / max(1, seen_everywhere),
                "lr": optimizer.param_groups[0]["lr"],
                f"train_{batches.unit}_per_s": seen_everywhere / max(train_time, 1e-9),
                "val_time_s": time.perf_counter() - val_started,
                "amp": float(amp),
                **{f"val_{k}": float(v) for k, v in val.items()},
            }
            current = float(val.get(plan.monitor, math.nan))
            improved = not math.isnan(current) and (current > best_metric if higher else current < best_metric)
            if val and (improved or best_epoch == 0):
                best_metric = current if not math.isnan(current) else best_metric
                best_epoch, stale = epoch, 0
                best_state = copy_state(selected)
                if writes:
                    save_checkpoint(best_path, {"model": best_state, "epoch": epoch})
            elif val:
                stale += plan.val_every
            row["best_epoch"] = best_epoch if hooks.validate is not None else epoch  # without validation: the last
            if epoch == 1 and budget is not None:
                first_s = time.perf_counter() - started
                budget_share = dist.broadcast(
                    networks_in_budget(budget_networks, plan.ensemble_min_epochs, first_s, budget)
                )
                if budget_share > 1:
                    budget /= budget_share
                    logger.info("time budget: %d networks share it, %s each", budget_share, _seconds(budget))
                epochs_bar.label = shown(budget_share)
                fitted = dist.broadcast(budgeted_epochs(most_epochs(plan), first_s, budget))
                if fitted != epochs:
                    logger.info("time budget %.0f s: training %d epochs (%d planned)", budget, fitted, epochs)
                    epochs = fitted
                    scheduler = make_scheduler(epochs, scheduler.last_epoch - 1)
                    epochs_bar.total = epochs
            row["epochs"] = epochs
            history.append(row)
            if writes:
                _append_history(run_dir / "metrics.jsonl", row)
                if writer is not None:
                    for key, value in row.items():
                        if key != "epoch":
                            writer.add_scalar(key, value, epoch)
                    writer.flush()
                last_state = {
                    "model": network.state_dict(),  # serialised right away: no copy needed
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "best_metric": best_metric,
                    "best_epoch": best_epoch,
                    "stale_epochs": stale,
                    "epochs": epochs,
                    "amp": amp,
                    "history": history,
                    "budget": budget,
                    "budget_share": budget_share,
                    "epoch_times": [*epoch_times, time.perf_counter() - epoch_started],
                    "train_time_s": time.perf_counter() - started,
                    "out_of_time": False,
                    **({"task_step": own_step.state_dict()} if own_step is not None else {}),
                    **({"task_state": hooks.state.state_dict()} if hooks.state is not None else {}),
                    **({"weight_average": average.state_dict()} if average is not None else {}),
                }
                save_checkpoint(last_path, last_state)
            last_epoch_s = time.perf_counter() - epoch_started
            epoch_times.append(last_epoch_s)
            if budget is not None and 2 <= epoch < epochs and epoch <= max(2, epochs // 4):
                # the machine got faster or slower since epoch 1 (another job ended or started): fit the schedule to
                # the budget again while it is young, from the median of the last epochs after the first
                recent = sorted((epoch_times[1:] or epoch_times)[-3:])
                refit = dist.broadcast(
                    refitted_epochs(
                        epochs,
                        epoch,
                        time.perf_counter() - started,
                        recent[len(recent) // 2],
                        budget,
                        most_epochs(plan),
                    )
                )
                if refit != epochs:
                    logger.info(
                        "time budget %.0f s: epochs now take %.0f s, training %d epochs instead of %d",
                        budget,
                        recent[len(recent) // 2],
                        refit,
                        epochs,
                    )
                    epochs = refit
                    scheduler = make_scheduler(epochs, scheduler.last_epoch - 1)
                    epochs_bar.total = epochs
            if budget is not None and epoch < epochs:
                # an epoch the last one's duration says would end past the budget is not started (rank 0 decides)
                out_of_time = dist.broadcast(time.perf_counter() - started + last_epoch_s > budget)
                if out_of_time and writes:  # recorded: a resumed run trains no epoch past the budget
                    save_checkpoint(last_path, {**last_state, "out_of_time": True})
                if out_of_time:
                    logger.info(
                        "time budget %.0f s: no room for epoch %d (the last took %.0f s)",
                        budget,
                        epoch + 1,
                        last_epoch_s,
                    )
            summary = {"loss": f"{row['train_loss']:.3f}"}
            if hooks.validate is not None:  # this epoch's score (when it validated), and the best so far
                if val:
                    summary[f"val_{plan.monitor}"] = _score_text(current)
                elif best_epoch == 0:  # not validated yet: say when it will be
                    summary["validated"] = f"every {_ordinal(plan.val_every)} epoch"
                if best_epoch:
                    summary["best"] = f"{_score_text(best_metric)} at epoch {best_epoch}"
            epochs_bar.epoch_done(epoch, summary)
    if hooks.validate is None:  # nothing to choose by: the weights of the last epoch trained
        best_state, best_metric = copy_state(selected), math.nan
        best_epoch = int(history[-1]["epoch"]) if history else 0
    if writer is not None:
        writer.close()
    if stopped_early:
        logger.info("early stopping: no improvement of val %s for %d epochs", plan.monitor, stale)
    return TrainResult(
        best_state=best_state,
        best_epoch=best_epoch,
        best_metric=best_metric,
        history=history,
        stopped_early=stopped_early,
        train_time_s=time.perf_counter() - started,
        epochs=epochs,
        budget_share=budget_share,
    )


def _amp_dtype(plan: TrainingPlan) -> torch.dtype:
    return torch.float16 if plan.amp == "fp16" else torch.bfloat16


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in history))


def _append_history(path: Path, row: dict[str, float]) -> None:
    try:
        with path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
    except OSError as error:  # a full disk fails the write with no file name: the message names it
        if error.errno is not None and error.filename is None:
            error.filename = str(path)
        raise


def _tensorboard_writer(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency, but degrade gracefully
        logger.warning("tensorboard is not installed; no TensorBoard logs (pip install tensorboard)")
        return None
    return SummaryWriter(log_dir=str(folder))


def _seconds(value: float) -> str:
    """A duration for a log line: ``40 s``, ``0.5 s`` (a budget under a second did not read as ``0 s``)."""
    return f"{value:.0f} s" if value >= 10 else f"{value:.2g} s"


def _ordinal(n: int) -> str:
    """``2nd``, ``3rd``, ``11th``..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _score_text(value: float) -> str:
    """A validation score as the progress shows it: 4 decimals, or ``undefined`` (one class in validation has no
    AUC: it was shown as ``-inf``)."""
    return f"{value:.4f}" if math.isfinite(value) else "undefined"
