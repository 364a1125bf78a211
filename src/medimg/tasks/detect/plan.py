"""Detection fingerprint -> plan (nnDetection style): each heuristic is a small ``determine_*`` function whose
docstring says why, and the plan records a reason per choice.

The fingerprint is read from the annotations (image and box sizes, boxes per image and class) and a sample of
training images (channels, intensities); no pixel of the validation or test split is looked at. The planner
targets a CPU: a small ResNet + FPN detector at the smallest input size that keeps the smallest objects
detectable, trained from scratch within a time budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from medimg.planning.domain import TrainingDomain
from medimg.planning.plan import TrainingPlan

SMALL_OBJECT_SIDE_PX = 14.0
"""The 5th-percentile short side of the smallest class, at the network input: almost two cells of the stride-8
level (smaller objects fall between the cells; larger inputs cost the CPU quadratically)."""
MAX_INPUT_PIXELS = 512 * 512
"""CPU cap on the network input (height x width)."""
SIZE_MULTIPLE = 32
"""Input sides are multiples of the coarsest FPN stride."""
TARGET_STEPS = 6600
"""Optimisation steps a plan aims for when no time budget cuts it: about what the 20-minute CPU budget holds on two
cores for BCCD at its planned input size (130 epochs of 51 steps took 1,139-1,205 s). Chosen on validation: best
validation mAP@0.5 0.898 / 0.896 at 130 epochs against 0.889 / 0.881 / 0.887 at 4,000 steps (78 epochs), seeds
0-2 of ``benchmarks/detection.py``."""
CPU_BUDGET_S = 1200.0
"""Default training budget on a CPU (20 minutes): the epochs are fitted to it after the first one."""


class BoxSizeStats(BaseModel):
    """Box sizes of one class (or all), in pixels of the stored images."""

    boxes: int
    images: int
    short_side_p5: float | None = None
    short_side_median: float | None = None
    long_side_median: float | None = None
    long_side_p99: float | None = None
    aspect_p10: float | None = Field(None, description="width / height, 10th percentile")
    aspect_median: float | None = None
    aspect_p90: float | None = None


class DetectFingerprint(BaseModel):
    """What a detection dataset looks like (``fingerprint.json``), from its training split."""

    dataset: str
    num_train_images: int
    images_without_boxes: int
    class_names: list[str]
    median_image_size: list[int] = Field(description="[height, width] in pixels")
    min_image_size: list[int]
    max_image_size: list[int]
    channels: int
    clip_low: float = Field(description="intensity mapped to 0 (0.5th percentile, or 0 for 8-bit images)")
    clip_high: float = Field(description="intensity mapped to 1 (99.5th percentile, or 255 for 8-bit images)")
    channel_mean: list[float] = Field(description="per-channel mean after the 0..1 mapping")
    channel_std: list[float]
    boxes_per_image_mean: float
    boxes_per_image_max: int
    all_boxes: BoxSizeStats
    per_class: dict[str, BoxSizeStats]
    modality: str
    domain: TrainingDomain | None = Field(
        None,
        description="what inference inputs are checked against (medimg.planning.domain), from the sampled images "
        "with the sizes of every training image; None in older runs",
    )


class DetectAugmentation(BaseModel):
    """Random augmentation of training images; boxes move with the image."""

    model_config = ConfigDict(extra="forbid")

    flip_horizontal: bool = Field(True, description="mirror left-right with p=0.5")
    flip_vertical: bool = Field(False, description="mirror up-down with p=0.5")
    flip_depth: bool = Field(False, description="volumes: mirror along the first spatial axis (D) with p=0.5")
    rotate90: bool = Field(
        False, description="2D: random multiples of 90 degrees (orientation-free images: microscopy)"
    )
    scale: float = Field(0.0, ge=0, lt=1, description="2D: max relative zoom in/out (then a random crop to the input)")
    brightness: float = Field(0.0, ge=0, lt=1, description="max relative brightness change")
    contrast: float = Field(0.0, ge=0, lt=1, description="max relative contrast change")
    saturation: float = Field(0.0, ge=0, lt=1, description="RGB: max relative saturation change")
    hue: float = Field(0.0, ge=0, le=0.5, description="RGB: max hue shift (fraction of the colour circle)")


class DetectPlan(TrainingPlan):
    """How to preprocess, build, train and decode a detector. Made by the planner, editable."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Literal["detect"] = "detect"
    network: str = Field(
        "fcos", description="detector: fcos or retinanet (2D), retinanet3d (volumes; see tasks/detect/networks.py)"
    )
    in_channels: int = Field(3, ge=1, description="image channels the network sees")
    num_classes: int = Field(1, ge=1, description="object classes (no background class)")
    class_names: list[str] = Field(default_factory=lambda: ["object"], description="names of classes 0..K-1")
    input_size: list[int] = Field(
        default_factory=lambda: [256, 256],
        description="2D: [height, width] the images are resized to (aspect kept: the short side to min, the long "
        "side at most max); 3D: [depth, height, width] the largest volume, padded (voxels are not resampled)",
    )
    clip_low: float = Field(0.0, description="intensity mapped to 0")
    clip_high: float = Field(255.0, description="intensity mapped to 1")
    norm_mean: list[float] = Field(default_factory=lambda: [0.5] * 3, description="per-channel mean (0..1 units)")
    norm_std: list[float] = Field(default_factory=lambda: [0.25] * 3, description="per-channel std (0..1 units)")
    backbone_widths: list[int] = Field(
        default_factory=lambda: [32, 64, 128, 256], description="channels of the 4 ResNet stages"
    )
    backbone_depths: list[int] = Field(default_factory=lambda: [1, 2, 2, 1], description="blocks per stage")
    fpn_strides: list[int] = Field(
        default_factory=lambda: [8, 16, 32],
        description="feature levels used (3D: the backbone levels; the FPN adds one at twice the last stride)",
    )
    fpn_channels: int = Field(64, ge=8, description="channels of the FPN and the head")
    head_convs: int = Field(3, ge=1, le=6, description="2D: convolutions of the head's towers (MONAI's 3D: 4)")
    box_distances: Literal["relu", "softplus"] = Field(
        "relu",
        description="FCOS: how the head makes its four box-side distances positive; softplus (planned) keeps "
        "learning, relu (torchvision's, the runs planned before) can die for one side, which then sits on the grid "
        "of its level in every box",
    )
    anchor_sizes: list[float] = Field(
        default_factory=lambda: [8.0, 16.0, 32.0],
        description="per FPN level: the object-size unit (FCOS: the level takes regression distances 4x-8x it; "
        "RetinaNet: base anchor 4x it)",
    )
    anchor_scales: list[float] = Field(
        default_factory=lambda: [1.0, 1.26, 1.59], description="RetinaNet: anchor size multipliers per level"
    )
    aspect_ratios: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0], description="RetinaNet: anchor height/width ratios"
    )
    anchor_shapes: list[list[float]] = Field(
        default_factory=list,
        description="3D: anchor shapes [depth, height, width] in voxels at the finest level (x2 per coarser level)",
    )
    normalisation: Literal["dataset", "per_image"] = Field(
        "dataset",
        description="intensities to 0..1 by clip_low..clip_high (dataset) or by each image's own 0.5-99.5th "
        "percentiles (per_image: MRI, whose scale differs between scans)",
    )
    weights_path: str | None = Field(None, description="local weights file to start from (never downloaded)")
    augmentation: DetectAugmentation = Field(default_factory=DetectAugmentation)
    candidate_threshold: float = Field(
        0.05, ge=0, lt=1, description="score below which candidates are dropped before NMS (mAP uses all above)"
    )
    score_threshold: float = Field(0.3, ge=0, lt=1, description="score a reported detection needs (predict, counts)")
    nms_iou: float = Field(0.5, gt=0, le=1, description="IoU above which NMS suppresses a box of the same class")
    detections_per_image: int = Field(100, ge=1, description="most detections kept per image")
    topk_candidates: int = Field(1000, ge=1, description="most candidates per level before NMS")
    max_val_images: int = Field(200, ge=1, description="validation images scored each validation (mAP@0.5)")
    ensemble: int = Field(1, ge=1, le=1, description="detectors are not ensembled (one network)")
    ensemble_budget_max: int = Field(1, ge=1, le=1, description="detectors are not ensembled")
    monitor: Literal["map50", "map", "loss"] = Field("map50", description="validation metric for model selection")
    batch_size: int = Field(8, ge=1, description="images per training step (over all processes)")
    amp: Literal["bf16", "fp16", "none"] = Field("none", description="mixed precision (none: float32)")
    channels_last: bool = Field(False, description="channels_last memory format")


