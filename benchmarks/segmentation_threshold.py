"""Would a foreground threshold chosen on validation beat argmax for a binary segmentation run? (issue 16, DRIVE)

    python benchmarks/segmentation_threshold.py runs/seg/drive ../shared/data/drive      # a run of segmentation.py

Reads a trained binary run and its data, predicts every validation and test case once (the run's sliding windows
and test-time flips), and scores the foreground-probability thresholds 0.20, 0.25, ... 0.80 by Dice pooled over the
pixels inside each case's field of view (DRIVE's F1). Prints a table and writes JSON: the threshold validation
picks, and the test score at it and at 0.5 (argmax of two classes). The test split is only reported, never used
to choose.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
THRESHOLDS = np.round(np.arange(0.2, 0.81, 0.05), 2)


def pooled_dice(
    run_dir: Path, data: Path, split: str, threads: int, plan_update: dict[str, Any] | None = None
) -> dict[float, float]:
    """Pooled foreground Dice of the run's ``split`` cases at each of :data:`THRESHOLDS` (its plan changed by
    ``plan_update``, e.g. the test-time passes: :mod:`segmentation_tta`)."""
    import torch

    from medimg import Model
    from medimg.data.dataset import Dataset, SegmentationDataset
    from medimg.tasks.segment.cases import CaseReader
    from medimg.tasks.segment.evaluate import segment_image
    from medimg.tasks.segment.labels import IGNORE
    from medimg.tasks.segment.preprocess import decode_labels

    torch.set_num_threads(threads)
    model = Model.load(run_dir)
    network, plan = model.network_, model.plan_.model_copy(update=plan_update or {})
    network.eval()
    dataset = Dataset.load(data, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    assignment = json.loads((run_dir / "splits.json").read_text())["assignment"]
    cases = [c for c in dataset.cases if assignment.get(c.case_id) == split]
    tp, fp, fn = (np.zeros(len(THRESHOLDS)) for _ in range(3))
    for case, sample in CaseReader(dataset, cases, strict=False, budget=0):
        truth = decode_labels(sample.mask, sample.roi, plan, str(case.mask))
        _, probabilities = segment_image(network, plan, sample.image)
        inside = truth != IGNORE
        scores, vessel = probabilities[1][inside], truth[inside] == 1
        for i, threshold in enumerate(THRESHOLDS):
            predicted = scores >= threshold
            tp[i] += np.sum(predicted & vessel)
            fp[i] += np.sum(predicted & ~vessel)
            fn[i] += np.sum(~predicted & vessel)
    dice = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return {float(t): round(float(d), 4) for t, d in zip(THRESHOLDS, dice, strict=True)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a binary segmentation run folder")
    parser.add_argument("data", type=Path, help="the data it was trained on")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "segmentation_threshold.json")
    args = parser.parse_args(argv)
    scores = {split: pooled_dice(args.run, args.data, split, args.threads) for split in ("val", "test")}
    chosen = max(scores["val"], key=lambda t: scores["val"][t])
    print("| threshold | validation Dice (pooled) | test Dice (pooled) |")
    print("|---:|---:|---:|")
    for threshold in scores["val"]:
        print(f"| {threshold:.2f} | {scores['val'][threshold]:.4f} | {scores['test'][threshold]:.4f} |")
    result = {
        "run": str(args.run),
        "scores": {split: {f"{t:.2f}": v for t, v in by.items()} for split, by in scores.items()},
        "validation_choice": chosen,
        "test_at_choice": scores["test"][chosen],
        "test_at_0.5": scores["test"][0.5],
    }
    print(f"validation picks {chosen:.2f}: test {result['test_at_choice']:.4f} (0.50: {result['test_at_0.5']:.4f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
