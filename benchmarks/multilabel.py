"""Multi-label classification on real data: the five ISIC 2018 Task 2 dermoscopic attributes.

    python benchmarks/multilabel.py --data ../shared/data --seeds 0,1,2 --budget-s 300

`../shared/data/isic2018_task1_256` holds 2,594 dermoscopy images (256 px) split 1600/400/594 into
`data/{train,val,test}/` and `images-onehot.txt`: per image five 0/1 bits, the presence of the ISIC 2018 Task 2
attributes in the official files' (alphabetical) order: globules, milia-like cysts, negative network, pigment
network, streaks (their counts, 603/682/190/1523/100, match the challenge's). The script writes a manifest
(`path,split` and one column per attribute: a multi-label set to medimg), runs `medimg fit` on it under a time budget
per seed with the default plan, and reads each run's test report. It prints a table (per attribute: test AUC, mean
and sd over seeds; the summaries) and writes JSON. Validation chooses the epochs and each attribute's operating
point; the test split is only reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ATTRIBUTES = ("globules", "milia_like_cyst", "negative_network", "pigment_network", "streaks")
SUMMARIES = ("macro_auc", "micro_auc", "mean_average_precision", "macro_sensitivity", "macro_specificity", "macro_f1")


def write_manifest(data: Path, target: Path) -> Path:
    """The ISIC attribute labels as a medimg manifest (absolute image paths, the folder's split, one-hot columns).

    Raises:
        SystemExit: the data folder is missing or an image named by the label file is absent.
    """
    root = data / "isic2018_task1_256"
    labels = root / "images-onehot.txt"
    if not labels.is_file():
        raise SystemExit(f"{labels} not found: pass --data, the folder holding isic2018_task1_256/")
    where = {p.stem: (p, p.parent.name) for p in (root / "data").glob("*/*.jpg")}
    rows = ["path,split," + ",".join(ATTRIBUTES)]
    for line in labels.read_text().split("\n"):
        if not line.strip():
            continue
        name, bits = line.split()
        if name not in where:
            raise SystemExit(f"{labels}: {name} has no image under {root / 'data'}")
        path, split = where[name]
        rows.append(f"{path},{split}," + ",".join(bits.strip()))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(rows) + "\n")
    return target


def run_seed(
    manifest: Path, run_dir: Path, seed: int, budget_s: float, threads: int, epochs: int | None = None
) -> dict[str, Any]:
    """One default fit under the budget (or for ``epochs``, whatever the time); the test report's numbers."""
    import torch

    from medimg import Model
    from medimg.evaluation.multilabel_report import MultiLabelReport

    torch.set_num_threads(threads)
    started = time.perf_counter()
    schedule: dict[str, Any] = {"epochs": epochs} if epochs else {"time_budget_s": budget_s}
    Model().fit(manifest, run_dir=run_dir, seed=seed, progress=False, tensorboard=False, **schedule)
    wall = time.perf_counter() - started
    report = MultiLabelReport.from_json(run_dir / "report" / "report.json")
    metadata = json.loads((run_dir / "metadata.json").read_text())
    return {
        "seed": seed,
        "wall_s": round(wall, 1),
        "train_time_s": metadata["training"]["train_time_s"],
        "networks": metadata["training"]["ensemble"]["members"],
        "n_test": report.metrics["n"],
        **{key: report.metrics.get(key) for key in SUMMARIES},
        "auc": {name: row["roc_auc"] for name, row in report.metrics["per_finding"].items()},
        "positives_test": {name: row["positives"] for name, row in report.metrics["per_finding"].items()},
        "thresholds": metadata["training"].get("finding_thresholds"),
    }


def _mean_sd(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def table(runs: list[dict[str, Any]]) -> str:
    """Markdown: one row per attribute (test AUC, positives) and per summary metric."""
    lines = ["| attribute / metric | test positives | mean ± sd over seeds |", "|---|---|---|"]
    for name in ATTRIBUTES:
        lines.append(f"| {name} AUC | {runs[0]['positives_test'][name]} | {_mean_sd([r['auc'][name] for r in runs])} |")
    for key in SUMMARIES:
        lines.append(f"| {key} | | {_mean_sd([r[key] for r in runs])} |")
    lines.append(f"| wall time per seed (s) | | {_mean_sd([r['wall_s'] for r in runs])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--budget-s", type=float, default=300.0, help="training budget per seed (time_budget_s)")
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs instead of --budget-s (results the load cannot change)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("runs") / "benchmark-multilabel")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "multilabel_isic2018_attributes.json")
    args = parser.parse_args(argv)
    manifest = write_manifest(args.data, args.work / "isic2018_attributes.csv")
    runs = []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        runs.append(run_seed(manifest, args.work / f"seed{seed}", seed, args.budget_s, args.threads, args.epochs))
        print(f"seed {seed}: macro AUC {runs[-1]['macro_auc']:.4f} in {runs[-1]['wall_s']:.0f} s", flush=True)
    text = table(runs)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/multilabel.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {
        "command": command.strip(),
        "budget_s": None if args.epochs else args.budget_s,
        "epochs": args.epochs,
        "threads": args.threads,
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
