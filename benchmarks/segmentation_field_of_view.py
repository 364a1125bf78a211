"""What the field-of-view rule does for `predict` on images that come without their field-of-view mask (DRIVE)

    python benchmarks/segmentation_field_of_view.py runs/seg/drive ../shared/data/drive  # a run with FOV masks

Reads a run whose plan learned a field-of-view rule (:mod:`medimg.tasks.segment.field_of_view`) and its data, and
segments every test case twice as `predict` does, without its mask: with the plan's rule and with
``field_of_view=None`` (what `predict` gave before the rule). Against each case's own field-of-view mask and
reference it reports the IoU of the field of view the rule found, the share of the outside predicted foreground, and
the whole-image Dice pooled over pixels (the reference is background outside its field of view). Prints a table and
writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a segmentation run trained with field-of-view masks")
    parser.add_argument("data", type=Path, help="the data it was trained on")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "segmentation_field_of_view.json")
    args = parser.parse_args(argv)

    import torch

    from medimg import Model
    from medimg.data.dataset import Dataset, SegmentationDataset
    from medimg.tasks.segment.cases import CaseReader
    from medimg.tasks.segment.evaluate import segment_image
    from medimg.tasks.segment.field_of_view import field_of_view_of

    torch.set_num_threads(args.threads)
    model = Model.load(args.run)
    plan = model.plan_
    if plan.field_of_view is None:
        raise SystemExit(f"{args.run}: its plan has no field-of-view rule (trained without field-of-view masks?)")
    everywhere = plan.model_copy(update={"field_of_view": None})
    dataset = Dataset.load(args.data, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    assignment = json.loads((args.run / "splits.json").read_text())["assignment"]
    cases = [c for c in dataset.cases if assignment.get(c.case_id) == args.split]
    rows = []
    for case, sample in CaseReader(dataset, cases, strict=False, budget=0):
        if sample.roi is None or sample.mask is None:
            continue
        fov, truth = sample.roi.astype(bool), (sample.mask > 0) & sample.roi.astype(bool)
        found = field_of_view_of(plan.field_of_view, sample.image.array, str(case.image))
        with_rule = segment_image(model.network_, plan, sample.image)[0] > 0
        without = segment_image(model.network_, everywhere, sample.image)[0] > 0
        rows.append(
            {
                "case": case.case_id,
                "fov_iou": round(float((found & fov).sum() / (found | fov).sum()), 4) if found is not None else None,
                "outside_foreground_without": round(float(without[~fov].mean()), 4),
                "outside_foreground_with": round(float(with_rule[~fov].mean()), 4),
                "tp_fp_fn_without": [
                    int((without & truth).sum()),
                    int((without & ~truth).sum()),
                    int((~without & truth).sum()),
                ],
                "tp_fp_fn_with": [
                    int((with_rule & truth).sum()),
                    int((with_rule & ~truth).sum()),
                    int((~with_rule & truth).sum()),
                ],
            }
        )

    def pooled(key: str) -> float:
        tp, fp, fn = np.sum([r[key] for r in rows], axis=0)
        return round(float(2 * tp / max(2 * tp + fp + fn, 1)), 4)

    ious = [r["fov_iou"] for r in rows if r["fov_iou"] is not None]
    summary = {
        "run": str(args.run),
        "split": args.split,
        "cases": len(rows),
        "rule": plan.field_of_view.model_dump(mode="json"),
        "fov_found": len(ious),
        "fov_iou_mean": round(float(np.mean(ious)), 4) if ious else None,
        "fov_iou_min": round(float(np.min(ious)), 4) if ious else None,
        "outside_foreground_without": round(float(np.mean([r["outside_foreground_without"] for r in rows])), 4),
        "outside_foreground_with": round(float(np.mean([r["outside_foreground_with"] for r in rows])), 4),
        "whole_image_dice_pooled_without": pooled("tp_fp_fn_without"),
        "whole_image_dice_pooled_with": pooled("tp_fp_fn_with"),
        "per_case": rows,
    }
    print(f"{len(rows)} {args.split} cases; rule: {plan.field_of_view.describe()}")
    print("| | without the rule (as before) | with the rule |")
    print("|---|---:|---:|")
    found_row = f"{summary['fov_iou_mean']}, {summary['fov_iou_min']} ({len(ious)}/{len(rows)} images)"
    print(f"| field of view found (IoU with the given mask: mean, min) | - | {found_row} |")
    print(
        f"| share of the outside predicted foreground (mean) | {summary['outside_foreground_without']:.3f} | "
        f"{summary['outside_foreground_with']:.3f} |"
    )
    print(
        f"| whole-image Dice pooled over pixels | {summary['whole_image_dice_pooled_without']:.4f} | "
        f"{summary['whole_image_dice_pooled_with']:.4f} |"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
