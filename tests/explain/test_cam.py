"""Grad-CAM, Grad-CAM++ and occlusion: they find the evidence, match a reference computation, and fail clearly."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medimg.errors import ConfigError
from medimg.explain import EXPLAIN_METHODS, TargetLayerError, explain_batch, overlay_png
from medimg.explain.overlay import display_image, heatmap_rgba, jet, overlay_rgb, representative_slice
from tests.serve.support import phantom_file


class BlobNet(nn.Module):
    """Class 1 = 'bright pixels present': positive conv -> ReLU -> global mean -> linear (+ for class 1)."""

    def __init__(self, spatial_dims: int = 2) -> None:
        super().__init__()
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.features = conv(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)
        with torch.no_grad():
            self.features.weight.fill_(1 / 9)
            self.features.bias.fill_(-0.05)
            self.head.weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
            self.head.bias.zero_()
        self.target_layer_name = "features"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.features(x))
        return self.head(features.flatten(2).mean(2))


def blob_batch(spatial_dims: int, size: int = 24) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
    """Two images, each dark with one bright 4-px blob at a different place."""
    centres = [(4,) * spatial_dims, (size - 5,) * spatial_dims]
    x = torch.zeros((2, 1, *(size,) * spatial_dims))
    for i, centre in enumerate(centres):
        x[(i, 0, *[slice(c - 2, c + 2) for c in centre])] = 1.0
    return x, centres


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("method", EXPLAIN_METHODS)
def test_heatmap_peaks_on_the_evidence(method: str, spatial_dims: int) -> None:
    x, centres = blob_batch(spatial_dims, size=20 if spatial_dims == 2 else 12)
    maps = explain_batch(BlobNet(spatial_dims), x, method=method, class_index=1)
    assert maps.shape == (2, *x.shape[2:]) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1 + 1e-6
    for heat, centre in zip(maps, centres, strict=True):
        peak = np.unravel_index(int(heat.argmax()), heat.shape)
        assert all(abs(p - c) <= 3 for p, c in zip(peak, centre, strict=True)), (method, peak, centre)


def test_gradcam_matches_reference_autograd() -> None:
    torch.manual_seed(0)
    network = nn.Sequential()
    network.add_module("conv", nn.Conv2d(1, 6, 3, padding=1))
    network.add_module("act", nn.ReLU(inplace=True))  # in-place after the target: must not spoil activations
    network.add_module("pool", nn.AdaptiveAvgPool2d(1))
    network.add_module("flat", nn.Flatten())
    network.add_module("head", nn.Linear(6, 3))
    x = torch.randn(3, 1, 12, 12)
    classes = [0, 2, 1]
    ours = explain_batch(network, x, class_index=classes, target_layer="conv")
    for i, c in enumerate(classes):
        acts = network.conv(x[i : i + 1])
        logits = network[2:](torch.relu(acts))
        (grad,) = torch.autograd.grad(logits[0, c], acts)
        cam = torch.relu((grad.mean((2, 3), keepdim=True) * acts).sum(1)).detach()
        cam = (cam - cam.min()) / (cam.max() - cam.min())
        np.testing.assert_allclose(ours[i], cam[0].numpy(), atol=1e-5)


def test_default_class_is_the_prediction_per_sample() -> None:
    x, _ = blob_batch(2)
    network = BlobNet(2)
    predicted = network(x).argmax(1).tolist()
    np.testing.assert_allclose(explain_batch(network, x), explain_batch(network, x, class_index=predicted))


def test_errors_name_the_problem() -> None:
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(TargetLayerError, match=r"no target layer.*Convolutional layers of this network: 0"):
        explain_batch(plain, x)
    with pytest.raises(TargetLayerError, match="Did you mean 'features'"):
        explain_batch(BlobNet(), x, target_layer="feature")
    with pytest.raises(TargetLayerError, match="not a 2D feature map"):
        explain_batch(BlobNet(), x, target_layer="head")
    with pytest.raises(ConfigError, match="Did you mean 'gradcam'"):
        explain_batch(BlobNet(), x, method="gradcma")
    assert isinstance(TargetLayerError("x"), ConfigError)


def test_hooks_are_removed_and_mode_restored() -> None:
    network = BlobNet().train()
    explain_batch(network, blob_batch(2)[0])
    assert network.training
    assert not network.features._forward_hooks
    assert all(p.grad is None for p in network.parameters())


def test_overlay_png_keeps_image_size_and_marks_heat() -> None:
    from PIL import Image

    image = np.zeros((1, 100, 80), dtype=np.float32)
    heat = np.zeros((20, 16), dtype=np.float32)
    heat[:5, :4] = 1.0  # top-left corner
    png = overlay_png(image, heat, {})
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert picture.shape == (100, 80, 3)
    assert picture[5, 5, 0] > 40 > picture[5, 5, 2] and picture[95, 75].sum() == 0  # red where hot, clear elsewhere
    assert (jet(np.array([0.0]))[0] == [0, 0, 128]).all() and jet(np.array([1.0]))[0, 0] == 128
    rgba = heatmap_rgba(heat, (80, 100))
    assert rgba.shape == (100, 80, 4) and rgba[2, 2, 3] > rgba[90, 70, 3] == 0
    volume = np.zeros((6, 4, 4))
    volume[4] = 1
    assert representative_slice(volume) == 4 and representative_slice(np.zeros((6, 2, 2))) == 3
    assert overlay_rgb(np.zeros((4, 4), np.uint8), volume).shape == (4, 4, 3)


def test_a_volume_is_shown_as_its_axial_slice_at_its_physical_aspect() -> None:
    """A NIfTI read as (i, j, k) = (x, y, z) at 0.8 x 0.8 x 4 mm: the overlay was a sagittal 32 x 10 pixel PNG (the
    first axis sliced, voxels drawn square, no enlargement)."""
    from PIL import Image

    from medimg.explain.overlay import axial_axis

    volume = np.zeros((1, 40, 32, 10), dtype=np.float32)
    volume[0, 5:20, 5:15, 2:6] = 200.0
    heat = np.zeros((40, 32, 10), dtype=np.float32)
    heat[5:20, 5:15, 3] = 1.0  # the evidence lies in axial slice k = 3
    ras = np.diag([0.8, 0.8, 4.0, 1.0])
    png = overlay_png(volume, heat, {}, affine=ras, spacing=(0.8, 0.8, 4.0))
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert picture.shape[:2] == (256, 205)  # 40 x 32 voxels of 0.8 mm, enlarged: rows x, columns y
    assert picture[80, 60, 0] > picture[80, 60, 2] and picture[250, 200].sum() == 0  # hot over the lesion only
    dicom_like = np.array([[0, 0, -0.7, 0], [0, -0.7, 0, 0], [2.5, 0, 0, 0], [0, 0, 0, 1.0]])  # slices first
    assert axial_axis(ras) == 2 and axial_axis(dicom_like) == 0 and axial_axis(None) == 0
    squashed = overlay_png(np.zeros((1, 12, 30, 20)), np.zeros((12, 30, 20)), {}, spacing=(2.5, 0.7, 1.4))
    assert Image.open(io.BytesIO(squashed)).size == (256, 192)  # 30 x 0.7 mm tall, 20 x 1.4 mm wide


def test_display_image_windows() -> None:
    ct = np.array([[[-1000.0, 40.0, 1000.0]]], dtype=np.float32)
    assert display_image(ct, {"units": "HU"}).tolist() == [[0, 128, 255]]
    assert display_image(ct, {"window_center": 0, "window_width": 2000}).tolist() == [[0, 133, 255]]
    rgb = np.stack([np.full((2, 2), v, np.float32) for v in (0, 128, 255)])
    assert display_image(rgb, {}).shape == (2, 2, 3)
    assert display_image(np.zeros((1, 3, 2, 2), np.float32), {}).shape == (2, 2)


def test_model_predict_explain(deploy_run: Path) -> None:
    from medimg import Model

    model = Model.load(deploy_run)
    predictions = model.predict([phantom_file(deploy_run), phantom_file(deploy_run, "normal")], explain="gradcam++")
    for p in predictions:
        assert p.heatmap is not None and p.heatmap.shape == (32, 32) and p.explain_method == "gradcam++"
        assert p.overlay_png is not None and p.overlay_png.startswith(b"\x89PNG")
        assert p.to_dict()["explanation"]["method"] == "gradcam++"
    assert model.predict(phantom_file(deploy_run))[0].heatmap is None


def test_cli_predict_explain_writes_overlays(deploy_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    runner = CliRunner()
    out = tmp_path / "pred.json"
    images = [str(phantom_file(deploy_run)), str(phantom_file(deploy_run, "normal"))]
    result = runner.invoke(app, ["predict", str(deploy_run), *images, "--explain", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert len(rows) == 2
    for row in rows:
        overlay = Path(row["explanation"]["overlay"])
        assert row["explanation"]["method"] == "gradcam" and overlay.is_file()
        assert overlay.parent == tmp_path / "explanations" and overlay.read_bytes().startswith(b"\x89PNG")
    refused = runner.invoke(app, ["predict", str(deploy_run), images[0], "--explain", "--engine", "onnx"])
    assert isinstance(refused.exception, ConfigError) and "--explain needs the PyTorch engine" in str(refused.exception)


def test_a_2d_image_with_non_square_pixels_is_drawn_with_square_ones() -> None:
    """A DICOM of 32 rows x 64 columns with PixelSpacing [1.0, 0.5] (32 x 32 mm) was drawn 2:1, a round object as
    a wide ellipse."""
    from PIL import Image

    from medimg.explain.overlay import square_pixels

    png = overlay_png(np.zeros((1, 32, 64), np.float32), np.zeros((8, 16), np.float32), {}, spacing=(1.0, 0.5))
    assert Image.open(io.BytesIO(png)).size == (64, 64)
    picture = np.zeros((32, 64), np.uint8)
    assert square_pixels(picture, (1.0, 0.5)).shape == (64, 64)
    assert square_pixels(picture, (0.5, 0.5)) is picture and square_pixels(picture, None) is picture


@pytest.mark.parametrize("multi_label", [False, True])
def test_occlusion_of_a_certain_prediction_still_finds_the_evidence(multi_label: bool) -> None:
    """A saturated prediction (p = 1.0 in float32) gave an all-zero occlusion map: hiding the evidence did not move
    the probability. The drop in the class's log-odds still shows it."""
    network = BlobNet(2)
    with torch.no_grad():
        network.head.weight.mul_(2000)  # logit gap in the hundreds: softmax and sigmoid give exactly 1.0
    x, centres = blob_batch(2, size=20)
    assert torch.equal(torch.softmax(network(x), 1)[:, 1], torch.ones(2))
    assert torch.equal(torch.sigmoid(network(x))[:, 1], torch.ones(2))
    if multi_label:
        maps = explain_batch(network, x, method="occlusion", class_index=1, multi_label=True)
    else:  # a softmax by default
        maps = explain_batch(network, x, method="occlusion", class_index=1)
    for heat, centre in zip(maps, centres, strict=True):
        assert heat.max() == pytest.approx(1.0)
        peak = np.unravel_index(int(heat.argmax()), heat.shape)
        assert all(abs(p - c) <= 3 for p, c in zip(peak, centre, strict=True)), (peak, centre)


