"""Semi-supervised training on an unlabelled pool, for any task whose network outputs class logits per image
``(N, K)`` or per pixel ``(N, K, *spatial)``: pseudo-labelling and FixMatch over the shared engine.

Nothing in the training loop changes. :class:`SemiSupervisedBatches` is a
:class:`~medimg.engine.batches.BatchSource` whose every batch is the labelled batch followed by views of
``unlabelled_ratio`` times as many pool images: ``inputs = cat([labelled, weak, strong])`` (``strong`` only for
FixMatch) and ``targets`` the labelled targets alone, so a loss can split the one forward pass by position (one
pass keeps BatchNorm statistics over all three, as in FixMatch). :class:`SemiSupervisedLoss` is the loss hook:
the task's supervised loss on the labelled part plus ``weight x`` the unlabelled loss, where predictions on the
weak view whose top probability reaches ``confidence_threshold`` are hard targets (pseudo-labels) of the strong
view (FixMatch) or of the weak view itself (pseudo-labelling). The pool joins the batches only after
``supervised_epochs`` labelled-only epochs; its weight then ramps up over ``warmup_epochs``.

Against class imbalance (classification): the pseudo-labels' cross-entropy carries the supervised loss's class
weights, distribution alignment (Berthelot et al. 2020, "ReMixMatch") scales the weak-view probabilities by a
target class distribution over the running mean of the predictions on the pool, and ``threshold="self_adaptive"``
gives each class its own threshold (Wang et al. 2023, "FreeMatch": self-adaptive thresholding).

With a trained teacher (``medimg fit DATA --teacher RUN --unlabelled POOL``) the teacher, frozen, predicts the weak
views instead of the network, and its soft predictions (at a temperature, no threshold) are the targets of the
strong view: self-training with a noisy student (Xie et al. 2020), the distillation of a teacher over the pool. A
trained teacher needs no labelled-only epochs or warm-up: the pool joins from the first step at full weight.

The task packages read their pool into :class:`PoolViews` (classification:
:mod:`medimg.tasks.classify.semi_supervised`; segmentation: :mod:`medimg.tasks.segment.semi_supervised`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from medimg.engine.batches import Batch, BatchSource
from medimg.engine.distributed import Distributed
from medimg.planning.plan import AugmentationPlan
from medimg.planning.semi_supervised import SemiSupervisedPlan
from medimg.transforms.augment import cutout
from medimg.transforms.mixing import BatchMixer

logger = logging.getLogger(__name__)

#: ``(batch float32, generator) -> batch``
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

#: intensity jitter of a strong view at least this much (normalised units), so it always differs from the weak one
MIN_STRONG_CONTRAST = 0.3
MIN_STRONG_BRIGHTNESS = 0.2


def strong_augmentation(weak: AugmentationPlan, magnitude: float, *, geometric: bool = True) -> AugmentationPlan:
    """The strong view's augmentation: ``weak``'s ranges times ``magnitude`` within their valid bounds, with an
    intensity jitter floor (``geometric=False``: intensity only, for pixel-aligned views in segmentation)."""
    return AugmentationPlan(
        flip_axes=list(weak.flip_axes) if geometric else [],
        rotate_deg=min(180.0, weak.rotate_deg * magnitude) if geometric else 0.0,
        scale=min(0.5, weak.scale * magnitude) if geometric else 0.0,
        translate=min(0.3, weak.translate * magnitude) if geometric else 0.0,
        brightness=max(MIN_STRONG_BRIGHTNESS, weak.brightness * magnitude),
        contrast=min(0.9, max(MIN_STRONG_CONTRAST, weak.contrast * magnitude)),
        noise_std=weak.noise_std * magnitude,
        cutout=0.0,  # the strong view's own cutout (``cutout_fraction``) follows it
    )


class PoolViews:
    """Weak and strong views of images drawn from an unlabelled pool.

    Args:
        size: images in the pool.
        sample: ``(n, generator) -> (n, C, *spatial)`` float32: ``n`` pool images (drawn with replacement).
        weak: the weak view's augmentation of a sample (the plan's training augmentation).
        strong: the strong view's augmentation (:func:`strong_augmentation`), followed by cutout.
        cutout_fraction: side of the cutout square (0 = none).
        strong_from_weak: the strong view augments the weak view (pixel-aligned, for segmentation) instead of
            the sample (classification: a second, independent geometric draw).
    """

    def __init__(
        self,
        size: int,
        sample: Callable[[int, torch.Generator], torch.Tensor],
        weak: Augment,
        strong: Augment,
        *,
        cutout_fraction: float,
        strong_from_weak: bool = False,
    ) -> None:
        self.size = size
        self.sample = sample
        self.weak = weak
        self.strong = strong
        self.cutout_fraction = cutout_fraction
        self.strong_from_weak = strong_from_weak

    def __len__(self) -> int:
        return self.size

    def draw(self, n: int, generator: torch.Generator, *, strong: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` weak views and (with ``strong``) their strong views, index-aligned."""
        raw = self.sample(n, generator)
        weak = self.weak(raw.clone(), generator)
        if not strong:
            return weak, None
        source = weak.clone() if self.strong_from_weak else raw
        return weak, cutout(self.strong(source, generator), self.cutout_fraction, generator)


