"""load_weights: round trips, head skipping, checkpoint formats and clear errors."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import torch

from medimg.errors import ConfigError
from medimg.networks import create_network, load_weights


def _net(name: str, num_classes: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_network(name, in_channels=1, num_classes=num_classes, input_size=28, width=0.5)


@pytest.mark.parametrize("name", ["simple-cnn", "resnet18"])
def test_round_trip_with_other_num_classes_skips_head(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = _net(name, num_classes=3, seed=0)
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)

    target = _net(name, num_classes=5, seed=1)
    head_before = {k: v.clone() for k, v in target.state_dict().items() if k.startswith("head.")}
    with caplog.at_level(logging.INFO, logger="medimg.networks.weights"):
        report = load_weights(target, path)

    assert sorted(report.skipped) == ["head.bias", "head.weight"]
    assert "head.weight" in caplog.text  # the skipped keys are logged
    assert not report.unexpected and not report.missing
    src, dst = source.state_dict(), target.state_dict()
    body = [k for k in src if not k.startswith("head.")]
    assert sorted(report.loaded) == sorted(body)
    for key in body:
        torch.testing.assert_close(dst[key], src[key], rtol=0, atol=0)
    for key, value in head_before.items():
        torch.testing.assert_close(dst[key], value, rtol=0, atol=0)
    assert dst["head.weight"].shape == (5, source.embedding_dim)


def test_same_num_classes_loads_everything_and_predicts_the_same(tmp_path: Path) -> None:
    source = _net("simple-cnn", num_classes=3, seed=0).eval()
    path = tmp_path / "w.pt"
    torch.save(source.state_dict(), path)
    torch.manual_seed(7)
    target = create_network("simple-cnn", in_channels=1, num_classes=3, input_size=28, width=0.5, weights_path=path)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(target.eval()(x), source(x))
    assert load_weights(target, path, strict=True).complete


@pytest.mark.parametrize("key", ["state_dict", "model"])
def test_checkpoint_dict_with_ddp_prefix(tmp_path: Path, key: str) -> None:
    source = _net("simple-cnn", num_classes=3, seed=0)
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save({key: state, "epoch": 4, "optimizer": {"lr": 0.1}}, path)
    target = _net("simple-cnn", num_classes=3, seed=1)
    report = load_weights(target, path)
    assert report.complete
    torch.testing.assert_close(target.state_dict()["head.weight"], source.state_dict()["head.weight"])


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken_weights.pt"
    path.write_bytes(b"this is not a torch file\x00\x01")
    with pytest.raises(ConfigError, match=re.escape("broken_weights.pt")):
        load_weights(_net("simple-cnn", 2, 0), path)


def test_truncated_file_raises_config_error(tmp_path: Path) -> None:
    path = tmp_path / "truncated.pt"
    torch.save(_net("simple-cnn", 2, 0).state_dict(), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ConfigError, match=re.escape("truncated.pt")):
        load_weights(_net("simple-cnn", 2, 0), path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(ConfigError, match=re.escape("nope.pt")):
        load_weights(_net("simple-cnn", 2, 0), path)
    with pytest.raises(ConfigError, match=re.escape("nope.pt")):
        create_network("simple-cnn", in_channels=1, num_classes=2, weights_path=path)


def test_nothing_matches_raises(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ConfigError, match=r"0 of the 26 tensors of the model .simple-cnn. match"):
        load_weights(_net("simple-cnn", 2, 0), path)


def test_other_architecture_width_fails_strict(tmp_path: Path) -> None:
    path = tmp_path / "wide.pt"
    torch.save(create_network("simple-cnn", in_channels=1, num_classes=2, width=1.0).state_dict(), path)
    narrow = _net("simple-cnn", 2, 0)  # width 0.5: every conv has another shape
    # strict or not: only BN running counters fit, which is no load (it trained from scratch): refused, naming width
    for strict in (True, False):
        with pytest.raises(ConfigError, match="another architecture or width; its layers are 2x as wide"):
            load_weights(narrow, path, strict=strict)


def test_a_stray_match_is_not_a_load_and_a_run_folder_gives_its_model(tmp_path: Path) -> None:
    """A file of another network that shares one tensor name and shape "loaded 1/N" and trained from scratch with
    exit 0; a run folder given as the weights was "does not exist (or is not a file)"."""
    source = _net("simple-cnn", 2, 0)
    state = {k: v for k, v in source.state_dict().items()}
    first = next(iter(state))
    torch.save({first: state[first], "other.weight": torch.zeros(3)}, tmp_path / "stray.pt")
    with pytest.raises(ConfigError, match=r"1 of the \d+ tensors of the model 'simple-cnn' match"):
        load_weights(_net("simple-cnn", 2, 0), tmp_path / "stray.pt")
    run = tmp_path / "run"
    run.mkdir()
    torch.save(state, run / "model.pt")
    assert len(load_weights(_net("simple-cnn", 2, 0), run).loaded) == len(state)
    with pytest.raises(ConfigError, match=r"a folder without model\.pt"):
        load_weights(_net("simple-cnn", 2, 0), tmp_path)


def test_missing_weights_are_refused_before_any_image_is_read(tmp_path: Path) -> None:
    from medimg import Model

    with pytest.raises(ConfigError, match=r"weights file .*nope\.pt does not exist"):
        Model("simple-cnn", weights_path=str(tmp_path / "nope.pt"))
