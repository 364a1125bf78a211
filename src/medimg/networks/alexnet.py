"""``alexnet``: an AlexNet-style 2D network adapted to arbitrary input sizes (ours, from scratch)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from medimg.networks.base import ClassificationNet, init_weights, round_channels, use_small_stem
from medimg.networks.registry import register_network

BASE_CHANNELS = (64, 192, 384, 256, 256)
BASE_HIDDEN = 4096


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class AlexNetBackbone(nn.Module):
    """AlexNet (Krizhevsky et al., 2012) with batch norm, padded max-pools and adaptive average pooling.

    Five conv layers (64-192-384-256-256 channels x ``width``), max-pools after conv1, conv2 and conv5, an
    adaptive average pool to a fixed grid, then two hidden fully connected layers (4096 x ``width`` units).
    The standard stem is an 11x11 stride-4 conv with a 6x6 pooled grid; the small-input stem a 3x3 stride-1
    conv with a 3x3 pooled grid, so 28x28 images keep enough resolution.

    Args:
        in_channels: input channels.
        width: multiplier for conv channels and hidden units.
        dropout: dropout before each hidden fully connected layer.
        small_input: use the small-input stem.

    Shapes:
        input ``(B, in_channels, H, W)`` -> output ``(B, embedding_dim)`` (the last hidden layer).
    """

    def __init__(self, in_channels: int, width: float = 1.0, dropout: float = 0.0, small_input: bool = False):
        super().__init__()
        c1, c2, c3, c4, c5 = (round_channels(c * width) for c in BASE_CHANNELS)
        hidden = round_channels(BASE_HIDDEN * width)
        stem = _conv_bn_relu(in_channels, c1, 3, 1) if small_input else _conv_bn_relu(in_channels, c1, 11, 4)
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", stem),
                    ("pool1", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                    ("conv2", _conv_bn_relu(c1, c2, 5)),
                    ("pool2", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                    ("conv3", _conv_bn_relu(c2, c3, 3)),
                    ("conv4", _conv_bn_relu(c3, c4, 3)),
                    ("conv5", _conv_bn_relu(c4, c5, 3)),
                    ("pool5", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                ]
            )
        )
        grid = 3 if small_input else 6
        self.avgpool = nn.AdaptiveAvgPool2d(grid)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c5 * grid * grid, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
        )
        self.embedding_dim = hidden
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, embedding_dim)``."""
        out: torch.Tensor = self.classifier(self.avgpool(self.features(x)).flatten(1))
        return out


@register_network(
    "alexnet",
    spatial_dims=(2,),
    description="AlexNet-style 5-conv + 2-FC network with batch norm and adaptive pooling (ours), 2D only.",
    default_input_size=224,
    min_input_size=8,
)
def alexnet(
    *,
    in_channels: int,
    num_classes: int,
    spatial_dims: int,
    input_size: tuple[int, ...],
    width: float,
    dropout: float,
) -> ClassificationNet:
    """Build ``alexnet``; inputs with a side <= 64 px get the small-input stem."""
    small = use_small_stem(input_size)
    backbone = AlexNetBackbone(in_channels, width=width, dropout=dropout, small_input=small)
    return ClassificationNet(
        backbone,
        embedding_dim=backbone.embedding_dim,
        num_classes=num_classes,
        dropout=0.0,  # as in AlexNet, dropout sits before the two hidden layers, not before the head
        target_layer="features.conv5",
        name="alexnet",
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        small_input_stem=small,
    )
