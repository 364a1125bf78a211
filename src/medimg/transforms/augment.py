"""Random augmentation of a whole batch at once, on tensors (2D and 3D).

MONAI's random transforms work one sample at a time in Python; on a CPU with 28 px images that per-sample
overhead costs more than the network. Here one affine grid per batch does rotation, zoom and shift for every
sample in a single ``grid_sample`` call, and flips and intensity jitter are batched tensor ops. The random
numbers are drawn on the CPU generator and moved to the batch's device, so a batch on the GPU is augmented there
with the same draws as on the CPU.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
import torch.nn.functional as F

from medimg.planning.plan import AugmentationPlan

logger = logging.getLogger(__name__)

#: an intensity jitter (``brightness``, ``noise_std``) above this many standard deviations of the normalised
#: training intensities was given in the image's own units (HU, 0..255), not the plan's normalised ones
INTENSITY_JITTER_MAX = 3.0

_WARNED_UNITS: set[tuple[str, float]] = set()


def warn_intensity_units(plan: Any) -> None:
    """Warn (once per setting and process) when ``brightness`` or ``noise_std`` of an augmentation plan is more
    than :data:`INTENSITY_JITTER_MAX` standard deviations: they apply after clipping and standardisation, so
    ``--set augmentation.brightness=100`` meant as +-100 HU shifts a CT by 100 standard deviations and the network
    trains on saturated noise. The planned values are 0.1 (brightness) and 0 (noise)."""
    for name in ("brightness", "noise_std"):
        value = float(getattr(plan, name, 0.0) or 0.0)
        if value <= INTENSITY_JITTER_MAX or (name, value) in _WARNED_UNITS:
            continue
        _WARNED_UNITS.add((name, value))
        logger.warning(
            "augmentation.%s=%g is in normalised units (standard deviations of the training intensities, after "
            "clipping and standardisation), not the image's units (HU, 0..255): %g shifts every image far outside "
            "anything seen at prediction. Give it in standard deviations, e.g. --set augmentation.%s=0.1 (the "
            "planner's brightness is 0.1, its noise 0)",
            name,
            value,
            value,
            name,
        )


class BatchAugment:
    """Apply an :class:`AugmentationPlan` to ``(B, C, *spatial)`` float tensors.

    Example:
        >>> aug = BatchAugment(AugmentationPlan(rotate_deg=10), spatial_dims=2)
        >>> out = aug(torch.zeros(4, 1, 28, 28), torch.Generator().manual_seed(0))
    """

    def __init__(self, plan: AugmentationPlan, spatial_dims: int) -> None:
        self.plan = plan
        self.spatial_dims = spatial_dims
        warn_intensity_units(plan)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not self.plan.enabled:
            return x
        p = self.plan
        batch = x.shape[0]

        def uniform(*shape: int) -> torch.Tensor:
            return _uniform(generator, *shape).to(x.device)

        for axis in p.flip_axes:
            if axis >= self.spatial_dims:
                continue
            mask = torch.rand(batch, generator=generator) < 0.5
            if mask.any():
                dim = 2 + axis
                x = torch.where(mask.to(x.device).view(-1, *[1] * (x.ndim - 1)), x.flip(dim), x)
        if p.rotate_deg or p.scale or p.translate:
            x = self._affine(x, generator)
        if p.contrast:
            gain = 1 + p.contrast * uniform(batch)
            mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
            x = (x - mean) * gain.view(-1, *[1] * (x.ndim - 1)) + mean
        if p.brightness:
            x = x + p.brightness * uniform(batch).view(-1, *[1] * (x.ndim - 1))
        if p.noise_std:
            x = x + p.noise_std * torch.randn(x.shape, generator=generator).to(x.device)
        return cutout(x, p.cutout, generator)

    def _affine(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        p = self.plan
        grid = random_affine_grid(
            x.shape,
            generator,
            rotate_deg=p.rotate_deg,
            scale=p.scale,
            translate=p.translate,
            dtype=x.dtype,
            device=x.device,
        )
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_affine_grid(
    shape: torch.Size | tuple[int, ...],
    generator: torch.Generator,
    *,
    rotate_deg: float,
    scale: float,
    translate: float = 0.0,
    all_axes: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> torch.Tensor:
    """A ``grid_sample`` grid of one random rotation + zoom + shift per sample of a ``(B, C, *spatial)`` batch.

    Angles are uniform in ``[-rotate_deg, rotate_deg]``, zoom in ``[1 - scale, 1 + scale]``, shifts in
    ``[-translate, translate]`` of the size. Rotations are in voxel space (a non-square patch is not sheared).
    2D: in the image plane. 3D: in the plane of the first two spatial axes (D, H of ``(B, C, D, H, W)``), or with
    ``all_axes`` about all three axes (independent angles; nnU-Net's 3D augmentation).
    """
    batch, d = shape[0], len(shape) - 2
    angle = math.radians(rotate_deg) * _uniform(generator, batch)
    zoom = 1 + scale * _uniform(generator, batch)
    shift = 2 * translate * _uniform(generator, batch, d)
    if d == 2:
        linear = _rotation(angle, 0, 1, 2)
    else:  # affine_grid's rows are (x=W, y=H, z=D): rows 1, 2 rotate the D-H plane
        linear = _rotation(angle, 1, 2, 3)
        if all_axes:
            for a, b in ((0, 2), (0, 1)):
                extra = math.radians(rotate_deg) * _uniform(generator, batch)
                linear = linear @ _rotation(extra, a, b, 3)
    # rotate in voxel units: S^-1 R S with S the half-sizes in affine_grid's (W, H, D) order
    half = torch.tensor([float(s) for s in reversed(shape[2:])])
    linear = linear * half.view(1, 1, d) / half.view(1, d, 1)
    theta = torch.cat([linear / zoom.view(-1, 1, 1), shift.unsqueeze(-1)], dim=2)
    return F.affine_grid(theta.to(device=device, dtype=dtype), list(shape), align_corners=False)


def _rotation(angle: torch.Tensor, a: int, b: int, d: int) -> torch.Tensor:
    """Per-sample ``(B, d, d)`` rotations by ``angle`` in the plane of axes ``a``, ``b``."""
    rot = torch.eye(d).repeat(angle.shape[0], 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot[:, a, a], rot[:, a, b] = cos, -sin
    rot[:, b, a], rot[:, b, b] = sin, cos
    return rot


def _uniform(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Uniform samples in [-1, 1)."""
    return torch.rand(*shape, generator=generator) * 2 - 1


def cutout(x: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Erase one random square (cube in 3D) of side ``fraction`` x the image side per sample, to the sample's
    mean (DeVries & Taylor 2017; FixMatch's strong augmentation ends with it). ``x``: ``(N, C, *spatial)``."""
    if fraction <= 0 or x.shape[0] == 0:
        return x
    n, spatial = x.shape[0], x.shape[2:]
    erase = torch.ones((n, 1, *spatial), dtype=torch.bool)  # the square: inside the chosen range on every axis
    for axis, size in enumerate(spatial):
        side = max(1, round(fraction * size))
        start = torch.randint(0, size - side + 1, (n,), generator=generator)
        position = torch.arange(size).view(1, -1)
        inside = (position >= start.view(-1, 1)) & (position < (start + side).view(-1, 1))  # (n, size)
        shape = [n, 1] + [1] * len(spatial)
        shape[2 + axis] = size
        erase = erase & inside.view(shape)
    erase = erase.to(x.device)
    mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
    return torch.where(erase, mean, x)
