"""The classification network registry: ``create_network``, ``list_networks``, ``network_info``.

Example:
    >>> from medimg.networks import create_network, list_networks
    >>> list_networks("resnet*")
    ['resnet18', 'resnet34', 'resnet50']
    >>> model = create_network("resnet18", in_channels=1, num_classes=2, input_size=28, width=0.5)
    >>> model(torch.zeros(4, 1, 28, 28)).shape
    torch.Size([4, 2])

Every factory is called with keyword arguments only: ``in_channels``, ``num_classes``, ``spatial_dims``,
``input_size`` (a tuple with one size per spatial axis, already validated), ``width`` and ``dropout``; it
returns a :class:`medimg.networks.base.ClassificationNet`. Nothing is ever downloaded: all networks start
from random weights unless ``weights_path`` names a local file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from medimg.errors import ConfigError
from medimg.registry import Registry

logger = logging.getLogger(__name__)

NETWORKS: Registry[nn.Module] = Registry("network")
"""Registry of classification network factories (see the module docstring for the factory signature)."""


@dataclass(frozen=True)
class NetworkInfo:
    """Static facts about a registered network, for the planner and the CLI.

    Attributes:
        name: registry name.
        spatial_dims: spatial dimensionalities the network supports, e.g. ``(2, 3)``.
        description: one line for ``medimg networks`` listings.
        default_input_size: the input side the architecture was designed for (used when ``input_size`` is
            not given; decides the stem).
        min_input_size: smallest spatial side accepted by :func:`create_network`.
    """

    name: str
    spatial_dims: tuple[int, ...]
    description: str
    default_input_size: int
    min_input_size: int


_INFO: dict[str, NetworkInfo] = {}


def register_network(
    name: str,
    *,
    spatial_dims: tuple[int, ...],
    description: str,
    default_input_size: int,
    min_input_size: int,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a network factory in :data:`NETWORKS` together with its :class:`NetworkInfo`."""

    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        NETWORKS.register(name)(factory)
        _INFO[name.lower()] = NetworkInfo(
            name=name.lower(),
            spatial_dims=tuple(spatial_dims),
            description=description,
            default_input_size=default_input_size,
            min_input_size=min_input_size,
        )
        return factory

    return decorator


def list_networks(pattern: str = "*") -> list[str]:
    """Sorted names of the registered networks matching a shell-style ``pattern`` (e.g. ``"resnet*"``)."""
    return NETWORKS.list(pattern)


def network_info(name: str) -> NetworkInfo:
    """Static facts about network ``name``; unknown names raise :class:`ConfigError` with close matches."""
    NETWORKS.get(name)  # raises the did-you-mean ConfigError for unknown names
    key = name.lower()
    # a factory added with NETWORKS.register (not register_network) gets permissive defaults
    return _INFO.get(key) or NetworkInfo(key, (2, 3), "", default_input_size=224, min_input_size=1)


def networks_supporting(spatial_dims: int) -> list[str]:
    """Sorted names of the networks that support ``spatial_dims``."""
    return sorted(n for n, info in _INFO.items() if spatial_dims in info.spatial_dims)


def _resolve_input_size(
    info: NetworkInfo, spatial_dims: int, input_size: int | Sequence[int] | None
) -> tuple[int, ...]:
    if input_size is None:
        return (info.default_input_size,) * spatial_dims
    if isinstance(input_size, int):
        sizes: tuple[int, ...] = (input_size,) * spatial_dims
    else:
        sizes = tuple(int(s) for s in input_size)
        if len(sizes) != spatial_dims:
            raise ConfigError(
                f"input_size {tuple(input_size)} has {len(sizes)} axes but spatial_dims={spatial_dims}; "
                f"give one size per spatial axis or a single int."
            )
    if min(sizes) < info.min_input_size:
        raise ConfigError(
            f"input_size {sizes} is too small for network {info.name!r}: every side must be at least "
            f"{info.min_input_size} pixels; resize the images or pick 'simple-cnn'."
        )
    return sizes


def create_network(
    name: str,
    *,
    in_channels: int,
    num_classes: int,
    spatial_dims: int = 2,
    input_size: int | Sequence[int] | None = None,
    width: float = 1.0,
    dropout: float = 0.0,
    weights_path: str | Path | None = None,
) -> nn.Module:
    """Build a classification network from the registry (random init; never downloads weights).

    Args:
        name: registry name, case-insensitive (see :func:`list_networks`).
        in_channels: number of input channels (>= 1).
        num_classes: number of output logits (>= 1).
        spatial_dims: 2 for images ``(B, C, H, W)``, 3 for volumes ``(B, C, D, H, W)``.
        input_size: spatial size of the inputs (int or one per axis). Decides the stem: inputs whose smallest
            side is <= 64 get a small-input stem (3x3 stride-1 conv, no max-pool). ``None`` means the
            network's ``default_input_size``.
        width: channel multiplier (> 0); 0.5 roughly quarters the parameter count of a conv net.
        dropout: dropout probability before the classifier head, in ``[0, 1)``.
        weights_path: optional local state_dict / checkpoint loaded with
            :func:`medimg.networks.weights.load_weights` (head skipped if ``num_classes`` differs).

    Returns:
        A :class:`medimg.networks.base.ClassificationNet` mapping ``(B, in_channels, *spatial)`` float32 to
        ``(B, num_classes)`` logits, with ``target_layer_name``, ``embedding_dim`` and ``forward_features``.

    Raises:
        ConfigError: unknown name (with did-you-mean), unsupported ``spatial_dims``, invalid sizes or
            hyper-parameters, or an unreadable weights file.
    """
    factory = NETWORKS.get(name)
    info = network_info(name)
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ConfigError(f"in_channels must be an integer >= 1, got {in_channels!r}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be an integer >= 1, got {num_classes!r}.")
    if spatial_dims not in info.spatial_dims:
        supported = ", ".join(networks_supporting(spatial_dims)) or "none"
        dims = " or ".join(f"{d}D" for d in info.spatial_dims)
        raise ConfigError(
            f"network {info.name!r} supports only {dims} inputs, not spatial_dims={spatial_dims}. "
            f"Networks that support {spatial_dims}D: {supported}."
        )
    if not width > 0:
        raise ConfigError(f"width must be > 0 (a channel multiplier such as 0.5 or 1.0), got {width!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}.")
    sizes = _resolve_input_size(info, spatial_dims, input_size)

    model = factory(
        in_channels=in_channels,
        num_classes=num_classes,
        spatial_dims=spatial_dims,
        input_size=sizes,
        width=float(width),
        dropout=float(dropout),
    )
    logger.debug(
        "created network %s (spatial_dims=%d, input_size=%s, width=%.3g, %d parameters)",
        info.name,
        spatial_dims,
        sizes,
        width,
        sum(p.numel() for p in model.parameters()),
    )
    if weights_path is not None:
        from medimg.networks.weights import load_weights

        load_weights(model, weights_path, width=width)
    return model
