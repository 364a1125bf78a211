"""The uniform classifier wrapper every registered network returns, and small N-d layer helpers.

Every network in :data:`medimg.networks.registry.NETWORKS` is a :class:`ClassificationNet`: a ``backbone``
that maps ``(B, C, *spatial)`` to pooled features ``(B, embedding_dim)``, a dropout and a linear ``head``.
The wrapper gives third-party nets (MONAI) and our own nets the same interface:

* ``forward(x) -> (B, num_classes)`` logits,
* ``forward_features(x) -> (B, embedding_dim)`` penultimate features,
* ``target_layer_name``: dotted path (for ``model.get_submodule``) of the last convolutional block, whose
  output is ``(B, C', *spatial')``; Grad-CAM hooks it,
* ``head_name``: the prefix of the classifier head's parameters (``"head"``), which
  :func:`medimg.networks.weights.load_weights` skips when the number of classes differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SMALL_INPUT_MAX = 64
"""Inputs whose smallest side is at most this many pixels get a small-input (CIFAR-style) stem."""
FULL_RESOLUTION_STEM_MAX = 32
"""Of those, inputs whose smallest side is at most this many pixels get it at stride 1 (every pixel kept)."""


class ClassificationNet(nn.Module):
    """``backbone -> dropout -> linear head`` with the attributes Grad-CAM, fine-tuning and export rely on.

    Args:
        backbone: module mapping ``(B, C, *spatial)`` to ``(B, embedding_dim)`` (already globally pooled).
        embedding_dim: number of features the backbone returns.
        num_classes: number of output logits.
        dropout: dropout probability applied to the features before the head.
        target_layer: dotted path of the last convolutional block *inside* ``backbone``.
        name: registry name of the network (kept for reports and error messages).
        spatial_dims: 2 or 3.
        in_channels: number of input channels.
        small_input_stem: whether the backbone was built with the small-input stem.

    Attributes:
        target_layer_name: ``"backbone." + target_layer``, usable with ``model.get_submodule``.
        embedding_dim: size of :meth:`forward_features` output.
        head_name: name of the classifier head submodule (``"head"``).
    """

    head_name = "head"

    def __init__(
        self,
        backbone: nn.Module,
        *,
        embedding_dim: int,
        num_classes: int,
        dropout: float,
        target_layer: str,
        name: str,
        spatial_dims: int,
        in_channels: int,
        small_input_stem: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(embedding_dim, num_classes)
        self.embedding_dim = embedding_dim
        self.num_classes = num_classes
        self.target_layer_name = f"backbone.{target_layer}"
        self.network_name = name
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.small_input_stem = small_input_stem

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features.

        Args:
            x: ``(B, in_channels, *spatial)`` float tensor.

        Returns:
            ``(B, embedding_dim)`` globally pooled features (before dropout and head).
        """
        features: torch.Tensor = self.backbone(x)
        return features.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits.

        Args:
            x: ``(B, in_channels, *spatial)`` float tensor.

        Returns:
            ``(B, num_classes)`` logits.
        """
        logits: torch.Tensor = self.head(self.dropout(self.forward_features(x)))
        return logits

    def extra_repr(self) -> str:
        return (
            f"name={self.network_name!r}, spatial_dims={self.spatial_dims}, "
            f"embedding_dim={self.embedding_dim}, target_layer_name={self.target_layer_name!r}"
        )


def round_channels(value: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` (at least ``divisor``).

    Example:
        >>> round_channels(64 * 0.5), round_channels(64 * 0.3), round_channels(3)
        (32, 16, 8)
    """
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


def use_small_stem(input_size: Sequence[int]) -> bool:
    """Whether an input of ``input_size`` (spatial sizes) calls for the small-input stem (min side <= 64)."""
    return min(input_size) <= SMALL_INPUT_MAX


def conv_nd(spatial_dims: int) -> type[nn.Conv2d] | type[nn.Conv3d]:
    """``nn.Conv2d`` or ``nn.Conv3d``."""
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def batchnorm_nd(spatial_dims: int) -> type[nn.BatchNorm2d] | type[nn.BatchNorm3d]:
    """``nn.BatchNorm2d`` or ``nn.BatchNorm3d``."""
    return nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d


def maxpool_nd(spatial_dims: int) -> type[nn.MaxPool2d] | type[nn.MaxPool3d]:
    """``nn.MaxPool2d`` or ``nn.MaxPool3d``."""
    return nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d


def adaptive_avgpool_nd(spatial_dims: int) -> type[nn.AdaptiveAvgPool2d] | type[nn.AdaptiveAvgPool3d]:
    """``nn.AdaptiveAvgPool2d`` or ``nn.AdaptiveAvgPool3d``."""
    return nn.AdaptiveAvgPool2d if spatial_dims == 2 else nn.AdaptiveAvgPool3d


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan-out, ReLU) convolutions, unit batch norms, small-normal linear layers."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
