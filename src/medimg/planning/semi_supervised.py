"""The semi-supervised part of a plan: how an unlabelled pool (``medimg fit DATA --unlabelled POOL``) trains.

The fields sit in every plan that can learn from a pool (classification ``Plan``, segmentation ``SegPlan``) as
``plan.semi_supervised`` and are used only when fit is given a pool; ``--set semi_supervised.FIELD=VALUE``
overrides them like any plan field. :func:`determine_semi_supervised` is the planner's choice, with its reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: the classification choices, made on the PneumoniaMNIST validation split (benchmarks/data_efficiency.py)
SUPERVISED_EPOCHS = 10
THRESHOLD: Literal["fixed", "self_adaptive"] = "fixed"


class SemiSupervisedPlan(BaseModel):
    """Pseudo-labelling / FixMatch settings (Sohn et al. 2020, "FixMatch"; Lee 2013, "Pseudo-Label")."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    method: Literal["fixmatch", "pseudo_label"] = Field(
        "fixmatch",
        description="fixmatch: confident predictions on a weakly augmented view of an unlabelled image are the "
        "targets of a strongly augmented view of it; pseudo_label: they are the targets of that same weak view",
    )
    confidence_threshold: float = Field(
        0.95,
        gt=0,
        lt=1,
        description="a prediction becomes a pseudo-label only when its top softmax probability reaches this "
        "(per image for classification, per pixel for segmentation)",
    )
    unlabelled_ratio: int = Field(
        3, ge=1, le=16, description="unlabelled images per labelled image in each training step (FixMatch's mu)"
    )
    loss_weight: float = Field(1.0, ge=0, description="weight of the unlabelled loss next to the supervised one")
    warmup_epochs: float = Field(
        1.0,
        ge=0,
        description="the unlabelled loss weight ramps linearly from 0 to loss_weight over these epochs (0 = full "
        "weight from the first step)",
    )
    strong_magnitude: float = Field(
        2.0,
        ge=1,
        le=5,
        description="fixmatch's strong view: the plan's augmentation ranges times this (intensity jitter at least "
        "a floor), then cutout",
    )
    cutout: float = Field(
        0.25, ge=0, lt=1, description="strong view: side of the erased square, as a fraction of the image side"
    )
    supervised_epochs: int = Field(
        SUPERVISED_EPOCHS,
        ge=0,
        description="labelled-only epochs before the pool is used (no pool images are drawn, so they cost what a "
        "supervised epoch costs); the warmup_epochs ramp starts after them",
    )
    distribution_alignment: bool = Field(
        True,
        description="ReMixMatch's distribution alignment (classification): weak-view probabilities are scaled by "
        "the target class distribution over the running mean of the predictions on the pool, then renormalised, "
        "so pseudo-labels cannot drift to the majority class; the target is the labelled set's class frequencies "
        "times the plan's class weights (the distribution the weighted loss trains towards)",
    )
    threshold: Literal["fixed", "self_adaptive"] = Field(
        THRESHOLD,
        description="fixed: confidence_threshold for every class; self_adaptive (FreeMatch, classification): a "
        "global threshold from the running mean of the top probability on the pool, scaled per class by its "
        "running mean probability over the largest one (rarely predicted classes get a lower threshold)",
    )
    teacher: Literal["network", "weight_average"] = Field(
        "network",
        description="what predicts the weak view (the pseudo-labels): the network being trained (FixMatch), or "
        "the EMA of its weights (a mean teacher, steadier targets; needs the plan's weight_ema, else the network)",
    )
    ema_momentum: float = Field(
        0.99,
        ge=0,
        lt=1,
        description="momentum of the running means over pool predictions (distribution alignment, self-adaptive "
        "thresholds), per step",
    )


def determine_semi_supervised(task: Literal["classify", "segment"]) -> tuple[SemiSupervisedPlan, str]:
    """FixMatch with its published threshold for images, a lower one per pixel, and a CPU-sized ratio.

    FixMatch's 0.95 threshold keeps pseudo-labels almost as accurate as labels on image classification; per-pixel
    softmax outputs of a segmentation network are less peaked (boundaries are uncertain), so 0.9 keeps enough
    pixels. The paper's ratio of 7 unlabelled images per labelled one makes a step 15x the supervised work (two
    views each); 3 (7x) keeps an epoch (a pass over the labelled set) affordable on a CPU. A one-epoch ramp keeps the
    first, untrained predictions from pulling the network.

    Classification starts with 10 labelled-only epochs (cheap: no pool views) and aligns the pool's predictions to
    the labelled class distribution (ReMixMatch); without these, on PneumoniaMNIST (74% pneumonia) at 5% labels the
    pseudo-labels followed the majority class and test accuracy fell to 0.625 (every image called pneumonia).
    Chosen on the official validation split at 5% labels, seed 0, a 60 s CPU budget (``auc_bacc``, the selection
    metric): 10 labelled-only epochs 0.972, 5: 0.966, 20: 0.966; self-adaptive thresholds 0.961; no alignment and no
    labelled-only epochs 0.962; supervised alone 0.969 (one seed: differences of this size are noise-level).
    """
    if task == "segment":  # per-pixel alignment and adaptive thresholds are not measured there: plain FixMatch
        plan = SemiSupervisedPlan(
            confidence_threshold=0.9, supervised_epochs=0, distribution_alignment=False, threshold="fixed"
        )
        return plan, "fixmatch per pixel, threshold 0.9 (pixel softmax is less peaked), 3 unlabelled per labelled"
    return SemiSupervisedPlan(), (
        "fixmatch, threshold 0.95 (the paper's), 3 unlabelled per labelled (CPU-sized), after 10 labelled-only "
        "epochs, with distribution alignment (imbalanced pools)"
    )
