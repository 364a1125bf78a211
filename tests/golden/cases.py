"""The golden datasets and the field-by-field comparison of plans (shared by the test and regenerate.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).resolve().parent
SHARED_DATA = GOLDEN_DIR.parents[2] / "shared" / "data"  # ../shared/data relative to the project root

#: Plan fields that depend on the CPU (``cpu_supports_bf16()``): compared only when it matches the recording.
MACHINE_FIELDS = ("amp", "channels_last", "reasons.amp")


@dataclass(frozen=True)
class GoldenCase:
    """One real dataset: ``kind`` is ``classify`` or ``segment``; ``data`` is relative to ../shared/data."""

    name: str
    kind: str
    data: str
    load_options: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return SHARED_DATA / self.data

    @property
    def golden_file(self) -> Path:
        return GOLDEN_DIR / f"{self.name}.plan.json"

    def compute(self) -> dict[str, Any]:
        """The plan as the current code makes it (through tests/golden/plans.py)."""
        from tests.golden.plans import classify_plan, segment_plan

        if self.kind == "classify":
            return classify_plan(self.path, **self.load_options)
        return segment_plan(self.path)


CASES = (
    GoldenCase("pneumoniamnist", "classify", "medmnist/pneumoniamnist.npz"),
    GoldenCase("herlev", "classify", "herlev/data", {"exclude": "*-d.bmp"}),
    GoldenCase("adrenalmnist3d_64", "classify", "medmnist/adrenalmnist3d_64.npz"),
    GoldenCase("drive", "segment", "drive"),
    GoldenCase("msd_hippocampus", "segment", "msd_hippocampus"),
)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"augmentation.flip_axes": [...], "reasons.amp": "..."}`` (lists stay values)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}{key}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: value}


def _same(a: Any, b: Any) -> bool:
    """Equal, with floats within 1e-9 (relative): last-bit differences of summation order are not plan changes."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if numbers and (isinstance(a, float) or isinstance(b, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def diff_plans(expected: dict[str, Any], actual: dict[str, Any], *, skip: tuple[str, ...] = ()) -> list[str]:
    """One line per differing field: ``field: golden X != now Y`` (missing fields included)."""
    want, got = flatten(expected), flatten(actual)
    lines = []
    for key in sorted(set(want) | set(got)):
        if key in skip:
            continue
        if key not in got:
            lines.append(f"{key}: golden {json.dumps(want[key])} != now <missing>")
        elif key not in want:
            lines.append(f"{key}: golden <missing> != now {json.dumps(got[key])}")
        elif not _same(want[key], got[key]):
            lines.append(f"{key}: golden {json.dumps(want[key])} != now {json.dumps(got[key])}")
    return lines
