"""The one explicit training loop: shuffling, augmentation, AMP, schedule, validation, early stopping,
atomic checkpoints, resume, ``metrics.jsonl`` and TensorBoard.

Task specifics (loss, validation metrics) come in through :class:`TaskHooks`, so segmentation and detection
reuse the same loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from medimg.engine.checkpoint import copy_state, load_checkpoint, save_checkpoint
from medimg.engine.schedule import lr_multiplier
from medimg.errors import RunFolderError
from medimg.fileio import atomic_write_text
from medimg.planning.plan import Plan
from medimg.transforms.augment import BatchAugment

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = {"loss"}


@dataclass
class TaskHooks:
    """What the loop needs from a task.

    Attributes:
        loss: ``(network, inputs, targets) -> scalar loss`` for one training batch.
        validate: ``network -> {"loss": .., "auc": .., ...}`` on the validation set (network in eval mode).
    """

    loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    validate: Callable[[nn.Module], dict[str, float]]


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


def budgeted_epochs(planned: int, epoch_time_s: float, budget_s: float | None) -> int:
    """How many epochs fit: all ``planned`` ones, or as many as ``budget_s`` allows (at least one), estimated
    from the time the first epoch took (training, validation and checkpoint; the first is the slowest)."""
    if budget_s is None or epoch_time_s <= 0:
        return planned
    return int(max(1, min(planned, math.floor(budget_s / epoch_time_s))))


class PrecisionPlan(Protocol):
    """What :func:`autocast_context` reads: any task's plan (classification ``Plan``, segmentation ``SegPlan``)."""

    @property
    def amp(self) -> str: ...