class SemiSupervisedBatches:
    """Labelled batches of ``labelled`` (cycled when the epoch is longer), each followed by pool views.

    Each batch is ``(cat([x, weak, strong]), y)`` with ``len(weak) = len(strong) = unlabelled_ratio * len(x)``
    (at most the pool's size; ``strong`` only when ``strong=True``). An epoch is ``steps`` batches (default the
    labelled source's).
    While ``use_pool()`` is false (a labelled-only warm-up, asked once per epoch) the batches are the labelled
    ones alone.
    Each rank draws its own pool images (a stream seeded from the epoch's generator and the rank), so ranks see
    different unlabelled images while the labelled source shards as usual.
    """

    def __init__(
        self,
        labelled: BatchSource,
        views: PoolViews,
        *,
        unlabelled_ratio: int,
        strong: bool,
        steps: int | None = None,
        distributed: Distributed | None = None,
        use_pool: Callable[[], bool] | None = None,
    ) -> None:
        self.labelled = labelled
        self.use_pool = use_pool or (lambda: True)
        self.views = views
        self.unlabelled_ratio = unlabelled_ratio
        self.strong = strong
        self.steps = steps
        self.distributed = distributed or Distributed()
        self.unit = labelled.unit
        self.memory_format = labelled.memory_format

    def steps_per_epoch(self) -> int:
        return self.steps or self.labelled.steps_per_epoch()

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        pool_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        pool_generator = torch.Generator().manual_seed(pool_seed + self.distributed.rank)
        with_pool = self.use_pool()
        labelled = iter(self.labelled.epoch(generator))
        for _ in range(self.steps_per_epoch()):
            batch = next(labelled, None)
            if batch is None:  # the labelled set is shorter than the epoch: another pass
                labelled = iter(self.labelled.epoch(generator))
                batch = next(labelled)
            x, y = batch
            if not with_pool:
                yield batch
                continue
            n_unlabelled = min(self.unlabelled_ratio * len(x), len(self.views))  # never more than the pool holds
            weak, strong = self.views.draw(n_unlabelled, pool_generator, strong=self.strong)
            parts = [x, weak.to(x.dtype)] + ([strong.to(x.dtype)] if strong is not None else [])
            yield torch.cat(parts).contiguous(memory_format=self.memory_format), y


