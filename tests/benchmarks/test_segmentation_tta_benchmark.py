"""benchmarks/segmentation_tta.py on a tiny binary segmentation run: 1, 4 and 8 test-time passes scored on
validation and test."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from tests.serve.support import train_tiny_segmentation_run

ROOT = Path(__file__).resolve().parents[2]


def test_each_pass_count_is_scored(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from medimg import Model
    from medimg.tasks.segment.symmetries import plan_tta_passes

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when run as a script: it imports its sibling
    benchmark = importlib.import_module("segmentation_tta")
    run = train_tiny_segmentation_run(tmp_path_factory)
    plan = Model.load(run).plan_
    passes = [
        len(plan_tta_passes(plan.model_copy(update=u).model_dump())) for u in benchmark.configurations(plan).values()
    ]
    assert passes == [1, 4, 8]
    out = tmp_path_factory.mktemp("tta") / "result.json"
    assert benchmark.main([str(run), str(run.parent / "discs"), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["passes"] for r in rows] == ["1 pass", "4 mirrors", "8 symmetries of the square"]
    assert all(0.0 <= r[split] <= 1.0 for r in rows for split in ("val", "test"))
