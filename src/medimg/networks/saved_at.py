"""Which network and width a weights file was saved at, so a plan can be fitted to the weights a user gives.

Above :mod:`medimg.networks.weights` (which loads a file into a built network) and the network registry: to find the
width, candidate networks are built and the file's share of their weights counted as :func:`load_weights` counts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from medimg.errors import ConfigError
from medimg.networks.registry import create_network, list_networks, network_info
from medimg.networks.weights import (
    MIN_LOADED_SHARE,
    head_prefix,
    in_medimg_layout,
    loaded_share,
    match_tensors,
    network_of_keys,
    read_state_dict,
    weights_file,
)


@dataclass(frozen=True)
class SavedAt:
    """The network and width a weights file was saved at (see :func:`saved_at`).

    Attributes:
        network: registry name of the network the file fills.
        width: the width multiplier at which it fills that network.
        how: how that was found, for a plan's reason ("its layer shapes", "its run's plan.json").
        members: networks in the file when it is an ensemble's ``model.pt`` (``members.K.``), else 1.
    """

    network: str
    width: float
    how: str
    members: int = 1


def _run_plan(path: Path) -> tuple[str, float] | None:
    """``(network, width)`` of the medimg run whose ``model.pt`` ``path`` is (its ``plan.json`` beside it)."""
    plan_file = path.parent / "plan.json"
    if path.name != "model.pt" or not plan_file.is_file():
        return None
    try:
        saved = json.loads(plan_file.read_text(encoding="utf-8"))
        network, width = str(saved["network"]), float(saved["width"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (network, width) if width > 0 else None


def _fill_share(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> float:
    """The share of ``model``'s weights that ``state`` fills, as :func:`load_weights` matches and counts it."""
    report, _ = match_tensors(model, in_medimg_layout(state, model.state_dict()), path)
    return loaded_share(model, report.loaded)


def _width_from_shapes(model: nn.Module, state: dict[str, torch.Tensor]) -> float | None:
    """The width multiplier of ``state`` against ``model`` built at width 1: the ratio of output channels of the
    widest layer both hold (the most precise, channel counts being rounded), ``None`` when none matches."""
    own = model.state_dict()
    renamed = in_medimg_layout(state, own)
    head = head_prefix(model)
    pairs = [
        (renamed[k].shape[0], v.shape[0])
        for k, v in own.items()
        if k in renamed
        and v.dim() >= 3
        and renamed[k].dim() == v.dim()
        and v.shape[2:] == renamed[k].shape[2:]
        and not (head is not None and k.startswith(head))
    ]
    if not pairs:
        return None
    file_channels, model_channels = max(pairs, key=lambda pair: pair[1])
    return round(file_channels / model_channels, 4) if model_channels else None


def saved_at(
    path: str | Path,
    network: str,
    *,
    in_channels: int,
    num_classes: int,
    spatial_dims: int,
    input_size: list[int],
    width: float | None = None,
    other_networks: bool = True,
) -> SavedAt | None:
    """The network and width at which weights file ``path`` fills a model (at least :data:`MIN_LOADED_SHARE` of
    its weights), so a plan can be fitted to the weights a user gives rather than refuse them.

    Tried in turn: the network of the run whose ``model.pt`` it is (its ``plan.json``), the network its keys look
    like (:func:`~medimg.networks.weights.network_of_keys`), then ``network`` (only ``network`` unless
    ``other_networks``); for each, the width given (``width``), the run's and the one its layer shapes give against
    the network at width 1.

    Returns:
        A :class:`SavedAt`, or ``None`` when no tried network and width is filled (:func:`load_weights` then says
        why when the network is built).

    Raises:
        ConfigError: the file is missing or unreadable.
    """
    path = weights_file(path)
    state = read_state_dict(path)
    members = {key.split(".", 2)[1] for key in state if key.startswith("members.")}
    if members and all(key.startswith("members.") for key in state):  # an ensemble's: its first, as loaded
        state = {key.removeprefix("members.0."): v for key, v in state.items() if key.startswith("members.0.")}
    if not any(v.dim() == spatial_dims + 2 for v in state.values()):
        return None  # no convolution of this many axes (2D weights for volumes): nothing to fit
    run = _run_plan(path)
    looks = network_of_keys(list(state))
    names = [*([run[0]] if run else []), *([looks] if looks else []), network] if other_networks else [network]
    known = set(list_networks())
    tried: set[str] = set()
    for name in names:
        name = name.lower()
        if name in tried or name not in known or spatial_dims not in network_info(name).spatial_dims:
            continue
        tried.add(name)

        def build(at: float, name: str = name) -> nn.Module:
            return create_network(
                name,
                in_channels=in_channels,
                num_classes=num_classes,
                spatial_dims=spatial_dims,
                input_size=input_size,
                width=at,
            )

        candidates: list[tuple[float, str]] = []
        if width is not None:
            candidates.append((width, "the width given"))
        if run and run[0].lower() == name:
            candidates.append((run[1], "its run's plan.json"))
        try:
            from_shapes = _width_from_shapes(build(1.0), state)
        except ConfigError:
            from_shapes = None
        if from_shapes is not None and 0 < from_shapes <= 4:
            candidates.append((from_shapes, "its layer shapes"))
        for at, how in candidates:
            try:
                model = build(at)
            except ConfigError:
                continue
            if _fill_share(model, state, path) >= MIN_LOADED_SHARE:
                return SavedAt(name, at, how, max(1, len(members)))
    return None