def _percentile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else None


def box_size_stats(widths: Sequence[float], heights: Sequence[float], images: int) -> BoxSizeStats:
    """Percentiles of the short and long sides and the aspect ratio (width / height) of boxes."""
    w, h = np.asarray(widths, dtype=np.float64), np.asarray(heights, dtype=np.float64)
    if not len(w):
        return BoxSizeStats(boxes=0, images=images)
    short, long, aspect = np.minimum(w, h), np.maximum(w, h), w / np.maximum(h, 1e-6)
    return BoxSizeStats(
        boxes=len(w),
        images=images,
        short_side_p5=_percentile(short, 5),
        short_side_median=_percentile(short, 50),
        long_side_median=_percentile(long, 50),
        long_side_p99=_percentile(long, 99),
        aspect_p10=_percentile(aspect, 10),
        aspect_median=_percentile(aspect, 50),
        aspect_p90=_percentile(aspect, 90),
    )


# ------------------------------------------------------------------------------------------- heuristics
#: the shortest input side: the stride-32 level must keep 2x2 cells, else its GroupNorm sees one value per group
#: for one image and torch refuses it (every predict of a run on 32 px images failed; its ONNX export worked)
MIN_INPUT_SIDE = 2 * 32


def determine_input_size(fp: DetectFingerprint) -> tuple[list[int], str]:
    """The network input ``[height, width]``: the median image scaled so that the smallest class's small boxes
    (5th percentile of the short side) keep :data:`SMALL_OBJECT_SIDE_PX` pixels (two cells of the finest, stride-8
    level: smaller objects fall between the cells), never upscaled (but to :data:`MIN_INPUT_SIDE`), at most
    :data:`MAX_INPUT_PIXELS`, sides multiples of 32."""
    height, width = fp.median_image_size
    smallest = [s.short_side_p5 for s in fp.per_class.values() if s.short_side_p5]
    small = min(smallest) if smallest else min(height, width) / 8
    scale = min(1.0, SMALL_OBJECT_SIDE_PX / max(small, 1e-6))
    capped = min(scale, math.sqrt(MAX_INPUT_PIXELS / (height * width)))
    size = [
        max(MIN_INPUT_SIDE, int(math.ceil(side * capped / SIZE_MULTIPLE) * SIZE_MULTIPLE)) for side in (height, width)
    ]
    reason = (
        f"median image {height}x{width}; smallest class's 5th-percentile short side {small:.0f} px -> scale "
        f"{scale:.2f} keeps it >= {SMALL_OBJECT_SIDE_PX:.0f} px at stride 8"
    )
    if capped < scale:
        reason += f"; capped to {capped:.2f} by the CPU input budget ({MAX_INPUT_PIXELS} px): small objects may be lost"
    if min(height, width) * capped < MIN_INPUT_SIDE:
        reason += f"; at least {MIN_INPUT_SIDE} px a side (the stride-32 level keeps 2x2 cells)"
    return size, reason + f"; sides rounded up to multiples of {SIZE_MULTIPLE}"


