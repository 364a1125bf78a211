"""The training plan: every hyperparameter is a described field, saved as ``plan.json`` and overridable.

Values are checked on their own (ranges, finite numbers) and against each other (:func:`check_consistent`: clip
bounds in order, flip axes among the spatial axes, one class weight per class), so a plan that would train
nonsense is refused with the field's name before anything is trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from medimg.planning.network_width import determine_width
from medimg.planning.semi_supervised import SemiSupervisedPlan

DenoiseMethod = Literal["none", "median", "gaussian", "nl_means"]
"""The plans' ``denoise`` field (classification and segmentation; :mod:`medimg.transforms.denoise`)."""

DENOISE_DESCRIPTION = (
    "denoising of each image at its own resolution, first (medimg.transforms.denoise): median (window "
    "2*denoise_radius+1 px; speckle), gaussian (sigma denoise_radius px), nl_means (non-local means, patches of "
    "2*denoise_radius+1 px; low-dose CT, MR; slow on large images); the same at prediction"
)
DENOISE_RADIUS_DESCRIPTION = "size of the denoise filter in px (see denoise)"

DENOISE_OFF = (
    "off: smoothing also removes fine detail; --set denoise=median|gaussian|nl_means (denoise_radius=1) for "
    "speckled or noisy images, applied the same way at prediction"
)
"""The planners' reason for no denoising, their default: the filters that remove noise also remove the fine detail
a network learns from (microcalcifications, fracture lines, thin vessels), and a network trained on noisy images
learns to ignore their noise. Not measured to help on any dataset here, so it is the user's choice
(``--set denoise=median`` for ultrasound speckle, ``nl_means`` for low-dose CT or noisy MR)."""


PER_IMAGE_MIN_STD = 1e-8
"""``normalisation: per_image``: a channel's standard deviation is at least this (a constant image stays 0)."""


