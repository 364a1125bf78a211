"""Classification's unlabelled pool: read and preprocess it like the training split (never a validation or
test image), and build the semi-supervised batches and loss of :mod:`medimg.tasks.semi_supervised`."""

from __future__ import annotations

import logging

import torch

from medimg.config import FitOptions
from medimg.data.dataset import Dataset
from medimg.data.pool import case_digests, drop_evaluation_copies
from medimg.engine.batches import TensorBatches
from medimg.engine.distributed import Distributed
from medimg.errors import DatasetError
from medimg.planning.plan import Plan
from medimg.tasks.classify.data import prepare_split
from medimg.tasks.classify.distillation import SoftTargets
from medimg.tasks.classify.step import make_loss
from medimg.tasks.semi_supervised import (
    PoolViews,
    SemiSupervisedBatches,
    SemiSupervisedLoss,
    SemiSupervisedTraining,
    pool_summary,
    strong_augmentation,
)
from medimg.transforms.augment import BatchAugment
from medimg.transforms.mixing import BatchMixer

logger = logging.getLogger(__name__)


def alignment_target(targets: torch.Tensor, num_classes: int, class_weights: torch.Tensor | None) -> torch.Tensor:
    """The class distribution the pool's predictions are aligned to: the labelled set's class frequencies times the
    class weights, normalised. A network trained with a loss weighted by ``w_k`` predicts about ``prior_k x w_k``
    (normalised) on data drawn from the prior, so this is what an unbiased network of this run predicts on the pool
    (balanced when the weights are inverse frequencies). ``targets``: ``(N,)`` int64 class indices."""
    counts = torch.bincount(targets.flatten().long(), minlength=num_classes).float().clamp_min(1)  # no zero class
    target = counts / counts.sum() * (class_weights if class_weights is not None else 1.0)
    return target / target.sum()


def setup_semi_supervised(
    dataset: Dataset,
    train_ids: set[str],
    plan: Plan,
    labelled: TensorBatches,
    options: FitOptions,
    distributed: Distributed,
    *,
    teacher: SoftTargets | None = None,
) -> SemiSupervisedTraining:
    """The pool of ``dataset.unlabelled`` without copies of the run's validation/test images (every labelled
    case not in ``train_ids``), preprocessed to the plan's input, as batches and a loss hook.

    With a trained ``teacher`` (``--teacher RUN``) its soft predictions on the weak views, at the plan's
    ``distill_temperature``, are the pool's targets (a noisy student) instead of the network's confident ones.

    An epoch is a pass over the labelled set, as without a pool (so the planned epochs, the time budget and the
    warm-up mean the same); each step draws ``unlabelled_ratio`` pool images per labelled one.

    Raises:
        DatasetError: no pool image is left or readable.
    """
    evaluation = set(case_digests(dataset, [c for c in dataset.cases if c.case_id not in train_ids]))
    pool = list(dataset.unlabelled)
    kept, dropped = drop_evaluation_copies(pool, case_digests(dataset, pool, progress=options.progress), evaluation)
    if not kept:
        raise DatasetError(
            f"--unlabelled {options.unlabelled}: all {len(pool)} pool image(s) are copies of validation/test "
            "images; give images that are not in the evaluated data"
        )
    prepared = prepare_split(dataset, kept, plan, strict=options.strict, progress=options.progress)
    if len(prepared) == 0:
        raise DatasetError(f"--unlabelled {options.unlabelled}: none of the {len(kept)} pool image(s) is readable")
    images = prepared.x
    semi = plan.semi_supervised
    if plan.epochs <= semi.supervised_epochs and teacher is None:
        logger.warning(
            "the pool will not be used: the plan trains %d epoch(s), all of them labelled-only "
            "(semi_supervised.supervised_epochs=%d); lower it, e.g. --set semi_supervised.supervised_epochs=0",
            plan.epochs,
            semi.supervised_epochs,
        )

    def sample(n: int, generator: torch.Generator) -> torch.Tensor:
        return images[torch.randint(0, len(images), (n,), generator=generator)].float()

    views = PoolViews(
        len(images),
        sample,
        BatchAugment(plan.augmentation, plan.spatial_dims),
        BatchAugment(strong_augmentation(plan.augmentation, semi.strong_magnitude), plan.spatial_dims),
        cutout_fraction=semi.cutout,
    )
    steps = labelled.steps_per_epoch()
    batches = SemiSupervisedBatches(
        labelled,
        views,
        unlabelled_ratio=semi.unlabelled_ratio,
        strong=semi.method == "fixmatch",
        distributed=distributed,
    )
    criterion = make_loss(plan)
    class_weights = torch.tensor(plan.class_weights, dtype=torch.float32) if plan.class_weights else None
    loss = SemiSupervisedLoss(
        lambda logits, y: criterion.to(logits.device)(logits, y),
        semi,
        steps,
        class_weights=class_weights,
        target_distribution=alignment_target(labelled.targets, plan.num_classes, class_weights),
        trained_teacher=teacher,
        temperature=plan.distill_temperature,
        mixer=BatchMixer(mixup=plan.mixup, cutmix=plan.cutmix, seed=options.seed),
    )
    batches.use_pool = loss.uses_pool
    summary = pool_summary(semi, options.unlabelled, len(images), dropped, len(prepared.skipped))
    if teacher is not None:
        summary["targets"] = f"the soft predictions of teacher {options.teacher} (T={plan.distill_temperature:g})"
    return SemiSupervisedTraining(batches, loss, summary, list(prepared.skipped))
