"""k-fold cross-validation for every task: one run per fold over train+val, the test split held out.

Each fold is a complete run in ``run_dir/fold_k``; ``run_dir/cv.json`` holds each fold's validation and test
headline metrics and their mean ± sd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medimg.config import FitOptions
from medimg.data.splits import Splits, kfold_assignments, make_splits
from medimg.engine.distributed import Distributed
from medimg.engine.run import FitResult, RunnableTask, fit_run
from medimg.run_folder import RunFolder

#: ``(fit, dataset, cases, split) -> {metric: value}`` for one fold
Score = Callable[[FitResult, Any, Sequence[Any], str], dict[str, float]]


def fit_cross_validation(
    task: RunnableTask,
    dataset: Any,
    run_dir: Path,
    options: FitOptions,
    *,
    plan_layers: tuple[dict[str, Any] | None, ...] = (),
    distributed: Distributed | None = None,
    score: Score,
) -> tuple[FitResult | None, dict[str, Any]]:
    """Train ``options.folds`` runs and summarise them; returns the first fold's result and the summary
    (``None`` and an empty summary on distributed ranks other than 0)."""
    dist = distributed or Distributed()
    folds = int(options.folds or 0)
    cases = task.split_cases(dataset)
    base = make_splits(cases, val_fraction=options.val_fraction, test_fraction=options.test_fraction, seed=options.seed)
    dev = [c for c in cases if base.assignment[c.case_id] != "test"]
    fold_of = kfold_assignments(dev, folds, seed=options.seed)
    first: FitResult | None = None
    rows: list[dict[str, Any]] = []
    for fold in range(folds):
        assignment = dict(base.assignment)
        for case, k in zip(dev, fold_of, strict=True):
            assignment[case.case_id] = "val" if k == fold else "train"
        splits = Splits(assignment, f"{base.method}+{folds}-fold[{fold}]", options.seed)
        fit = fit_run(
            task, dataset, run_dir / f"fold_{fold}", options, plan_layers=plan_layers, splits=splits, distributed=dist
        )
        if fit is None:
            continue
        first = first or fit
        row: dict[str, Any] = {"fold": fold}
        for split in ("val", "test"):
            chosen = [c for c in dataset.cases if assignment.get(c.case_id) == split]
            if chosen:
                row.update({f"{split}_{k}": v for k, v in score(fit, dataset, chosen, split).items()})
        rows.append(row)
    if not dist.is_main:
        return None, {}
    summary: dict[str, Any] = {"folds": folds, "per_fold": rows, "mean": {}, "sd": {}}
    for key in rows[0]:
        values = [r[key] for r in rows if key != "fold" and isinstance(r.get(key), (int, float))]
        if key != "fold" and values:
            summary["mean"][key] = float(np.mean(values))
            summary["sd"][key] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    RunFolder(run_dir).write_json("cv.json", summary)
    return first, summary
