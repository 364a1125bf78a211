"""Segmentation acceptance runs (README "Segmentation"): the default plan on the real sets, timed.

    python benchmarks/segmentation.py drive                    # DRIVE, official 20/20, metrics inside the FOV
    python benchmarks/segmentation.py isic                     # ISIC 2018 task 1, the folder's own split
    python benchmarks/segmentation.py hippocampus              # MSD hippocampus, fixed 20% test split
    python benchmarks/segmentation.py drive --threads 1        # one torch thread (a busy, shared machine)

Each run goes through the public API exactly like ``medimg fit DATA --task segment --model unet`` and writes
``benchmarks/results/segmentation_<set>.json`` with the test metrics, the wall-clock time and the CPU time
(user + system, this process) of the whole run: reading, planning, training, post-processing selection and the
evaluation with its report.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SETS))
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--runs", type=Path, default=Path("runs/seg"), help="parent of the run folder")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)

    from medimg import Model

    spec = SETS[args.name]
    run_dir = args.runs / args.name
    started, cpu_started = time.perf_counter(), _cpu_s()
    model = Model("unet", task="segment", **spec["plan"]).fit(
        args.data / spec["path"],
        run_dir=run_dir,
        seed=args.seed,
        num_threads=args.threads,
        progress=args.progress,
        **spec["fit"],
    )
    wall_s, cpu_s = time.perf_counter() - started, _cpu_s() - cpu_started
    report = json.loads((model.last_report_dir_ / "report.json").read_text())
    metrics = report["metrics"]
    result = {
        "set": args.name,
        "run_dir": str(run_dir),
        "threads": args.threads,
        "seed": args.seed,
        "wall_s": round(wall_s, 1),
        "cpu_s": round(cpu_s, 1),
        "training": model.metadata_.get("training", {}),
        "metrics": {k: metrics.get(k) for k in ("n", "dice_mean", "dice_pooled", "iou_mean", "hd95_mean", "pixel_auc")},
        "per_class_dice": {k: v.get("dice") for k, v in metrics.get("per_class", {}).items()},
        "dice_mean_ci": report["confidence_intervals"].get("dice_mean"),
        "targets": spec["targets"],
        "passed": all((metrics.get(k) or 0) >= v for k, v in spec["targets"].items()),
        "machine": platform.platform(),
    }
    out = HERE / "results" / f"segmentation_{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result["metrics"].items():
        print(f"{key:14s} {value}")
    print(f"wall {wall_s / 60:.1f} min, CPU {cpu_s / 60:.1f} min, targets {'met' if result['passed'] else 'NOT met'}")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
