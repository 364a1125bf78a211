"""Bootstrap confidence intervals: seconds per interval for the vectorised metrics (accuracy, ROC-AUC, F1,
sensitivity), case and patient (cluster) resampling, and a plain Python callable for comparison.

Run: ``python benchmarks/bootstrap_speed.py [--cases 1000,10000] [--resamples 1000] [--repeats 3]`` (prints a
table, writes ``benchmarks/results/bootstrap_speed.json``). Each row is the best of ``--repeats`` timings of one
interval, after one warm-up call.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` binary cases whose probabilities lean to their class, and patient ids of about 3 images each."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    logits = rng.normal(size=(n, 2)) + np.eye(2)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p, rng.integers(0, max(1, n // 3), n)


def _plain_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Accuracy as a user-written callable: the bootstrap runs it once per resample."""
    return float((p.argmax(axis=1) == y).mean())


def measure(n: int, resamples: int, repeats: int) -> list[dict[str, Any]]:
    from medimg.evaluation import metrics
    from medimg.evaluation.bootstrap import bootstrap_ci

    y, p, patients = _data(n)
    cases: list[tuple[str, Callable[..., Any], np.ndarray | None]] = [
        ("accuracy", metrics.accuracy, None),
        ("roc_auc", metrics.roc_auc, None),
        ("f1_macro", metrics.f1_macro, None),
        ("sensitivity", metrics.sensitivity, None),
        ("roc_auc, by patient", metrics.roc_auc, patients),
        ("accuracy, plain callable", _plain_accuracy, None),
    ]
    rows = []
    for label, fn, groups in cases:
        interval = bootstrap_ci(y, p, fn, n_resamples=resamples, groups=groups)  # warm-up, and the answer
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            bootstrap_ci(y, p, fn, n_resamples=resamples, groups=groups)
            best = min(best, time.perf_counter() - started)
        rows.append(
            {
                "metric": label,
                "cases": n,
                "resamples": resamples,
                "seconds": round(best, 4),
                "interval": [None if v is None else round(float(v), 4) for v in interval],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="1000,10000", help="comma-separated numbers of cases")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "bootstrap_speed.json")
    args = parser.parse_args(argv)
    rows = [row for n in (int(v) for v in args.cases.split(",")) for row in measure(n, args.resamples, args.repeats)]
    print(f"{'metric':<26} {'cases':>7} {'resamples':>9} {'seconds':>8}  95% interval")
    for row in rows:
        low, high = row["interval"]
        print(f"{row['metric']:<26} {row['cases']:>7} {row['resamples']:>9} {row['seconds']:>8.4f}  {low} - {high}")
    result = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
