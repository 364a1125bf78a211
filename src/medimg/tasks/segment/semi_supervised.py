"""Segmentation's unlabelled pool: images without masks (never a validation or test image), prepared like the
training cases, sampled as random patches; FixMatch per pixel through :mod:`medimg.tasks.semi_supervised`.

The weak view is the patch sampler's own augmentation (flips, 90-degree turns, intensity jitter); the strong
view adds stronger intensity jitter and cutout to that same view, so a pixel's pseudo-label and its strongly
augmented prediction stay aligned.
"""

from __future__ import annotations

import torch

from medimg.config import FitOptions
from medimg.data.pool import drop_evaluation_copies, image_digests, unlabelled_segcases
from medimg.engine.batches import SampledBatches
from medimg.engine.distributed import Distributed
from medimg.errors import DatasetError
from medimg.planning.plan import AugmentationPlan
from medimg.tasks.segment.cases import CaseReader
from medimg.tasks.segment.data import SegmentationDataset
from medimg.tasks.segment.labels import IGNORE
from medimg.tasks.segment.losses import make_loss
from medimg.tasks.segment.planning import SegPlan
from medimg.tasks.segment.preprocess import prepare_image
from medimg.tasks.segment.sampling import PatchSampler, pad_to
from medimg.tasks.segment.store import CaseStore
from medimg.tasks.semi_supervised import (
    PoolViews,
    SemiSupervisedBatches,
    SemiSupervisedLoss,
    SemiSupervisedTraining,
    pool_summary,
    strong_augmentation,
)
from medimg.transforms.augment import BatchAugment


def setup_semi_supervised(
    dataset: SegmentationDataset,
    train_ids: set[str],
    plan: SegPlan,
    labelled: SampledBatches,
    options: FitOptions,
    distributed: Distributed,
    store: CaseStore | None = None,
) -> SemiSupervisedTraining:
    """The pool of ``dataset.unlabelled`` without copies of the run's validation/test images (every case not in
    ``train_ids``), prepared to network resolution (kept by ``store``: memory-mapped beyond its budget), as patch
    batches and a per-pixel loss hook. An epoch keeps the plan's ``iterations_per_epoch``.

    Raises:
        DatasetError: no pool image is left or readable.
    """
    evaluation = set(image_digests([c.image for c in dataset.cases if c.case_id not in train_ids]))
    pool = unlabelled_segcases(dataset)
    kept, dropped = drop_evaluation_copies(pool, image_digests([c.image for c in pool]), evaluation)
    if not kept:
        raise DatasetError(
            f"--unlabelled {options.unlabelled}: all {len(pool)} pool image(s) are copies of validation/test "
            "images; give images that are not in the evaluated data"
        )
    reader = CaseReader(dataset, kept, strict=options.strict, progress=options.progress, desc="reading pool", budget=0)
    store = store or CaseStore()
    images: list[torch.Tensor] = []
    ignored: list[torch.Tensor] = []
    for case, sample in reader:  # one at a time; the store memory-maps what exceeds its budget
        image = prepare_image(
            sample.image.array, sample.image.spacing_mm, plan, str(case.image), meta=sample.image.meta
        )
        image, labels = pad_to(image, torch.full(tuple(image.shape[1:]), IGNORE, dtype=torch.uint8), plan.patch_size)
        images.append(store.keep(image))
        ignored.append(store.keep(labels))
    if not images:
        raise DatasetError(f"--unlabelled {options.unlabelled}: none of the {len(kept)} pool image(s) is readable")
    sampler = PatchSampler(images, ignored, plan.patch_size, 0.0, plan.augmentation, seed=options.seed)
    semi = plan.semi_supervised
    intensity = AugmentationPlan(
        contrast=min(0.9, plan.augmentation.intensity_scale),
        brightness=plan.augmentation.intensity_shift,
        noise_std=plan.augmentation.noise_std,
    )
    views = PoolViews(
        len(images),
        lambda n, generator: sampler.sample(n, generator)[0],
        lambda x, generator: x,  # the sampler's augmentation is the weak view
        BatchAugment(strong_augmentation(intensity, semi.strong_magnitude, geometric=False), plan.spatial_dims),
        cutout_fraction=semi.cutout,
        strong_from_weak=True,
    )
    steps = labelled.steps_per_epoch()
    batches = SemiSupervisedBatches(
        labelled,
        views,
        unlabelled_ratio=semi.unlabelled_ratio,
        strong=semi.method == "fixmatch",
        steps=steps,
        distributed=distributed,
    )
    criterion = make_loss(plan.loss)

    def supervised(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(logits.device.type, enabled=False):
            return criterion(logits.float(), y)

    loss = SemiSupervisedLoss(supervised, semi, steps)
    summary = pool_summary(semi, options.unlabelled, len(images), dropped, len(reader.skipped))
    return SemiSupervisedTraining(batches, loss, summary, list(reader.skipped))
