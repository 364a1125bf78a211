"""benchmarks/segmentation_threshold.py on a tiny binary segmentation run: every threshold scored on validation and
test, the choice made on validation only."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.serve.support import train_tiny_segmentation_run

ROOT = Path(__file__).resolve().parents[2]


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "segmentation_threshold", ROOT / "benchmarks" / "segmentation_threshold.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_thresholds_are_scored_and_validation_chooses(tmp_path_factory: pytest.TempPathFactory) -> None:
    run = train_tiny_segmentation_run(tmp_path_factory)
    out = tmp_path_factory.mktemp("threshold") / "result.json"
    assert _benchmark().main([str(run), str(run.parent / "discs"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["scores"]) == {"val", "test"} and len(result["scores"]["val"]) == 13
    assert all(0.0 <= v <= 1.0 for split in result["scores"].values() for v in split.values())
    val = {float(t): v for t, v in result["scores"]["val"].items()}
    assert val[result["validation_choice"]] == max(val.values())
    assert result["test_at_choice"] == result["scores"]["test"][f"{result['validation_choice']:.2f}"]
