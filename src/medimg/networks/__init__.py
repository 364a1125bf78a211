"""Classification networks for 2D images and 3D volumes, all trained from scratch (nothing is downloaded).

Example:
    >>> from medimg.networks import create_network, list_networks, network_info
    >>> list_networks()
    ['alexnet', 'densenet121', 'efficientnet-b0', 'resnet18', 'resnet34', 'resnet50', 'simple-cnn']
    >>> model = create_network("simple-cnn", in_channels=1, num_classes=9, input_size=28)
    >>> model.target_layer_name, model.embedding_dim
    ('backbone.features.block4', 256)

Every network is a :class:`ClassificationNet` (``forward``, ``forward_features``, ``target_layer_name``,
``embedding_dim``). ``count_flops`` estimates FLOPs per sample; ``load_weights`` loads local checkpoints.
"""

from __future__ import annotations

# Importing the modules registers their networks.
from medimg.networks import alexnet, densenet, efficientnet, resnet, simple_cnn  # noqa: F401
from medimg.networks.base import ClassificationNet
from medimg.networks.flops import count_flops
from medimg.networks.registry import (
    NETWORKS,
    NetworkInfo,
    create_network,
    list_networks,
    network_info,
    networks_supporting,
)
from medimg.networks.weights import LoadReport, load_weights

__all__ = [
    "NETWORKS",
    "ClassificationNet",
    "LoadReport",
    "NetworkInfo",
    "count_flops",
    "create_network",
    "list_networks",
    "load_weights",
    "network_info",
    "networks_supporting",
]
