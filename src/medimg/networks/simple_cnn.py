"""``simple-cnn``: our own small, fast CNN for 2D images and 3D volumes (baseline for tiny inputs)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from medimg.networks.base import (
    ClassificationNet,
    adaptive_avgpool_nd,
    batchnorm_nd,
    conv_nd,
    init_weights,
    maxpool_nd,
    round_channels,
)
from medimg.networks.registry import register_network

BASE_CHANNELS = (32, 64, 128, 256)
STRIDED_ABOVE = 32  # inputs whose smallest side is above this get a stride-2 first convolution


class SimpleCNN(nn.Module):
    """Four ``conv3x3-BN-ReLU`` blocks (max-pool /2 after the first three), then global average pooling.

    At ``width=1`` the channels are 32-64-128-256: about 0.4 M parameters and 0.02 GFLOPs per 28x28 image.
    With ``first_stride=2`` the first convolution halves the input, so a 64^3 volume costs about what a 32^3 one
    does (the network still sees every voxel, instead of a volume resampled beforehand).

    Args:
        in_channels: input channels.
        spatial_dims: 2 or 3.
        width: channel multiplier (channels rounded to multiples of 8).
        first_stride: stride of the first convolution (1 or 2).

    Shapes:
        input ``(B, in_channels, *spatial)`` -> output ``(B, embedding_dim)``.
    """

    def __init__(self, in_channels: int, spatial_dims: int = 2, width: float = 1.0, first_stride: int = 1) -> None:
        super().__init__()
        conv, bn, pool = conv_nd(spatial_dims), batchnorm_nd(spatial_dims), maxpool_nd(spatial_dims)
        channels = [round_channels(c * width) for c in BASE_CHANNELS]
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        previous = in_channels
        for i, out in enumerate(channels, start=1):
            layers[f"block{i}"] = nn.Sequential(
                conv(previous, out, kernel_size=3, stride=first_stride if i == 1 else 1, padding=1, bias=False),
                bn(out),
                nn.ReLU(inplace=True),
            )
            if i < len(channels):
                layers[f"pool{i}"] = pool(kernel_size=2, stride=2, ceil_mode=True)
            previous = out
        self.features = nn.Sequential(layers)
        self.pool = adaptive_avgpool_nd(spatial_dims)(1)
        self.embedding_dim = channels[-1]
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, *spatial)`` -> ``(B, embedding_dim)``."""
        out: torch.Tensor = self.pool(self.features(x))
        return out.flatten(1)


@register_network(
    "simple-cnn",
    spatial_dims=(2, 3),
    description="Small 4-block conv-BN-ReLU CNN (ours); fast baseline for small images and volumes.",
    default_input_size=28,
    min_input_size=8,
)
def simple_cnn(
    *,
    in_channels: int,
    num_classes: int,
    spatial_dims: int,
    input_size: tuple[int, ...],
    width: float,
    dropout: float,
) -> ClassificationNet:
    """Build ``simple-cnn``; inputs above 32 px per side get a stride-2 first convolution (cost of a 32 px input)."""
    first_stride = 2 if min(input_size) > STRIDED_ABOVE else 1
    backbone = SimpleCNN(in_channels, spatial_dims=spatial_dims, width=width, first_stride=first_stride)
    return ClassificationNet(
        backbone,
        embedding_dim=backbone.embedding_dim,
        num_classes=num_classes,
        dropout=dropout,
        target_layer="features.block4",
        name="simple-cnn",
        spatial_dims=spatial_dims,
        in_channels=in_channels,
    )
