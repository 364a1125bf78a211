"""Post-hoc logit adjustment: the class weights shape training only, the saved network is calibrated."""

from __future__ import annotations

import math

import torch
from torch import nn

from medimg.planning.plan import Plan


def logit_shifts(plan: Plan) -> list[float] | None:
    """``-log(weight)`` per class when the plan adjusts for its class weights, else ``None``."""
    if not plan.logit_adjustment or not plan.class_weights:
        return None
    return [-math.log(w) for w in plan.class_weights]


def adjust_for_class_weights(network: nn.Module, plan: Plan) -> list[float] | None:
    """Undo the class weights' shift of the logits: subtract ``log(weight)`` from each class's bias.

    A cross-entropy weighted by ``w_k`` is minimised by logits ``log p(k|x) + log w_k`` (up to a constant), so
    the weighted network over-predicts the up-weighted classes; subtracting ``log w_k`` (post-hoc logit
    adjustment, Menon et al., ICLR 2021) restores probabilities calibrated to the training prior, whose argmax is
    the accuracy-optimal decision, and leaves every ranking, hence the ROC-AUC, unchanged. Folded into the
    classifier's bias, it reaches every consumer of the network (ONNX export, the service, ensembles).

    Returns:
        The per-class shifts applied, or ``None`` when nothing was adjusted (no weights, or switched off).

    Raises:
        ConfigError: the network has no linear ``head`` with a bias to fold the shift into.
    """
    shifts = logit_shifts(plan)
    if shifts is None:
        return None
    head = getattr(network, "head", None)
    if not isinstance(head, nn.Linear) or head.bias is None:
        from medimg.errors import ConfigError

        raise ConfigError(
            f"{type(network).__name__} has no linear 'head' with a bias for the class-weight logit adjustment; "
            "train with --set logit_adjustment=false"
        )
    with torch.no_grad():
        head.bias.add_(torch.tensor(shifts, dtype=head.bias.dtype, device=head.bias.device))
    return shifts
