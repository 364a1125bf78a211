"""A run's training curves in its reports: every network's epochs from ``RUN/metrics.jsonl`` (an ensemble's members
from ``RUN/member_k/metrics.jsonl``), drawn by :func:`medimg.evaluation.plots.plot_training_curves` into
``training_curves.png`` beside the report, which shows it in its "Training" section (every task: the segmentation,
detection and generation reports had none)."""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from medimg.run_folder import member_dir

#: the key of the figure in a report's images
TRAINING_CURVES = "training_curves"
#: per-epoch bookkeeping in ``metrics.jsonl``, not curves (throughput keys, ``train_images_per_s``..., too)
BOOKKEEPING = frozenset({"val_time_s", "amp", "best_epoch", "epochs"})


def read_history(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The epochs of ``RUN/metrics.jsonl`` (empty when absent); an ensemble's members' after them
    (``RUN/member_k/metrics.jsonl``), every row then with its ``"network"`` (1, 2...)."""
    run = Path(run_dir)
    paths = [member_dir(run, 0) / "metrics.jsonl"]
    while (member := member_dir(run, len(paths)) / "metrics.jsonl").is_file():
        paths.append(member)
    rows: list[dict[str, Any]] = []
    for k, path in enumerate(paths):
        if path.is_file():
            epochs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            rows += [{**row, "network": k + 1} for row in epochs] if len(paths) > 1 else epochs
    return rows


def curve_rows(history: list[dict[str, Any]], keys: Collection[str] | None = None) -> list[dict[str, Any]]:
    """``history`` with only what is drawn: ``keys`` (with ``epoch`` and ``network``), or every value but the
    bookkeeping."""
    if keys is not None:
        wanted = {*keys, "epoch", "network"}
        return [{k: v for k, v in row.items() if k in wanted} for row in history]
    return [{k: v for k, v in row.items() if k not in BOOKKEEPING and not k.endswith("_per_s")} for row in history]


def write_training_curves(
    run_dir: str | os.PathLike[str] | None, folder: Path, keys: Collection[str] | None = None
) -> dict[str, Path]:
    """``{TRAINING_CURVES: folder/training_curves.png}`` drawn from the run's history (:func:`curve_rows` with
    ``keys``), or ``{}`` when the run has none (no run folder, a classical model, a run trained elsewhere)."""
    from medimg.errors import ConfigError
    from medimg.evaluation.plots import plot_training_curves

    rows = curve_rows(read_history(run_dir), keys) if run_dir else []
    if not rows:
        return {}
    try:
        return {TRAINING_CURVES: plot_training_curves(rows, folder / "training_curves.png")}
    except ConfigError:  # no numeric curve in the history
        return {}
