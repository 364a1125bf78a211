"""Detection on BCCD (README "Detection"): the default plan, from scratch on the CPU, scored on the official test
split (72 images), per seed and per training budget.

    python benchmarks/detection.py                               # seed 0, the planned budget (20 min of training)
    python benchmarks/detection.py --seeds 0 1 2                 # three seeds: mean and sd
    python benchmarks/detection.py --budgets 300 600 1200        # time-to-mAP: one run per training budget
    python benchmarks/detection.py --set input_size=[240,320]    # any plan field

Each run is ``medimg fit ../shared/data/bccd --task detect --nproc-per-node 2`` (two DDP processes of one thread:
both cores, no OpenMP spinning on a shared machine; the plan's ``time_budget_s`` fits the epochs and the schedule
to the budget), then the bundle is loaded and its test evaluation timed; the rows hold the test metrics (COCO
mAP@0.5, mAP@[.5:.95], per-class AP@0.5, FROC average), the wall-clock and training time, training and inference
images/s and the peak resident memory. Writes ``benchmarks/results/detection.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "bccd"
TARGETS = {"map50": 0.90, "ap50_WBC": 0.97, "ap50_Platelets": 0.80}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_peak_rss_mb() -> float:
    """The largest peak resident memory of a finished child process (the training processes)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _assignments(items: list[str]) -> dict[str, Any]:
    from medimg.config import parse_assignments

    return parse_assignments(items)


def run_one(
    data: Path,
    run_dir: Path,
    seed: int,
    budget: float | None,
    overrides: dict[str, Any],
    threads: int,
    processes: int,
) -> dict[str, Any]:
    """One ``medimg fit --task detect`` (a subprocess: with ``processes`` > 1 it starts torchrun itself) and a
    timed test evaluation of the bundle; returns the benchmark row."""
    from medimg import Model

    plan = dict(overrides)
    if budget is not None:
        plan["time_budget_s"] = budget
    command = [
        str(Path(sys.executable).parent / "medimg"),
        "fit",
        str(data),
        "--task",
        "detect",
        "--run-dir",
        str(run_dir),
        "--seed",
        str(seed),
        "--threads",
        str(threads * processes),
        "--no-progress",
        *[item for key, value in plan.items() for item in ("--set", f"{key}={json.dumps(value)}")],
    ]
    if processes > 1:
        command += ["--nproc-per-node", str(processes)]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall_s = time.perf_counter() - started
    report = json.loads((run_dir / "report" / "report.json").read_text())
    metrics = report["metrics"]
    model = Model.load(run_dir)
    training = model.metadata_.get("training", {})
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train_rates = [row["train_images_per_s"] for row in history if row.get("train_images_per_s")]
    predict_started = time.perf_counter()
    timing = model.evaluate(split="test", out_dir=run_dir / "evaluations" / "timing", n_resamples=0)
    inference_s = time.perf_counter() - predict_started
    per_class = metrics["per_class"]
    return {
        "seed": seed,
        "time_budget_s": budget if budget is not None else model.plan_.time_budget_s,
        "processes": processes,
        "threads_per_process": threads,
        "run_dir": str(run_dir),
        "map50": metrics["map50"],
        "map": metrics["map"],
        "map75": metrics["map75"],
        "froc_average": metrics["froc_average"],
        "froc": metrics["froc"],
        **{f"ap50_{name}": entry["ap50"] for name, entry in per_class.items()},
        **{f"ap_{name}": entry["ap"] for name, entry in per_class.items()},
        **{f"count_mae_{name}": entry["count_mae"] for name, entry in per_class.items()},
        "confidence_intervals": {k: report["confidence_intervals"].get(k) for k in ("map50", "map", "froc_average")},
        "epochs_run": training.get("epochs_run"),
        "best_epoch": training.get("best_epoch"),
        "train_time_s": training.get("train_time_s"),
        "wall_s": round(wall_s, 1),
        "train_images_per_s": round(statistics.median(train_rates), 2) if train_rates else None,
        "inference_images_per_s": round(timing.metrics["n"] / max(inference_s, 1e-9), 2),
        "peak_rss_mb": round(max(_peak_rss_mb(), _children_peak_rss_mb()), 1),
        "decoding": training.get("decoding"),
        "val_map50_by_epoch": [
            {"epoch": row["epoch"], "val_map50": round(row["val_map50"], 4)} for row in history if "val_map50" in row
        ],
    }


def summarise(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        if values:
            out[f"{key}_mean"] = round(statistics.mean(values), 4)
            out[f"{key}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the BCCD folder")
    parser.add_argument("--runs", type=Path, default=Path("runs/detection"), help="parent of the run folders")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=None, help="training budgets, seconds")
    parser.add_argument("--set", dest="set_", action="append", default=[], help="plan field=value")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    parser.add_argument(
        "--nproc-per-node",
        type=int,
        default=2,
        help="training processes (DDP): one per core with one thread each uses both cores without OpenMP threads "
        "spinning against other load",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "detection.json")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the runs already in --out (same plan overrides) and add these; a run of the same seed and budget "
        "is replaced",
    )
    args = parser.parse_args(argv)

    overrides = _assignments(args.set_)
    budgets: list[float | None] = list(args.budgets) if args.budgets else [None]
    rows: list[dict[str, Any]] = []
    commands: list[str] = []
    if args.merge and args.out.is_file():
        previous = json.loads(args.out.read_text())
        if previous.get("overrides", {}) != overrides:
            raise SystemExit(f"--merge: {args.out} was run with other plan overrides ({previous.get('overrides')})")
        rows = list(previous.get("runs", []))
        commands = list(previous.get("commands") or [previous.get("command", "")])
    done: list[dict[str, Any]] = []
    for budget in budgets:
        for seed in args.seeds:
            name = f"seed{seed}" + (f"_budget{int(budget)}" if budget is not None else "")
            row = run_one(args.data, args.runs / name, seed, budget, overrides, args.threads, args.nproc_per_node)
            done.append(row)
            print(
                f"{name:22s} mAP@0.5 {row['map50']:.4f}  mAP {row['map']:.4f}  FROC {row['froc_average']:.4f}  "
                + "  ".join(f"{k[5:]} {row[k]:.3f}" for k in row if k.startswith("ap50_"))
                + f"  epochs {row['epochs_run']}  train {row['train_time_s']:.0f} s  wall {row['wall_s']:.0f} s",
                flush=True,
            )
    replaced = {(r["seed"], r["time_budget_s"]) for r in done}
    rows = [r for r in rows if (r["seed"], r["time_budget_s"]) not in replaced] + done
    keys = ["map50", "map", "froc_average", *[k for k in rows[0] if k.startswith("ap50_")], "wall_s", "train_time_s"]
    by_budget = {
        str(int(budget)): summarise([r for r in rows if r["time_budget_s"] == budget], keys)
        for budget in sorted({r["time_budget_s"] for r in rows})
    }
    result = {
        "benchmark": "detection",
        "dataset": "BCCD (Pascal VOC), official ImageSets split 205 / 87 / 72; test split scored",
        "commands": [
            *commands,
            "python benchmarks/detection.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        ],
        "network": "fcos (planned small ResNet + FPN, from scratch)",
        "overrides": overrides,
        "processes": args.nproc_per_node,
        "threads_per_process": args.threads,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": sys.version.split()[0],
        },
        "targets": TARGETS,
        "summary": summarise([r for r in rows if r["time_budget_s"] == max(r["time_budget_s"] for r in rows)], keys),
        "by_budget": by_budget,
        "runs": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
