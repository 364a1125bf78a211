"""``resnet18`` / ``resnet34`` / ``resnet50``: MONAI's N-d ResNet, size-dependent stem, width scaling."""

from __future__ import annotations

from functools import partial

from medimg.networks.base import FULL_RESOLUTION_STEM_MAX, ClassificationNet, round_channels, use_small_stem
from medimg.networks.registry import register_network

BASE_WIDTH = 64

_DEPTHS: dict[str, tuple[str, list[int]]] = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
}


def build_resnet(
    name: str,
    *,
    in_channels: int,
    num_classes: int,
    spatial_dims: int,
    input_size: tuple[int, ...],
    width: float,
    dropout: float,
) -> ClassificationNet:
    """Build a ResNet (He et al., 2016) on :class:`monai.networks.nets.ResNet` (torchvision layout).

    Stages have ``b, 2b, 4b, 8b`` channels with ``b = round8(64 * width)`` (x4 for bottleneck outputs).
    Inputs whose smallest side is <= 32 get the small-input (CIFAR-style) stem: 3x3 stride-1 conv and no
    max-pool (total stride 8); 33-64 px inputs a 3x3 stride-2 conv and no max-pool (total stride 16: the first
    stage sees at most 32x32, so a 64 px image costs about what a 32 px one does; with stride 1 a 64 px ResNet-18
    trained at 6-12 images/s on 2 CPU cores); larger inputs the standard 7x7 stride-2 conv + 3x3 stride-2
    max-pool (total stride 32). Shortcuts are 1x1 conv + BN without bias (type B), as in torchvision.

    Returns:
        A :class:`ClassificationNet`; ``target_layer_name == "backbone.layer4"``.
    """
    block, layers = _DEPTHS[name]
    base = round_channels(BASE_WIDTH * width)
    small = use_small_stem(input_size)
    stem_stride = 1 if small and min(input_size) <= FULL_RESOLUTION_STEM_MAX else 2
    from monai.networks.nets import ResNet  # imported when built: importing MONAI takes seconds

    backbone = ResNet(
        block=block,
        layers=layers,
        block_inplanes=[base, 2 * base, 4 * base, 8 * base],
        spatial_dims=spatial_dims,
        n_input_channels=in_channels,
        conv1_t_size=3 if small else 7,
        conv1_t_stride=stem_stride,
        no_max_pool=small,
        shortcut_type="B",
        feed_forward=False,
        bias_downsample=False,
    )
    embedding_dim = 8 * base * (4 if block == "bottleneck" else 1)
    return ClassificationNet(
        backbone,
        embedding_dim=embedding_dim,
        num_classes=num_classes,
        dropout=dropout,
        target_layer="layer4",
        name=name,
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        small_input_stem=small,
    )


_DESCRIPTIONS = {
    "resnet18": "ResNet-18 (MONAI, basic blocks, 11 M params at width 1); small-input stem for <= 64 px.",
    "resnet34": "ResNet-34 (MONAI, basic blocks, 21 M params at width 1); small-input stem for <= 64 px.",
    "resnet50": "ResNet-50 (MONAI, bottleneck blocks, 23.5 M params at width 1); small-input stem <= 64 px.",
}

for _name, _description in _DESCRIPTIONS.items():
    register_network(_name, spatial_dims=(2, 3), description=_description, default_input_size=224, min_input_size=8)(
        partial(build_resnet, _name)
    )
