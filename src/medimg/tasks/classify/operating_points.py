"""Operating points chosen on validation and folded into the classifier's bias, so that every consumer of the
network (evaluation, ``medimg predict``, the ONNX export, the service) decides at probability 0.5: each finding's
threshold of a multi-label model, and a two-class model's threshold on its second class (``binary_threshold``).

A sigmoid's threshold ``t`` on the probability is the threshold ``logit(t)`` on the logit; subtracting
``logit(t)`` from the finding's bias moves it to 0, where the sigmoid is 0.5. Two softmax classes are a sigmoid of
the logits' difference, so subtracting ``logit(t)`` from the second class's bias moves the argmax to ``p >= t``.
Rankings, hence every AUC, are unchanged; the reported probability is the score relative to the operating point
(above 0.5: present), not the raw one, which for a rare finding rarely reaches 0.5 at all.
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


def check_binary_threshold(plan: Plan) -> None:
    """Refuse a ``binary_threshold`` other than ``argmax`` where it cannot apply (checked before training).

    Raises:
        ConfigError: a multi-label plan (its findings use ``finding_threshold``) or more than two classes.
    """
    if not plan.multi_label and plan.finding_threshold != "youden":
        raise ConfigError(
            f"finding_threshold={plan.finding_threshold} is for multi-label models (one operating point per finding); "
            f"a two-class model's is binary_threshold (e.g. --set binary_threshold={plan.finding_threshold})"
            if plan.num_classes == 2
            else f"finding_threshold={plan.finding_threshold} is for multi-label models; leave it out"
        )
    if plan.binary_threshold == "argmax":
        return
    if plan.multi_label:
        raise ConfigError(
            f"binary_threshold={plan.binary_threshold} is for two-class models; a multi-label model chooses each "
            "finding's operating point with finding_threshold: leave binary_threshold out"
        )
    if plan.num_classes != 2:
        raise ConfigError(
            f"binary_threshold={plan.binary_threshold} chooses one threshold for two classes; these images have "
            f"{plan.num_classes}: leave binary_threshold out (argmax)"
        )


def columns_validation_cannot_judge(plan: Plan, val: PreparedSplit) -> list[int]:
    """The thresholded columns (findings; the second class of a binary task) the validation split has no positive
    or no negative image of: their operating point stays 0.5, not chosen (a rare finding then may never be
    called: sensitivity 0 at a high AUC)."""
    chosen = plan.finding_threshold != "fixed" if plan.multi_label else plan.binary_threshold != "argmax"
    if not chosen or len(val) == 0:
        return []
    truth = val.y.numpy() if plan.multi_label else (val.y.numpy() == 1)[:, None]
    positives = truth.sum(axis=0)
    return [int(j) for j in range(truth.shape[1]) if positives[j] == 0 or positives[j] == truth.shape[0]]


def fold_operating_points(network: nn.Module, plan: Plan, val: PreparedSplit) -> list[float] | None:
    """Choose the operating points on ``val`` and fold them into ``network``'s ``head`` bias; returns the
    thresholds (probabilities of the unshifted network): each finding's (multi-label, ``plan.finding_threshold``),
    or the second class's alone (two classes, ``plan.binary_threshold`` not ``argmax``); ``None`` when the plan
    decides by argmax. Without validation images every threshold is 0.5 (nothing is shifted).

    Raises:
        ConfigError: a ``binary_threshold`` for more than two classes (:func:`check_binary_threshold`), or no
            linear ``head`` with a bias.
    """
    from medimg.evaluation.multilabel import choose_thresholds
    from medimg.tasks.classify.inference import predict_proba

    if plan.multi_label:
        rule, fix = plan.finding_threshold, "finding_threshold=fixed"
    elif plan.binary_threshold == "argmax":
        return None
    else:
        check_binary_threshold(plan)
        rule, fix = plan.binary_threshold, "binary_threshold=argmax"
    columns = slice(None) if plan.multi_label else slice(1, 2)  # two classes: the second one's probability
    if len(val) == 0:
        thresholds = [0.5] * (plan.num_classes if plan.multi_label else 1)
    else:
        findings = val.y.numpy() if plan.multi_label else (val.y.numpy() == 1)[:, None]
        thresholds = choose_thresholds(findings, predict_proba(network, val.x, plan)[:, columns], rule)
    head = getattr(network, "head", None)
    if not isinstance(head, nn.Linear) or head.bias is None:
        raise ConfigError(
            f"{type(network).__name__} has no linear 'head' with a bias to hold the operating points; train with "
            f"--set {fix}"
        )
    shifts = [-math.log(t / (1 - t)) for t in (min(max(t, EPS), 1 - EPS) for t in thresholds)]
    with torch.no_grad():
        head.bias[columns].add_(torch.tensor(shifts, dtype=head.bias.dtype, device=head.bias.device))
    return thresholds
