"""Registry behaviour: listing, info, and clear ConfigErrors for bad requests."""

from __future__ import annotations

import pytest
import torch

from medimg.errors import ConfigError
from medimg.networks import NETWORKS, create_network, list_networks, network_info, networks_supporting
from medimg.networks.base import ClassificationNet


def test_list_networks_pattern_and_sorting() -> None:
    assert list_networks("resnet*") == ["resnet18", "resnet34", "resnet50"]
    everything = list_networks()
    assert everything == sorted(everything)
    assert list_networks("nothing-like-this*") == []
    assert set(everything) == set(NETWORKS.list())


def test_network_info_fields() -> None:
    info = network_info("ResNet18")  # case-insensitive
    assert info.name == "resnet18"
    assert info.spatial_dims == (2, 3)
    assert info.default_input_size == 224
    assert 1 <= info.min_input_size <= 28
    assert info.description
    assert network_info("alexnet").spatial_dims == (2,)
    for name in list_networks():
        assert network_info(name).name == name


def test_unknown_name_suggests_close_match() -> None:
    with pytest.raises(ConfigError, match=r"(?i)did you mean 'resnet18'"):
        create_network("resnet19", in_channels=1, num_classes=2)
    with pytest.raises(ConfigError, match=r"(?i)did you mean"):
        network_info("densenet-121")


def test_unsupported_spatial_dims_names_3d_networks() -> None:
    with pytest.raises(ConfigError) as excinfo:
        create_network("alexnet", in_channels=1, num_classes=2, spatial_dims=3, input_size=16)
    message = str(excinfo.value)
    assert "alexnet" in message and "3D" in message
    for name in networks_supporting(3):
        assert name in message
    assert "resnet18" in message


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"in_channels": 0}, "in_channels"),
        ({"num_classes": 0}, "num_classes"),
        ({"in_channels": -3}, "in_channels"),
        ({"width": 0.0}, "width"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"spatial_dims": 1}, "spatial_dims=1"),
        ({"input_size": 4}, "too small"),
        ({"input_size": (28, 28, 28)}, "3 axes"),
    ],
)
def test_invalid_arguments_raise_config_error(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"in_channels": 1, "num_classes": 2, "input_size": 28}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=fragment):
        create_network("resnet18", **args)  # type: ignore[arg-type]


def test_input_size_sequence_and_default() -> None:
    model = create_network("resnet18", in_channels=1, num_classes=2, input_size=(28, 40), width=0.25)
    assert isinstance(model, ClassificationNet)
    assert model.small_input_stem
    assert model(torch.zeros(2, 1, 28, 40)).shape == (2, 2)
    default = create_network("resnet18", in_channels=1, num_classes=2, width=0.25)
    assert not default.small_input_stem  # default_input_size 224 -> standard stem


def test_dropout_is_applied_before_head() -> None:
    model = create_network("simple-cnn", in_channels=1, num_classes=2, dropout=0.5)
    assert isinstance(model.dropout, torch.nn.Dropout) and model.dropout.p == 0.5
    assert isinstance(create_network("simple-cnn", in_channels=1, num_classes=2).dropout, torch.nn.Identity)
