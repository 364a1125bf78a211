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
from medimg.engine.trainer import train
from medimg.errors import DatasetError
from medimg.planning.fingerprint import extract_fingerprint
from medimg.planning.plan import Plan
from medimg.planning.planner import cpu_supports_bf16, make_plan
from medimg.run_folder import RunFolder
from medimg.tasks.classify import make_hooks, predict_proba, prepare_loaded, prepare_split

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
    """The plan's network, freshly initialised (or from ``plan.weights_path``)."""
    from medimg.networks import create_network

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
    torch.manual_seed(options.seed)  # the initial weights too: same seed, same model
    network = build_network(plan)
    result = train(
        network,
        train_split.x,
        train_split.y,
        plan,
        make_hooks(plan, val_split),
        run.path,
        seed=options.seed,
        resume=options.resume,
        progress=options.progress,
        tensorboard=options.tensorboard,
        label=dataset.name,
    )
    network.load_state_dict(result.best_state)
    network = network.to(memory_format=torch.contiguous_format)
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
            "train_time_s": round(result.train_time_s, 2),
            "total_time_s": round(time.perf_counter() - started, 2),
            "train_images": len(train_split),
            "val_images": len(val_split),
            "skipped_files": [list(s) for s in (*train_split.skipped, *val_split.skipped)],
        },
    }
    run.write_json("metadata.json", metadata)
    return FitResult(network, plan, list(dataset.class_names), run.path, metadata)


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
