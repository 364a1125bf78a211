"""The class-conditional diffusion model on MONAI's generative networks: a ``DiffusionModelUNet`` that predicts
the noise added by a DDPM schedule (training), sampled with DDIM (Song et al., 2021) in ``sample_steps`` steps.

Classifier-free guidance (Ho & Salimans, 2022): during training a share of labels (``class_dropout``) is replaced
by an extra "no class" label, so one network is conditional and unconditional; sampling mixes the two
predictions with ``guidance_scale`` (1 = the conditional prediction alone, one network call per step).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from medimg.tasks.generate.plan import GeneratePlan

NORM_GROUPS = 32


class ConditionalDiffusion(nn.Module):
    """The denoiser: ``forward(noisy, timesteps, labels)`` -> predicted noise, same shape as ``noisy``
    ``(B, C, *input_size)``; labels ``(B,)`` in ``0..num_classes`` (``num_classes`` = no class)."""

    def __init__(self, plan: GeneratePlan) -> None:
        super().__init__()
        from monai.networks.nets import DiffusionModelUNet

        levels = len(plan.unet_channels)
        self.null_label = plan.num_classes
        self.unet = DiffusionModelUNet(
            spatial_dims=plan.spatial_dims,
            in_channels=plan.in_channels,
            out_channels=plan.in_channels,
            num_res_blocks=plan.num_res_blocks,
            channels=list(plan.unet_channels),
            attention_levels=[plan.attention_bottom and i == levels - 1 for i in range(levels)],
            norm_num_groups=NORM_GROUPS,
            num_head_channels=list(plan.unet_channels),
            num_class_embeds=plan.num_classes + 1,
        )

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.unet(noisy, timesteps=timesteps, class_labels=labels)
        return out


def training_scheduler(plan: GeneratePlan) -> Any:
    """MONAI's DDPM scheduler of the plan (adds noise for training)."""
    from monai.networks.schedulers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=plan.train_timesteps, schedule=plan.noise_schedule)


def sampling_scheduler(plan: GeneratePlan) -> Any:
    """MONAI's DDIM scheduler of the plan, set to ``sample_steps`` steps."""
    from monai.networks.schedulers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=plan.train_timesteps, schedule=plan.noise_schedule)
    scheduler.set_timesteps(plan.sample_steps)
    return scheduler


class DenoisingLoss:
    """The training loss: MSE between the noise added at a random level and the network's prediction of it.

    Args:
        plan: the generation plan (schedule, class dropout).
    """

    def __init__(self, plan: GeneratePlan) -> None:
        self.scheduler = training_scheduler(plan)
        self.plan = plan

    def __call__(
        self, network: nn.Module, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``images`` ``(B, C, *size)`` in [-1, 1], ``labels`` ``(B,)``; random draws from ``generator`` when given
        (fixed validation noise), else from torch's global generator (seeded per epoch by the engine)."""
        n = len(images)
        device = images.device
        noise = torch.randn(images.shape, generator=generator).to(device)
        steps = torch.randint(0, self.plan.train_timesteps, (n,), generator=generator).to(device)
        drop = torch.rand(n, generator=generator).to(device) < self.plan.class_dropout
        if generator is not None:  # validation scores the conditional model
            drop = torch.zeros_like(drop)
        labels = torch.where(drop, torch.full_like(labels, self.plan.num_classes), labels)
        noisy = self.scheduler.add_noise(images, noise, steps)
        return F.mse_loss(network(noisy, steps, labels).float(), noise)


@torch.no_grad()
def sample_diffusion(
    network: nn.Module, plan: GeneratePlan, labels: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Images ``(B, C, *input_size)`` in [-1, 1] for ``labels`` ``(B,)``: DDIM from noise drawn with
    ``generator`` (deterministic, eta 0), with classifier-free guidance when ``guidance_scale != 1``."""
    scheduler = sampling_scheduler(plan)
    device = labels.device
    x = torch.randn((len(labels), plan.in_channels, *plan.input_size), generator=generator).to(device)
    guided = plan.guidance_scale != 1.0
    null = torch.full_like(labels, plan.num_classes)
    for t in scheduler.timesteps:
        steps = torch.full((len(labels),), int(t), device=device, dtype=torch.long)
        if guided:
            both = network(torch.cat([x, x]), torch.cat([steps, steps]), torch.cat([labels, null]))
            conditional, unconditional = both.chunk(2)
            noise = unconditional + plan.guidance_scale * (conditional - unconditional)
        else:
            noise = network(x, steps, labels)
        x, _ = scheduler.step(noise, int(t), x)
    return x.clamp(-1, 1)
