"""3D detection fingerprint -> plan (nnDetection style): volume and box sizes per axis decide the input, the
feature levels and the anchor shapes of MONAI's RetinaNet; each ``determine_*`` says why.

The 3D plan is a :class:`~medimg.tasks.detect.plan.DetectPlan` with ``spatial_dims=3`` and
``network="retinanet3d"`` (one plan type per task: a saved plan loads the same way, overrides are checked the
same way). Shapes and box sizes are in voxels, in array-axis order ``[depth, height, width]`` (see
:class:`~medimg.data.case.Box`); voxels are used as stored (no resampling), which suits datasets of one spacing.
Volumes are taken whole (padded by the detector to a multiple of its coarsest stride), so the plan targets small
volumes: larger ones are refused with the fix (crop them, or train on patches: not planned yet).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from medimg.errors import ConfigError
from medimg.planning.domain import TrainingDomain
from medimg.tasks.detect.plan import DetectAugmentation, DetectPlan

MAX_VOLUME_VOXELS = 160**3
"""CPU cap on a whole training volume (voxels): above it, whole-volume training is too slow on a CPU."""
CPU_BUDGET_3D_S = 360.0
"""Default training budget on a CPU (6 minutes): small volumes train hundreds of volumes a minute."""
TARGET_STEPS_3D = 2000
"""Optimisation steps a 3D plan aims for when no time budget cuts it."""
MIN_CELLS_PER_OBJECT = 2.5
"""The smallest objects (5th percentile of their shortest side) span at least this many cells of the finest level."""


class AxisSizeStats(BaseModel):
    """Box sizes of one class (or all) along each axis, ``[depth, height, width]`` voxels."""

    boxes: int
    images: int
    median: list[float] | None = None
    p10: list[float] | None = None
    p90: list[float] | None = None
    shortest_side_p5: float | None = None


class Detect3DFingerprint(BaseModel):
    """What a 3D detection dataset looks like (``fingerprint.json``), from its training split."""

    dataset: str
    spatial_dims: int = 3
    num_train_images: int
    images_without_boxes: int
    class_names: list[str]
    median_image_size: list[int] = Field(description="[depth, height, width] voxels")
    min_image_size: list[int]
    max_image_size: list[int]
    median_spacing_mm: list[float] | None = None
    channels: int
    clip_low: float = Field(description="0.5th percentile of the sampled intensities")
    clip_high: float = Field(description="99.5th percentile of the sampled intensities")
    modality: str
    ct_like: bool = Field(description="intensities look like Hounsfield units (values below -500)")
    boxes_per_image_mean: float
    boxes_per_image_max: int
    all_boxes: AxisSizeStats
    per_class: dict[str, AxisSizeStats]
    domain: TrainingDomain | None = Field(
        None,
        description="what inference inputs are checked against (medimg.planning.domain), from the sampled images "
        "with the sizes of every training image; None in older runs",
    )


def determine_input_size(fp: Detect3DFingerprint, size_divisible: int) -> tuple[list[int], str]:
    """Whole volumes: the largest training volume, rounded up to a multiple of the coarsest stride (the detector
    pads each batch to that). Volumes above :data:`MAX_VOLUME_VOXELS` are refused (whole-volume training would be
    too slow on a CPU; patch training is not planned yet).

    Raises:
        ConfigError: the median volume is too large.
    """
    median = fp.median_image_size
    if math.prod(median) > MAX_VOLUME_VOXELS:
        raise ConfigError(
            f"{fp.dataset}: median volume {'x'.join(map(str, median))} voxels is above the 3D detector's whole-volume "
            f"limit ({MAX_VOLUME_VOXELS} voxels): crop the volumes around the region of interest (3D detection "
            "trains on whole volumes)"
        )
    size = [int(math.ceil(side / size_divisible) * size_divisible) for side in fp.max_image_size]
    return size, (
        f"whole volumes (median {'x'.join(map(str, median))}, largest {'x'.join(map(str, fp.max_image_size))} "
        f"voxels), padded to multiples of {size_divisible}; voxels as stored (no resampling)"
    )


def determine_levels(fp: Detect3DFingerprint) -> tuple[list[int], str]:
    """Backbone strides of the feature levels: the finest is the largest power of two (2, 4 or 8) at which the
    smallest objects (5th percentile of the shortest side) still span :data:`MIN_CELLS_PER_OBJECT` cells; the
    next level is twice it (the FPN adds a third, pooled level at twice that)."""
    small = fp.all_boxes.shortest_side_p5 or 16.0
    finest = 2
    for stride in (4, 8):
        if small / stride >= MIN_CELLS_PER_OBJECT:
            finest = stride
    return [finest, 2 * finest], (
        f"smallest objects ~{small:.0f} voxels (5th percentile of the shortest side): finest level at stride "
        f"{finest} keeps >= {MIN_CELLS_PER_OBJECT} cells across them; levels {finest}, {2 * finest} and the FPN's "
        f"pooled {4 * finest}"
    )


def determine_anchor_shapes(fp: Detect3DFingerprint) -> tuple[list[list[float]], str]:
    """Anchor shapes ``[depth, height, width]`` at the finest level: each class's median box and its 10th
    percentile (the smaller objects); the coarser levels double and quadruple them (MONAI's
    ``AnchorGeneratorWithAnchorShape``), so larger objects are covered too. Rounded to whole voxels, duplicates
    dropped."""
    shapes: list[list[float]] = []
    for stats in fp.per_class.values():
        for shape in (stats.median, stats.p10):
            if shape:
                rounded = [float(max(1, round(v))) for v in shape]
                if rounded not in shapes:
                    shapes.append(rounded)
    if not shapes:
        shapes = [[16.0, 16.0, 16.0]]
    return shapes, f"per class: median and 10th-percentile box [d, h, w] -> {shapes} (x1, x2, x4 over the levels)"


def determine_augmentation(fp: Detect3DFingerprint) -> tuple[DetectAugmentation, str]:
    """Flips along every axis (the boxes flip with the volume) and brightness/contrast. Anatomy has a left and
    a right, but a detector of a structure found on both sides (hippocampi, kidneys, nodules) gains from
    mirrored examples; set a flip off for objects whose side matters."""
    return (
        DetectAugmentation(flip_horizontal=True, flip_vertical=True, flip_depth=True, brightness=0.1, contrast=0.1),
        "volumes: flips along the three axes (boxes move with them), brightness/contrast +-10%",
    )


def determine_capacity(fp: Detect3DFingerprint) -> tuple[list[int], list[int], int, str]:
    """A small 3D ResNet (basic blocks, widths 16-128, one block a stage) and 32 FPN channels: ~0.5 M
    parameters, a few volumes a second on one CPU core for ~40^3 volumes (from scratch, epochs matter more than
    width)."""
    return (
        [16, 32, 64, 128],
        [1, 1, 1, 1],
        32,
        (
            f"{len(fp.class_names)} classes, {fp.num_train_images} volumes: ~0.5 M-parameter 3D ResNet + FPN "
            "(MONAI RetinaNet heads) that trains at several volumes/s on a CPU"
        ),
    )


def determine_batch_and_epochs(fp: Detect3DFingerprint) -> tuple[int, int, str]:
    """Batch 4 (2 for tiny sets); epochs for about :data:`TARGET_STEPS_3D` steps (between 20 and 300); the time
    budget then fits them to the time."""
    batch = int(max(2, min(4, fp.num_train_images // 2)))
    steps = max(1, fp.num_train_images // batch)
    epochs = int(min(300, max(20, round(TARGET_STEPS_3D / steps))))
    return batch, epochs, f"{fp.num_train_images} training volumes, batch {batch}: {steps} steps an epoch"


def make_detect3d_plan(fp: Detect3DFingerprint) -> DetectPlan:
    """Build the default 3D plan for a fingerprint. Pure: same inputs, same plan."""
    reasons: dict[str, str] = {}
    strides, reasons["fpn_strides"] = determine_levels(fp)
    input_size, reasons["input_size"] = determine_input_size(fp, 2 * strides[-1])
    shapes, reasons["anchor_shapes"] = determine_anchor_shapes(fp)
    augmentation, reasons["augmentation"] = determine_augmentation(fp)
    widths, depths, fpn_channels, reasons["backbone_widths"] = determine_capacity(fp)
    batch, epochs, reasons["batch_size"] = determine_batch_and_epochs(fp)
    per_image = not fp.ct_like
    reasons["normalisation"] = (
        "per image: each volume's 0.5-99.5th percentiles -> 0..1 (MR-like intensities differ in scale between scans)"
        if per_image
        else f"CT-like (Hounsfield) intensities: {fp.clip_low:g}..{fp.clip_high:g} -> 0..1 for every volume"
    )
    reasons["network"] = "retinanet3d: MONAI's RetinaNet detector (ATSS matching, hard negative sampling), 3D"
    reasons["epochs"] = f"about {TARGET_STEPS_3D} steps; the time budget fits them to the time after the first epoch"
    reasons["time_budget_s"] = f"3D CPU default: {CPU_BUDGET_3D_S:.0f} s of training (set time_budget_s=null for none)"
    reasons["amp"] = "float32: detection losses and box regression are sensitive to bf16 rounding"
    reasons["score_threshold"] = "provisional: chosen on the validation split after training (best mean F1)"
    reasons["nms_iou"] = "provisional: chosen on the validation split after training (best mAP@0.5)"
    reasons["monitor"] = "mAP at IoU 0.5 (3D IoU) on the validation split (MONAI's COCO matching)"
    reasons["val_every"] = "every 3rd epoch (and the last)"
    reasons["learning_rate"] = "AdamW 1e-3 with one warm-up epoch and a cosine decay fitted to the budget"
    reasons["detections_per_image"] = f"up to {fp.boxes_per_image_max} boxes per training volume"
    return DetectPlan(
        spatial_dims=3,
        network="retinanet3d",
        in_channels=fp.channels,
        num_classes=len(fp.class_names),
        class_names=list(fp.class_names),
        input_size=input_size,
        clip_low=fp.clip_low,
        clip_high=fp.clip_high,
        normalisation="per_image" if per_image else "dataset",
        norm_mean=[0.0] * fp.channels,
        norm_std=[1.0] * fp.channels,
        backbone_widths=widths,
        backbone_depths=depths,
        fpn_strides=strides,
        fpn_channels=fpn_channels,
        head_convs=4,
        anchor_sizes=[],
        anchor_scales=[],
        aspect_ratios=[],
        anchor_shapes=shapes,
        augmentation=augmentation,
        detections_per_image=int(max(100, 2 * fp.boxes_per_image_max)),
        max_val_images=100,
        batch_size=batch,
        epochs=epochs,
        time_budget_s=CPU_BUDGET_3D_S,
        learning_rate=1e-3,
        weight_decay=0.05,
        warmup_epochs=1.0,
        val_every=3,
        grad_clip_norm=10.0,
        early_stopping_patience=0,
        amp="none",
        channels_last=False,
        reasons=reasons,
    )
