"""Training throughput with 1 vs N processes (torchrun / DistributedDataParallel), same global batch.

Each configuration is one ``medimg fit`` in its own process tree (the N-process one through
``medimg fit --nproc-per-node N``), on the same data, plan and epochs; the table reports the training images/s
of the last epoch (all ranks together), the wall time of the whole command and the test accuracy / AUC.

On a 2-core machine no speed-up is expected: torch already uses both cores in one process, and two processes
share them (each gets one thread) and add gradient all-reduce. The benchmark is there to show the cost and to
measure the speed-up where more cores or GPUs are available.

Usage::

    python benchmarks/distributed.py                                    # demo phantoms, 1 vs 2 processes
    python benchmarks/distributed.py --data ../shared/data/medmnist/pneumoniamnist.npz --epochs 2 --procs 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "distributed.json"


def run_fit(data: Path, procs: int, run_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    """One ``medimg fit`` with ``procs`` processes; its throughput, wall time and test metrics."""
    command = [sys.executable, "-m", "medimg", "fit", str(data), "--run-dir", str(run_dir), "--no-progress"]
    command += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--network", args.network]
    command += ["--threads", str(args.threads), "--seed", str(args.seed)]
    if procs > 1:
        command += ["--nproc-per-node", str(procs)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"fit with {procs} process(es) failed:\n{done.stderr[-3000:]}")
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    report = json.loads((run_dir / "report" / "report.json").read_text())
    return {
        "processes": procs,
        "train_images_per_s": float(history[-1]["train_images_per_s"]),
        "wall_s": wall,
        "accuracy": float(report["metrics"]["accuracy"]),
        "roc_auc": float(report["metrics"].get("roc_auc") or float("nan")),
        "final_train_loss": float(history[-1]["train_loss"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="dataset (default: demo phantoms made here)")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (over all processes)")
    parser.add_argument("--network", default="simple-cnn")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per node (split between processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None:
            from medimg.data.synthetic import make_phantom_dataset

            data = Path(scratch) / "phantoms"
            make_phantom_dataset(data, n_per_class=400, size=32, seed=0)
        rows = [run_fit(data, procs, Path(scratch) / f"run_{procs}", args) for procs in args.procs]
    base = rows[0]["train_images_per_s"]
    print("| processes | train images/s | speed-up | wall s | test ACC | test AUC | final train loss |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        row["speedup"] = row["train_images_per_s"] / base
        print(
            f"| {row['processes']} | {row['train_images_per_s']:.0f} | {row['speedup']:.2f}x | {row['wall_s']:.0f} | "
            f"{row['accuracy']:.3f} | {row['roc_auc']:.3f} | {row['final_train_loss']:.3f} |"
        )
    result = {
        "data": str(args.data or "demo phantoms, 400 per class, 32 px"),
        "epochs": args.epochs,
        "global_batch": args.batch_size,
        "network": args.network,
        "threads_per_node": args.threads,
        "cpu_count": os.cpu_count(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
