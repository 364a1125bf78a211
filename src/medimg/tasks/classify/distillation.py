"""Knowledge distillation (Hinton et al., 2015): a network learns from a trained classifier's soft predictions as
well as from the labels, e.g. one small, fast network from an ensemble (``medimg fit DATA --teacher RUN``).

The teacher sees each training batch exactly as the student does (after augmentation), in eval mode and without
gradients. Its logits are taken before its class-weight logit adjustment, so teacher and student targets live in
the same (class-weighted) space; the student gets its own adjustment when it has trained.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from medimg.config import PlanLayer
from medimg.errors import ConfigError, MedimgError
from medimg.planning.plan import Plan
from medimg.tasks.classify.logit_adjustment import logit_shifts
from medimg.tasks.semi_supervised import soft_target_loss

#: The plan fields that make a network's input: a teacher must share them with its student.
INPUT_FIELDS = (
    "spatial_dims",
    "in_channels",
    "input_size",
    "denoise",
    "denoise_radius",
    "normalisation",
    "clip_low",
    "clip_high",
    "norm_mean",
    "norm_std",
)

SoftTargets = Callable[[torch.Tensor], torch.Tensor]
"""``inputs -> teacher logits`` for a training batch."""


def teacher_inputs(run_dir: str | Path) -> PlanLayer | None:
    """The teacher's input settings (:data:`INPUT_FIELDS`) as a plan layer under the user's own settings, so a
    student fitted on other images of the data (a labelled subset, whose intensity statistics differ) sees its
    inputs as the teacher does; ``None`` when the run cannot be read (:func:`load_teacher` then says why)."""
    from medimg.bundle import load_bundle

    try:
        plan = load_bundle(run_dir).plan_
    except MedimgError:
        return None
    if not all(hasattr(plan, f) for f in INPUT_FIELDS):
        return None
    return PlanLayer({f: getattr(plan, f) for f in INPUT_FIELDS}, reason=f"the teacher's (--teacher {run_dir})")


def load_teacher(
    run_dir: str | Path, plan: Plan, class_names: list[str], assignment: dict[str, str], device: torch.device
) -> SoftTargets:
    """The teacher of run folder ``run_dir`` as ``inputs -> logits`` (before its logit adjustment).

    Args:
        assignment: the student's split, ``case id -> train/val/test`` (``splits.json``): the teacher must not have
            trained on the student's validation or test images, or its soft labels would leak them.

    Raises:
        RunFolderError: the folder holds no trained torch classifier.
        ConfigError: the teacher classifies other classes, trained on the student's validation or test images, or
            its input differs from the student's plan.
    """
    from medimg.bundle import load_bundle
    from medimg.data.synthetic_sets import evaluation_images_trained_on

    bundle = load_bundle(run_dir)
    if bundle.task != "classify":
        raise ConfigError(f"teacher {run_dir} is a {bundle.task} run; distillation needs a classifier")
    if list(bundle.class_names_) != list(class_names):
        raise ConfigError(
            f"teacher {run_dir} classifies {bundle.class_names_}, this data has {class_names}: train the student on "
            "the teacher's data"
        )
    leaked = evaluation_images_trained_on(run_dir, assignment)
    if leaked:
        raise ConfigError(
            f"teacher {run_dir} trained on {len(leaked)} of this run's validation/test images (e.g. {leaked[0]}): "
            "its soft labels would leak them; fit the student with the teacher's split (same --seed, "
            "--val-fraction and --test-fraction)"
        )
    teacher_plan: Plan = bundle.plan_
    differ = [f for f in INPUT_FIELDS if getattr(teacher_plan, f) != getattr(plan, f)]
    if differ:
        settings = " ".join(f"--set {f}={json.dumps(getattr(teacher_plan, f), separators=(',', ':'))}" for f in differ)
        raise ConfigError(
            f"teacher {run_dir} was trained on other inputs ({', '.join(differ)} differ): give the student the "
            f"teacher's: {settings}"
        )
    network: nn.Module = bundle.network_.to(device).eval()
    network.requires_grad_(False)
    shifts = logit_shifts(teacher_plan)
    undo = -torch.tensor(shifts, device=device) if shifts is not None else None

    @torch.no_grad()
    def soft_targets(inputs: torch.Tensor) -> torch.Tensor:
        logits = network(inputs).float()
        return logits if undo is None else logits + undo

    return soft_targets


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, label_loss: torch.Tensor, plan: Plan
) -> torch.Tensor:
    """``(1 - w) * label_loss + w * T^2 * KL(softmax(teacher / T) || softmax(student / T))`` with the plan's
    ``distill_weight`` w and ``distill_temperature`` T (T^2 keeps the soft term's gradients on the labels' scale)."""
    soft = soft_target_loss(student_logits, teacher_logits, plan.distill_temperature)
    return (1 - plan.distill_weight) * label_loss + plan.distill_weight * soft
