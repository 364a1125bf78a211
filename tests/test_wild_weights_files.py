"""Weights a user brings: torchvision/timm layouts, Lightning checkpoints, RGB weights for grayscale images,
safetensors, a whole pickled model, weights of another width, empty files. Each loads (saying what stayed at
random) or is refused in one line naming the file and the fix; none trains from scratch while claiming weights."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import pytest
import torch

from medimg.errors import ConfigError
from medimg.networks import create_network, load_weights


def _resnet(in_channels: int = 3, num_classes: int = 2, width: float = 0.25, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_network("resnet18", in_channels=in_channels, num_classes=num_classes, input_size=32, width=width)


def _torchvision_layout(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What ``torch.save(torchvision_resnet.state_dict())`` holds: no ``backbone.``, an ImageNet ``fc``."""
    state = {k.removeprefix("backbone."): v for k, v in model.state_dict().items() if not k.startswith("head.")}
    state["fc.weight"] = torch.zeros(1000, model.embedding_dim)
    state["fc.bias"] = torch.zeros(1000)
    return state


def _same_body(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith("head."))


def test_torchvision_layout_loads_under_the_backbone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A torchvision/timm resnet18 state_dict (conv1.weight, fc.weight) was refused as "another architecture"."""
    source = _resnet()
    torch.save(_torchvision_layout(source), tmp_path / "resnet18_imagenet.pt")
    target = _resnet(seed=1)
    with caplog.at_level(logging.INFO, logger="medimg.networks.weights"):
        report = load_weights(target, tmp_path / "resnet18_imagenet.pt")
    assert _same_body(source, target)
    assert len(report.loaded) == len(target.state_dict()) - 2
    assert "at random: head.weight, head.bias" in caplog.text


def test_lightning_checkpoint_with_a_model_prefix_loads(tmp_path: Path) -> None:
    source = _resnet()
    state = {"model." + k: v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3, "optimizer_states": []}, tmp_path / "last.ckpt")
    target = _resnet(seed=1)
    assert load_weights(target, tmp_path / "last.ckpt").complete
    assert _same_body(source, target)


def test_rgb_weights_for_grayscale_images_keep_the_first_convolution(tmp_path: Path) -> None:
    """ImageNet (3-channel) weights for a 1-channel model: the first convolution started at random."""
    source = _resnet(in_channels=3)
    torch.save(source.state_dict(), tmp_path / "rgb.pt")
    target = _resnet(in_channels=1, seed=1)
    report = load_weights(target, tmp_path / "rgb.pt")
    key = "backbone.conv1.weight"
    assert report.adapted == [key] and not report.skipped
    expected = source.state_dict()[key].sum(dim=1, keepdim=True)
    torch.testing.assert_close(target.state_dict()[key], expected)


def test_weights_of_another_width_are_refused_with_the_width_to_give(tmp_path: Path) -> None:
    """The planner narrows resnet18 for small images; full-width weights then matched only BatchNorm's step counters
    ("loaded 20/122 tensors") and the fit trained from scratch, exit 0."""
    torch.save(_resnet(width=1.0).state_dict(), tmp_path / "full_width.pt")
    with pytest.raises(ConfigError, match=r"full_width\.pt.*4x as wide.*--set width=1\b"):
        create_network(
            "resnet18", in_channels=3, num_classes=2, input_size=32, width=0.25, weights_path=tmp_path / "full_width.pt"
        )


def _save_safetensors(state: dict[str, torch.Tensor], path: Path) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, tensor in state.items():
        raw = tensor.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_safetensors_file_loads(tmp_path: Path) -> None:
    source = _resnet()
    state = {k: v for k, v in source.state_dict().items() if v.is_floating_point()}
    _save_safetensors(state, tmp_path / "model.safetensors")
    target = _resnet(seed=1)
    report = load_weights(target, tmp_path / "model.safetensors")
    assert len(report.loaded) == len(state)
    assert _same_body(source, target)


def test_a_whole_pickled_model_says_how_to_save_its_weights(tmp_path: Path) -> None:
    torch.save(_resnet(), tmp_path / "whole.pt")
    pattern = r"whole\.pt holds pickled Python objects.*torch\.save\(model\.state_dict\(\)"
    with pytest.raises(ConfigError, match=pattern):
        load_weights(_resnet(), tmp_path / "whole.pt")


def test_empty_and_foreign_files_say_so(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"empty\.pt is empty"):
        load_weights(_resnet(), tmp_path / "empty.pt")
    (tmp_path / "notes.pt").write_bytes(b"hello, not weights")
    with pytest.raises(ConfigError, match=r"notes\.pt: it is not a PyTorch weights file"):
        load_weights(_resnet(), tmp_path / "notes.pt")


def test_torchvision_densenet_layout_loads(tmp_path: Path) -> None:
    """torchvision's densenet121 keys (denselayer1.norm1.weight) differ from MONAI's (denselayer1.layers.norm1...):
    its weights for medimg's densenet121 were refused as "another architecture"."""
    torch.manual_seed(0)
    source = create_network("densenet121", in_channels=3, num_classes=2, input_size=32, width=0.25)
    state = {
        k.removeprefix("backbone.").replace(".layers.", "."): v
        for k, v in source.state_dict().items()
        if not k.startswith("head.")
    }
    assert any("denselayer1.norm1" in k for k in state)
    torch.save(state, tmp_path / "densenet121_imagenet.pt")
    torch.manual_seed(1)
    target = create_network("densenet121", in_channels=3, num_classes=2, input_size=32, width=0.25)
    report = load_weights(target, tmp_path / "densenet121_imagenet.pt")
    assert len(report.loaded) == len(state) and _same_body(source, target)


