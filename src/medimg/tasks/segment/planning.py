"""Segmentation fingerprint -> plan (nnU-Net style): each heuristic is a small ``determine_*`` function whose
docstring says why, and the plan records a reason per choice.

The planner targets a CPU budget: the default plan trains a useful model in minutes on 2 cores (bf16 autocast,
channels_last, small U-Nets, patches); a GPU user raises ``epochs``, ``channels`` or ``patch_size``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from medimg.errors import ConfigError, DatasetError
from medimg.planning.domain import TrainingDomain, domain_from_facts
from medimg.planning.fingerprint import MAX_INTENSITY_VOXELS, ImageSummariser, ImageSummary, IntensityStats
from medimg.planning.plan import (
    DENOISE_DESCRIPTION,
    DENOISE_OFF,
    DENOISE_RADIUS_DESCRIPTION,
    DenoiseMethod,
    TrainingPlan,
    check_consistent,
    field_help,
    non_negative_axes,
)
from medimg.planning.semi_supervised import SemiSupervisedPlan, determine_semi_supervised
from medimg.tasks.segment.field_of_view import FieldOfViewRule
from medimg.tasks.segment.labels import IGNORE, LabelEncoding

MAX_PATCH_2D = 128
MAX_PATCH_VOXELS_3D = 64**3
MIN_FEATURE_MAP = 4
TARGET_STEPS_2D = 6000
TARGET_STEPS_3D = 2000
MAX_THICKNESS_VOXELS = 16_000_000
"""Larger masks are subsampled for the foreground thickness (only 2D plans use it)."""
THIN_STRUCTURE_PX = 8.0
"""2D foreground thinner than this (2x the mean distance to background) is kept at full resolution."""
ELONGATED = 50.0
"""A 2D structure whose largest piece covers this many squares of its thickness is elongated (a disc: about 7; a
line grows with its length over its width: 4 x 180 px gives 80); thin *and* elongated structures (vessels,
membranes) get BasicUNet and CLAHE (DRIVE: 2,500)."""


class SegFingerprint(BaseModel):
    """What a segmentation dataset looks like (``fingerprint.json``), from its training cases."""

    dataset: str
    num_train_cases: int
    spatial_dims: int
    channels: int
    median_shape: list[int]
    min_shape: list[int]
    max_shape: list[int]
    median_spacing_mm: list[float] | None = Field(None, description="None for rasters (no physical spacing)")
    modality: str
    intensity: IntensityStats
    label_encoding: LabelEncoding
    class_names: list[str]
    class_fraction: dict[str, float] = Field(description="share of valid pixels per class")
    foreground_thickness_px: float = Field(description="median over cases of 2x the mean distance to background")
    foreground_elongation: float | None = Field(
        None,
        description="2D: median over cases of the largest foreground component's area / thickness^2 (a disc: about "
        "7; a line: grows with length / width); None for volumes, masks without foreground and older runs",
    )
    has_roi: bool = Field(description="cases carry a region-of-interest (field-of-view) mask or ignored pixels")
    field_of_view: FieldOfViewRule | None = Field(
        None,
        description="how the training cases' field-of-view masks are found in an image (its bright region); None "
        "when they had none, or masks that are not their images' bright region (medimg.tasks.segment.field_of_view)",
    )
    roi_mask_cases: int | None = Field(
        None, description="training cases that came with a region-of-interest mask; None in older runs"
    )
    domain: TrainingDomain | None = Field(
        None, description="what inference inputs are checked against (medimg.planning.domain); None in older runs"
    )


class SegAugmentation(BaseModel):
    """Random augmentation of training patches (on tensors, the whole batch at once)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    flip_axes: list[int] = Field(default_factory=list, description="spatial axes flipped with p=0.5")
    rotate90: bool = Field(False, description="random 90-degree rotations in the plane of the last two axes")
    rotate_deg: float = Field(0.0, ge=0, le=180, description="max rotation (3D: about every axis), degrees")
    scale: float = Field(0.0, ge=0, lt=1, description="max relative zoom in/out")
    spatial_probability: float = Field(
        0.0, ge=0, le=1, description="share of patches given a random rotation + zoom (labels: nearest neighbour)"
    )
    intensity_scale: float = Field(0.0, ge=0, lt=1, description="max relative contrast change")
    intensity_shift: float = Field(0.0, ge=0, description="max additive shift (normalised units)")
    noise_std: float = Field(0.0, ge=0, description="std of additive Gaussian noise (normalised units)")
    gamma_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of patches given a gamma curve (nnU-Net's: gamma 0.7-1.5 over each channel's range, "
        "mean and std kept; a tenth of them on the inverted image)",
    )
    low_resolution_probability: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of patches shown at a lower resolution (nnU-Net's: downsampled by 1-2x, nearest, then "
        "back up, trilinear/bilinear): scans acquired coarser",
    )

    @field_validator("flip_axes")
    @classmethod
    def _counted_from_zero(cls, axes: list[int]) -> list[int]:
        return non_negative_axes(axes)


