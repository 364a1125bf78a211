"""Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) of a training batch: each image is blended with (mixup)
or has a box pasted from (CutMix) another image of the batch, and the loss follows both labels in proportion.

The share ``lam`` of the first image is drawn once per batch from Beta(alpha, alpha); with both methods on, each
batch uses one of them at random (timm's habit). CutMix's box covers ``1 - lam`` of the image (of the volume in
3D) and ``lam`` is then recomputed from the box as clipped at the border. Images and volumes of any channel
count work the same way; the pairing is a random permutation of the batch.

The draws follow torch's global seed, which the training loop sets at the start of every epoch (from the member's
seed and the epoch): an epoch mixes its batches the same way whether the run went through or was resumed before
it, and each ensemble member mixes its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class MixedBatch:
    """A mixed batch: ``inputs``, the partner of each image (image ``partner[i]`` was mixed into image ``i``) and
    ``share``, the part of each mixed image that is still its own (the partner's part is ``1 - share``)."""

    inputs: torch.Tensor
    partner: torch.Tensor
    share: float

    def loss(self, criterion: Criterion, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The criterion against both labels, weighted by each image's part."""
        own = criterion(logits, targets)
        return self.share * own + (1 - self.share) * criterion(logits, targets[self.partner])


class BatchMixer:
    """Mix training batches as the plan's ``mixup`` and ``cutmix`` alphas say (0 = off).

    Example:
        >>> mixer = BatchMixer(mixup=0.2, cutmix=0.0, seed=0)
        >>> mixed = mixer(torch.zeros(4, 1, 28, 28))
        >>> mixed.inputs.shape, len(mixed.partner)
        (torch.Size([4, 1, 28, 28]), 4)
    """

    def __init__(self, *, mixup: float, cutmix: float, seed: int) -> None:
        self.mixup = mixup
        self.cutmix = cutmix
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._torch_seed: int | None = None

    def _follow_torch_seed(self) -> None:
        """A new stream whenever torch was seeded anew (the engine does so per epoch and member): a resumed run
        mixes its remaining epochs as an uninterrupted one does (one stream from the start mixed them otherwise)."""
        current = torch.initial_seed()
        if current != self._torch_seed:
            self._torch_seed = current
            self.rng = np.random.default_rng([self.seed, current])

    @property
    def enabled(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0

    def __call__(self, x: torch.Tensor) -> MixedBatch:
        self._follow_torch_seed()
        partner = torch.from_numpy(self.rng.permutation(x.shape[0])).to(x.device)
        use_cutmix = self.cutmix > 0 and (self.mixup <= 0 or self.rng.random() < 0.5)
        alpha = self.cutmix if use_cutmix else self.mixup
        share = float(self.rng.beta(alpha, alpha))
        if not use_cutmix:
            return MixedBatch(share * x + (1 - share) * x[partner], partner, share)
        box = self._box(x.shape[2:], 1 - share)
        mixed = x.clone()
        region: tuple[torch.Tensor | slice, ...] = (partner, slice(None), *box)
        mixed[(slice(None), slice(None), *box)] = x[region]  # only the partners' boxes are gathered
        pasted = np.prod([s.stop - s.start for s in box]) / np.prod(x.shape[2:])
        return MixedBatch(mixed, partner, float(1 - pasted))

    def _box(self, spatial: torch.Size, area: float) -> tuple[slice, ...]:
        """A box of about ``area`` of the image, its centre anywhere, clipped at the border."""
        side = area ** (1 / len(spatial))
        box = []
        for size in spatial:
            centre = int(self.rng.integers(size))
            half = round(size * side / 2)
            box.append(slice(max(centre - half, 0), min(centre + half, size)))
        return tuple(box)
