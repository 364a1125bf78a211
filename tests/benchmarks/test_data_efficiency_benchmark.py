"""The data-efficiency benchmark's bookkeeping (the runs themselves are the benchmark's, not the tests'): the
validation scores it records at the selected epoch and the runs it flags as off their time budget."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("data_efficiency", ROOT / "benchmarks" / "data_efficiency.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("data_efficiency", module)
    spec.loader.exec_module(module)
    return module


def test_validation_scores_come_from_the_selected_epoch() -> None:
    rows = [
        {"epoch": 1, "val_auc": 0.7, "val_balanced_accuracy": 0.6, "val_accuracy": 0.65},
        {"epoch": 2, "val_auc": 0.9, "val_balanced_accuracy": 0.8, "val_accuracy": 0.85},
        {"epoch": 3, "val_auc": 0.8, "val_balanced_accuracy": 0.7, "val_accuracy": 0.75},
    ]
    found = _benchmark().validation_at_best(rows, 2)
    assert found == {"val_auc": 0.9, "val_balanced_accuracy": 0.8, "val_accuracy": 0.85}
    assert _benchmark().validation_at_best(rows, None) == {}


def test_runs_far_from_their_budget_are_flagged() -> None:
    runs = {
        "a": {"wall_s": 61.0},
        "slow": {"wall_s": 90.0},
        "short": {"wall_s": 40.0},
        "failed": {"error": "x"},
    }
    flags = _benchmark().budget_flags(runs, 60.0)
    assert set(flags) == {"slow", "short"}
    assert flags["slow"] == "wall 90 s for a 60 s budget"


def test_pool_set_and_semi_fields_reach_the_pool_arms_only() -> None:
    spec = {
        "overrides": {"time_budget_s": 90, "width": 1},
        "pool_overrides": {"mixup": 0.2},
        "semi_supervised": {"unlabelled_ratio": 1},
    }
    data_efficiency = _benchmark()
    assert data_efficiency.arm_overrides({**spec, "arm": "supervised"}) == {"time_budget_s": 90, "width": 1}
    assert data_efficiency.arm_overrides({**spec, "arm": "full"}) == {"time_budget_s": 90, "width": 1}
    semi = data_efficiency.arm_overrides({**spec, "arm": "semi"})
    assert semi == {"time_budget_s": 90, "width": 1, "mixup": 0.2, "semi_supervised": {"unlabelled_ratio": 1}}
    assert spec["overrides"] == {"time_budget_s": 90, "width": 1}  # the shared settings are not changed