def input_scale(image_size: Sequence[int], input_size: Sequence[int]) -> float:
    """The factor an image of ``(height, width)`` is resized by: its short side to the input's short side, its
    long side at most the input's long side (torchvision's ``GeneralizedRCNNTransform`` rule)."""
    short, long = min(image_size), max(image_size)
    return min(min(input_size) / short, max(input_size) / long)


def determine_levels(fp: DetectFingerprint, input_size: list[int]) -> tuple[list[int], list[float], str]:
    """FPN strides and FCOS size units: strides 8, 16, 32 with size units equal to the strides, so level 8 takes
    objects up to ~128 px (regression distances < 64), 16 up to ~256 px and 32 the rest; the reason says how the
    training boxes spread over the levels at the input scale."""
    scale = input_scale(fp.median_image_size, input_size)
    strides = [8, 16, 32]
    sizes = [float(s) for s in strides]
    shares = []
    for name, stats in fp.per_class.items():
        if stats.long_side_median:
            side = stats.long_side_median * scale
            level = strides[0] if side / 2 < 8 * sizes[0] else strides[1] if side / 2 < 8 * sizes[1] else strides[2]
            shares.append(f"{name} ~{side:.0f} px -> stride {level}")
    return strides, sizes, "FCOS levels at strides 8/16/32; median objects at the input scale: " + ", ".join(shares)