class SegPlan(TrainingPlan):
    """How to preprocess, build, train and apply a segmentation network. Made by the planner, editable."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    #: other plans' names for this plan's fields: the network's input here is its training patch (``--input-size``)
    FIELD_ALIASES: ClassVar[dict[str, str]] = {"input_size": "patch_size"}

    task: Literal["segment"] = "segment"
    in_channels: int = Field(1, ge=1, description="image channels the network sees")
    num_classes: int = Field(2, ge=2, description="classes including background")
    class_names: list[str] = Field(
        default_factory=lambda: ["background", "foreground"], description="names of classes 0..K-1"
    )
    label_encoding: LabelEncoding = Field(
        default_factory=lambda: LabelEncoding(kind="identity", num_classes=2),
        description="how mask values become classes",
    )
    resample_factor: float = Field(1.0, ge=1, description="2D rasters: downsampling factor before the network")
    target_spacing_mm: list[float] | None = Field(None, description="3D: spacing volumes are resampled to")
    canonical_orientation: bool = Field(
        False,
        description="3D: volumes are put in the closest RAS+ axis order before the network and predictions back on "
        "each file's grid (medimg.io.orientation), so a scan stored in another axis order (a DICOM series, an LPS "
        "NIfTI) is segmented as the training volumes were; off in runs made before medimg did so",
    )
    denoise: DenoiseMethod = Field("none", description=DENOISE_DESCRIPTION)
    denoise_radius: float = Field(1.0, gt=0, le=10, description=DENOISE_RADIUS_DESCRIPTION)
    normalisation: Literal["zscore", "ct"] = Field("zscore", description="per-image z-score, or CT clip + global")
    clahe: bool = Field(
        False,
        description="zscore: contrast-limited adaptive histogram equalisation of each channel first (fundus "
        "photographs, radiographs: local contrast of thin or faint structures)",
    )
    clip_low: float = Field(0.0, description="ct: clip bound (training 0.5 percentile)")
    clip_high: float = Field(1.0, description="ct: clip bound (training 99.5 percentile)")
    norm_mean: float = Field(0.0, description="ct: global mean")
    norm_std: float = Field(1.0, gt=0, description="ct: global standard deviation")
    patch_size: list[PositiveInt] = Field(default_factory=lambda: [128, 128], description="training patch, per axis")
    network: Literal["unet", "basicunet", "attention-unet", "segresnet", "vnet"] = Field(
        "unet", description="MONAI network (see medimg.tasks.segment.networks)"
    )
    channels: list[int] = Field(default_factory=lambda: [16, 32, 64, 128, 256], description="features per level")
    num_res_units: int = Field(1, ge=0, description="residual units per level (MONAI UNet)")
    norm: Literal["batch", "instance"] = Field("batch", description="normalisation layers")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout inside the network")
    deep_supervision: int = Field(
        0, ge=0, description="unet: coarser decoder levels also scored by the loss through 1x1 heads (nnU-Net's)"
    )
    loss: Literal["dice", "dice_ce", "dice_focal", "dice_ce_cldice"] = Field(
        "dice_ce", description="training loss (dice_ce_cldice: + clDice for thin tubular structures such as vessels)"
    )
    learning_rate: float = Field(3e-3, gt=0, description="peak learning rate")
    weight_decay: float = Field(1e-4, ge=0, description="weight decay")
    epochs: int = Field(40, ge=1, description="training epochs")
    iterations_per_epoch: int = Field(50, ge=1, description="optimisation steps per epoch")
    batch_size: int = Field(16, ge=1, description="patches per step")
    foreground_fraction: float = Field(0.33, ge=0, le=1, description="share of patches centred on foreground")
    augmentation: SegAugmentation = Field(default_factory=SegAugmentation)
    semi_supervised: SemiSupervisedPlan = Field(
        default_factory=SemiSupervisedPlan, description="learning from an unlabelled pool (fit --unlabelled only)"
    )
    max_val_cases: int = Field(
        32,
        ge=1,
        description="validation cases scored after each epoch (an evenly spaced subset; all for post-processing)",
    )
    early_stopping_patience: int = Field(0, ge=0, description="epochs without val Dice gain before stopping (0=off)")
    grad_clip_norm: float | None = Field(12.0, gt=0, description="clip the gradient norm to this (None = no clipping)")
    monitor: Literal["dice", "loss"] = Field(
        "dice", description="validation metric for early stopping and model selection"
    )
    sw_overlap: float = Field(0.5, ge=0, lt=1, description="sliding-window overlap (Gaussian blending)")
    sw_batch_size: int = Field(8, ge=1, description="windows per inference step")
    tta: bool = Field(
        True, description="test-time augmentation: the average over the mirrors and quarter turns trained with"
    )
    postprocessing: Literal["none", "largest_component", "remove_small"] = Field(
        "none", description="post-processing; replaced by the one that scores best on validation"
    )
    min_object_fraction: float = Field(
        0.1, ge=0, le=1, description="remove_small: drop components below this share of the median object size"
    )
    field_of_view: FieldOfViewRule | None = Field(
        None,
        description="predictions are background outside each image's field of view, found as the training masks' "
        "was (medimg.tasks.segment.field_of_view); null: segment everywhere",
    )

    @model_validator(mode="after")
    def _values_agree(self) -> SegPlan:
        check_consistent(self, self.augmentation.flip_axes)
        return self


def seg_plan_field_help() -> dict[str, str]:
    """``field -> description`` for every overridable field (``--set`` help)."""
    return field_help(SegPlan)


#: fields whose ``null`` is a setting (``--set field_of_view=null`` segments everywhere, ``grad_clip_norm=null``
#: does not clip), never passed unset by the CLI: their ``None`` is kept, where other ``None`` values mean "not given".
NULL_SWITCHES_OFF = ("field_of_view", "grad_clip_norm")

#: classification plan fields the CLI passes that mean the same here.
_ALIASES: dict[str, str | None] = {**SegPlan.FIELD_ALIASES, "weights_path": None}


def resolve_seg_plan(planned: SegPlan, *layers: dict[str, Any] | None) -> SegPlan:
    """Apply override layers (config file, then arguments) over the planned values; reason "set by user".

    Classification names the CLI passes are translated (``input_size`` -> ``patch_size``) and unset (``None``)
    values dropped, but ``augmentation=None`` switches every augmentation off (and :data:`NULL_SWITCHES_OFF` are
    set to ``None``); :func:`medimg.config.resolve_plan`
    then applies the layers as for every plan.

    Raises:
        ConfigError: unknown field (with close matches) or invalid value.
    """
    from medimg.config import OFF_WHEN_NULL, resolve_plan

    translated: list[dict[str, Any]] = []
    for layer in layers:
        out: dict[str, Any] = {}
        for key, value in (layer or {}).items():
            if (value is None and key not in (*OFF_WHEN_NULL, *NULL_SWITCHES_OFF)) or key in {"reasons", "task"}:
                continue  # augmentation=null switches it off, as for classification
            target_key = _ALIASES.get(key, key)
            if target_key is None:
                raise ConfigError(f"plan field {key!r} is not supported for segmentation")
            out[target_key] = value
        translated.append(out)
    return resolve_plan(planned, *translated)


# ------------------------------------------------------------------------------------------ fingerprint
def extract_seg_fingerprint(
    name: str,
    cases: Iterable[tuple[np.ndarray, np.ndarray | None, Sequence[float] | None, Mapping[str, Any]]],
    num_cases: int,
    encoding: LabelEncoding,
    class_names: Sequence[str],
    *,
    max_intensity_voxels: int = MAX_INTENSITY_VOXELS,
    seed: int = 0,
) -> SegFingerprint:
    """Fingerprint the training cases, one at a time (a large set is never held whole).

    Args:
        cases: ``num_cases`` tuples of image ``(C, *spatial)``, encoded labels ``(*spatial)`` uint8 (or ``None``),
            spacing and the image's ``ImageData.meta`` (format, modality, bits): with the spacings they give the
            training domain inference inputs are checked against (:func:`~medimg.planning.domain.domain_from_facts`).
        num_cases: how many ``cases`` come (each contributes ``max_intensity_voxels / num_cases`` intensity values).
    """
    from scipy import ndimage

    summarise = ImageSummariser(max_intensity_voxels // max(1, num_cases), seed)
    summaries: list[ImageSummary] = []
    counts = np.zeros(len(class_names), dtype=np.float64)
    thickness, elongation = [], []
    has_roi = False
    labelled = 0
    for image, labels, spacing, meta in cases:
        summaries.append(summarise(image, {**meta, "spacing_mm": list(spacing) if spacing else None}))
        if labels is None:
            continue
        labelled += 1
        has_roi = has_roi or bool((labels == IGNORE).any())
        counts += np.bincount(labels[labels != IGNORE].ravel(), minlength=len(class_names))[: len(class_names)]
        foreground, stride = sampled_foreground((labels > 0) & (labels != IGNORE))
        if foreground.any():
            strided_thickness = mean_thickness(foreground)
            thickness.append(stride * strided_thickness)
            if labels.ndim == 2:  # area and thickness both in strided pixels: the ratio does not depend on it
                components, _ = ndimage.label(foreground)
                largest = int(np.bincount(components.ravel())[1:].max())
                elongation.append(largest / strided_thickness**2)
    if not summaries:
        raise ConfigError("cannot fingerprint an empty training set")
    if labelled and not counts[1:].any():
        raise DatasetError(
            f"{name}: every one of the {labelled} training masks is empty (background alone): there is no foreground "
            "to learn. Do the masks land on their images (an annotation naming no slice of its series, a mask of "
            "another case)? `medimg check DATA` says what was read"
        )
    shapes = np.array([s.shape for s in summaries])
    spacings = [s.meta["spacing_mm"] for s in summaries if s.meta["spacing_mm"]]
    modalities = [_modality(s.meta) for s in summaries]
    return SegFingerprint(
        dataset=name,
        num_train_cases=len(summaries),
        spatial_dims=int(shapes.shape[1]),
        channels=int(np.bincount([s.channels for s in summaries]).argmax()),
        median_shape=[int(v) for v in np.median(shapes, axis=0)],
        min_shape=[int(v) for v in shapes.min(axis=0)],
        max_shape=[int(v) for v in shapes.max(axis=0)],
        median_spacing_mm=[float(v) for v in np.median(np.array(spacings), axis=0)] if spacings else None,
        modality=max(set(modalities), key=modalities.count),
        intensity=IntensityStats.of([s.intensities for s in summaries]),
        label_encoding=encoding,
        class_names=list(class_names),
        class_fraction={n: float(c / max(1.0, counts.sum())) for n, c in zip(class_names, counts, strict=True)},
        foreground_thickness_px=float(np.median(thickness)) if thickness else 0.0,
        foreground_elongation=float(np.median(elongation)) if elongation else None,
        has_roi=has_roi,
        domain=domain_from_facts([s.facts for s in summaries], [s.meta for s in summaries]),
    )


def sampled_foreground(foreground: np.ndarray) -> tuple[np.ndarray, int]:
    """``(every stride-th voxel of a boolean mask, stride)``: at most :data:`MAX_THICKNESS_VOXELS` are measured (the
    distance transform of a large volume costs ~20 bytes a voxel)."""
    stride = max(1, math.ceil((foreground.size / MAX_THICKNESS_VOXELS) ** (1 / max(1, foreground.ndim))))
    return (foreground[(slice(None, None, stride),) * foreground.ndim] if stride > 1 else foreground), stride


def mean_thickness(foreground: np.ndarray) -> float:
    """The mean thickness of a non-empty boolean mask's structures, in its pixels: twice the mean distance of a
    foreground pixel to the background (a disc of diameter d: about 2d/3; a line w px wide: about w/2)."""
    from scipy import ndimage

    return 2.0 * float(ndimage.distance_transform_edt(foreground)[foreground].mean())


# ------------------------------------------------------------------------------------------- heuristics
def determine_resampling(fp: SegFingerprint) -> tuple[float, list[float] | None, str]:
    """3D: resample to the median spacing (nnU-Net's full-resolution target), so one voxel means the same
    physical size in every case. 2D rasters have no physical spacing: downsample only when the image is
    larger than the CPU patch (128 px) *and* the objects are thick enough to survive it (a structure stays at
    least 8 px thick). Thin structures (retinal vessels, 2-3 px; EM membranes) are never downsampled; large
    lesions in 256 px dermoscopy are halved, which costs no Dice and saves 4x compute.
    """
    if fp.spatial_dims == 3:
        spacing = fp.median_spacing_mm
        return 1.0, spacing, f"3D: median spacing {spacing} mm" if spacing else "3D: no spacing, none"
    side = max(fp.median_shape)
    by_size = side / MAX_PATCH_2D
    by_thickness = fp.foreground_thickness_px / THIN_STRUCTURE_PX
    factor = max(1.0, min(by_size, by_thickness))
    factor = float(2 ** math.floor(math.log2(factor))) if factor >= 2 else 1.0
    return (
        factor,
        None,
        f"median side {side} px, foreground thickness {fp.foreground_thickness_px:.1f} px: factor {factor:g}",
    )


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(math.ceil(value / multiple) * multiple))


def determine_patch_and_depth(fp: SegFingerprint, factor: float) -> tuple[list[int], int, str]:
    """The patch covers the whole (resampled) median image when it is small, else a CPU-sized crop: at most
    128 px per side in 2D and 64^3 voxels in 3D. The network downsamples until the coarsest feature map is
    about 4-8 px (deeper nets see more context; more is wasted on CPU), at most 4 times; the patch is a
    multiple of 2^depth so every level divides evenly.
    """
    shape = [s / factor for s in fp.median_shape]
    if fp.spatial_dims == 2:
        sides = [min(s, MAX_PATCH_2D) for s in shape]
    else:
        sides = list(shape)
        while math.prod(sides) > MAX_PATCH_VOXELS_3D:
            longest = int(np.argmax(sides))
            sides[longest] *= 0.9
    depth = int(max(2, min(4, math.floor(math.log2(min(sides) / MIN_FEATURE_MAP)))))
    patch = [_round_to(s, 2**depth) for s in sides]
    if fp.spatial_dims == 2:
        patch = [min(p, MAX_PATCH_2D) for p in patch]
    return patch, depth, f"median shape {fp.median_shape} / {factor:g}: patch {patch}, {depth} downsamplings"


def basicunet_features(channels: Sequence[int]) -> tuple[int, ...]:
    """MONAI BasicUNet's six ``features`` from a plan's ``channels``: its five levels take the first four (the
    first twice; a shorter list repeats its last), and the output block the first."""
    c = [*channels, *[channels[-1]] * 5][:5]
    return (c[0], c[0], c[1], c[2], c[3], c[0])


def _thin_and_elongated(fp: SegFingerprint) -> bool:
    """2D structures a few pixels thick and many times longer: vessels, membranes, nerves (not small blobs)."""
    elongation = fp.foreground_elongation or 0.0
    return fp.spatial_dims == 2 and 0 < fp.foreground_thickness_px < THIN_STRUCTURE_PX and elongation >= ELONGATED


def determine_network(fp: SegFingerprint, depth: int) -> tuple[str, str, list[int], str]:
    """MONAI UNet with one residual unit per level and batch norm, 16 features doubling per level (capped at
    256 in 2D, 128 in 3D). Measured on 2 cores with bf16 + channels_last: 246 2D patches of 96 px per second
    (instance norm in 3D is 1.5x slower than batch norm; BasicUNet is 2-5x slower), so a few thousand steps
    fit in minutes.

    Thin, elongated 2D structures (under 8 px thick, the largest piece 50 thicknesses squared or more: vessels,
    membranes) get MONAI's BasicUNet instead (two convolutions per level, the first pair at
    full resolution; features 16, 16, 32, 64, 128): the UNet's first convolution already strides by 2, so a
    2-3 px vessel meets only its last decoder layer at full resolution. On DRIVE (3.2 px) BasicUNet raised the
    vessel F1 from 0.8243 to 0.8277 (seed 0), the largest single gain of eight changes tried, at 3.4x the CPU.
    """
    cap = 256 if fp.spatial_dims == 2 else 128
    channels = [min(cap, 16 * 2**i) for i in range(depth + 1)]
    if _thin_and_elongated(fp):
        shape = f"foreground {fp.foreground_thickness_px:.1f} px thick, elongation {fp.foreground_elongation:.0f}"
        why = f"{shape}: BasicUNet (two convolutions at full resolution)"
        return "basicunet", why, channels, f"5 levels, features {list(basicunet_features(channels)[:5])}"
    return (
        "unet",
        "MONAI UNet (strided convolutions: the fastest on CPU)",
        channels,
        f"{depth + 1} levels, features {channels}",
    )


def determine_batch_and_schedule(fp: SegFingerprint, patch: list[int], factor: float) -> tuple[int, int, int, str]:
    """Batch 16 patches of up to 128^2 px in 2D (more for smaller patches) and 8 in 3D; about 6,000 steps in 2D
    and 2,000 in 3D (a 3D step costs about 10x more), as epochs of one pass over the training patches
    (between 25 and 100 steps) and between 20 and 200 epochs. 3D: with the rotation/zoom augmentation the
    best validation epoch of MSD hippocampus runs came at the end of 30-, 147- and 227-epoch schedules (1,000
    steps is 40 epochs there), so 2,000 steps (80 epochs, ~8 CPU-minutes) is the default. 2D: at 3,000 steps the
    best validation epoch of ISIC came at 22 of 30 and of DRIVE at 72 of 100; twice the steps raised validation
    Dice from 0.871 to 0.880 (ISIC, 60 epochs, 11 CPU-minutes) and from 0.812 to 0.815 (DRIVE, 200 epochs,
    10 CPU-minutes).
    """
    pixels = math.prod(patch)
    if fp.spatial_dims == 2:
        batch = int(min(64, max(8, 2 ** round(math.log2(16 * (128 * 128) / pixels)))))
        target = TARGET_STEPS_2D
    else:
        batch = 8 if pixels <= 96**3 // 8 else 4
        target = TARGET_STEPS_3D
    image_pixels = math.prod(s / factor for s in fp.median_shape)
    patches_per_case = max(1.0, image_pixels / pixels)
    iterations = int(min(100, max(25, math.ceil(fp.num_train_cases * patches_per_case / batch))))
    epochs = int(min(200, max(20, round(target / iterations))))
    return batch, iterations, epochs, f"{epochs} epochs x {iterations} steps of {batch} patches (~{target} steps)"


def determine_val_every(epochs: int) -> tuple[int, str]:
    """About 25 validations per run: sliding-window validation of whole images costs as much as several
    training epochs on large images (DRIVE), and model selection needs no finer grain than that.
    """
    every = max(1, epochs // 25)
    return every, f"validate every {every} epoch(s) of {epochs}"


def _modality(meta: Mapping[str, Any]) -> str:
    """An image's modality: its DICOM modality; else ``CT`` when its dataset.json names its channels CT (MSD's
    ``{"0": "CT"}``, nnU-Net's ``channel_names``: a NIfTI carries no modality, and nnU-Net normalises such channels
    as CT); else its format."""
    names = [str(n).strip().upper() for n in meta.get("channel_names") or []]
    if meta.get("modality"):
        return str(meta["modality"])
    return "CT" if names and set(names) == {"CT"} else str(meta.get("format") or "unknown")


def sided_classes(names: Sequence[str]) -> list[str]:
    """The class names that name a body side (``left lung``, ``Kidney_R``, ``RightAdrenal``): a left-right mirror
    turns such a structure into its other side's under its own label."""
    sided = []
    for name in names:
        words = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).lower()
        if {"left", "right", "l", "r", "lt", "rt"} & set(re.split(r"[^a-z0-9]+", words)):  # not L1, a vertebra
            sided.append(str(name))
    return sided


