"""Deep supervision (nnU-Net's): the loss also scores coarser decoder levels, each through its own 1x1 head.

A MONAI ``UNet`` is a nest of ``Sequential(down, SkipConnection(deeper), up)`` blocks; the ``up`` layer of
block ``i >= 1`` gives the decoder's features at ``1 / 2**i`` of the patch. :class:`DeeplySupervised` keeps the
plain network's forward (and its outputs in evaluation: inference, export and the validation passes see one
tensor) and, while training, returns the full-resolution logits followed by one head's logits per coarser level.
:func:`deep_supervision_loss` scores each output against the labels taken down to its grid by nearest
neighbour, with nnU-Net's weights halving per level, normalised to sum to one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from medimg.errors import ConfigError


def unet_decoder_levels(unet: nn.Module) -> list[tuple[nn.Module, int]]:
    """The ``up`` layer of each block of a MONAI ``UNet`` below the top one, with its output channels: at
    ``1/2``, ``1/4``, ... of the input size, top-down."""
    levels: list[tuple[nn.Module, int]] = []
    block = getattr(unet, "model", None)
    channels = list(getattr(unet, "channels", ()))
    depth = 0
    while isinstance(block, nn.Sequential) and len(block) == 3 and hasattr(block[1], "submodule"):
        if depth:
            levels.append((block[2], channels[depth - 1]))
        block, depth = block[1].submodule, depth + 1
    return levels


class DeeplySupervised(nn.Module):
    """A MONAI ``UNet`` with 1x1 heads on its ``levels`` coarsest-but-one decoder outputs (``levels`` from the top).

    Training: ``[full-resolution logits, logits at 1/2, 1/4, ...]``. Evaluation: the plain network's logits.
    """

    def __init__(self, network: nn.Module, levels: int, num_classes: int) -> None:
        super().__init__()
        decoder = unet_decoder_levels(network)
        if not decoder:
            raise ConfigError(
                f"deep_supervision needs the unet network (got {type(network).__name__}): --set network=unet"
            )
        if levels > len(decoder):
            raise ConfigError(
                f"deep_supervision={levels} but the U-Net has {len(decoder)} decoder level(s) below the top: "
                f"--set deep_supervision={len(decoder)} or fewer"
            )
        self.network = network
        spatial_dims = network.dimensions
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        self.heads = nn.ModuleList(conv(channels, num_classes, kernel_size=1) for _, channels in decoder[:levels])
        self._features: list[torch.Tensor] = []
        for layer, _ in decoder[:levels]:
            layer.register_forward_hook(self._keep)

    def _keep(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        if self.training:
            self._features.append(output)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        self._features = []
        logits = self.network(x)
        if not self.training:
            return logits
        # the hooks fire deepest first (a block's ``up`` runs after its deeper block's): reverse to top-down
        features, self._features = self._features[::-1], []
        return [logits, *(head(f) for head, f in zip(self.heads, features, strict=True))]


def deep_supervision_weights(outputs: int) -> list[float]:
    """nnU-Net's weights: halving per level, normalised to sum to one."""
    weights = [0.5**i for i in range(outputs)]
    return [w / sum(weights) for w in weights]


def deep_supervision_loss(
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    outputs: torch.Tensor | list[torch.Tensor],
    target: torch.Tensor,
) -> torch.Tensor:
    """``criterion`` over each output against ``target`` (``(N, *spatial)`` class indices) brought to its grid
    by nearest neighbour (ignored pixels stay ignored), weighted by :func:`deep_supervision_weights`."""
    if isinstance(outputs, torch.Tensor):
        return criterion(outputs.float(), target)
    total = outputs[0].new_zeros((), dtype=torch.float32)
    for weight, logits in zip(deep_supervision_weights(len(outputs)), outputs, strict=True):
        labels = target
        if logits.shape[2:] != target.shape[1:]:
            labels = F.interpolate(target[:, None].float(), size=logits.shape[2:], mode="nearest")[:, 0].long()
        total = total + weight * criterion(logits.float(), labels)
    return total