def determine_anchors(fp: DetectFingerprint, input_size: list[int]) -> tuple[list[float], str]:
    """RetinaNet anchor aspect ratios (height / width): the 10th, 50th and 90th percentile of the boxes' (rounded
    to 0.1, deduplicated); the anchor sizes follow the levels' size units."""
    scale = input_scale(fp.median_image_size, input_size)
    low = (fp.all_boxes.short_side_p5 or 16.0) * scale
    high = (fp.all_boxes.long_side_p99 or 128.0) * scale
    aspects = [fp.all_boxes.aspect_p90 or 1.0, fp.all_boxes.aspect_median or 1.0, fp.all_boxes.aspect_p10 or 1.0]
    ratios = sorted({round(1.0 / max(a, 1e-3), 1) for a in aspects})
    return ratios, f"box sides {low:.0f}-{high:.0f} px at the input scale; aspect (h/w) quantiles {ratios}"


def determine_augmentation(fp: DetectFingerprint) -> tuple[DetectAugmentation, str]:
    """Flips, zoom and colour that move boxes with the image. Colour (RGB) images are taken for microscopy or
    photographs of specimens, whose orientation means nothing: both flips, 90-degree rotations and colour jitter
    (stain variation). Gray images (radiographs, CT slices) keep their up-down orientation: left-right flips only,
    brightness and contrast."""
    if fp.channels == 3:
        return (
            DetectAugmentation(
                flip_horizontal=True,
                flip_vertical=True,
                rotate90=True,
                scale=0.25,
                brightness=0.2,
                contrast=0.2,
                saturation=0.2,
                hue=0.02,
            ),
            "RGB images (microscopy-like): orientation-free flips and 90-degree rotations, zoom +-25%, stain "
            "colour jitter",
        )
    return (
        DetectAugmentation(flip_horizontal=True, scale=0.2, brightness=0.1, contrast=0.1),
        "gray images keep their up-down orientation: left-right flips, zoom +-20%, brightness/contrast",
    )


def determine_capacity(fp: DetectFingerprint) -> tuple[list[int], list[int], int, int, str]:
    """Backbone widths and depths, FPN channels and head depth: small enough that a CPU sees each training image
    tens of times within the budget (a from-scratch detector needs epochs more than width); measured on BCCD,
    a 4x wider network reached a lower mAP in the same 10 minutes."""
    return (
        [16, 32, 64, 128],
        [1, 1, 2, 1],
        32,
        2,
        f"{len(fp.class_names)} classes, {fp.num_train_images} images: a ~0.4 M-parameter ResNet + FPN that trains "
        "at several images/s on 2 CPU cores",
    )


