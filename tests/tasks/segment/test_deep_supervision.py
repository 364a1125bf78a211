"""Deep supervision: the coarser decoder levels' heads, their loss, and a run that trains, reloads and exports
with them (inference and the ONNX graph see the plain network's single output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medimg import Model
from medimg.errors import ConfigError
from medimg.tasks.segment.deep_supervision import (
    DeeplySupervised,
    deep_supervision_loss,
    deep_supervision_weights,
    unet_decoder_levels,
)
from medimg.tasks.segment.labels import IGNORE
from medimg.tasks.segment.losses import cross_entropy
from tests.tasks.segment.synthetic import write_2d_pairs


def _unet(spatial_dims: int = 2) -> torch.nn.Module:
    from monai.networks.nets import UNet

    return UNet(spatial_dims, 1, 3, channels=(8, 16, 32, 64), strides=(2, 2, 2), num_res_units=1)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_training_returns_the_top_logits_then_each_coarser_level_and_evaluation_the_plain_output(
    spatial_dims: int,
) -> None:
    torch.manual_seed(0)
    unet = _unet(spatial_dims)
    assert [c for _, c in unet_decoder_levels(unet)] == [8, 16]  # 1/2 and 1/4 of the patch
    network = DeeplySupervised(unet, 2, num_classes=3)
    x = torch.randn(2, 1, *(32,) * spatial_dims)
    outputs = network.train()(x)
    assert isinstance(outputs, list)
    assert [tuple(o.shape) for o in outputs] == [(2, 3, *(s,) * spatial_dims) for s in (32, 16, 8)]
    network.eval()
    with torch.no_grad():
        plain = network(x)
        assert isinstance(plain, torch.Tensor)
        torch.testing.assert_close(plain, unet(x))
        assert not network._features  # evaluation keeps no decoder features
    assert set(network.state_dict()) >= {"heads.0.weight", "heads.1.bias"}


def test_one_level_is_the_half_resolution_head() -> None:
    network = DeeplySupervised(_unet(), 1, num_classes=3).train()
    outputs = network(torch.randn(1, 1, 32, 32))
    assert [tuple(o.shape[2:]) for o in outputs] == [(32, 32), (16, 16)]


def test_wrong_network_or_too_many_levels_is_a_config_error() -> None:
    from monai.networks.nets import SegResNet

    with pytest.raises(ConfigError, match="2 decoder level"):
        DeeplySupervised(_unet(), 3, num_classes=3)
    with pytest.raises(ConfigError, match="network=unet"):
        DeeplySupervised(SegResNet(spatial_dims=2, in_channels=1, out_channels=3), 1, num_classes=3)


def test_weights_halve_per_level_and_sum_to_one() -> None:
    assert deep_supervision_weights(3) == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert deep_supervision_weights(1) == [1.0]


def test_the_loss_scores_each_level_against_the_labels_taken_to_its_grid() -> None:
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[:, :4] = 1
    target[:, 6:, 6:] = IGNORE
    perfect_top = torch.nn.functional.one_hot(torch.where(target == IGNORE, 0, target), 2).movedim(-1, 1) * 20.0
    coarse = target[:, ::2, ::2]
    perfect_coarse = torch.nn.functional.one_hot(torch.where(coarse == IGNORE, 0, coarse), 2).movedim(-1, 1) * 20.0
    assert deep_supervision_loss(cross_entropy, [perfect_top, perfect_coarse], target) < 1e-6
    wrong_coarse = -perfect_coarse
    loss = deep_supervision_loss(cross_entropy, [perfect_top, wrong_coarse], target)
    expected = deep_supervision_weights(2)[1] * cross_entropy(wrong_coarse, coarse).item()
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # a single tensor (evaluation, or deep supervision off) is the plain criterion
    assert deep_supervision_loss(cross_entropy, perfect_top, target) < 1e-6


def test_a_deeply_supervised_run_learns_reloads_and_exports_one_output(tmp_path: Path) -> None:
    data = write_2d_pairs(tmp_path / "discs", n=20, size=32)
    fast = {"epochs": 6, "iterations_per_epoch": 10, "batch_size": 16, "learning_rate": 1e-2, "tta": False}
    model = Model("unet", task="segment", channels=[8, 16, 32], deep_supervision=1, **fast).fit(
        data, run_dir=tmp_path / "run", progress=False
    )
    assert model.plan_.deep_supervision == 1
    report = json.loads((model.last_report_dir_ / "report.json").read_text())
    assert report["metrics"]["dice_mean"] > 0.9
    loaded = Model.load(model.run_dir_)
    assert isinstance(loaded.network_, DeeplySupervised) and not loaded.network_.training
    from PIL import Image

    prediction = loaded.predict(data / "images" / "case_00.png", out_dir=tmp_path / "out")[0]
    truth = np.asarray(Image.open(data / "masks" / "case_00.png")) > 0
    predicted = np.asarray(Image.open(prediction.mask_path)) > 0
    assert predicted.shape == (32, 32) and 2 * (truth & predicted).sum() / (truth.sum() + predicted.sum()) > 0.85
    result = loaded.export()
    assert result.max_abs_diff <= 1e-4
    import onnxruntime as ort

    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    x = np.zeros((1, 1, *loaded.plan_.patch_size), np.float32)
    logits, probabilities = session.run(None, {session.get_inputs()[0].name: x})  # no heads' outputs in the graph
    assert logits.shape == probabilities.shape == (1, 2, *loaded.plan_.patch_size)


def test_deep_supervision_with_an_unlabelled_pool_is_refused_with_the_fix(tmp_path: Path) -> None:
    data = write_2d_pairs(tmp_path / "discs", n=8, size=32)
    pool = tmp_path / "pool"
    pool.mkdir()
    for path in list((data / "images").iterdir())[:4]:
        (pool / path.name).write_bytes(path.read_bytes())
    model = Model("unet", task="segment", channels=[8, 16, 32], deep_supervision=1, epochs=1, iterations_per_epoch=1)
    with pytest.raises(ConfigError, match="deep_supervision=0"):
        model.fit(data, unlabelled=pool, run_dir=tmp_path / "run", progress=False)
