"""How much does test-time augmentation buy a binary segmentation run? (issue 16, DRIVE)

    python benchmarks/segmentation_tta.py runs/seg/drive ../shared/data/drive      # a run of segmentation.py

Predicts the run's validation and test cases with 1 pass (``tta=false``), the 4 mirrors of a 2D image (every
combination of the two mirrored axes) and the 8 symmetries of the square (the mirrors and quarter turns, what a
2D plan trained with 90-degree turns uses by default; :mod:`medimg.tasks.segment.symmetries`), and scores each by
Dice pooled over the pixels inside each case's field of view (DRIVE's F1) at argmax. Prints a table and writes
JSON; the test split is only reported, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from segmentation_threshold import pooled_dice

HERE = Path(__file__).resolve().parent


def configurations(plan: Any) -> dict[str, dict[str, Any]]:
    """``name -> plan update`` for 1, 4 and 8 passes of the run's ``plan`` (a 2D ``SegPlan``)."""
    mirrors = plan.augmentation.model_copy(update={"flip_axes": [0, 1], "rotate90": False})
    square = plan.augmentation.model_copy(update={"flip_axes": [0, 1], "rotate90": True})
    return {
        "1 pass": {"tta": False},
        "4 mirrors": {"tta": True, "augmentation": mirrors},
        "8 symmetries of the square": {"tta": True, "augmentation": square},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a binary 2D segmentation run folder")
    parser.add_argument("data", type=Path, help="the data it was trained on")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--splits", nargs="+", default=["val", "test"])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "segmentation_tta.json")
    args = parser.parse_args(argv)
    from medimg import Model

    plan = Model.load(args.run).plan_
    rows = []
    for name, update in configurations(plan).items():
        started = time.perf_counter()
        scores = {split: pooled_dice(args.run, args.data, split, args.threads, update)[0.5] for split in args.splits}
        rows.append({"passes": name, **scores, "seconds": round(time.perf_counter() - started, 1)})
        print(rows[-1], flush=True)
    print("| test-time passes | " + " | ".join(f"{s} Dice (pooled)" for s in args.splits) + " | seconds |")
    print("|---|" + "---:|" * (len(args.splits) + 1))
    for row in rows:
        print(f"| {row['passes']} | " + " | ".join(f"{row[s]:.4f}" for s in args.splits) + f" | {row['seconds']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"run": str(args.run), "rows": rows}, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
