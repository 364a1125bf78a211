"""Learning-rate schedules as step -> multiplier functions (picklable state through ``LambdaLR``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence


def lr_multiplier(
    kind: str, total_steps: int, warmup_steps: int, milestones: Sequence[float] = (0.5, 0.75)
) -> Callable[[int], float]:
    """Return ``step -> lr multiplier``.

    ``cosine``: linear warm-up, then cosine decay to 1% of the peak. ``step``: warm-up, then x0.1 at each
    milestone (fractions of ``total_steps``). ``constant``: warm-up, then flat.
    """
    total = max(1, total_steps)
    warm = max(0, min(warmup_steps, total - 1))
    marks = sorted(int(m * total) for m in milestones)

    def multiplier(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if kind == "cosine":
            progress = min(1.0, (step - warm) / max(1, total - warm))
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))
        if kind == "step":
            return 0.1 ** sum(step >= m for m in marks)
        return 1.0

    return multiplier
