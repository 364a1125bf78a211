"""The bootstrap speed benchmark times every metric it lists and writes intervals that hold each point estimate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_the_benchmark_writes_a_timed_interval_per_metric(tmp_path: Path) -> None:
    import bootstrap_speed

    out = tmp_path / "result.json"
    bootstrap_speed.main(["--cases", "200", "--resamples", "100", "--repeats", "1", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [row["metric"] for row in rows] == [
        "accuracy",
        "roc_auc",
        "f1_macro",
        "sensitivity",
        "roc_auc, by patient",
        "accuracy, plain callable",
    ]
    for row in rows:
        low, high = row["interval"]
        assert row["seconds"] > 0 and row["cases"] == 200 and row["resamples"] == 100
        assert 0 < low < high <= 1, row
    plain, vectorised = rows[-1], rows[0]
    assert plain["interval"] == vectorised["interval"]  # the same resamples, however the metric is evaluated