def determine_batch_and_epochs(fp: DetectFingerprint) -> tuple[int, int, str]:
    """Batch 4 (fewer for tiny sets: at least 2 steps an epoch): more optimisation steps for the same images, which
    a short from-scratch schedule needs; epochs for about :data:`TARGET_STEPS` steps (between 20 and 500); a time
    budget then fits the epochs to the time."""
    batch = int(max(2, min(4, fp.num_train_images // 2)))
    steps = max(1, fp.num_train_images // batch)
    epochs = int(min(500, max(20, round(TARGET_STEPS / steps))))
    return batch, epochs, f"{fp.num_train_images} training images, batch {batch}: {steps} steps an epoch"


def determine_detections(fp: DetectFingerprint) -> tuple[int, str]:
    """Detections kept per image: 100 (the COCO maximum), or twice the most boxes an image has."""
    kept = int(max(100, 2 * fp.boxes_per_image_max))
    return kept, f"up to {fp.boxes_per_image_max} boxes per training image"


def make_detect_plan(fp: DetectFingerprint, *, bf16_supported: bool = False) -> DetectPlan:
    """Build the default plan for a fingerprint. Pure: same inputs, same plan."""
    reasons: dict[str, str] = {}
    input_size, reasons["input_size"] = determine_input_size(fp)
    strides, sizes, reasons["anchor_sizes"] = determine_levels(fp, input_size)
    ratios, reasons["aspect_ratios"] = determine_anchors(fp, input_size)
    augmentation, reasons["augmentation"] = determine_augmentation(fp)
    widths, depths, fpn_channels, head_convs, reasons["backbone_widths"] = determine_capacity(fp)
    batch, epochs, reasons["batch_size"] = determine_batch_and_epochs(fp)
    kept, reasons["detections_per_image"] = determine_detections(fp)
    reasons["epochs"] = (
        f"about {TARGET_STEPS} steps (what a 20-minute CPU budget holds for BCCD); the time budget fits them to the "
        "time after the first epoch"
    )
    reasons["time_budget_s"] = f"CPU default: {CPU_BUDGET_S:.0f} s of training (set time_budget_s=null for none)"
    reasons["network"] = "FCOS: anchor-free, few hyperparameters, trains from scratch on small sets"
    reasons["normalisation"] = (
        f"intensities {fp.clip_low:g}..{fp.clip_high:g} -> 0..1, then the training split's per-channel mean/std"
    )
    reasons["amp"] = "float32: detection losses and box regression are sensitive to bf16 rounding"
    reasons["score_threshold"] = "provisional: chosen on the validation split after training (best mean F1)"
    reasons["nms_iou"] = "provisional: chosen on the validation split after training (best mAP@0.5)"
    reasons["monitor"] = "mAP at IoU 0.5 on the validation split (COCO evaluation, pycocotools)"
    reasons["val_every"] = "every 3rd epoch (and the last): validation costs about a third of an epoch"
    reasons["learning_rate"] = "AdamW 2e-3 with one warm-up epoch and a cosine decay fitted to the budget"
    channels = fp.channels
    return DetectPlan(
        network="fcos",
        in_channels=channels,
        num_classes=len(fp.class_names),
        class_names=list(fp.class_names),
        input_size=input_size,
        clip_low=fp.clip_low,
        clip_high=fp.clip_high,
        norm_mean=[round(v, 4) for v in fp.channel_mean],
        norm_std=[round(max(v, 1e-3), 4) for v in fp.channel_std],
        backbone_widths=widths,
        backbone_depths=depths,
        fpn_channels=fpn_channels,
        head_convs=head_convs,
        box_distances="softplus",
        fpn_strides=strides,
        anchor_sizes=sizes,
        aspect_ratios=ratios,
        augmentation=augmentation,
        detections_per_image=kept,
        batch_size=batch,
        epochs=epochs,
        time_budget_s=CPU_BUDGET_S,
        learning_rate=2e-3,
        weight_decay=0.05,
        warmup_epochs=1.0,
        val_every=3,
        grad_clip_norm=10.0,
        early_stopping_patience=0,
        amp="none",
        reasons=reasons,
    )