def test_an_ensemble_runs_model_starts_a_single_network_from_its_first_member(tmp_path: Path) -> None:
    """A time-budget run's model.pt holds members.0., members.1. ...: given as --weights it was refused."""
    first, second = _resnet(seed=0), _resnet(seed=2)
    state = {f"members.{i}.{k}": v for i, m in enumerate((first, second)) for k, v in m.state_dict().items()}
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": state}, run / "model.pt")
    target = _resnet(seed=1)
    assert load_weights(target, run).complete
    assert _same_body(first, target)


def test_a_training_scripts_checkpoint_with_numpy_values_and_arguments_loads(tmp_path: Path) -> None:
    """{"state_dict": ..., "best_acc": np.float64, "args": Namespace} was refused as "pickled Python objects"."""
    import argparse

    import numpy as np

    source = _resnet()
    checkpoint = {
        "state_dict": source.state_dict(),
        "best_acc": np.float64(0.91),
        "epoch": np.int64(30),
        "args": argparse.Namespace(lr=0.1, arch="resnet18"),
        "confusion": np.eye(2),
    }
    torch.save(checkpoint, tmp_path / "checkpoint.pth.tar")
    target = _resnet(seed=1)
    assert load_weights(target, tmp_path / "checkpoint.pth.tar").complete
    assert _same_body(source, target)


def test_weights_of_another_network_name_it(tmp_path: Path) -> None:
    """DenseNet weights given to resnet18 said only "give that network (--network)", not which."""
    torch.manual_seed(0)
    dense = create_network("densenet121", in_channels=3, num_classes=2, input_size=32, width=0.25)
    torch.save(dense.state_dict(), tmp_path / "dense.pt")
    with pytest.raises(ConfigError, match=r"dense\.pt .*look like densenet121's: give --network densenet121"):
        load_weights(_resnet(), tmp_path / "dense.pt")


def test_resnet34_weights_for_resnet18_warn_naming_the_network(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """resnet34's first blocks fill all of resnet18: it loaded with only a count of unused keys."""
    torch.manual_seed(0)
    deeper = create_network("resnet34", in_channels=3, num_classes=2, input_size=32, width=0.25)
    torch.save(deeper.state_dict(), tmp_path / "r34.pt")
    with caplog.at_level(logging.WARNING, logger="medimg.networks.weights"):
        load_weights(_resnet(), tmp_path / "r34.pt")
    assert "r34.pt" in caplog.text and "the file looks like resnet34's: give --network resnet34" in caplog.text
