"""A multi-label model's operating points: each finding's threshold, chosen on validation and folded into the
classifier's bias, so that every consumer of the network (evaluation, ``medimg predict``, the ONNX export, the
service) reports a finding present when its output reaches 0.5.

A sigmoid's threshold ``t`` on the probability is the threshold ``logit(t)`` on the logit; subtracting
``logit(t)`` from the finding's bias moves it to 0, where the sigmoid is 0.5. Rankings, hence every AUC, are
unchanged; the reported probability is the finding's score relative to its operating point (above 0.5: present),
not the raw sigmoid, which for a rare finding rarely reaches 0.5 at all.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from medimg.errors import ConfigError
from medimg.planning.plan import Plan
from medimg.tasks.classify.data import PreparedSplit

#: thresholds are kept inside (EPS, 1 - EPS) so their logit is finite
EPS = 1e-6


def fold_operating_points(network: nn.Module, plan: Plan, val: PreparedSplit) -> list[float] | None:
    """Choose each finding's threshold on ``val`` (``plan.finding_threshold``) and fold it into ``network``'s
    ``head`` bias; returns the thresholds (probabilities of the unshifted network), ``None`` for a single-label
    plan. Without validation images every threshold is 0.5 (nothing is shifted).

    Raises:
        ConfigError: the network has no linear ``head`` with a bias.
    """
    if not plan.multi_label:
        return None
    from medimg.evaluation.multilabel import choose_thresholds
    from medimg.tasks.classify.inference import predict_proba

    if len(val) == 0:
        return [0.5] * plan.num_classes
    thresholds = choose_thresholds(val.y.numpy(), predict_proba(network, val.x, plan), plan.finding_threshold)
    head = getattr(network, "head", None)
    if not isinstance(head, nn.Linear) or head.bias is None:
        raise ConfigError(
            f"{type(network).__name__} has no linear 'head' with a bias to hold the findings' operating points; "
            "train with --set finding_threshold=fixed"
        )
    shifts = [-math.log(t / (1 - t)) for t in (min(max(t, EPS), 1 - EPS) for t in thresholds)]
    with torch.no_grad():
        head.bias.add_(torch.tensor(shifts, dtype=head.bias.dtype, device=head.bias.device))
    return thresholds