class AugmentationPlan(BaseModel):
    """Random augmentation applied to each training batch (on tensors, the whole batch at once)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    flip_axes: list[int] = Field(default_factory=list, description="spatial axes flipped with p=0.5 (0=first)")
    rotate_deg: float = Field(0.0, ge=0, le=180, description="max in-plane rotation, degrees")
    scale: float = Field(0.0, ge=0, lt=1, description="max relative zoom in/out")
    translate: float = Field(0.0, ge=0, lt=1, description="max shift as a fraction of the image size")
    brightness: float = Field(0.0, ge=0, description="max additive shift in normalised intensity units")
    contrast: float = Field(0.0, ge=0, lt=1, description="max relative contrast change")
    noise_std: float = Field(0.0, ge=0, description="std of additive Gaussian noise (normalised units)")
    cutout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="side of one square (cube in 3D) erased to the image's mean per image, as a fraction of the image "
        "side (0 = off; DeVries & Taylor 2017)",
    )

    @property
    def enabled(self) -> bool:
        return bool(
            self.flip_axes
            or self.rotate_deg
            or self.scale
            or self.translate
            or self.brightness
            or self.contrast
            or self.noise_std
            or self.cutout
        )

    @field_validator("flip_axes")
    @classmethod
    def _counted_from_zero(cls, axes: list[int]) -> list[int]:
        return non_negative_axes(axes)


def non_negative_axes(axes: list[int]) -> list[int]:
    """Spatial axes as given, refusing negative ones (``-1`` is no "last axis" here: it would flip the channels).

    Raises:
        ValueError: an axis is negative.
    """
    negative = [a for a in axes if a < 0]
    if negative:
        raise ValueError(
            f"{negative} is not a spatial axis: axes count from 0 (the first spatial axis; the last is 1 for images, "
            "2 for volumes), not from the end"
        )
    return axes


def refuse(loc: tuple[str, ...], message: str, value: object) -> NoReturn:
    """Refuse a plan value from a model validator with the error located at field ``loc`` (a message then names
    the field, as for a value wrong on its own).

    Raises:
        ValidationError: always.
    """
    detail = InitErrorDetails(
        type=PydanticCustomError("plan_value", "{message}", {"message": message}), loc=loc, input=value
    )
    raise ValidationError.from_exception_data("plan", [detail])


def check_consistent(plan: BaseModel, flip_axes: Sequence[int], class_weights: Sequence[float] | None = None) -> None:
    """Check the values of ``plan`` that must agree (each pair only when both were given, so one override checked
    on its own against the defaults, before the data is planned, is not refused for a default it will not meet):
    ``clip_low < clip_high``, ``flip_axes`` among ``0..spatial_dims-1``, ``class_weights`` one per class.

    Raises:
        ValidationError: naming the field.
    """
    given = plan.model_fields_set
    low, high = getattr(plan, "clip_low", None), getattr(plan, "clip_high", None)
    if {"clip_low", "clip_high"} <= given and low is not None and high is not None and not low < high:
        refuse(
            ("clip_low",),
            f"clip_low ({low:g}) must be below clip_high ({high:g}): every intensity would be clipped to one value "
            "and the network would see a constant image",
            low,
        )
    dims = int(getattr(plan, "spatial_dims", 2))
    outside = [a for a in flip_axes if a >= dims]
    if {"spatial_dims", "augmentation"} <= given and outside:
        refuse(
            ("augmentation", "flip_axes"),
            f"{outside} is not a spatial axis of {dims}D data (axes 0..{dims - 1})",
            list(flip_axes),
        )
    classes = getattr(plan, "num_classes", None)
    if {"class_weights", "num_classes"} <= given and class_weights is not None and len(class_weights) != classes:
        refuse(
            ("class_weights",),
            f"class_weights has {len(class_weights)} value(s) but the data has {classes} classes: give one weight "
            "per class, in the order of the class names (or class_weights=null for equal weights)",
            list(class_weights),
        )


class TrainingPlan(BaseModel):
    """The fields the engine reads, shared by every task's plan: optimiser, schedule, precision, early stopping,
    validation cadence, time budget and ensembles. A task's plan subclasses it and may change the defaults."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    spatial_dims: int = Field(2, ge=2, le=3, description="2 for images, 3 for volumes")
    optimizer: Literal["adamw", "sgd", "adam"] = Field("adamw", description="optimiser")
    learning_rate: float = Field(2e-3, gt=0, description="peak learning rate")
    weight_decay: float = Field(0.05, ge=0, description="weight decay")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    scheduler: Literal["cosine", "step", "constant"] = Field("cosine", description="learning-rate schedule")
    warmup_epochs: float = Field(1.0, ge=0, description="linear warm-up length, epochs")
    step_milestones: list[float] = Field(
        default_factory=lambda: [0.5, 0.75],
        description="step schedule: fractions of training at which lr x0.1",
    )
    epochs: int = Field(30, ge=1, description="training epochs")
    time_budget_s: float | None = Field(
        None,
        gt=0,
        description="wall-clock budget of the training loop, seconds: after the first epoch the epoch count is "
        "cut (and the schedule fitted) so training ends within it (None = no budget)",
    )
    budget_epochs_max: int | None = Field(
        None,
        ge=1,
        description="with time_budget_s: the epoch count may rise above epochs, up to this, where the budget has "
        "room for a longer schedule (None = epochs is the most)",
    )
    ensemble: int = Field(
        1, ge=1, le=10, description="networks trained with different seeds whose logits are averaged (1 = one network)"
    )
    ensemble_budget_max: int = Field(
        3,
        ge=1,
        le=10,
        description="with time_budget_s: networks are added while the budget left fits another (judged by the "
        "previous one's training time), up to this many (or ensemble, if larger); 1 = never",
    )
    weight_ema: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="decay of an exponential moving average of the weights, updated every step; the average is "
        "what is validated and saved (None = off; 0.99 averages over about the last 100 steps)",
    )
    ensemble_min_epochs: int | None = Field(
        None,
        ge=1,
        description="with time_budget_s: split the budget among as many networks (up to ensemble_budget_max) as "
        "get at least this many epochs each, judged from the first epoch's time (None = the first network takes "
        "the whole budget)",
    )
    grad_clip_norm: float | None = Field(5.0, gt=0, description="clip the gradient norm to this (None = no clipping)")
    batch_size: int = Field(64, ge=1, description="samples per training step (over all processes)")
    monitor: str = Field("loss", description="validation metric for early stopping and model selection")
    early_stopping_patience: int = Field(10, ge=0, description="epochs without improvement before stopping (0=off)")
    val_every: int = Field(1, ge=1, description="validate (and maybe keep the weights) every N epochs and at the end")
    amp: Literal["bf16", "fp16", "none"] = Field(
        "bf16", description="mixed precision: bf16 autocast (CPU or GPU), fp16 autocast with loss scaling (GPU), none"
    )
    channels_last: bool = Field(True, description="channels_last memory format")
    reasons: dict[str, str] = Field(default_factory=dict, description="why the planner chose each value")

    @field_validator("step_milestones")
    @classmethod
    def _fractions_of_training(cls, marks: list[float]) -> list[float]:
        """Each milestone a fraction of training: ``[1.5]`` never cut the rate and ``[-1]`` cut it from the first
        step, both without a word."""
        outside = [m for m in marks if not 0 < m < 1]
        if outside:
            raise ValueError(
                f"{outside} is not a fraction of training: milestones lie between 0 and 1 (0.5 = half way), e.g. "
                "[0.5, 0.75]"
            )
        return marks

    def member(self, k: int) -> TrainingPlan:
        """The plan ensemble member ``k`` is built and trained with: this one (a task whose members differ, such as
        classification's ``ensemble_networks``, overrides it)."""
        return self


