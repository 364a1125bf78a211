"""Rewrite the golden plans: ``python tests/golden/regenerate.py [NAME ...]`` from the project root.

Run it only when a plan change is intended, and review the diff of tests/golden/*.plan.json before committing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root, for `tests.golden`

from tests.golden.cases import CASES

NOTE = (
    "Golden plan made by `python tests/golden/regenerate.py` through tests/golden/plans.py: the plan.json a default "
    "fit run (seed 0, default val/test fractions, no overrides) writes first for ../shared/data/{data}{options}. "
    "tests/test_golden.py compares 'plan' field by field; amp, channels_last and reasons.amp only when "
    "medimg.planning.planner.cpu_supports_bf16() equals 'cpu_supports_bf16'."
)


def main() -> int:
    import torch

    from medimg.planning.planner import cpu_supports_bf16

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="datasets to rewrite (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    unknown = set(args.names) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown dataset(s) {sorted(unknown)}; known: {[c.name for c in CASES]}")
    for case in CASES:
        if args.names and case.name not in args.names:
            continue
        if not case.path.exists():
            print(f"skipped {case.name}: {case.path} does not exist", file=sys.stderr)
            continue
        started = time.perf_counter()
        plan = case.compute()
        options = f" with {case.load_options}" if case.load_options else ""
        record = {
            "_note": NOTE.format(data=case.data, options=options),
            "kind": case.kind,
            "data": case.data,
            "load_options": case.load_options,
            "cpu_supports_bf16": cpu_supports_bf16(),
            "plan": plan,
        }
        case.golden_file.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n")
        print(f"wrote {case.golden_file} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
