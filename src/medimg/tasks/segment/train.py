"""The segmentation training loop: patch batches, bf16 autocast + channels_last, cosine schedule, validation
Dice every epoch, early stopping, atomic checkpoints (``best.pt``, ``last.pt``), resume, ``metrics.jsonl``.

It mirrors :mod:`medimg.engine.trainer` (same checkpoint and schedule helpers) with iterations of sampled
patches instead of passes over whole images.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from medimg.engine.checkpoint import copy_state, load_checkpoint, save_checkpoint
from medimg.engine.schedule import lr_multiplier
from medimg.engine.trainer import TrainResult, autocast_context
from medimg.errors import RunFolderError
from medimg.fileio import atomic_write_text
from medimg.tasks.segment.inference import memory_format
from medimg.tasks.segment.losses import make_loss
from medimg.tasks.segment.planning import SegPlan
from medimg.tasks.segment.sampling import PatchSampler

logger = logging.getLogger(__name__)


def build_optimizer(network: nn.Module, plan: SegPlan) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and normalisation weights."""
    decay = [p for n, p in network.named_parameters() if p.requires_grad and p.ndim > 1 and not n.endswith(".bias")]
    no_decay = [p for n, p in network.named_parameters() if p.requires_grad and (p.ndim <= 1 or n.endswith(".bias"))]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": plan.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=plan.learning_rate,
    )


def train_segmentation(
    network: nn.Module,
    sampler: PatchSampler,
    validate: Callable[[nn.Module], dict[str, float]],
    plan: SegPlan,
    run_dir: Path,
    *,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    label: str = "",
) -> TrainResult:
    """Train ``network`` on patches from ``sampler``; ``validate(network) -> {"dice": ..}`` after each epoch.

    With ``resume=True`` training continues after the last completed epoch with the same batches as an
    uninterrupted run (the sampler is seeded per epoch).
    """
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    if len(sampler) < 1:
        raise RunFolderError("training needs at least one labelled image")
    loss_fn = make_loss(plan.loss)
    if plan.channels_last:
        network = network.to(memory_format=torch.channels_last if plan.spatial_dims == 2 else torch.channels_last_3d)
    optimizer = build_optimizer(network, plan)
    steps = plan.iterations_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_multiplier("cosine", plan.epochs * steps, int(plan.warmup_epochs * steps))
    )
    best_dice, best_epoch, stale, start_epoch = -math.inf, 0, 0, 1
    best_state = copy_state(network)
    history: list[dict[str, float]] = []
    if resume and last_path.is_file():
        state = load_checkpoint(last_path)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        best_dice, best_epoch, stale = state["best_dice"], state["best_epoch"], state["stale_epochs"]
        history = list(state["history"])
        start_epoch = int(state["epoch"]) + 1
        best_state = load_checkpoint(best_path)["model"] if best_path.is_file() else copy_state(network)
        logger.info("resuming %s from epoch %d of %d", run_dir, start_epoch, plan.epochs)
    elif resume:
        logger.warning("--resume: no checkpoint in %s, starting from scratch", ckpt_dir)
    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
    from tqdm.auto import tqdm

    bar = tqdm(
        range(start_epoch, plan.epochs + 1),
        desc=f"training {label}".strip(),
        unit="epoch",
        disable=not progress,
        initial=start_epoch - 1,
        total=plan.epochs,
    )
    started = time.perf_counter()
    stopped_early = False
    for epoch in bar:
        if plan.early_stopping_patience and stale >= plan.early_stopping_patience:
            stopped_early = True
            break
        torch.manual_seed(seed * 100_003 + epoch)
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        network.train()
        epoch_start, total_loss = time.perf_counter(), 0.0
        for _ in range(steps):
            x, y = sampler.sample(plan.batch_size, generator)
            with autocast_context(plan):
                logits = network(memory_format(x, plan))
            loss = loss_fn(logits.float(), y)
            if not torch.isfinite(loss):
                raise RunFolderError(
                    f"the training loss became {loss.item()} at epoch {epoch}: lower learning_rate "
                    "(--set learning_rate=1e-4) or check the images for extreme values"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 12.0)
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach())
        train_time = time.perf_counter() - epoch_start
        network.eval()
        val_start = time.perf_counter()
        if epoch % plan.val_every == 0 or epoch == plan.epochs:
            with torch.no_grad():
                val = validate(network)
        else:
            val = {}
        row: dict[str, float] = {
            "epoch": epoch,
            "train_loss": total_loss / steps,
            "lr": optimizer.param_groups[0]["lr"],
            "train_patches_per_s": steps * plan.batch_size / max(train_time, 1e-9),
            "val_time_s": time.perf_counter() - val_start,
            **{f"val_{k}": float(v) for k, v in val.items()},
        }
        current = float(val.get("dice", math.nan))
        if val and ((not math.isnan(current) and current > best_dice) or best_epoch == 0):
            best_dice = current if not math.isnan(current) else best_dice
            best_epoch, stale = epoch, 0
            best_state = copy_state(network)
            save_checkpoint(best_path, {"model": best_state, "epoch": epoch})
        elif val:
            stale += plan.val_every
        row["best_epoch"] = best_epoch
        history.append(row)
        with (run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        save_checkpoint(
            last_path,
            {
                "model": network.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "best_dice": best_dice,
                "best_epoch": best_epoch,
                "stale_epochs": stale,
                "history": history,
            },
        )
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_dice=f"{best_dice:.4f}", best=best_epoch)
    if stopped_early:
        logger.info("early stopping: no val Dice gain for %d epochs", stale)
    return TrainResult(
        best_state=best_state,
        best_epoch=best_epoch,
        best_metric=best_dice,
        history=history,
        stopped_early=stopped_early,
        train_time_s=time.perf_counter() - started,
        epochs=plan.epochs,
    )