#: an FDI (ISO 3950) tooth number, its quadrant first (1-4 permanent, 5-8 deciduous), its place second:
#: ``11``, ``tooth_48``, ``Tooth 21``
_FDI_TOOTH = re.compile(r"(?:tooth[ _-]?)?([1-8])[1-8]", re.IGNORECASE)
#: at least this many classes named by FDI tooth numbers make a set of teeth
FDI_CLASSES = 4


def tooth_number_classes(names: Sequence[str]) -> list[str]:
    """The class names that are FDI tooth numbers (``11``...``48``: the quadrant, upper or lower and right or left,
    then the tooth), when at least :data:`FDI_CLASSES` of them span two quadrants or more: any mirror or quarter
    turn moves a tooth into another quadrant under its own number (the Supervisely teeth set: its flips read 12.6%
    of the test teeth as the other side's, test Dice 0.648 against 0.826 without). Empty otherwise."""
    numbered = {str(n): _FDI_TOOTH.fullmatch(str(n).strip()) for n in names}
    quadrants = {match.group(1) for match in numbered.values() if match}
    teeth = [name for name, match in numbered.items() if match]
    return teeth if len(teeth) >= FDI_CLASSES and len(quadrants) >= 2 else []


def determine_augmentation(fp: SegFingerprint, patch: list[int]) -> tuple[SegAugmentation, str]:
    """Mirroring on every axis (nnU-Net's default: segmentation is local, and flips are free) plus 90-degree
    rotations for square 2D patches (microscopy, fundus, dermoscopy have no canonical orientation at the
    pixel level), and mild contrast/brightness jitter. Volumes also get nnU-Net's rotation (+-30 degrees about
    every axis) and zoom (+-25%) on a third of the patches: 3D training sets are small (hundreds of cases).
    Classes that name a side (:func:`sided_classes`: left / right lung, Kidney_L) get no mirror across the
    left-right axis and no quarter turns, which would show one side's structure under the other's label.
    """
    volume = fp.spatial_dims == 3
    names = getattr(fp, "class_names", None) or []
    sided, teeth = sided_classes(names), tooth_number_classes(names)
    left_right = 0 if volume else 1  # volumes are planned in RAS+ axis order; a radiograph's sides are its columns
    # a half turn swaps the sides too
    rotate = fp.spatial_dims == 2 and len(set(patch)) == 1 and not sided and not teeth
    aug = SegAugmentation(
        flip_axes=[a for a in range(fp.spatial_dims) if not teeth and not (sided and a == left_right)],
        rotate90=rotate,
        rotate_deg=30.0 if volume else 0.0,
        scale=0.25 if volume else 0.0,
        spatial_probability=0.33 if volume else 0.0,
        intensity_scale=0.15,
        intensity_shift=0.1,
        noise_std=0.05,
    )
    reason = "flips on every axis" + (", 90-degree rotations" if rotate else "")
    if sided:
        reason = (
            f"flips on axes {aug.flip_axes}, none across the left-right axis ({left_right})"
            f"{' and no 90-degree rotations' if not volume else ''}: classes {', '.join(sided)} name a side, which a "
            "mirror would swap"
        )
    if teeth:
        reason = (
            f"no flips{' or 90-degree rotations' if not volume else ''}: classes {', '.join(teeth[:4])}"
            f"{', ...' if len(teeth) > 4 else ''} are FDI tooth numbers, whose quadrant (upper or lower, right or "
            "left) a mirror would swap"
        )
    if aug.spatial_probability:
        reason += (
            f", rotation +-{aug.rotate_deg:g} deg + zoom +-{aug.scale:.0%} on {aug.spatial_probability:.0%} of the"
            " patches"
        )
    return aug, reason + ", intensity jitter"