class SemiSupervisedLoss:
    """The loss hook of a semi-supervised fit, with the unlabelled weight's warm-up and per-epoch statistics.

    Args:
        supervised: ``(logits of the labelled part, targets) -> loss`` (the task's own loss).
        plan: the semi-supervised settings.
        steps_per_epoch: for the warm-up ramp within an epoch.
        class_weights: ``(K,)`` the supervised loss's class weights, also given to the pseudo-labels'
            cross-entropy (``None``: unweighted).
        target_distribution: ``(K,)`` the class distribution distribution alignment aligns the pool's
            predictions to (``None``: no alignment, whatever the plan says).
        trained_teacher: ``inputs -> logits`` of a frozen, trained network that predicts the weak views; its
            softened predictions are the strong views' targets (no threshold, no alignment).
        temperature: the trained teacher's softening temperature (the loss is scaled by its square).
        mixer: mixes the labelled part of every batch (the plan's ``mixup``/``cutmix``; MixMatch's mixing of the
            labelled images), its loss following both labels; the pool's views are never mixed. ``None``: no mixing.

    Use ``hooks = TaskHooks(loss=semi, validate=..., begin_epoch=semi.begin_epoch)``.
    """

    def __init__(
        self,
        supervised: Callable[[torch.Tensor, Any], torch.Tensor],
        plan: SemiSupervisedPlan,
        steps_per_epoch: int,
        *,
        class_weights: torch.Tensor | None = None,
        target_distribution: torch.Tensor | None = None,
        trained_teacher: Callable[[torch.Tensor], torch.Tensor] | None = None,
        temperature: float = 1.0,
        mixer: BatchMixer | None = None,
    ) -> None:
        self.supervised = supervised
        self.mixer = mixer if mixer is not None and mixer.enabled else None
        self.trained_teacher = trained_teacher
        self.temperature = temperature
        self.plan = plan
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.class_weights = class_weights
        self.target_distribution = (
            target_distribution if plan.distribution_alignment and trained_teacher is None else None
        )
        self.model_distribution: torch.Tensor | None = None  # running mean of weak-view probabilities (K,)
        self.mean_confidence: torch.Tensor | None = None  # self-adaptive thresholds: running mean top probability
        self.class_confidence: torch.Tensor | None = None  # and running mean probabilities (K,)
        self.teacher: nn.Module | None = None  # the weight average, when the plan asks for a mean teacher
        self.epoch = 1
        self.step = 0
        self.network = 1  # which network of an ensemble trains (each starts its running statistics afresh)
        self.history: list[dict[str, Any]] = []
        self._sums = {"unlabelled_loss": 0.0, "pseudo_label_rate": 0.0, "weight": 0.0}
        self._pseudo_counts: torch.Tensor | None = None  # confident pseudo-labels per class this epoch

    def state_dict(self) -> dict[str, Any]:
        """The running statistics, the history and the epoch in progress (the engine checkpoints them)."""
        return {
            "model_distribution": self.model_distribution,
            "mean_confidence": self.mean_confidence,
            "class_confidence": self.class_confidence,
            "history": [dict(row) for row in self.history],
            "network": self.network,
            "epoch": self.epoch,
            "step": self.step,
            "sums": dict(self._sums),
            "pseudo_counts": self._pseudo_counts,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore a checkpoint's :meth:`state_dict` (``--resume``); ``None``: a network starts, with fresh running
        statistics (the next network of an ensemble keeps the history of those before it)."""
        if state is None:
            self._close_epoch()  # the last epoch of the network before, if any
            if self.history:  # the networks before this one trained already
                self.network += 1
            self.model_distribution = self.mean_confidence = self.class_confidence = None
            self.epoch, self.step = 1, 0
            return
        self.model_distribution = state["model_distribution"]
        self.mean_confidence = state["mean_confidence"]
        self.class_confidence = state["class_confidence"]
        self.history = [dict(row) for row in state["history"]]
        self.network, self.epoch, self.step = int(state["network"]), int(state["epoch"]), int(state["step"])
        self._sums = dict(state["sums"])
        self._pseudo_counts = state["pseudo_counts"]

    def uses_pool(self) -> bool:
        """Whether this epoch's batches carry pool views (false during the labelled-only ``supervised_epochs``;
        always with a trained teacher)."""
        return self.trained_teacher is not None or self.epoch > self.plan.supervised_epochs

    def weight(self) -> float:
        """The unlabelled loss weight now: 0 during the labelled-only epochs, then linear from 0 to
        ``loss_weight`` over ``warmup_epochs``."""
        if not self.uses_pool():
            return 0.0
        if self.plan.warmup_epochs <= 0 or self.trained_teacher is not None:
            return self.plan.loss_weight
        epochs_with_pool = self.epoch - 1 - self.plan.supervised_epochs
        progress = (epochs_with_pool + self.step / self.steps_per_epoch) / self.plan.warmup_epochs
        return self.plan.loss_weight * min(1.0, progress)

    def begin_epoch(self, epoch: int) -> None:
        """Called by the loop before each epoch: closes the previous epoch's statistics."""
        self._close_epoch()
        self.epoch, self.step = epoch, 0

    def use_average(self, average: nn.Module) -> None:
        """The engine's hook: with ``teacher="weight_average"``, the EMA network predicts the weak views."""
        if self.plan.teacher == "weight_average" and self.trained_teacher is None:
            self.teacher = average

    def __call__(self, network: nn.Module, x: torch.Tensor, y: Any) -> torch.Tensor:
        n_labelled = len(y)
        mixed = self.mixer(x[:n_labelled]) if self.mixer is not None else None
        if mixed is not None:
            x = torch.cat([mixed.inputs, x[n_labelled:]])
        teacher_logits = None
        teacher = self.trained_teacher if self.trained_teacher is not None else self.teacher
        if teacher is not None and len(x) > n_labelled:  # a trained or mean teacher: it predicts the weak views
            fixmatch = self.plan.method == "fixmatch"
            n_weak = (len(x) - n_labelled) // 2 if fixmatch else len(x) - n_labelled
            with torch.no_grad():
                teacher_logits = teacher(x[n_labelled : n_labelled + n_weak]).float()
            if fixmatch:  # the network itself needs no weak view
                x = torch.cat([x[:n_labelled], x[n_labelled + n_weak :]])
        logits = network(x).float()
        labelled_logits = logits[:n_labelled]
        supervised = (
            self.supervised(labelled_logits, y) if mixed is None else mixed.loss(self.supervised, labelled_logits, y)
        )
        if len(logits) == n_labelled:  # a labelled-only batch (the warm-up before the pool joins)
            self.step += 1
            return supervised
        unlabelled, rate = self.unlabelled_loss(logits[n_labelled:], teacher_logits)
        weight = self.weight()
        self.step += 1
        self._sums["unlabelled_loss"] += float(unlabelled.detach())
        self._sums["pseudo_label_rate"] += rate
        self._sums["weight"] += weight
        return supervised + weight * unlabelled

    def unlabelled_loss(
        self, logits: torch.Tensor, teacher_logits: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, float]:
        """Cross-entropy of confident pseudo-labels (mean over every unlabelled image or pixel, the
        unconfident counting 0), and the share of confident ones. ``logits``: the network's on ``(weak[, strong])``
        stacked, or with ``teacher_logits`` (the teacher's on the weak views) its strong views alone (FixMatch).
        With a trained teacher: the distillation loss of its softened predictions, over every image or pixel."""
        with torch.autocast(logits.device.type, enabled=False):
            logits = logits.float()
            if self.plan.method == "fixmatch":
                weak, strong = logits.chunk(2) if teacher_logits is None else (teacher_logits, logits)
            else:
                weak = strong = logits
                if teacher_logits is not None:
                    weak = teacher_logits
            probabilities = self.align(torch.softmax(weak.detach(), dim=1))
            confidence, pseudo = probabilities.max(dim=1)
            mask = (confidence >= self.thresholds(probabilities)[pseudo]).float()
            if self.trained_teacher is not None:
                loss = soft_target_loss(strong, weak.detach(), self.temperature)
            else:
                weight = self.class_weights.to(strong.device) if self.class_weights is not None else None
                loss = (F.cross_entropy(strong, pseudo, weight=weight, reduction="none") * mask).mean()
            counts = torch.bincount(pseudo.flatten(), weights=mask.flatten(), minlength=probabilities.shape[1])
            self._pseudo_counts = counts.cpu() if self._pseudo_counts is None else self._pseudo_counts + counts.cpu()
            return loss, float(mask.mean())

    def align(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Distribution alignment: ``p * target / running mean of p``, renormalised per image (or pixel); the
        running mean starts at this batch's mean and moves with ``ema_momentum`` per step. Unchanged without a
        target. ``probabilities``: ``(N, K, *spatial)``, detached."""
        if self.target_distribution is None:
            return probabilities
        batch_mean = probabilities.transpose(0, 1).reshape(probabilities.shape[1], -1).mean(dim=1)
        momentum = self.plan.ema_momentum
        running = self.model_distribution
        running = batch_mean if running is None else momentum * running.to(batch_mean) + (1 - momentum) * batch_mean
        self.model_distribution = running
        shape = (1, -1) + (1,) * (probabilities.ndim - 2)
        ratio = (self.target_distribution.to(running) / running.clamp_min(1e-6)).view(shape)
        aligned = probabilities * ratio
        return aligned / aligned.sum(dim=1, keepdim=True)

    def thresholds(self, probabilities: torch.Tensor) -> torch.Tensor:
        """``(K,)`` confidence thresholds: ``confidence_threshold`` for every class, or (``self_adaptive``) the
        running mean top probability times each class's running mean probability over the largest one (FreeMatch;
        both running means start at 1/K, as in the paper, and use the probabilities after alignment)."""
        k = probabilities.shape[1]
        if self.plan.threshold == "fixed":
            return torch.full((k,), self.plan.confidence_threshold, device=probabilities.device)
        flat = probabilities.transpose(0, 1).reshape(k, -1)
        momentum = self.plan.ema_momentum
        if self.mean_confidence is None or self.class_confidence is None:
            self.mean_confidence = torch.tensor(1.0 / k, device=probabilities.device)
            self.class_confidence = torch.full((k,), 1.0 / k, device=probabilities.device)
        self.mean_confidence = momentum * self.mean_confidence + (1 - momentum) * flat.max(dim=0).values.mean()
        local = momentum * self.class_confidence + (1 - momentum) * flat.mean(dim=1)
        self.class_confidence = local
        return self.mean_confidence * local / local.max()

    def summary(self) -> dict[str, Any]:
        """Per-epoch means of the unlabelled loss, the pseudo-label rate and the weight (``training.json``)."""
        self._close_epoch()
        return {"epochs": list(self.history)}

    def _close_epoch(self) -> None:
        if not self.step:
            return
        row: dict[str, Any] = {
            "network": self.network,
            "epoch": float(self.epoch),
            **{k: v / self.step for k, v in self._sums.items()},
        }
        if self._pseudo_counts is not None:  # how the confident pseudo-labels split over the classes
            row["pseudo_labels_per_class"] = [int(c) for c in self._pseudo_counts.round().tolist()]
        if self.model_distribution is not None:
            row["pool_prediction_mean"] = [round(float(p), 4) for p in self.model_distribution]
        self.history.append(row)
        if self.trained_teacher is not None:  # every pool image counts: the confident share says nothing here
            message = "epoch %d: distillation loss on the pool %.4f (the teacher's soft targets)"
            logger.info(message, self.epoch, row["unlabelled_loss"])
        else:
            logger.info(
                "epoch %d: unlabelled loss %.4f, %.1f%% of pool predictions confident, weight %.2f",
                self.epoch,
                row["unlabelled_loss"],
                100 * row["pseudo_label_rate"],
                row["weight"],
            )
        self._sums = dict.fromkeys(self._sums, 0.0)
        self._pseudo_counts = None
        self.step = 0


def soft_target_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 x KL(softmax(teacher / T) || softmax(student / T))`` over the class axis (1), averaged over images
    (or pixels): Hinton et al.'s distillation loss, 0 when the student matches; ``T^2`` keeps its gradients on the
    scale of a cross-entropy."""
    t = temperature
    student_log, teacher_log = F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1)
    return F.kl_div(student_log, teacher_log, reduction="none", log_target=True).sum(dim=1).mean() * t * t