def autocast_context(plan: PrecisionPlan) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CPU when the plan asks for it, else a no-op."""
    if plan.amp == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_memory_format(x: torch.Tensor, plan: Plan) -> torch.Tensor:
    """channels_last for 4D inputs when the plan asks for it."""
    if plan.channels_last and x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _batch_starts(n: int, batch_size: int) -> range:
    """Start index of every training batch; a last batch of one is dropped (BatchNorm cannot train on it)."""
    stop = n - 1 if n % batch_size == 1 and n > 1 else n
    return range(0, stop, batch_size)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    for start in _batch_starts(n, batch_size):
        yield order[start : start + batch_size]


def build_optimizer(network: nn.Module, plan: Plan) -> torch.optim.Optimizer:
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
    inputs: torch.Tensor,
    targets: torch.Tensor,
    plan: Plan,
    hooks: TaskHooks,
    run_dir: Path,
    *,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    tensorboard: bool = True,
    label: str = "",
) -> TrainResult:
    """Train ``network`` on ``inputs`` ``(N, C, *spatial)`` / ``targets`` ``(N,)`` following ``plan``.

    Every epoch ends with a validation pass, an append to ``run_dir/metrics.jsonl`` and an atomic
    ``run_dir/checkpoints/last.pt``; the best epoch's weights are also written to ``best.pt``. With
    ``resume=True`` training continues after the last completed epoch and ends at ``plan.epochs``, with
    the same shuffling and augmentation as an uninterrupted run (both are seeded per epoch).

    Returns:
        The best weights (a copy), the epoch they came from and the history of epoch metrics.
    """
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    n = int(inputs.shape[0])
    if n < 2:
        raise RunFolderError("training needs at least 2 images")
    steps_per_epoch = len(_batch_starts(n, plan.batch_size))
    torch.manual_seed(seed)
    if plan.channels_last and plan.spatial_dims == 2:
        network = network.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(network, plan)

    def make_scheduler(epochs: int, last_step: int = -1) -> torch.optim.lr_scheduler.LambdaLR:
        schedule = lr_multiplier(
            plan.scheduler, epochs * steps_per_epoch, int(plan.warmup_epochs * steps_per_epoch), plan.step_milestones
        )
        return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule, last_epoch=last_step)

    epochs = plan.epochs
    scheduler = make_scheduler(epochs)
    bf16 = plan.amp == "bf16"  # switched off for good if bf16 ever yields non-finite values
    augment = BatchAugment(plan.augmentation, plan.spatial_dims)
    higher = plan.monitor not in LOWER_IS_BETTER
    best_metric = -math.inf if higher else math.inf
    best_epoch, stale, start_epoch = 0, 0, 1
    best_state = copy_state(network)
    history: list[dict[str, float]] = []
    if resume and last_path.is_file():
        state = load_checkpoint(last_path)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epochs = int(state.get("epochs", plan.epochs))
        bf16 = bool(state.get("bf16", bf16))
        scheduler = make_scheduler(epochs, int(state["scheduler"]["last_epoch"]) - 1)
        scheduler.load_state_dict(state["scheduler"])
        best_metric, best_epoch, stale = state["best_metric"], state["best_epoch"], state["stale_epochs"]
        history = list(state["history"])
        start_epoch = int(state["epoch"]) + 1
        best_state = load_checkpoint(best_path)["model"] if best_path.is_file() else copy_state(network)
        logger.info("resuming %s from epoch %d of %d", run_dir, start_epoch, epochs)
    elif resume:
        logger.warning("--resume: no checkpoint in %s, starting from scratch", ckpt_dir)
    _write_history(run_dir / "metrics.jsonl", history)
    writer = _tensorboard_writer(run_dir / "tensorboard") if tensorboard else None
    from tqdm.auto import tqdm

    epochs_bar = tqdm(
        desc=f"training {label}".strip(),
        unit="epoch",
        disable=not progress,
        initial=start_epoch - 1,
        total=epochs,
    )
    started = time.perf_counter()
    stopped_early = False
    epoch = start_epoch - 1
    last_epoch_s = 0.0  # duration of the last epoch (training, validation, checkpoint): the next one's estimate
    while epoch < epochs:
        epoch += 1
        if plan.early_stopping_patience and stale >= plan.early_stopping_patience:
            stopped_early = True
            break
        if plan.time_budget_s is not None and time.perf_counter() - started + last_epoch_s > plan.time_budget_s:
            logger.info(
                "time budget %.0f s: no room for epoch %d (the last took %.0f s)",
                plan.time_budget_s,
                epoch,
                last_epoch_s,
            )
            break
        epoch_started = time.perf_counter()
        torch.manual_seed(seed * 100_003 + epoch)
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        network.train()
        epoch_start, total_loss, seen = time.perf_counter(), 0.0, 0
        for index in _batches(n, plan.batch_size, generator):
            xb = augment(inputs[index].float(), generator)
            xb = to_memory_format(xb, plan)
            yb = targets[index]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = hooks.loss(network, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            finite = bool(torch.isfinite(loss))
            if finite:
                loss.backward()
                norm = nn.utils.clip_grad_norm_(network.parameters(), plan.grad_clip_norm or math.inf)
                finite = bool(torch.isfinite(norm))
            if not finite:
                if not bf16:
                    raise RunFolderError(
                        f"the training loss or its gradients became non-finite at epoch {epoch} (loss "
                        f"{loss.item()}): lower learning_rate (e.g. --set learning_rate=1e-4) or check the images "
                        "for extreme values"
                    )
                logger.warning(
                    "non-finite loss or gradients under bf16 autocast at epoch %d (oneDNN's bf16 kernels can "
                    "fail on very small feature maps); the batch is skipped and training continues in fp32",
                    epoch,
                )
                bf16 = False
                scheduler.step()
                continue
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(index)
            seen += len(index)
        train_time = time.perf_counter() - epoch_start
        network.eval()
        with torch.no_grad():
            val = hooks.validate(network)
        row: dict[str, float] = {
            "epoch": epoch,
            "train_loss": total_loss / max(1, seen),
            "lr": optimizer.param_groups[0]["lr"],
            "train_images_per_s": seen / max(train_time, 1e-9),
            "bf16": float(bf16),
            **{f"val_{k}": float(v) for k, v in val.items()},
        }
        current = float(val.get(plan.monitor, math.nan))
        improved = not math.isnan(current) and (current > best_metric if higher else current < best_metric)
        if improved or best_epoch == 0:
            best_metric = current if not math.isnan(current) else best_metric
            best_epoch, stale = epoch, 0
            best_state = copy_state(network)
            save_checkpoint(best_path, {"model": best_state, "epoch": epoch})
        else:
            stale += 1
        row["best_epoch"] = best_epoch
        if epoch == 1 and plan.time_budget_s is not None:
            fitted = budgeted_epochs(plan.epochs, time.perf_counter() - started, plan.time_budget_s)
            if fitted != epochs:
                logger.info(
                    "time budget %.0f s: training %d of the planned %d epochs", plan.time_budget_s, fitted, epochs
                )
                epochs = fitted
                scheduler = make_scheduler(epochs, scheduler.last_epoch - 1)
                epochs_bar.total = epochs
        row["epochs"] = epochs
        history.append(row)
        _append_history(run_dir / "metrics.jsonl", row)
        if writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(key, value, epoch)
            writer.flush()
        save_checkpoint(
            last_path,
            {
                "model": network.state_dict(),  # serialised right away: no copy needed
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "best_metric": best_metric,
                "best_epoch": best_epoch,
                "stale_epochs": stale,
                "epochs": epochs,
                "bf16": bf16,
                "history": history,
            },
        )
        last_epoch_s = time.perf_counter() - epoch_started
        epochs_bar.update(1)
        epochs_bar.set_postfix(
            loss=f"{row['train_loss']:.3f}", **{f"val_{plan.monitor}": f"{current:.4f}"}, best=best_epoch
        )
    epochs_bar.close()
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
    )


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in history))


def _append_history(path: Path, row: dict[str, float]) -> None:
    with path.open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def _tensorboard_writer(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency, but degrade gracefully
        logger.warning("tensorboard is not installed; no TensorBoard logs (pip install tensorboard)")
        return None
    return SummaryWriter(log_dir=str(folder))