def test_a_later_predict_call_never_replaces_earlier_overlays(deploy_run: Path, tmp_path: Path) -> None:
    """Each call numbered its overlays from 0000: a second call on another image of the same name replaced the
    first call's overlay, and the first call's predictions then pointed at another image's heatmap."""
    from typer.testing import CliRunner

    from medimg.cli.app import app

    overlays = []
    for i, kind in enumerate(["lesion", "normal"]):
        image = tmp_path / kind / "a.png"
        image.parent.mkdir()
        image.write_bytes(phantom_file(deploy_run, kind).read_bytes())
        out = tmp_path / f"pred{i}.json"
        result = CliRunner().invoke(app, ["predict", str(deploy_run), str(image), "--explain", "--out", str(out)])
        assert result.exit_code == 0, result.output
        overlay = Path(json.loads(out.read_text())[0]["explanation"]["overlay"])
        overlays.append((overlay, overlay.read_bytes()))
    (first, first_png), (second, second_png) = overlays
    assert first.parent == second.parent == tmp_path / "explanations"
    assert (first.name, second.name) == ("0000_a.gradcam.png", "0001_a.gradcam.png")
    assert first.read_bytes() == first_png != second_png


def test_the_explained_class_is_named(deploy_run: Path) -> None:
    """The prediction said only which method made the map; the reader had to guess the class it explains."""
    from medimg import Model

    (p,) = Model.load(deploy_run).predict(phantom_file(deploy_run), explain="gradcam")
    assert p.explained_class == p.label  # type: ignore[union-attr]
    assert p.to_dict()["explanation"]["class"] == p.label
    assert p.csv_rows()[0]["explained_class"] == p.label


