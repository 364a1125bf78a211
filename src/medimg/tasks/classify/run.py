"""The classification run: split -> read -> fingerprint -> plan -> preprocess -> train -> save -> evaluate.

Every artifact is written to the run folder as soon as it exists, atomically, so an interrupted run keeps
everything it had and ``--resume`` continues from the last epoch.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medimg.config import FitOptions, resolve_plan
from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.loading import read_cases
from medimg.data.splits import Splits, kfold_assignments, make_splits
from medimg.engine.checkpoint import save_checkpoint
from medimg.engine.trainer import TrainResult, train
from medimg.errors import DatasetError
from medimg.planning.fingerprint import extract_fingerprint
from medimg.planning.plan import Plan
from medimg.planning.planner import cpu_supports_bf16, make_plan
from medimg.run_folder import RunFolder
from medimg.tasks.classify.data import PreparedSplit, prepare_loaded, prepare_split
from medimg.tasks.classify.inference import predict_proba
from medimg.tasks.classify.logit_adjustment import adjust_for_class_weights, logit_shifts
from medimg.tasks.classify.step import make_hooks

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    """A trained classifier and where it lives."""

    network: nn.Module
    plan: Plan
    class_names: list[str]
    run_dir: Path
    metadata: dict[str, Any]


def build_network(plan: Plan) -> nn.Module:
    """The plan's network, freshly initialised (or from ``plan.weights_path``); an :class:`EnsembleNet` of
    ``plan.ensemble`` such networks when it is above 1."""
    from medimg.networks import create_network
    from medimg.networks.ensemble import EnsembleNet

    if plan.ensemble > 1:
        return EnsembleNet([build_network(plan.model_copy(update={"ensemble": 1})) for _ in range(plan.ensemble)])
    return create_network(
        plan.network,
        in_channels=plan.in_channels,
        num_classes=plan.num_classes,
        spatial_dims=plan.spatial_dims,
        input_size=plan.input_size,
        width=plan.width,
        dropout=plan.dropout,
        weights_path=plan.weights_path,
    )


def fit_classifier(
    dataset: Dataset,
    run_dir: Path,
    options: FitOptions,
    *,
    plan_layers: tuple[dict[str, Any] | None, ...] = (),
    splits: Splits | None = None,
) -> FitResult:
    """Train one classifier on ``dataset`` into ``run_dir`` and evaluate it on the test split."""
    torch.set_num_threads(options.num_threads)
    run = RunFolder(run_dir)
    run.ensure_writable(resume=options.resume)
    started = time.perf_counter()
    if splits is None:
        if options.resume and run.file("splits.json").is_file():
            splits = Splits.from_dict(run.read_json("splits.json"))
        else:
            splits = make_splits(
                dataset.cases,
                val_fraction=options.val_fraction,
                test_fraction=options.test_fraction,
                seed=options.seed,
            )
    run.write_json("config.json", _config_record(dataset, options, plan_layers))
    run.write_json("dataset.json", dataset.describe())
    run.write_json("splits.json", splits.to_dict())
    train_cases = splits.cases(dataset.cases, "train")
    val_cases = splits.cases(dataset.cases, "val")
    if not train_cases or not val_cases:
        raise DatasetError(
            f"{dataset.root}: the split left {len(train_cases)} training and {len(val_cases)} validation "
            "images; add images or change --val-fraction"
        )
    loaded = read_cases(
        dataset, train_cases, strict=options.strict, progress=options.progress, desc="reading training images"
    )
    fingerprint = extract_fingerprint(dataset, loaded.cases, loaded.arrays, loaded.metas, seed=options.seed)
    run.write_json("fingerprint.json", fingerprint.model_dump())
    if options.resume and run.file("plan.json").is_file():
        plan = Plan.model_validate(run.read_json("plan.json"))
        logger.info("resuming with the saved plan %s", run.file("plan.json"))
    else:
        plan = resolve_plan(make_plan(fingerprint, bf16_supported=cpu_supports_bf16()), *plan_layers)
    run.write_json("plan.json", plan.model_dump())
    train_split = prepare_loaded(loaded, plan)
    del loaded
    val_split = prepare_split(dataset, val_cases, plan, strict=options.strict, progress=options.progress)
    network, results = train_members(train_split, val_split, plan, run, options, label=dataset.name)
    result = results[0]
    if len(results) != plan.ensemble:
        plan = plan.model_copy(update={"ensemble": len(results)})
        run.write_json("plan.json", plan.model_dump())
    save_checkpoint(run.file("model.pt"), {"model": network.state_dict()})
    metadata = {
        "medimg_version": _version(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": "classify",
        "class_names": list(dataset.class_names),
        "input": {
            "spatial_dims": plan.spatial_dims,
            "channels": plan.in_channels,
            "size": plan.input_size,
            "window": dataset.window,
        },
        "network": plan.network,
        "training": {
            "best_epoch": result.best_epoch,
            f"best_val_{plan.monitor}": result.best_metric,
            "epochs_run": len(result.history),
            "epochs_scheduled": result.epochs,
            "stopped_early": result.stopped_early,
            "train_time_s": round(sum(r.train_time_s for r in results), 2),
            "logit_adjustment": logit_shifts(plan),
            "ensemble": {
                "members": len(results),
                "seeds": [member_seed(options.seed, k) for k in range(len(results))],
                "best_epochs": [r.best_epoch for r in results],
                "epochs_run": [len(r.history) for r in results],
                f"best_val_{plan.monitor}": [r.best_metric for r in results],
            },
            "total_time_s": round(time.perf_counter() - started, 2),
            "train_images": len(train_split),
            "val_images": len(val_split),
            "skipped_files": [list(s) for s in (*train_split.skipped, *val_split.skipped)],
        },
    }
    run.write_json("metadata.json", metadata)
    return FitResult(network, plan, list(dataset.class_names), run.path, metadata)


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member ``member`` (0 keeps the run's seed; runs with nearby seeds share no member)."""
    return seed + 1_000 * member


