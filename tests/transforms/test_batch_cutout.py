"""The plan's ``augmentation.cutout``: one square per training image erased to the image's mean."""

from __future__ import annotations

import torch

from medimg.planning.plan import AugmentationPlan, Plan
from medimg.transforms.augment import BatchAugment


def test_cutout_erases_one_square_of_the_planned_side_per_image() -> None:
    x = torch.arange(4 * 20 * 20, dtype=torch.float32).view(4, 1, 20, 20)
    out = BatchAugment(AugmentationPlan(cutout=0.25), spatial_dims=2)(x.clone(), torch.Generator().manual_seed(0))
    for image, erased in zip(x, out, strict=True):
        changed = erased != image
        assert int(changed.sum()) == 25  # a 5 x 5 square: 0.25 of 20 px
        rows, cols = changed[0].nonzero(as_tuple=True)
        assert int(rows.max() - rows.min()) == 4 and int(cols.max() - cols.min()) == 4
        assert torch.allclose(erased[changed], image.mean().expand(25))


def test_cutout_alone_switches_augmentation_on_and_is_off_by_default() -> None:
    assert AugmentationPlan(cutout=0.1).enabled
    assert Plan(spatial_dims=2).augmentation.cutout == 0.0
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(BatchAugment(AugmentationPlan(), 2)(x, torch.Generator().manual_seed(0)), x)
