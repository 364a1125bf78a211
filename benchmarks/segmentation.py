"""Segmentation acceptance runs (README "Segmentation"): the default plan on the real sets, timed.

    python benchmarks/segmentation.py drive                    # DRIVE, official 20/20, metrics inside the FOV
    python benchmarks/segmentation.py isic                     # ISIC 2018 task 1, the folder's own split
    python benchmarks/segmentation.py hippocampus              # MSD hippocampus, fixed 20% test split
    python benchmarks/segmentation.py drive --threads 1        # one torch thread (a busy, shared machine)
    python benchmarks/segmentation.py hippocampus --budgets 120 300 600 900 --seeds 0 1 2   # time-to-Dice curve
    python benchmarks/segmentation.py hippocampus --budgets 900 --set weight_ema=0.99       # a plan change
    python benchmarks/segmentation.py drive --train-on-all     # no validation: all 20 training images, last epoch

Without ``--budgets`` the default plan trains as planned (its epochs). With ``--budgets`` every run trains for a
wall-clock budget instead (``time_budget_s``; epochs unbounded, the schedule fitted to the budget), one run per
budget and seed, so the Dice reached after 2, 5, 10 and 15 minutes of training is measured by runs that were
planned for that time, not read off one longer run. The test split is scored once per run (never used to choose).

Each run goes through the public API exactly like ``medimg fit DATA --task segment`` (the planner picks the
network: BasicUNet for thin 2D structures such as DRIVE's vessels, MONAI's UNet otherwise) and writes
``benchmarks/results/segmentation_<set>.json`` with the test metrics, the wall-clock time and the CPU time
(user + system, this process) of the whole run: reading, planning, training, post-processing selection and the
evaluation with its report.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
BUDGET_EPOCHS = 10_000
"""Epochs of a budgeted run: more than any budget holds, so the budget ends training."""

SETS: dict[str, dict[str, Any]] = {
    "drive": {"path": "drive", "fit": {}, "plan": {}, "targets": {"dice_pooled": 0.78, "pixel_auc": 0.97}},
    "isic": {"path": "isic2018_task1_256", "fit": {}, "plan": {}, "targets": {"dice_mean": 0.85}},
    "hippocampus": {
        "path": "msd_hippocampus",
        "fit": {"test_fraction": 0.2},
        "plan": {"class_names": ["background", "anterior", "posterior"]},
        "targets": {"dice_mean": 0.85},
    },
    "membrane": {"path": "isbi2012_membrane", "fit": {}, "plan": {}, "targets": {}},
    "herlev": {"path": "herlev", "fit": {}, "plan": {}, "targets": {}},
}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(args: argparse.Namespace, seed: int, budget: float | None) -> dict[str, Any]:
    """One ``Model(network, task="segment").fit`` on the set (``budget``: training seconds, else the plan's epochs),
    scored on its test split; the benchmark row. The network is the planner's unless ``--set network=NAME``."""
    from medimg import Model

    spec = SETS[args.name]
    run_dir = args.runs / (args.name + (f"_seed{seed}_budget{int(budget)}" if budget is not None else ""))
    plan = {**spec["plan"], **args.plan_overrides}
    if budget is not None:
        plan.update(time_budget_s=budget, epochs=BUDGET_EPOCHS)
    started, cpu_started = time.perf_counter(), _cpu_s()
    network = plan.pop("network", "auto")
    model = Model(network, task="segment", **plan).fit(
        args.data / spec["path"],
        run_dir=run_dir,
        seed=seed,
        num_threads=args.threads,
        progress=args.progress,
        train_on_all=args.train_on_all,
        **spec["fit"],
    )
    wall_s, cpu_s = time.perf_counter() - started, _cpu_s() - cpu_started
    report = json.loads((model.last_report_dir_ / "report.json").read_text())
    metrics = report["metrics"]
    training = model.metadata_.get("training", {})
    return {
        "set": args.name,
        "run_dir": str(run_dir),
        "threads": args.threads,
        "seed": seed,
        "time_budget_s": budget,
        "plan_overrides": args.plan_overrides,
        "train_on_all": args.train_on_all,
        "wall_s": round(wall_s, 1),
        "cpu_s": round(cpu_s, 1),
        "training": training,
        "metrics": {k: metrics.get(k) for k in ("n", "dice_mean", "dice_pooled", "iou_mean", "hd95_mean", "pixel_auc")},
        "per_class_dice": {k: v.get("dice") for k, v in metrics.get("per_class", {}).items()},
        "dice_mean_ci": report["confidence_intervals"].get("dice_mean"),
        "targets": spec["targets"],
        "passed": all((metrics.get(k) or 0) >= v for k, v in spec["targets"].items()),
        "machine": platform.platform(),
    }


def time_to_dice(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per budget: the seeds' mean (and SD) test Dice and the mean training time."""
    table = []
    for budget in sorted({r["time_budget_s"] for r in rows if r["time_budget_s"] is not None}):
        runs = [r for r in rows if r["time_budget_s"] == budget]
        dice = [r["metrics"]["dice_mean"] for r in runs]
        table.append(
            {
                "time_budget_s": budget,
                "seeds": [r["seed"] for r in runs],
                "dice_mean": round(statistics.mean(dice), 4),
                "dice_sd": round(statistics.stdev(dice), 4) if len(dice) > 1 else 0.0,
                "train_time_s": round(statistics.mean(r["training"].get("train_time_s", 0.0) for r in runs), 1),
                "epochs_run": [r["training"].get("epochs_run") for r in runs],
            }
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SETS))
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--runs", type=Path, default=Path("runs/seg"), help="parent of the run folder")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="the seed of a run without --budgets")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the --budgets runs")
    parser.add_argument("--budgets", type=float, nargs="+", default=None, help="training budgets, seconds")
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default: results/segmentation_SET.json")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument(
        "--train-on-all", action="store_true", help="validation images join training, the last epoch is kept"
    )
    parser.add_argument("--set", dest="set_", nargs="*", default=[], help="plan fields, FIELD=VALUE (as medimg fit)")
    args = parser.parse_args(argv)
    from medimg.config import parse_assignments

    args.plan_overrides = parse_assignments(args.set_)

    if not args.budgets:
        result = run_one(args, args.seed, None)
        out = args.out or HERE / "results" / f"segmentation_{args.name}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        for key, value in result["metrics"].items():
            print(f"{key:14s} {value}")
        print(
            f"wall {result['wall_s'] / 60:.1f} min, CPU {result['cpu_s'] / 60:.1f} min, "
            f"targets {'met' if result['passed'] else 'NOT met'}"
        )
        print(f"written: {out}")
        return 0
    out = args.out or HERE / "results" / f"segmentation_{args.name}_time_to_dice.json"
    rows: list[dict[str, Any]] = []
    for budget in args.budgets:
        for seed in args.seeds:
            row = run_one(args, seed, budget)
            rows.append(row)
            print(
                f"budget {budget:6.0f} s  seed {seed}  Dice {row['metrics']['dice_mean']:.4f}  "
                f"epochs {row['training'].get('epochs_run')}  wall {row['wall_s']:.0f} s",
                flush=True,
            )
            result = {
                "set": args.name,
                "command": "python benchmarks/segmentation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "time_to_dice": time_to_dice(rows),
                "runs": rows,
            }
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| training budget | test Dice (mean ± SD over seeds) | epochs | training time |")
    print("|---:|---:|---|---:|")
    for entry in time_to_dice(rows):
        print(
            f"| {entry['time_budget_s'] / 60:g} min | {entry['dice_mean']:.3f} ± {entry['dice_sd']:.3f} | "
            f"{'/'.join(map(str, entry['epochs_run']))} | {entry['train_time_s']:.0f} s |"
        )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
