"""Segmentation networks from MONAI, built from a plan. A registry: ``name -> builder``, with did-you-mean errors.

==================  ==========================================================================================
name                network
==================  ==========================================================================================
``unet``            ``monai.networks.nets.UNet`` (residual units, strided convolutions): the default, fastest on CPU
``basicunet``       ``monai.networks.nets.BasicUNet`` (the original two-conv U-Net; 5 levels)
``attention-unet``  ``monai.networks.nets.AttentionUnet`` (attention gates on the skip connections)
``segresnet``       ``monai.networks.nets.SegResNet`` (residual encoder, light decoder)
``vnet``            ``monai.networks.nets.VNet`` (3D only; patch sides must be multiples of 16)
==================  ==========================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from medimg.errors import ConfigError, did_you_mean
from medimg.tasks.segment.planning import SegPlan, basicunet_features


def _unet(plan: SegPlan) -> nn.Module:
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=plan.spatial_dims,
        in_channels=plan.in_channels,
        out_channels=plan.num_classes,
        channels=tuple(plan.channels),
        strides=(2,) * (len(plan.channels) - 1),
        num_res_units=plan.num_res_units,
        norm=plan.norm,
        dropout=plan.dropout,
    )


def _basicunet(plan: SegPlan) -> nn.Module:
    from monai.networks.nets import BasicUNet

    return BasicUNet(
        spatial_dims=plan.spatial_dims,
        in_channels=plan.in_channels,
        out_channels=plan.num_classes,
        features=basicunet_features(plan.channels),
        norm=plan.norm,
        dropout=plan.dropout,
    )


def _attention_unet(plan: SegPlan) -> nn.Module:
    from monai.networks.nets import AttentionUnet

    return AttentionUnet(
        spatial_dims=plan.spatial_dims,
        in_channels=plan.in_channels,
        out_channels=plan.num_classes,
        channels=tuple(plan.channels),
        strides=(2,) * (len(plan.channels) - 1),
        dropout=plan.dropout,
    )


def _segresnet(plan: SegPlan) -> nn.Module:
    from monai.networks.nets import SegResNet

    levels = len(plan.channels)
    return SegResNet(
        spatial_dims=plan.spatial_dims,
        init_filters=plan.channels[0],
        in_channels=plan.in_channels,
        out_channels=plan.num_classes,
        blocks_down=tuple([1, 2, 2, 4, 4][:levels]),
        blocks_up=tuple([1] * (levels - 1)),
        norm=plan.norm,
        dropout_prob=plan.dropout or None,
    )


def _vnet(plan: SegPlan) -> nn.Module:
    from monai.networks.nets import VNet

    if plan.spatial_dims != 3:
        raise ConfigError("vnet is a 3D network: use unet, attention-unet or segresnet for 2D images")
    if 16 % plan.in_channels:
        raise ConfigError(f"vnet needs 1, 2, 4, 8 or 16 input channels, the images have {plan.in_channels}")
    if any(p % 16 for p in plan.patch_size):
        raise ConfigError(
            f"vnet needs patch sides that are multiples of 16 (got {plan.patch_size}); --set patch_size=..."
        )
    if plan.batch_size * math.prod(p // 16 for p in plan.patch_size) < 2:
        # its deepest batch norm sees one value per channel: a PyTorch traceback on the first training step
        raise ConfigError(
            f"vnet with {plan.patch_size} patches needs a batch of at least 2 (got {plan.batch_size}): its deepest "
            "layer is 1 voxel per patch and batch norm needs 2 values; --set batch_size=2 or larger patches "
            "(--set patch_size=[32,32,32])"
        )
    return VNet(
        spatial_dims=3, in_channels=plan.in_channels, out_channels=plan.num_classes, dropout_prob_down=plan.dropout
    )


SEGMENTATION_NETWORKS: dict[str, Callable[[SegPlan], nn.Module]] = {
    "unet": _unet,
    "basicunet": _basicunet,
    "attention-unet": _attention_unet,
    "segresnet": _segresnet,
    "vnet": _vnet,
}


def list_segmentation_networks() -> list[str]:
    """Registered segmentation network names."""
    return sorted(SEGMENTATION_NETWORKS)


def check_network_name(name: str) -> str:
    """Normalise ``name`` (``"UNet"``, ``"attention_unet"``, ``"auto"``) or raise with close matches."""
    key = name.lower().replace("_", "-")
    key = {"auto": "unet", "u-net": "unet", "v-net": "vnet", "attentionunet": "attention-unet"}.get(key, key)
    if key not in SEGMENTATION_NETWORKS:
        raise ConfigError(
            f"unknown segmentation network {name!r}.{did_you_mean(key, SEGMENTATION_NETWORKS)} "
            f"Available: {', '.join(list_segmentation_networks())}."
        )
    return key


def build_segmentation_network(plan: SegPlan) -> nn.Module:
    """The plan's network, freshly initialised. Output: ``(N, num_classes, *spatial)`` logits (while training with
    ``deep_supervision``, a list: those and the coarser levels' logits, see :mod:`.deep_supervision`)."""
    network = SEGMENTATION_NETWORKS[check_network_name(plan.network)](plan)
    if plan.deep_supervision:
        from medimg.tasks.segment.deep_supervision import DeeplySupervised

        return DeeplySupervised(network, plan.deep_supervision, plan.num_classes)
    return network