class SemiSupervisedTraining:
    """What a task's pool setup hands its ``setup``: the batches and loss hook that replace the supervised ones,
    the facts for the training summary and the unreadable pool files."""

    def __init__(
        self,
        batches: SemiSupervisedBatches,
        loss: SemiSupervisedLoss,
        summary: dict[str, Any],
        skipped: list[tuple[str, str]],
    ) -> None:
        self.batches = batches
        self.loss = loss
        self.summary = summary
        self.skipped = skipped

    def hooks(self, validate: Callable[[nn.Module], dict[str, float]] | None) -> Any:
        """The engine's hooks: this loss (with its warm-up and teacher) and the task's validation."""
        from medimg.engine.trainer import TaskHooks

        return TaskHooks(
            loss=self.loss,
            validate=validate,
            begin_epoch=self.loss.begin_epoch,
            use_average=self.loss.use_average,
            state=self.loss,
        )

    def after_training(
        self, then: Callable[[nn.Module, Any], tuple[Any, dict[str, Any]]] | None = None
    ) -> Callable[[nn.Module, Any], tuple[Any, dict[str, Any]]]:
        """An ``after_training`` that adds the per-epoch unlabelled statistics to the summary (after ``then``, the
        task's own, when it has one)."""

        def finish(network: nn.Module, plan: Any) -> tuple[Any, dict[str, Any]]:
            plan, extra = then(network, plan) if then is not None else (plan, {})
            semi = {**self.summary, **self.loss.summary()}
            return plan, {**extra, "semi_supervised": semi}

        return finish


def pool_summary(
    plan: SemiSupervisedPlan, source: str | None, used: int, dropped: int, unreadable: int
) -> dict[str, Any]:
    """The facts a run records about its pool (``metadata.json`` ``training.semi_supervised``)."""
    return {
        "method": plan.method,
        "pool": source,
        "unlabelled_images": used,
        "dropped_evaluation_copies": dropped,
        "unreadable": unreadable,
    }
