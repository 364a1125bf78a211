"""A two-class run's operating point as its records keep it (chosen on validation by ``binary_threshold`` and
folded into the bias, :mod:`medimg.tasks.classify.operating_points`), and in words: what the service's reports,
the ONNX export and its predictor say about probabilities that are relative to it. No torch here: the ONNX
predictor uses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: words for the rules ``binary_threshold`` chooses an operating point by
RULE_WORDS = {"youden": "best sensitivity + specificity", "f1": "best F1"}


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else ``None``."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def operating_point(extra: Mapping[str, Any]) -> dict[str, Any] | None:
    """A two-class run's operating point chosen on validation, from its test report's ``extra`` block: ``{"rule",
    "class", "thresholds"}`` (one threshold on the class's raw probability per network), or ``None`` where the run
    decides by the more probable class (``binary_threshold=argmax``) or records none."""
    found_plan, found_training = extra.get("plan"), extra.get("training")
    plan: Mapping[str, Any] = found_plan if isinstance(found_plan, Mapping) else {}
    training: Mapping[str, Any] = found_training if isinstance(found_training, Mapping) else {}
    rule = plan.get("binary_threshold")
    chosen = training.get("binary_thresholds")
    if not rule or rule == "argmax" or not isinstance(chosen, list):
        return None
    points = [point for point in chosen if isinstance(point, Mapping) and point]
    thresholds = [finite_number(value) for point in points for value in point.values()]
    if not points or any(t is None for t in thresholds):
        return None
    return {"rule": str(rule), "class": str(next(iter(points[0]))), "thresholds": thresholds}


def run_operating_point(plan: Any, metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """A trained two-class classifier's operating point from its plan and ``metadata.json`` (``{"rule", "class",
    "thresholds"}``), or ``None`` (argmax, a multi-label model, or none recorded)."""
    if plan is None or getattr(plan, "multi_label", False):
        return None
    return operating_point({"plan": plan.model_dump(), "training": metadata.get("training") or {}})


def operating_point_text(point: Mapping[str, Any]) -> str:
    """``"the operating point chosen on the validation split (youden: best sensitivity + specificity): “lesion”
    when its raw probability is at least 0.103"``."""
    rule = str(point.get("rule"))
    how = RULE_WORDS.get(rule) or (
        "the most sensitive point keeping that specificity"
        if rule.startswith("specificity")
        else "the most specific point reaching that sensitivity"
    )
    values = ", ".join(f"{float(t):.3f}" for t in point.get("thresholds") or [])
    per = " (one threshold per network)" if len(point.get("thresholds") or []) > 1 else ""
    return (
        f"the operating point chosen on the validation split ({rule}: {how}): “{point.get('class')}” when its raw"
        f" probability is at least {values}{per}"
    )