class Plan(TrainingPlan):
    """How to preprocess, build and train a classifier. Made by the planner, editable by the user."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Literal["classify"] = "classify"
    in_channels: int = Field(1, ge=1, description="channels the network sees (gray=1, RGB=3)")
    num_classes: int = Field(2, ge=2, description="number of classes (multi-label: of findings)")
    multi_label: bool = Field(
        False,
        description="each image shows any number of the classes (findings): one sigmoid per finding and a binary "
        "cross-entropy instead of a softmax over classes (set from the data)",
    )
    finding_threshold: str = Field(
        "youden",
        description="multi-label only: each finding's operating point, chosen on the validation split (youden: "
        "the best sensitivity + specificity, f1: the best F1, specificity:0.9: the most sensitive point keeping "
        "a specificity of 0.9, sensitivity:0.95: the most specific point reaching that sensitivity) or fixed at "
        "probability 0.5; folded into the classifier's bias, so a finding is reported present when its output "
        "reaches 0.5",
    )
    binary_threshold: str = Field(
        "argmax",
        description="two classes, single-label: argmax of the probabilities (calibrated to the training prior; "
        "MedMNIST's accuracy), or the second class's operating point chosen on the validation split (youden: the "
        "best sensitivity + specificity, f1: its best F1, specificity:0.9 or sensitivity:0.95: a screening "
        "operating point), folded into the classifier's bias so every consumer calls it at probability 0.5",
    )
    input_size: list[PositiveInt] = Field(
        default_factory=lambda: [64, 64], description="network input, per spatial axis"
    )
    canonical_orientation: bool = Field(
        False,
        description="3D: volumes are put in the closest RAS+ axis order before the network (medimg.io.orientation), "
        "so a scan stored in another axis order (a DICOM series, an LPS NIfTI) is seen as the training volumes "
        "were; off in runs made before medimg did so",
    )
    denoise: DenoiseMethod = Field("none", description=DENOISE_DESCRIPTION)
    denoise_radius: float = Field(1.0, gt=0, le=10, description=DENOISE_RADIUS_DESCRIPTION)
    normalisation: Literal["dataset", "per_image"] = Field(
        "dataset",
        description="dataset: clip to [clip_low, clip_high] and standardise by norm_mean/norm_std, the training "
        "set's statistics (CT, 8-bit images); per_image: each image's own z-score per channel after the resize "
        "(nnU-Net's MR scheme: scans whose intensity scale differs between machines; clip and norm fields unused)",
    )
    clip_low: float = Field(0.0, description="intensities are clipped to [clip_low, clip_high] first")
    clip_high: float = Field(255.0, description="upper clip bound")
    norm_mean: float = Field(0.0, description="then standardised: (x - norm_mean) / norm_std")
    norm_std: float = Field(1.0, gt=0, description="standardisation divisor")
    network: str = Field("resnet18", description="registry name (see `medimg networks`)")
    width: float = Field(1.0, gt=0, le=4, description="channel-width multiplier of the network")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the classifier")
    ensemble_networks: list[str] = Field(
        default_factory=list,
        description="networks of the ensemble's members in turn (member k trains the k-th, cycling), each other "
        "than network at the width the planner gives it at this input size, e.g. [resnet18, simple-cnn]; "
        "empty = every member is network",
    )
    weights_path: str | None = Field(
        None,
        description="local weights file to start from (never downloaded); the plan takes the width it was saved at, "
        "and the network it holds, unless width (network) is set",
    )
    batch_size: int = Field(64, ge=1, description="images per training step (over all processes)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="cross-entropy label smoothing")
    mixup: float = Field(
        0.0,
        ge=0,
        description="mixup alpha (0 = off): each training image is blended with another of its batch, the share "
        "drawn from Beta(alpha, alpha) per batch, and the loss follows both labels in proportion (0.2-0.4 usual)",
    )
    cutmix: float = Field(
        0.0,
        ge=0,
        description="CutMix alpha (0 = off): a box of another image of the batch is pasted in, the loss follows "
        "both labels by area (1.0 usual); with mixup also on, each batch uses one of the two at random",
    )
    class_weights: list[float] | None = Field(None, description="per-class loss weights (None = equal)")
    logit_adjustment: bool = Field(
        True,
        description="after training with class_weights, subtract log(weight) from each class's logit (folded into "
        "the classifier's bias): the weights shape training, the probabilities stay calibrated to the training "
        "prior and argmax maximises accuracy",
    )
    distill_weight: float = Field(
        0.7,
        ge=0,
        le=1,
        description="fit --teacher only: share of the loss that follows the teacher's soft predictions (the rest "
        "follows the labels)",
    )
    distill_temperature: float = Field(
        2.0, gt=0, description="fit --teacher only: softmax temperature of the distillation term"
    )
    augmentation: AugmentationPlan = Field(default_factory=AugmentationPlan)
    semi_supervised: SemiSupervisedPlan = Field(
        default_factory=SemiSupervisedPlan, description="learning from an unlabelled pool (fit --unlabelled only)"
    )
    monitor: Literal["auc_bacc", "auc", "balanced_accuracy", "accuracy", "loss"] = Field(
        "auc_bacc",
        description="validation metric for early stopping and model selection; auc_bacc = mean of ROC-AUC and "
        "balanced accuracy (AUC alone can pick an epoch that ranks well but thresholds badly)",
    )
    channels_last: bool = Field(True, description="channels_last memory format (2D)")
    tta: bool = Field(False, description="test-time augmentation: average with flipped copies")
    eval_batch_size: int = Field(
        256, ge=1, description="most images per inference step (fewer for large inputs: at most 2^21 pixels a step)"
    )

    @field_validator("ensemble_networks", mode="before")
    @classmethod
    def _names_in_a_string(cls, value: object) -> object:
        """``--set ensemble_networks=resnet18,simple-cnn`` (or ``[resnet18,simple-cnn]``): a list of names."""
        if isinstance(value, str):
            return [name.strip() for name in value.strip().strip("[]").split(",") if name.strip()]
        return value

    @field_validator("finding_threshold", "binary_threshold")
    @classmethod
    def _operating_point(cls, value: str, info: ValidationInfo) -> str:
        """A named rule of the field, or ``specificity:X`` / ``sensitivity:X`` (X between 0 and 1)."""
        from medimg.evaluation.multilabel import target_of_rule

        named = ("youden", "f1", "fixed") if info.field_name == "finding_threshold" else ("argmax", "youden", "f1")
        text = str(value).strip()
        if text.lower() in named:
            return text.lower()
        if target_of_rule(text) is None:
            raise ValueError(
                f"{info.field_name} is one of {', '.join(named)}, or specificity:X / sensitivity:X (e.g. "
                f"specificity:0.9); got {value!r}"
            )
        name, rate = target_of_rule(text) or ("", 0.0)
        return f"{name}:{rate:g}"

    @field_validator("class_weights")
    @classmethod
    def _positive_weights(cls, weights: list[float] | None) -> list[float] | None:
        if weights is not None and any(w <= 0 for w in weights):
            raise ValueError(
                f"class weights must be above 0, got {weights} (a weight of 0 would ignore a class; equal weights: "
                "class_weights=null)"
            )
        return weights

    @model_validator(mode="after")
    def _values_agree(self) -> Plan:
        check_consistent(self, self.augmentation.flip_axes, self.class_weights)
        return self

    def member(self, k: int) -> Plan:
        """Member ``k``'s plan: ``ensemble_networks[k]`` (cycling) at the planner's width for it, starting from no
        weights file (``weights_path`` belongs to ``network``); this plan when that is ``network`` or the list is
        empty."""
        if not self.ensemble_networks:
            return self
        name = self.ensemble_networks[k % len(self.ensemble_networks)]
        if name == self.network:
            return self
        width, _ = determine_width(name, self.spatial_dims, self.input_size)
        return self.model_copy(update={"network": name, "width": width, "weights_path": None})


def field_help(model: type[BaseModel]) -> dict[str, str]:
    """``field -> description`` for every overridable field of a plan model, nested models as ``outer.inner``."""
    fields: dict[str, str] = {}
    for name, info in model.model_fields.items():
        if name == "reasons":
            continue
        fields[name] = info.description or ""
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            fields.update({f"{name}.{n}": (f.description or "") for n, f in nested.model_fields.items()})
    return fields


def plan_field_help() -> dict[str, str]:
    """``field -> description`` for every overridable plan field (CLI ``--set`` help)."""
    return field_help(Plan)


def members_wanted(plan: TrainingPlan) -> int:
    """The most ensemble members a run of ``plan`` trains: ``plan.ensemble``, or under a time budget up to
    ``max(ensemble, ensemble_budget_max)`` (the budget decides how many of them fit)."""
    return plan.ensemble if plan.time_budget_s is None else max(plan.ensemble, plan.ensemble_budget_max)
