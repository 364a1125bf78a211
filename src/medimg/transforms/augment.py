"""Random augmentation of a whole batch at once, on tensors (2D and 3D).

MONAI's random transforms work one sample at a time in Python; on a CPU with 28 px images that per-sample
overhead costs more than the network. Here one affine grid per batch does rotation, zoom and shift for every
sample in a single ``grid_sample`` call, and flips and intensity jitter are batched tensor ops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from medimg.planning.plan import AugmentationPlan


class BatchAugment:
    """Apply an :class:`AugmentationPlan` to ``(B, C, *spatial)`` float tensors.

    Example:
        >>> aug = BatchAugment(AugmentationPlan(rotate_deg=10), spatial_dims=2)
        >>> out = aug(torch.zeros(4, 1, 28, 28), torch.Generator().manual_seed(0))
    """

    def __init__(self, plan: AugmentationPlan, spatial_dims: int) -> None:
        self.plan = plan
        self.spatial_dims = spatial_dims

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not self.plan.enabled:
            return x
        p = self.plan
        batch = x.shape[0]

        def uniform(*shape: int) -> torch.Tensor:
            return _uniform(generator, *shape)

        for axis in p.flip_axes:
            if axis >= self.spatial_dims:
                continue
            mask = torch.rand(batch, generator=generator) < 0.5
            if mask.any():
                dim = 2 + axis
                x = torch.where(mask.view(-1, *[1] * (x.ndim - 1)), x.flip(dim), x)
        if p.rotate_deg or p.scale or p.translate:
            x = self._affine(x, generator)
        if p.contrast:
            gain = 1 + p.contrast * uniform(batch)
            mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
            x = (x - mean) * gain.view(-1, *[1] * (x.ndim - 1)) + mean
        if p.brightness:
            x = x + p.brightness * uniform(batch).view(-1, *[1] * (x.ndim - 1))
        if p.noise_std:
            x = x + p.noise_std * torch.randn(x.shape, generator=generator)
        return x

    def _affine(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        p = self.plan
        batch, d = x.shape[0], self.spatial_dims
        angle = math.radians(p.rotate_deg) * _uniform(generator, batch)
        zoom = 1 + p.scale * _uniform(generator, batch)
        shift = 2 * p.translate * _uniform(generator, batch, d)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.zeros(batch, d, d + 1)
        if d == 2:
            theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
            theta[:, 1, 0], theta[:, 1, 1] = sin, cos
        else:  # rotate in the last two axes (the in-plane rotation of a slice), identity along depth
            theta[:, 0, 0] = 1
            theta[:, 1, 1], theta[:, 1, 2] = cos, -sin
            theta[:, 2, 1], theta[:, 2, 2] = sin, cos
        theta[:, :, :d] = theta[:, :, :d] / zoom.view(-1, 1, 1)
        theta[:, :, d] = shift
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _uniform(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Uniform samples in [-1, 1)."""
    return torch.rand(*shape, generator=generator) * 2 - 1
