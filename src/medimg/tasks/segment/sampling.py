"""Foreground-aware patch sampling and batch augmentation for training (tensors held in memory)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from medimg.tasks.segment.labels import IGNORE
from medimg.tasks.segment.planning import SegAugmentation
from medimg.transforms.augment import random_affine_grid

MAX_FOREGROUND_POINTS = 20_000


def pad_to(image: torch.Tensor, labels: torch.Tensor, patch: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad ``(C, *spatial)`` / ``(*spatial)`` symmetrically to at least ``patch``; padded labels are ignored."""
    pads: list[int] = []
    for size, want in zip(reversed(image.shape[1:]), reversed(list(patch)), strict=True):
        extra = max(0, want - size)
        pads += [extra // 2, extra - extra // 2]
    if not any(pads):
        return image, labels
    return (
        torch.nn.functional.pad(image, pads, value=0.0),
        torch.nn.functional.pad(labels[None], pads, value=IGNORE)[0],
    )


class PatchSampler:
    """Draw training batches: random patches, a share of them centred on a random foreground voxel.

    nnU-Net's scheme: without forcing, small structures (hippocampus, thin vessels) are rare in random crops
    and the network learns "background"; with ``foreground_fraction`` of the patches centred on a voxel of a
    random foreground class present in the case, every class is seen in every batch.

    Args:
        images: per case ``(C, *spatial)`` float32 (already normalised and resampled).
        labels: per case ``(*spatial)`` uint8.
        patch_size: patch shape.
        foreground_fraction: share of each batch forced onto foreground.
        augmentation: random flips / rotations / intensity jitter.
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        labels: Sequence[torch.Tensor],
        patch_size: Sequence[int],
        foreground_fraction: float,
        augmentation: SegAugmentation,
        *,
        seed: int = 0,
    ) -> None:
        self.patch = [int(p) for p in patch_size]
        self.images: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []
        self.foreground: list[dict[int, torch.Tensor]] = []
        rng = torch.Generator().manual_seed(seed)
        for image, label in zip(images, labels, strict=True):
            image, label = pad_to(image, label, self.patch)
            self.images.append(image)
            self.labels.append(label)
            points: dict[int, torch.Tensor] = {}
            flat = label.reshape(-1).long()
            for cls in flat.unique().tolist():
                if cls in (0, IGNORE):
                    continue
                where = torch.nonzero(flat == cls)[:, 0]
                if where.numel() > MAX_FOREGROUND_POINTS:
                    where = where[torch.randperm(where.numel(), generator=rng)[:MAX_FOREGROUND_POINTS]]
                points[int(cls)] = where
            self.foreground.append(points)
        self.foreground_fraction = foreground_fraction
        self.augmentation = augmentation

    def __len__(self) -> int:
        return len(self.images)

    def _start(self, shape: Sequence[int], center: Sequence[int] | None, generator: torch.Generator) -> list[int]:
        starts = []
        for axis, (size, p) in enumerate(zip(shape, self.patch, strict=True)):
            high = size - p
            if center is None:
                starts.append(int(torch.randint(0, high + 1, (1,), generator=generator)))
            else:
                jitter = int(torch.randint(-(p // 4), p // 4 + 1, (1,), generator=generator))
                starts.append(min(max(0, center[axis] - p // 2 + jitter), high))
        return starts

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch ``(B, C, *patch)`` float32 and its labels ``(B, *patch)`` int64, augmented."""
        forced_from = round(batch_size * (1 - self.foreground_fraction))
        xs, ys = [], []
        for b in range(batch_size):
            i = int(torch.randint(0, len(self.images), (1,), generator=generator))
            image, label, points = self.images[i], self.labels[i], self.foreground[i]
            center: list[int] | None = None
            if b >= forced_from and points:
                classes = sorted(points)
                cls = classes[int(torch.randint(0, len(classes), (1,), generator=generator))]
                flat = int(points[cls][int(torch.randint(0, points[cls].numel(), (1,), generator=generator))])
                center = [int(c) for c in torch.unravel_index(torch.tensor(flat), tuple(label.shape))]
            starts = self._start(label.shape, center, generator)
            window = tuple(slice(s, s + p) for s, p in zip(starts, self.patch, strict=True))
            xs.append(image[(slice(None), *window)])
            ys.append(label[window])
        x = torch.stack(xs).float()
        y = torch.stack(ys).long()
        return augment_batch(x, y, self.augmentation, generator)


def augment_batch(
    x: torch.Tensor, y: torch.Tensor, aug: SegAugmentation, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample random flips, 90-degree rotations (square last two axes), rotation + zoom, intensity jitter, and
    (when planned) low-resolution simulation and gamma curves."""
    n = x.shape[0]
    spatial = x.ndim - 2
    for axis in aug.flip_axes:
        if axis >= spatial:
            continue
        flip = torch.rand(n, generator=generator) < 0.5
        if flip.any():
            x[flip] = x[flip].flip(axis + 2)  # (b, C, *spatial)
            y[flip] = y[flip].flip(axis + 1)  # (b, *spatial)
    if aug.rotate90 and x.shape[-1] == x.shape[-2]:
        turns = torch.randint(0, 4, (n,), generator=generator)
        for k in (1, 2, 3):
            sel = turns == k
            if sel.any():
                x[sel] = torch.rot90(x[sel], k, dims=(-2, -1))
                y[sel] = torch.rot90(y[sel], k, dims=(-2, -1))
    if aug.spatial_probability and (aug.rotate_deg or aug.scale):
        x, y = _rotate_and_zoom(x, y, aug, generator)
    shape = (n, *[1] * (x.ndim - 1))
    if aug.intensity_scale:
        x = x * (1 + (torch.rand(shape, generator=generator) * 2 - 1) * aug.intensity_scale)
    if aug.intensity_shift:
        x = x + (torch.rand(shape, generator=generator) * 2 - 1) * aug.intensity_shift
    if aug.noise_std:
        x = x + torch.randn(x.shape, generator=generator) * aug.noise_std * torch.rand(shape, generator=generator)
    if aug.low_resolution_probability:
        x = _low_resolution(x, aug.low_resolution_probability, generator)
    if aug.gamma_probability:
        x = _gamma(x, aug.gamma_probability, generator)
    return x, y


def _gamma(x: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """nnU-Net's gamma augmentation on a random ``probability`` share of the batch: each channel rescaled to [0, 1]
    over its range, raised to a gamma drawn from 0.7-1 or 1-1.5 (even odds), scaled back and given its mean and
    standard deviation again; a tenth of the chosen patches get it on the inverted image (dark structures)."""
    chosen = (torch.rand(x.shape[0], generator=generator) < probability).nonzero().flatten().tolist()
    for i in chosen:
        below = bool(torch.rand(1, generator=generator) < 0.5)
        u = float(torch.rand(1, generator=generator))
        gamma = 0.7 + 0.3 * u if below else 1.0 + 0.5 * u
        sign = -1.0 if float(torch.rand(1, generator=generator)) < 0.1 else 1.0
        for c in range(x.shape[1]):
            v = x[i, c] * sign
            mean, std = v.mean(), v.std()
            low, high = v.min(), v.max()
            span = (high - low).clamp_min(1e-7)
            curved = ((v - low) / span).pow(gamma) * span + low
            curved = (curved - curved.mean()) / curved.std().clamp_min(1e-7) * std + mean
            x[i, c] = curved * sign
    return x


def _low_resolution(x: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """nnU-Net's low-resolution simulation on a random ``probability`` share of the batch: each chosen patch
    downsampled by a factor of 1-2 (nearest) and interpolated back to its size (trilinear / bilinear)."""
    chosen = (torch.rand(x.shape[0], generator=generator) < probability).nonzero().flatten().tolist()
    spatial = x.shape[2:]
    mode = "trilinear" if len(spatial) == 3 else "bilinear"
    for i in chosen:
        zoom = 0.5 + 0.5 * float(torch.rand(1, generator=generator))
        small = [max(1, min(s - 1, round(s * zoom))) for s in spatial]  # at least one voxel coarser
        coarse = F.interpolate(x[i : i + 1], size=small, mode="nearest")
        x[i : i + 1] = F.interpolate(coarse, size=list(spatial), mode=mode, align_corners=False)
    return x


def _rotate_and_zoom(
    x: torch.Tensor, y: torch.Tensor, aug: SegAugmentation, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate + zoom a random ``spatial_probability`` share of the batch: images bilinear (zero outside the
    patch = the normalised mean), labels nearest neighbour; voxels that come from outside the patch are ignored."""
    chosen = torch.rand(x.shape[0], generator=generator) < aug.spatial_probability
    if not chosen.any():
        return x, y
    xs = x[chosen]
    grid = random_affine_grid(
        xs.shape, generator, rotate_deg=aug.rotate_deg, scale=aug.scale, all_axes=True, dtype=xs.dtype
    )
    x[chosen] = F.grid_sample(xs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    shifted = (y[chosen] + 1).unsqueeze(1).to(xs.dtype)  # 0 marks "outside" after sampling
    warped = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0]
    labels = warped.long() - 1  # nearest-neighbour values are the exact label + 1
    labels[labels < 0] = IGNORE
    y[chosen] = labels
    return x, y