def determine_normalisation(fp: SegFingerprint) -> tuple[str, float, float, float, float, str]:
    """CT: clip to the training 0.5-99.5 percentiles and standardise with global statistics (HU are absolute).
    Everything else (MR, microscopy, photographs): per-image, per-channel z-score, because their intensities
    have no absolute meaning (nnU-Net's scheme).
    """
    if fp.modality.upper() == "CT":
        i = fp.intensity
        low, high = i.percentile_00_5, max(i.percentile_99_5, i.percentile_00_5 + 1)
        return "ct", low, high, min(max(i.mean, low), high), max(i.std, 1e-6), "CT: clip + global z-score"
    return "zscore", 0.0, 1.0, 0.0, 1.0, f"{fp.modality}: per-image z-score"


def determine_contrast(fp: SegFingerprint, normalisation: str) -> tuple[bool, str]:
    """CLAHE (contrast-limited adaptive histogram equalisation, before the z-score) for thin, elongated 2D structures in
    images without absolute intensities: it evens out the illumination of fundus photographs and lifts faint
    thin vessels. On DRIVE it added 0.001 F1 to either network (0.8243 -> 0.8253 with the UNet, 0.8277 ->
    0.8289 with BasicUNet, seed 0): within noise alone, and the best validation Dice of the combinations.
    """
    if normalisation == "zscore" and _thin_and_elongated(fp):
        return True, "thin, elongated structures: CLAHE before the z-score"
    return False, "no CLAHE"


