"""The conditional GAN: a DCGAN-style generator and a spectral-norm projection discriminator (Miyato & Koyama,
2018), 2D or 3D, with an exponential moving average of the generator that samples are drawn from.

Shapes: the generator maps ``z`` ``(B, latent_dim)`` and labels ``(B,)`` to images ``(B, C, *input_size)`` in
[-1, 1] (tanh); the discriminator maps images and labels to one score per image ``(B,)``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from medimg.engine.weight_average import ema_update
from medimg.tasks.generate.plan import GeneratePlan

START_SIDE = 4
"""The generator starts at 4 voxels per axis and doubles up to the input size."""
MAX_WIDTH_FACTOR = 4


def _conv(spatial_dims: int) -> type[nn.Conv2d] | type[nn.Conv3d]:
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def _batch_norm(spatial_dims: int) -> type[nn.BatchNorm2d] | type[nn.BatchNorm3d]:
    return nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d


def doublings(input_size: list[int]) -> int:
    """How many times the generator doubles from :data:`START_SIDE` to ``input_size`` (all sides alike)."""
    return round(math.log2(min(input_size) / START_SIDE))


class ConditionalGenerator(nn.Module):
    """Noise and a class embedding -> a ``START_SIDE`` grid -> (upsample, conv, BN, ReLU) x k -> conv -> tanh."""

    def __init__(
        self, latent_dim: int, num_classes: int, channels: int, input_size: list[int], width: int, spatial_dims: int
    ) -> None:
        super().__init__()
        conv, norm = _conv(spatial_dims), _batch_norm(spatial_dims)
        self.spatial_dims = spatial_dims
        self.latent_dim = latent_dim
        steps = doublings(input_size)
        self.start = [s // 2**steps for s in input_size]
        widths = [width * min(MAX_WIDTH_FACTOR, 2 ** (steps - i)) for i in range(steps + 1)]
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.project = nn.Linear(2 * latent_dim, widths[0] * math.prod(self.start))
        self.start_norm = norm(widths[0])
        blocks: list[nn.Module] = []
        for i in range(steps):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                conv(widths[i], widths[i + 1], 3, padding=1, bias=False),
                norm(widths[i + 1]),
                nn.ReLU(inplace=True),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.to_image = conv(widths[-1], channels, 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, self.embed(labels)], dim=1))
        h = torch.relu(self.start_norm(h.view(len(z), -1, *self.start)))
        return torch.tanh(self.to_image(self.blocks(h)))


class ProjectionDiscriminator(nn.Module):
    """(spectral-norm conv 4x4 stride 2, LeakyReLU) down to ``START_SIDE``, sum pooling, then a linear score plus
    the projection of the class embedding onto the pooled features."""

    def __init__(self, num_classes: int, channels: int, input_size: list[int], width: int, spatial_dims: int) -> None:
        super().__init__()
        conv = _conv(spatial_dims)
        steps = doublings(input_size)
        widths = [width * min(MAX_WIDTH_FACTOR, 2**i) for i in range(steps + 1)]
        layers: list[nn.Module] = [spectral_norm(conv(channels, widths[0], 3, padding=1)), nn.LeakyReLU(0.2)]
        for i in range(steps):
            layers += [spectral_norm(conv(widths[i], widths[i + 1], 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.score = spectral_norm(nn.Linear(widths[-1], 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, widths[-1]))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(images).flatten(2).sum(dim=2)
        return self.score(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)


class ConditionalGAN(nn.Module):
    """Generator, discriminator and the generator's exponential moving average (``ema``), trained by
    :class:`~medimg.tasks.generate.gan_step.GANStep`; ``forward`` samples with the average."""

    def __init__(self, plan: GeneratePlan) -> None:
        super().__init__()
        size, dims = list(plan.input_size), plan.spatial_dims
        self.generator = ConditionalGenerator(
            plan.latent_dim, plan.num_classes, plan.in_channels, size, plan.base_width, dims
        )
        self.discriminator = ProjectionDiscriminator(plan.num_classes, plan.in_channels, size, plan.base_width, dims)
        self.ema = copy.deepcopy(self.generator)
        self.ema.requires_grad_(False)
        self.latent_dim = plan.latent_dim

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, *input_size)`` in [-1, 1] from the averaged generator."""
        return self.ema(z, labels)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        """``ema = decay * ema + (1 - decay) * generator``; BatchNorm statistics are copied."""
        ema_update(self.ema, self.generator, decay, average_buffers=False)

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Images for ``labels`` ``(B,)`` from noise drawn with ``generator`` (on the CPU, so a seed gives the same
        images on any device)."""
        z = torch.randn(len(labels), self.latent_dim, generator=generator).to(labels.device)
        return self.ema(z, labels)
