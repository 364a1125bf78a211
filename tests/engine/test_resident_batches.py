"""A training split kept on the GPU: batches drawn and augmented where the split lives.

CI has no GPU. PyTorch's ``meta`` device stands in for it: every operation that mixes a meta tensor with a CPU
one raises, so a draw or an augmentation step left on the CPU fails these tests as it would fail on CUDA.
"""

from __future__ import annotations

import pytest
import torch

from medimg.engine.batches import TensorBatches, resident_device
from medimg.planning.plan import AugmentationPlan
from medimg.transforms.augment import BatchAugment

EVERY_AUGMENTATION = AugmentationPlan(
    flip_axes=[0, 1], rotate_deg=15, scale=0.1, translate=0.1, brightness=0.1, contrast=0.1, noise_std=0.05
)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_augmentation_runs_on_the_batchs_device(spatial_dims: int) -> None:
    x = torch.zeros(6, 1, *[8] * spatial_dims, device="meta")
    out = BatchAugment(EVERY_AUGMENTATION, spatial_dims)(x, torch.Generator().manual_seed(0))
    assert out.device.type == "meta" and out.shape == x.shape


def test_batches_of_a_resident_split_are_drawn_on_its_device() -> None:
    inputs = torch.rand(10, 1, 8, 8).half()
    targets = torch.arange(10) % 2
    source = TensorBatches(inputs, targets, 4, augment=BatchAugment(EVERY_AUGMENTATION, 2), device=torch.device("meta"))
    drawn = list(source.epoch(torch.Generator().manual_seed(0)))
    assert len(drawn) == source.steps_per_epoch() == 3
    assert all(xb.device.type == "meta" and yb.device.type == "meta" for xb, yb in drawn)


def test_the_same_draws_on_the_host_whatever_the_device_argument() -> None:
    """``device=cpu`` changes nothing: the order and the augmentation come from the same generator."""
    inputs, targets = torch.rand(10, 1, 8, 8), torch.arange(10)
    plain = TensorBatches(inputs, targets, 4, augment=BatchAugment(EVERY_AUGMENTATION, 2))
    placed = TensorBatches(inputs, targets, 4, augment=BatchAugment(EVERY_AUGMENTATION, 2), device=torch.device("cpu"))
    for (xa, ya), (xb, yb) in zip(
        plain.epoch(torch.Generator().manual_seed(3)), placed.epoch(torch.Generator().manual_seed(3)), strict=True
    ):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_a_split_stays_on_the_gpu_only_when_it_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = torch.device("cuda", 0)
    split = [torch.zeros(1000, 1, 28, 28, dtype=torch.float16), torch.zeros(1000, dtype=torch.long)]  # 1.58 MB
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8_000_000, 80_000_000))
    assert resident_device(split, gpu) == gpu  # 1.58 MB <= 25% of 8 MB free
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (6_000_000, 80_000_000))
    assert resident_device(split, gpu) == torch.device("cpu")  # > 25% of 6 MB free: the host keeps it
    assert resident_device(split, torch.device("cpu")) == torch.device("cpu")
