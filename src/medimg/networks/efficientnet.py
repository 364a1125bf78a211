"""``efficientnet-b0``: MONAI's N-d EfficientNet-B0 (2D/3D) with a size-dependent stem and width scaling."""

from __future__ import annotations

from torch import nn

from medimg.networks.base import ClassificationNet, use_small_stem
from medimg.networks.registry import register_network

# The EfficientNet-B0 stages, exactly as monai.networks.nets.EfficientNetBN("efficientnet-b0") defines them.
B0_BLOCKS = [
    "r1_k3_s11_e1_i32_o16_se0.25",
    "r2_k3_s22_e6_i16_o24_se0.25",
    "r2_k5_s22_e6_i24_o40_se0.25",
    "r3_k3_s22_e6_i40_o80_se0.25",
    "r3_k5_s11_e6_i80_o112_se0.25",
    "r4_k5_s22_e6_i112_o192_se0.25",
    "r1_k3_s11_e6_i192_o320_se0.25",
]
B0_DROP_CONNECT = 0.2


@register_network(
    "efficientnet-b0",
    spatial_dims=(2, 3),
    description="EfficientNet-B0 (MONAI, 4 M params at width 1); stride-1 stem for <= 64 px.",
    default_input_size=224,
    min_input_size=16,
)
def efficientnet_b0(
    *,
    in_channels: int,
    num_classes: int,
    spatial_dims: int,
    input_size: tuple[int, ...],
    width: float,
    dropout: float,
) -> ClassificationNet:
    """Build EfficientNet-B0 (Tan & Le, 2019) on :class:`monai.networks.nets.EfficientNet`, random init.

    This is ``EfficientNetBN("efficientnet-b0", pretrained=False)`` with ``width`` as the width coefficient
    (channels rounded to multiples of 8) and the classifier replaced by our head. Inputs whose smallest side
    is <= 64 get a stride-1 stem conv (total stride 16 instead of 32). MONAI computes TensorFlow-style
    "same" padding from the image size, so ``input_size`` is passed on. Grad-CAM target: ``_bn1`` (after
    the 1x1 head conv, before the final swish).
    """
    small = use_small_stem(input_size)
    side = max(input_size)
    from monai.networks.nets import EfficientNet  # imported when built: importing MONAI takes seconds

    net = EfficientNet(
        blocks_args_str=B0_BLOCKS,
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        num_classes=num_classes,
        width_coefficient=width,
        depth_coefficient=1.0,
        dropout_rate=0.0,
        # with the stride-1 stem every later layer sees twice the size MONAI would assume
        image_size=2 * side if small else side,
        drop_connect_rate=B0_DROP_CONNECT,
    )
    if small:
        stem = net._conv_stem
        stem.stride = (1,) * spatial_dims
        stem.padding = (1,) * spatial_dims
        net._conv_stem_padding = nn.Identity()
    embedding_dim = net._fc.in_features
    # our ClassificationNet adds dropout and the head; MONAI's forward then ends with the pooled features
    net.add_module("_dropout", nn.Identity())
    net.add_module("_fc", nn.Identity())
    return ClassificationNet(
        net,
        embedding_dim=embedding_dim,
        num_classes=num_classes,
        dropout=dropout,
        target_layer="_bn1",
        name="efficientnet-b0",
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        small_input_stem=small,
    )
