"""Classification: turn a dataset + plan into tensors, train with the engine, predict probabilities.

The task supplies what is classification-specific (cross-entropy with class weights and label smoothing,
validation AUC, softmax inference with optional flip test-time augmentation); the loop lives in
:mod:`medimg.engine.trainer`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.loading import LoadedImages, read_cases
from medimg.engine.trainer import TaskHooks, autocast_context, to_memory_format
from medimg.planning.plan import Plan
from medimg.transforms.preprocess import preprocess_arrays

logger = logging.getLogger(__name__)


@dataclass
class PreparedSplit:
    """Preprocessed tensors of one split: ``x`` ``(N, C, *input_size)`` float16, ``y`` ``(N,)`` int64."""

    x: torch.Tensor
    y: torch.Tensor
    case_ids: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.case_ids)


def prepare_split(
    dataset: Dataset, cases: Sequence[Case], plan: Plan, *, strict: bool = False, progress: bool = False
) -> PreparedSplit:
    """Read and preprocess ``cases`` to the plan's input (unreadable files skipped and reported)."""
    return prepare_loaded(read_cases(dataset, cases, strict=strict, progress=progress), plan)


def prepare_loaded(loaded: LoadedImages, plan: Plan) -> PreparedSplit:
    """Preprocess images already read (e.g. the training split, read once for the fingerprint too)."""
    x = preprocess_arrays(loaded.arrays, plan, [str(c.path or c.case_id) for c in loaded.cases])
    y = torch.tensor([c.label if c.label is not None else -1 for c in loaded.cases], dtype=torch.long)
    return PreparedSplit(x=x, y=y, case_ids=[c.case_id for c in loaded.cases], skipped=loaded.skipped)


def make_loss(plan: Plan) -> nn.Module:
    """Cross-entropy with the plan's class weights and label smoothing."""
    weight = torch.tensor(plan.class_weights, dtype=torch.float32) if plan.class_weights else None
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=plan.label_smoothing)


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
        head.bias.add_(torch.tensor(shifts, dtype=head.bias.dtype))
    return shifts


def tta_flip_axes(plan: Plan) -> list[int]:
    """Flip axes used at test time: those the training augmentation also used (never a new symmetry)."""
    return [a for a in plan.augmentation.flip_axes if a < plan.spatial_dims] if plan.tta else []


#: Inference steps hold at most this many input pixels/voxels (256 images of 32x32, 8 volumes of 64^3):
#: activations grow with the input, and 256 volumes of 64^3 through a 3D CNN need over 8 GB.
INFERENCE_STEP_PIXELS = 2**21


def inference_step(plan: Plan, most: int | None = None) -> int:
    """Images per inference step: ``plan.eval_batch_size`` (and ``most``), capped by the input's pixel count."""
    cap = max(1, INFERENCE_STEP_PIXELS // math.prod(plan.input_size))
    return max(1, min(plan.eval_batch_size, cap, most or plan.eval_batch_size))


@torch.no_grad()
def predict_logits(network: nn.Module, x: torch.Tensor, plan: Plan) -> torch.Tensor:
    """Logits ``(N, K)`` float32 for preprocessed inputs ``x`` (eval mode, batched, AMP as planned)."""
    network.eval()
    flips = tta_flip_axes(plan)
    outputs = []
    step = inference_step(plan)
    for start in range(0, x.shape[0], step):
        xb = to_memory_format(x[start : start + step].float(), plan)
        with autocast_context(plan):
            logits = network(xb).float()
            for axis in flips:
                logits = logits + network(xb.flip(2 + axis)).float()
        outputs.append(logits / (1 + len(flips)))
    if not outputs:
        return torch.zeros((0, plan.num_classes))
    return torch.cat(outputs)


def predict_proba(network: nn.Module, x: torch.Tensor, plan: Plan) -> np.ndarray:
    """Class probabilities ``(N, K)`` float64 (softmax of the logits)."""
    return torch.softmax(predict_logits(network, x, plan), dim=1).double().numpy()


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


def make_hooks(plan: Plan, val: PreparedSplit) -> TaskHooks:
    """Loss and validation callbacks for the engine."""
    criterion = make_loss(plan)
    val_criterion = nn.CrossEntropyLoss()

    def loss(network: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return criterion(network(xb).float(), yb)

    def validate(network: nn.Module) -> dict[str, float]:
        if len(val) == 0:
            return {"loss": math.nan, **quick_metrics(np.zeros(0), np.zeros((0, plan.num_classes)))}
        logits = predict_logits(network, val.x, plan)
        metrics = quick_metrics(val.y.numpy(), torch.softmax(logits, 1).double().numpy())
        metrics["loss"] = float(val_criterion(logits, val.y))
        return metrics

    return TaskHooks(loss=loss, validate=validate)