def test_an_empty_map_is_said(
    deploy_run: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An all-zero map gave a plain overlay that read as "no evidence anywhere", without a word."""
    import logging

    from medimg import Model
    from medimg.explain import cam

    monkeypatch.setattr(cam, "explain_batch", lambda _network, x, **_: np.zeros((len(x), *x.shape[2:]), np.float32))
    with caplog.at_level(logging.WARNING):
        (p,) = Model.load(deploy_run).predict(phantom_file(deploy_run), explain="occlusion")
    assert p.heatmap is not None and not p.heatmap.any()  # type: ignore[union-attr]
    assert "occlusion map for" in caplog.text and "is empty" in caplog.text


def test_a_chosen_class_is_explained_on_every_image(deploy_run: Path, tmp_path: Path) -> None:
    """Only the predicted class could be explained: "where does it see a lesion?" on an image called normal had
    no answer. explain_class (Python) / --explain-class (CLI) names the class every heatmap explains."""
    from typer.testing import CliRunner

    from medimg import Model
    from medimg.cli.app import app

    model = Model.load(deploy_run)
    images = [phantom_file(deploy_run, kind) for kind in ("lesion", "normal")]
    for target in ("LESION", 1, np.int64(1)):
        predictions = model.predict(images, explain_class=target)  # implies explain=True (Grad-CAM)
        assert [p.explained_class for p in predictions] == ["lesion", "lesion"]  # type: ignore[union-attr]
    lesion = model.predict(images[1:], explain_class="lesion")[0]
    normal = model.predict(images[1:], explain_class="normal")[0]
    assert not np.allclose(lesion.heatmap, normal.heatmap)  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"not a class of this model \('normal', 'lesion'"):
        model.predict(images, explain_class="tumour")
    assert model.predict(images[:1], explain_class="1")[0].explained_class == "lesion"  # an index typed as text
    out = tmp_path / "pred.json"
    args = ["predict", str(deploy_run), str(images[1]), "--explain-class", "lesion", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())
    assert row["explanation"]["class"] == "lesion" and Path(row["explanation"]["overlay"]).is_file()
