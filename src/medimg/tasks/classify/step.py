"""The classification step: class-weighted, label-smoothed cross-entropy for training and the validation
metrics used for model selection."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from medimg.engine.trainer import TaskHooks
from medimg.planning.plan import Plan
from medimg.tasks.classify.data import PreparedSplit
from medimg.tasks.classify.distillation import SoftTargets, distillation_loss
from medimg.tasks.classify.inference import predict_logits, probabilities_of
from medimg.transforms.mixing import BatchMixer


def make_loss(plan: Plan) -> nn.Module:
    """Cross-entropy with the plan's class weights and label smoothing; a multi-label plan's binary cross-entropy
    per finding (on multi-hot targets)."""
    if plan.multi_label:
        return nn.BCEWithLogitsLoss()
    weight = torch.tensor(plan.class_weights, dtype=torch.float32) if plan.class_weights else None
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=plan.label_smoothing)


def quick_metrics(y: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Validation metrics for model selection: AUC (binary / macro one-vs-rest), accuracy, balanced accuracy,
    and ``auc_bacc``, their mean of AUC and balanced accuracy (the default selection metric).

    Undefined values (e.g. AUC with one class present) are NaN, which never counts as an improvement.
    """
    from medimg.evaluation.metrics import accuracy, balanced_accuracy, roc_auc

    if len(y) == 0:
        return {"auc": math.nan, "accuracy": math.nan, "balanced_accuracy": math.nan, "auc_bacc": math.nan}
    result = {}
    for name, metric in (("auc", roc_auc), ("accuracy", accuracy), ("balanced_accuracy", balanced_accuracy)):
        value = metric(y, probabilities)
        result[name] = math.nan if value is None else float(value)
    result["auc_bacc"] = (result["auc"] + result["balanced_accuracy"]) / 2
    return result


def multilabel_quick_metrics(findings: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """:func:`quick_metrics` of a multi-label model: the macro AUC over findings (``auc``), the label-wise
    accuracy and the macro balanced accuracy at 0.5 (before the operating points are chosen), and their
    ``auc_bacc``."""
    from medimg.evaluation.multilabel import validation_summaries

    if len(findings) == 0:
        return {"auc": math.nan, "accuracy": math.nan, "balanced_accuracy": math.nan, "auc_bacc": math.nan}
    summary = validation_summaries(findings, probabilities)
    auc = summary["macro_auc"]
    bacc = (summary["macro_sensitivity"] + summary["macro_specificity"]) / 2
    return {"auc": auc, "accuracy": summary["label_accuracy"], "balanced_accuracy": bacc, "auc_bacc": (auc + bacc) / 2}


def make_hooks(plan: Plan, val: PreparedSplit, teacher: SoftTargets | None = None, *, seed: int = 0) -> TaskHooks:
    """Loss and validation callbacks for the engine; with a ``teacher`` the loss also distils its predictions
    (of the mixed images, when the plan mixes batches: ``seed`` seeds the mixing)."""
    criterion = make_loss(plan)
    val_criterion = nn.BCEWithLogitsLoss() if plan.multi_label else nn.CrossEntropyLoss()
    mixer = BatchMixer(mixup=plan.mixup, cutmix=plan.cutmix, seed=seed)

    def loss(network: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        mixed = mixer(xb) if mixer.enabled else None
        if mixed is not None:
            xb = mixed.inputs
        logits = network(xb).float()
        criterion.to(logits.device)  # the class weights follow the batch (a no-op once there)
        supervised = criterion(logits, yb) if mixed is None else mixed.loss(criterion, logits, yb)
        if teacher is None:
            return supervised
        return distillation_loss(logits, teacher(xb), supervised, plan)

    def validate(network: nn.Module) -> dict[str, float]:
        if len(val) == 0:
            return {"loss": math.nan, **quick_metrics(np.zeros(0), np.zeros((0, plan.num_classes)))}
        logits = predict_logits(network, val.x, plan, amp=True)
        probabilities = probabilities_of(logits, plan).double().numpy()
        summarise = multilabel_quick_metrics if plan.multi_label else quick_metrics
        metrics = summarise(val.y.numpy(), probabilities)
        metrics["loss"] = float(val_criterion(logits, val.y))
        return metrics

    return TaskHooks(loss=loss, validate=validate)