def determine_loss(fp: SegFingerprint) -> tuple[str, str]:
    """Dice + cross-entropy (nnU-Net's default): Dice handles the foreground/background imbalance, CE gives
    well-behaved gradients early and calibrated probabilities (needed for pixel AUC and thresholds).
    """
    rare = min((v for k, v in fp.class_fraction.items() if k != fp.class_names[0]), default=0.0)
    return "dice_ce", f"Dice + CE; rarest foreground class covers {rare:.1%} of pixels"


def determine_precision(fp: SegFingerprint, bf16_supported: bool) -> tuple[str, bool, str]:
    """bf16 autocast + channels_last where the device (CPU or GPU) has native bf16: measured 3.8x faster than fp32
    for a 2D U-Net step and 1.4x for 3D on 2 cores. Without native bf16 the conversions cost more than they save.
    """
    if bf16_supported:
        return "bf16", True, "native bf16: bf16 autocast + channels_last"
    return "none", True, "no native bf16: fp32 + channels_last"


def make_seg_plan(fp: SegFingerprint, *, bf16_supported: bool = True) -> SegPlan:
    """The default plan for a fingerprint. Pure: same inputs, same plan."""
    reasons: dict[str, str] = {}
    factor, spacing, reasons["resampling"] = determine_resampling(fp)
    patch, depth, reasons["patch_size"] = determine_patch_and_depth(fp, factor)
    network, reasons["network"], channels, reasons["channels"] = determine_network(fp, depth)
    batch, iterations, epochs, reasons["schedule"] = determine_batch_and_schedule(fp, patch, factor)
    val_every, reasons["val_every"] = determine_val_every(epochs)
    augmentation, reasons["augmentation"] = determine_augmentation(fp, patch)
    reasons["denoise"] = DENOISE_OFF
    norm, low, high, mean, std, reasons["normalisation"] = determine_normalisation(fp)
    clahe, why = determine_contrast(fp, norm)
    if clahe:
        reasons["clahe"] = why
    loss, reasons["loss"] = determine_loss(fp)
    amp, channels_last, reasons["amp"] = determine_precision(fp, bf16_supported)
    semi_supervised, reasons["semi_supervised"] = determine_semi_supervised("segment")
    if fp.field_of_view is not None:
        reasons["field_of_view"] = "predictions are background " + fp.field_of_view.describe()
    canonical_orientation = fp.spatial_dims == 3
    if canonical_orientation:
        reasons["canonical_orientation"] = (
            "volumes in the closest RAS+ axis order (as read for training), predictions back on each file's grid"
        )
    return SegPlan(
        spatial_dims=fp.spatial_dims,
        in_channels=fp.channels,
        num_classes=len(fp.class_names),
        class_names=list(fp.class_names),
        label_encoding=fp.label_encoding,
        resample_factor=factor,
        target_spacing_mm=spacing,
        canonical_orientation=canonical_orientation,
        normalisation=norm,
        clahe=clahe,
        clip_low=low,
        clip_high=high,
        norm_mean=mean,
        norm_std=std,
        patch_size=patch,
        network=network,
        channels=channels,
        loss=loss,
        epochs=epochs,
        iterations_per_epoch=iterations,
        val_every=val_every,
        batch_size=batch,
        augmentation=augmentation,
        semi_supervised=semi_supervised,
        amp=amp,
        channels_last=channels_last,
        sw_batch_size=max(4, batch // 2),
        field_of_view=fp.field_of_view,
        reasons=reasons,
    )
