"""The case-memory benchmark: its synthetic data reads as the task's data, and each budget runs a real fit in its
own process whose peak memory and validation metric land in the table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parents[2] / "benchmarks"


def _benchmark():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(SCRIPTS))
    import case_memory  # type: ignore[import-not-found]

    return case_memory


def test_synthetic_volumes_pair_as_segmentation_data(tmp_path: Path) -> None:
    from medimg.tasks.segment.data import SegmentationDataset

    data = _benchmark().write_volumes(tmp_path / "ct", 2, (8, 16, 12))
    dataset = SegmentationDataset.load(data)
    sample = dataset.read(dataset.cases[0])
    assert sample.image.spatial_shape == (12, 16, 8) and sample.mask is not None  # NIfTI axes: x, y, z
    assert np.allclose(sample.image.spacing_mm, (0.8, 0.8, 2.5))
    assert set(np.unique(sample.mask)) <= {0.0, 1.0, 2.0} and sample.image.array.min() <= -900  # air in HU


def test_each_budget_is_a_fit_with_its_peak_memory(tmp_path: Path) -> None:
    out = tmp_path / "case_memory.json"
    argv = ["--task", "classify", "--cases", "16", "--shape", "48", "40", "--budgets-mb", "default", "0"]
    assert _benchmark().main([*argv, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["task"] == "classify" and [r["budget_mb"] for r in result["rows"]] == ["default", "0"]
    for row in result["rows"]:
        assert row["peak_anonymous_mb"] > 100 and row["peak_rss_mb"] >= row["peak_anonymous_mb"]
    assert result["rows"][0]["best_val"] == result["rows"][1]["best_val"]  # the same run either way
