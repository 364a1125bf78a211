"""The engine hooks of generation: the training loss (diffusion) or the GAN's own step, and the validation
metrics that select the best epoch.

* ``fd``: Fréchet distance between the validation images and as many samples with the same labels, drawn from a
  fixed seed, in the feature classifier's space (GAN default; diffusion on request, as sampling costs
  ``sample_steps`` network calls per image).
* ``loss``: diffusion's denoising loss on the validation images with fixed noise and noise levels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medimg.engine.trainer import TaskHooks
from medimg.tasks.classify.data import PreparedSplit
from medimg.tasks.generate.features import FeatureSpace
from medimg.tasks.generate.plan import GeneratePlan

VALIDATION_SEED = 12_345
"""Seed of the validation noise: every epoch is scored on the same draws."""


def make_hooks(plan: GeneratePlan, val: PreparedSplit, space: FeatureSpace | None) -> TaskHooks:
    """The engine's hooks for ``plan``'s network, validated on ``val`` (images in [-1, 1]); ``space`` is ``None``
    on processes that never validate (ranks other than 0)."""
    from medimg.tasks.generate.diffusion import DenoisingLoss
    from medimg.tasks.generate.gan_step import discriminator_loss, draw_labels, make_gan_step
    from medimg.tasks.generate.metrics import frechet_distance
    from medimg.tasks.generate.sampling import sample_images

    wants_fd = plan.monitor == "fd" or plan.network == "gan"
    real_features = space.embed(val.x.float(), plan.eval_batch_size) if wants_fd and space is not None else None
    denoising = DenoisingLoss(plan) if plan.network == "diffusion" else None

    def gan_loss(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss on a batch against as many fresh samples (what its step minimises)."""
        gan: Any = getattr(network, "module", network)
        fake_labels = draw_labels(len(images), plan.num_classes, images.device)
        fake = gan.sample(fake_labels, torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,)))))
        return discriminator_loss(
            gan.discriminator(images, labels), gan.discriminator(fake, fake_labels), plan.gan_loss
        )

    def diffusion_loss(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        assert denoising is not None
        return denoising(network, images, labels)

    def validate(network: nn.Module) -> dict[str, float]:
        metrics: dict[str, float] = {}
        device = next(network.parameters()).device
        if denoising is not None:
            generator = torch.Generator().manual_seed(VALIDATION_SEED)
            total = 0.0
            for start in range(0, len(val), plan.eval_batch_size):
                x = val.x[start : start + plan.eval_batch_size].float().to(device)
                y = val.y[start : start + plan.eval_batch_size].to(device)
                total += float(denoising(network, x, y, generator)) * len(x)
            metrics["loss"] = total / max(1, len(val))
        if real_features is not None and space is not None:
            fake = sample_images(network, plan, val.y, seed=VALIDATION_SEED)
            metrics["fd"] = frechet_distance(real_features, space.embed(fake, plan.eval_batch_size))
        return metrics

    if plan.network == "gan":
        return TaskHooks(loss=gan_loss, validate=validate, step=make_gan_step)
    return TaskHooks(loss=diffusion_loss, validate=validate)
