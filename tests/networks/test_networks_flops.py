"""count_flops: exact on hand-computable models, sensible on registered ones."""

from __future__ import annotations

import pytest
from torch import nn

from medimg.networks import count_flops, create_network


def test_exact_count_conv_linear() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    )
    expected = 2 * (28 * 28 * 4 * 9 * 1) + 2 * (14 * 14 * 8 * 9 * 2) + 2 * (8 * 5)
    assert count_flops(model, (1, 28, 28)) == expected


def test_conv3d_and_transposed() -> None:
    assert count_flops(nn.Conv3d(2, 3, 3, padding=1), (2, 4, 4, 4)) == 2 * 64 * 3 * 27 * 2
    assert count_flops(nn.ConvTranspose2d(2, 3, 2, stride=2), (2, 5, 5)) == 2 * (2 * 25) * 4 * 3


def test_restores_mode_and_scales_with_input() -> None:
    model = create_network("simple-cnn", in_channels=1, num_classes=2)
    model.train()
    small = count_flops(model, (1, 28, 28))
    assert model.training
    large = count_flops(model, (1, 56, 56))
    assert 3.5 * small < large < 4.5 * small


@pytest.mark.parametrize(("width", "ratio"), [(0.5, 0.25)])
def test_width_scales_flops(width: float, ratio: float) -> None:
    full = count_flops(create_network("resnet18", in_channels=1, num_classes=2, input_size=28), (1, 28, 28))
    half = count_flops(
        create_network("resnet18", in_channels=1, num_classes=2, input_size=28, width=width), (1, 28, 28)
    )
    assert half == pytest.approx(ratio * full, rel=0.1)