def train_members(
    train_split: PreparedSplit,
    val_split: PreparedSplit,
    plan: Plan,
    run: RunFolder,
    options: FitOptions,
    *,
    label: str = "",
) -> tuple[nn.Module, list[TrainResult]]:
    """Train ``plan.ensemble`` networks (member ``k`` with seed :func:`member_seed`, in ``run/member_k``; member 0
    in the run folder itself) and return their best weights, as one network or an :class:`EnsembleNet`.

    Under ``plan.time_budget_s`` the budget covers all members: the first gets all of it (its epochs are fitted
    to it), and another member is started, up to ``max(ensemble, ensemble_budget_max)``, only while the time
    left is at least what the previous member took.
    """
    from medimg.networks.ensemble import EnsembleNet

    budget = plan.time_budget_s
    wanted = plan.ensemble if budget is None else max(plan.ensemble, plan.ensemble_budget_max)
    single = plan.model_copy(update={"ensemble": 1})
    hooks = make_hooks(plan, val_split)
    members: list[nn.Module] = []
    results: list[TrainResult] = []
    started = time.perf_counter()
    for k in range(wanted):
        member_plan = single
        if budget is not None:
            left = budget - (time.perf_counter() - started)
            if results and left < results[-1].train_time_s:
                logger.info(
                    "time budget %.0f s: %d network(s) trained, %.0f s left is less than the last one took (%.0f s)",
                    budget,
                    len(results),
                    left,
                    results[-1].train_time_s,
                )
                break
            member_plan = single.model_copy(update={"time_budget_s": max(left, 1e-3)})
        seed = member_seed(options.seed, k)
        torch.manual_seed(seed)  # the initial weights too: same seed, same model
        network = build_network(single)
        result = train(
            network,
            train_split.x,
            train_split.y,
            member_plan,
            hooks,
            run.path if k == 0 else run.path / f"member_{k}",
            seed=seed,
            resume=options.resume,
            progress=options.progress,
            tensorboard=options.tensorboard,
            label=label if wanted == 1 else f"{label} network {k + 1}/{wanted}".strip(),
        )
        network.load_state_dict(result.best_state)
        adjust_for_class_weights(network, plan)  # the checkpoints keep the weights as trained
        members.append(network.to(memory_format=torch.contiguous_format))
        results.append(result)
    return (members[0] if len(members) == 1 else EnsembleNet(members)), results


