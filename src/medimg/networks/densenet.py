"""``densenet121``: MONAI's N-d DenseNet-121 with a size-dependent stem and width scaling."""

from __future__ import annotations

from torch import nn

from medimg.networks.base import ClassificationNet, conv_nd, round_channels, use_small_stem
from medimg.networks.registry import register_network

BLOCK_CONFIG = (6, 12, 24, 16)


def _num_features(init_features: int, growth_rate: int) -> int:
    """Channels after the last dense block (each transition halves the channels)."""
    channels = init_features
    for i, layers in enumerate(BLOCK_CONFIG):
        channels += layers * growth_rate
        if i < len(BLOCK_CONFIG) - 1:
            channels //= 2
    return channels


@register_network(
    "densenet121",
    spatial_dims=(2, 3),
    description="DenseNet-121 (MONAI, 7 M params at width 1); small-input stem for <= 64 px.",
    default_input_size=224,
    min_input_size=8,
)
def densenet121(
    *,
    in_channels: int,
    num_classes: int,
    spatial_dims: int,
    input_size: tuple[int, ...],
    width: float,
    dropout: float,
) -> ClassificationNet:
    """Build DenseNet-121 (Huang et al., 2017) on :class:`monai.networks.nets.DenseNet121`.

    ``width`` scales the stem features (64) and the growth rate (32), rounded to multiples of 8. Inputs whose
    smallest side is <= 64 get a 3x3 stride-1 stem conv without max-pool (total stride 8) instead of the
    7x7 stride-2 conv + max-pool (total stride 32). MONAI's classifier is replaced by our head; the features
    end with ``features.norm5`` (the Grad-CAM target).
    """
    small = use_small_stem(input_size)
    init_features = round_channels(64 * width)
    growth_rate = round_channels(32 * width)
    from monai.networks.nets import DenseNet121  # imported when built: importing MONAI takes seconds

    net = DenseNet121(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=num_classes,
        init_features=init_features,
        growth_rate=growth_rate,
        block_config=BLOCK_CONFIG,
        pretrained=False,
    )
    features: nn.Sequential = net.features
    if small:
        conv0 = conv_nd(spatial_dims)(in_channels, init_features, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(conv0.weight)
        features.conv0 = conv0
        features.pool0 = nn.Identity()
    net.class_layers.out = nn.Identity()  # class_layers is now ReLU -> global pool -> flatten
    return ClassificationNet(
        net,
        embedding_dim=_num_features(init_features, growth_rate),
        num_classes=num_classes,
        dropout=dropout,
        target_layer="features.norm5",
        name="densenet121",
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        small_input_stem=small,
    )
