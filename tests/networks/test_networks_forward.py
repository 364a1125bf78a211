"""Every registered network in every spatial dimensionality it supports: shapes, gradients, hooks, layouts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from medimg.networks import create_network, list_networks, network_info

NUM_CLASSES = 3
BATCH = 2

# (in_channels, spatial side, width) per spatial dimensionality; tiny so the module runs fast on 2 CPU cores.
# Width 1.0 (the default) is exercised at 28 px; the larger 2D and the 3D cases use half width.
SHAPES: dict[int, list[tuple[int, int, float]]] = {2: [(1, 28, 1.0), (3, 64, 0.5)], 3: [(1, 16, 0.5)]}


# Activation between the target layer and global average pooling (alexnet has FC layers in between).
POST_TARGET_ACTIVATION: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "simple-cnn": lambda t: t,
    "resnet18": lambda t: t,
    "resnet34": lambda t: t,
    "resnet50": lambda t: t,
    "densenet121": torch.relu,
    "efficientnet-b0": nn.functional.silu,
}


def _cases() -> list[pytest.ParameterSet]:
    cases = []
    for name in list_networks():
        for dims in network_info(name).spatial_dims:
            for channels, side, width in SHAPES[dims]:
                case_id = f"{name}-{dims}d-c{channels}-{side}-w{width}"
                cases.append(pytest.param(name, dims, channels, side, width, id=case_id))
    return cases


def _build(name: str, dims: int, channels: int, side: int, **kwargs: object) -> nn.Module:
    torch.manual_seed(0)
    return create_network(
        name, in_channels=channels, num_classes=NUM_CLASSES, spatial_dims=dims, input_size=side, **kwargs
    )


def test_registry_is_complete() -> None:
    expected = {"simple-cnn", "alexnet", "resnet18", "resnet34", "resnet50", "densenet121", "efficientnet-b0"}
    assert expected <= set(list_networks())
    for name in ("simple-cnn", "resnet18", "resnet34", "resnet50", "densenet121", "efficientnet-b0"):
        assert 3 in network_info(name).spatial_dims, name


@pytest.mark.parametrize(("name", "dims", "channels", "side", "width"), _cases())
def test_forward_backward_features_and_target_layer(
    name: str, dims: int, channels: int, side: int, width: float
) -> None:
    model = _build(name, dims, channels, side, width=width, dropout=0.1)
    model.train()
    x = torch.randn(BATCH, channels, *([side] * dims))

    captured: list[torch.Tensor] = []
    target = model.get_submodule(model.target_layer_name)
    handle = target.register_forward_hook(lambda _m, _i, out: captured.append(out))
    logits = model(x)
    handle.remove()

    assert logits.shape == (BATCH, NUM_CLASSES)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()

    # the target layer ran exactly once and produced a (B, C, *spatial) map
    assert len(captured) == 1
    fmap = captured[0]
    assert fmap.ndim == 2 + dims
    assert fmap.shape[0] == BATCH
    assert all(s >= 1 for s in fmap.shape[2:])

    # gradients reach every trainable tensor (input stem included) and are finite
    logits.logsumexp(dim=1).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None for g in grads.values()), [n for n, g in grads.items() if g is None]
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv3d))
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0

    model.eval()
    captured.clear()
    handle = target.register_forward_hook(lambda _m, _i, out: captured.append(out.clone()))
    with torch.no_grad():
        features = model.forward_features(x)
        logits_eval = model(x)
    handle.remove()
    assert features.shape == (BATCH, model.embedding_dim)
    assert torch.isfinite(features).all()
    # the head maps the features to the logits (forward_features is really the penultimate layer)
    torch.testing.assert_close(model.head(features), logits_eval)
    # the Grad-CAM target is the last conv block: its (activated) map, globally averaged, is the embedding
    if name in POST_TARGET_ACTIVATION:
        pooled = POST_TARGET_ACTIVATION[name](captured[0]).flatten(2).mean(-1)
        torch.testing.assert_close(pooled, features, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in list_networks() if 2 in network_info(n).spatial_dims])
def test_channels_last_matches_contiguous(name: str) -> None:
    model = _build(name, 2, 3, 32, width=0.5).eval()
    x = torch.randn(BATCH, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last))
    assert got.shape == (BATCH, NUM_CLASSES)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list_networks())
def test_width_scaling_reduces_parameters(name: str) -> None:
    def n_params(width: float) -> int:
        model = create_network(name, in_channels=1, num_classes=2, input_size=32, width=width)
        return sum(p.numel() for p in model.parameters())

    full, half = n_params(1.0), n_params(0.5)
    assert half < 0.5 * full, (name, full, half)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "densenet121", "efficientnet-b0", "alexnet"])
def test_stem_depends_on_input_size(name: str) -> None:
    def first_conv(input_size: int) -> nn.Conv2d:
        model = create_network(name, in_channels=1, num_classes=2, input_size=input_size, width=0.25)
        conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        assert conv.in_channels == 1
        return conv

    small, large = first_conv(28), first_conv(224)
    assert small.stride == (1, 1)
    assert large.stride[0] >= 2
    # the boundary: <= 64 px is small (ResNets stride 2 from 33 px, see the ResNet stem test)
    if not name.startswith("resnet"):
        assert first_conv(64).stride == (1, 1)
    assert first_conv(65).stride[0] >= 2


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_stems_have_expected_kernels_and_pooling(name: str) -> None:
    small = create_network(name, in_channels=1, num_classes=2, input_size=28, width=0.25)
    large = create_network(name, in_channels=1, num_classes=2, input_size=224, width=0.25)
    assert small.backbone.conv1.kernel_size == (3, 3)
    assert small.backbone.no_max_pool
    assert large.backbone.conv1.kernel_size == (7, 7)
    assert large.backbone.conv1.stride == (2, 2)
    assert not large.backbone.no_max_pool
    # the 28 px ResNet keeps a 4x4 map at layer4 (total stride 8); the 224 px one a 7x7 map (stride 32)
    for model, side, expected in ((small, 28, 4), (large, 224, 7)):
        out = {}
        model.get_submodule(model.target_layer_name).register_forward_hook(lambda _m, _i, o, out=out: out.update(map=o))
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, side, side))
        assert out["map"].shape[-2:] == (expected, expected)


@pytest.mark.parametrize(("side", "stride", "layer4_side"), [(32, 1, 4), (33, 2, 3), (64, 2, 4), (65, 2, 3)])
def test_resnet_stem_stride_keeps_33_to_64_px_inputs_affordable(side: int, stride: int, layer4_side: int) -> None:
    model = create_network("resnet18", in_channels=1, num_classes=2, input_size=side, width=0.25)
    assert model.backbone.conv1.stride == (stride, stride)
    assert model.backbone.no_max_pool == (side <= 64)
    out = {}
    model.get_submodule(model.target_layer_name).register_forward_hook(lambda _m, _i, o: out.update(map=o))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, side, side))
    assert out["map"].shape[-1] == layer4_side


def test_resnet_width_sets_base_channels() -> None:
    model = create_network("resnet18", in_channels=1, num_classes=2, input_size=28, width=0.5)
    assert model.backbone.conv1.out_channels == 32
    assert model.embedding_dim == 256
    narrow = create_network("resnet18", in_channels=1, num_classes=2, input_size=28, width=0.3)
    assert narrow.backbone.conv1.out_channels % 8 == 0


def test_3d_small_stem() -> None:
    model = create_network("resnet18", in_channels=1, num_classes=2, spatial_dims=3, input_size=16, width=0.25)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv3d))
    assert conv.stride == (1, 1, 1)


def test_simple_cnn_is_cheap() -> None:
    from medimg.networks import count_flops

    model = create_network("simple-cnn", in_channels=1, num_classes=9, input_size=28)
    assert 0 < count_flops(model, (1, 28, 28)) < 0.05e9


def test_simple_cnn_strides_its_first_conv_above_32_px() -> None:
    from medimg.networks import count_flops

    small = create_network("simple-cnn", in_channels=1, num_classes=2, spatial_dims=3, input_size=32)
    large = create_network("simple-cnn", in_channels=1, num_classes=2, spatial_dims=3, input_size=64)
    first = large.backbone.features.block1[0]
    assert first.stride == (2, 2, 2) and small.backbone.features.block1[0].stride == (1, 1, 1)
    assert large(torch.zeros(2, 1, 64, 64, 64)).shape == (2, 2)
    # the 64^3 network sees every voxel at about the cost of the 32^3 one (not 8x)
    ratio = count_flops(large, (1, 64, 64, 64)) / count_flops(small, (1, 32, 32, 32))
    assert 0.9 < ratio < 1.5
