"""The plan a default ``fit`` run computes, without training: the one place the golden tests reach into the package.

Each function follows the fit run step by step with default options (``FitOptions()``: seed 0, default
val/test fractions, no config file, no overrides) and stops where the run writes ``plan.json`` for the first time.
When the code moves, re-point the imports and calls here; the golden files and the test stay as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def classify_plan(path: str | Path, **load_options: Any) -> dict[str, Any]:
    """``plan.json`` of ``Model("auto").fit(path, **load_options)``."""
    return _plan("classify", path, **load_options)


def segment_plan(path: str | Path) -> dict[str, Any]:
    """``plan.json`` of ``Model("auto", task="segment").fit(path)`` as first written by the run (before
    post-processing is chosen on validation)."""
    return _plan("segment", path)


def _plan(task_name: str, path: str | Path, **load_options: Any) -> dict[str, Any]:
    from medimg.config import FitOptions
    from medimg.engine.run import plan_run
    from medimg.tasks.registry import get_task

    task = get_task(task_name)
    options = FitOptions(progress=False)
    dataset = task.load_dataset(path, **load_options)
    # Model.fit passes two layers: the config file (none) and the keyword overrides (none).
    _, plan = plan_run(task, dataset, options, (None, {}))
    return plan.model_dump()