def fit_cross_validation(
    dataset: Dataset,
    run_dir: Path,
    options: FitOptions,
    *,
    plan_layers: tuple[dict[str, Any] | None, ...] = (),
) -> tuple[list[FitResult], dict[str, Any]]:
    """k-fold cross-validation over train+val (the test split stays held out): one run per fold in
    ``run_dir/fold_k``, and ``run_dir/cv.json`` with each fold's validation and test metrics and mean ± sd.
    """
    from medimg.evaluation.report import build_classification_report

    folds = int(options.folds or 0)
    base = make_splits(
        dataset.cases,
        val_fraction=options.val_fraction,
        test_fraction=options.test_fraction,
        seed=options.seed,
    )
    dev = [c for c in dataset.cases if base.assignment[c.case_id] != "test"]
    fold_of = kfold_assignments(dev, folds, seed=options.seed)
    results: list[FitResult] = []
    rows: list[dict[str, Any]] = []
    for fold in range(folds):
        assignment = dict(base.assignment)
        for case, k in zip(dev, fold_of, strict=True):
            assignment[case.case_id] = "val" if k == fold else "train"
        splits = Splits(assignment, f"{base.method}+{folds}-fold[{fold}]", options.seed)
        fit = fit_classifier(dataset, run_dir / f"fold_{fold}", options, plan_layers=plan_layers, splits=splits)
        results.append(fit)
        row: dict[str, Any] = {"fold": fold}
        for split in ("val", "test"):
            cases = splits.cases(dataset.cases, split)
            if not cases:
                continue
            prepared = prepare_split(dataset, cases, fit.plan, progress=False)
            report = build_classification_report(
                prepared.y.numpy(),
                predict_proba(fit.network, prepared.x, fit.plan),
                fit.class_names,
                split=split,
                model_name=fit.plan.network,
                dataset_name=dataset.name,
                n_resamples=200,
            )
            for key in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc"):
                row[f"{split}_{key}"] = report.metrics.get(key)
        rows.append(row)
    summary: dict[str, Any] = {"folds": folds, "per_fold": rows, "mean": {}, "sd": {}}
    for key in rows[0]:
        values = [r[key] for r in rows if key != "fold" and isinstance(r.get(key), (int, float))]
        if key != "fold" and values:
            summary["mean"][key] = float(np.mean(values))
            summary["sd"][key] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    RunFolder(run_dir).write_json("cv.json", summary)
    return results, summary


def cases_for(dataset: Dataset, splits: Splits | None, split: str) -> list[Case]:
    """Cases of ``split`` ("train"/"val"/"test"/"all") using saved splits, else the dataset's own."""
    if split == "all":
        return list(dataset.cases)
    if splits is not None:
        chosen = splits.cases(dataset.cases, split)
        if chosen or any(c.case_id in splits.assignment for c in dataset.cases):
            return chosen
    return [c for c in dataset.cases if c.split == split]


def _config_record(
    dataset: Dataset, options: FitOptions, plan_layers: tuple[dict[str, Any] | None, ...]
) -> dict[str, Any]:
    return {
        "data": str(Path(dataset.root).resolve()),
        "dataset_options": dataset.describe()["options"],
        "options": options.model_dump(),
        "plan_overrides": [layer for layer in plan_layers if layer],
    }


def _version() -> str:
    from medimg import __version__

    return __version__
