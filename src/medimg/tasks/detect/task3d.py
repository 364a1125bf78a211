"""The 3D path of the detection task: what :class:`~medimg.tasks.detect.task.DetectTask` does for volumes.

The task dispatches here when the dataset holds volumes (``spatial_dims == 3``: boxes derived from 3D masks, see
:mod:`medimg.data.layouts.mask_boxes`) or the plan is 3D: fingerprint (:mod:`.fingerprint3d`), plan
(:mod:`.plan3d`), volumes and flips (:mod:`.data3d`), MONAI's RetinaNet (:mod:`.networks3d`), running it and
choosing its decoding (:mod:`.inference3d`), MONAI's matching (:mod:`.metrics3d`), evaluation
(:mod:`.evaluate3d`) and prediction (:mod:`.predict3d`). The loop, budget, checkpoints and bundle are the engine's,
as in 2D; the metrics after matching, the report and the decoding choice are shared with 2D.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from medimg.config import FitOptions
from medimg.engine.distributed import Distributed
from medimg.engine.run import Planned, TrainingSetup
from medimg.engine.trainer import TaskHooks
from medimg.errors import ConfigError, DatasetError
from medimg.tasks.detect.plan import DetectPlan
from medimg.tasks.detect.training import decoding_chooser, loss_of_detector


def is_volume_dataset(dataset: Any) -> bool:
    """True for a detection dataset of volumes (3D boxes)."""
    return getattr(dataset, "spatial_dims", None) == 3


def check_plan_3d(plan: DetectPlan) -> None:
    """Raise :class:`ConfigError` when a 3D plan's parts disagree."""
    from medimg.tasks.detect.networks3d import STAGE_OF_STRIDE

    if plan.network != "retinanet3d":
        raise ConfigError(f"3D detection uses network retinanet3d; {plan.network!r} is a 2D detector")
    if len(plan.input_size) != 3:
        raise ConfigError(f"3D input_size is [depth, height, width]; got {plan.input_size}")
    if not plan.anchor_shapes or any(len(s) != 3 or min(s) <= 0 for s in plan.anchor_shapes):
        raise ConfigError(f"anchor_shapes needs positive [depth, height, width] shapes; got {plan.anchor_shapes}")
    if (
        not plan.fpn_strides
        or not set(plan.fpn_strides) <= set(STAGE_OF_STRIDE)
        or plan.fpn_strides != sorted(set(plan.fpn_strides))
    ):
        raise ConfigError(f"3D fpn_strides must be increasing values of 2, 4, 8, 16; got {plan.fpn_strides}")
    if len(plan.backbone_widths) != 4 or len(plan.backbone_depths) != 4:
        raise ConfigError("backbone_widths and backbone_depths need 4 values (one per stage)")
    if plan.fpn_channels % 8:
        raise ConfigError(f"fpn_channels must be a multiple of 8 (MONAI's heads use 8 groups); got {plan.fpn_channels}")
    if plan.augmentation.rotate90 or plan.augmentation.scale:
        raise ConfigError("augmentation.rotate90 and augmentation.scale are 2D only; 3D uses flips and intensities")


def setup_3d(
    dataset: Any,
    planned: Planned,
    val_cases: Sequence[Any],
    options: FitOptions,
    distributed: Distributed,
    build: Callable[[Any], nn.Module],
) -> TrainingSetup:
    """Read the training and (monitored) validation volumes and hand the engine the 3D batches and hooks
    (``build``: the task's network builder, which also loads the plan's initial weights)."""
    from medimg.tasks.detect.data3d import VolumeBatches, prepare_volumes
    from medimg.tasks.detect.inference import validation_map
    from medimg.tasks.detect.inference3d import VOLUMES

    plan = planned.plan
    assert isinstance(plan, DetectPlan)
    train = prepare_volumes(
        dataset, planned.loaded, plan, strict=options.strict, progress=options.progress, desc="reading training volumes"
    )
    planned.loaded = None
    step = max(1, len(val_cases) / plan.max_val_images)
    monitored = [val_cases[int(i * step)] for i in range(min(len(val_cases), plan.max_val_images))]
    val = prepare_volumes(
        dataset, monitored, plan, strict=options.strict, progress=options.progress, desc="reading validation volumes"
    )
    if not len(train) or not len(val):
        raise DatasetError(f"{dataset.root}: no readable training or validation volume")
    truths = val.truths()
    batches = VolumeBatches(train, plan.batch_size, plan.augmentation, distributed=distributed)
    hooks = TaskHooks(
        loss=loss_of_detector,
        validate=lambda network: validation_map(network, val.images, truths, plan, geometry=VOLUMES),
    )
    return TrainingSetup(
        batches=batches,
        hooks=hooks,
        build=build,
        class_names=list(plan.class_names),
        input_spec={
            "spatial_dims": 3,
            "channels": plan.in_channels,
            "size": plan.input_size,
            "window": list(dataset.window) if isinstance(dataset.window, tuple) else dataset.window,
        },
        summary={
            "train_images": len(train),
            "train_boxes": int(sum(len(b) for b in train.boxes)),
            "val_images": len(val),
        },
        skipped=[*train.skipped, *val.skipped],
        after_training=decoding_chooser(val.images, truths, geometry=VOLUMES),
    )
