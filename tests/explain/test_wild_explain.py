"""Explanations as a new user meets them: inside `torch.inference_mode()`, class indices from numpy or out of
range, and overlays of non-square images in the image's own geometry."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medimg.errors import ConfigError
from medimg.explain import EXPLAIN_METHODS, explain_batch, overlay_png
from tests.explain.test_cam import BlobNet, blob_batch
from tests.serve.support import phantom_file


def _peaks_on_blobs(maps: np.ndarray, centres: list[tuple[int, ...]]) -> None:
    assert np.isfinite(maps).all() and maps.max() > 0
    for heat, centre in zip(maps, centres, strict=True):
        peak = np.unravel_index(int(heat.argmax()), heat.shape)
        assert all(abs(p - c) <= 3 for p, c in zip(peak, centre, strict=True)), (peak, centre)


@pytest.mark.parametrize("method", EXPLAIN_METHODS)
def test_explain_inside_inference_mode(method: str) -> None:
    """`with torch.inference_mode():` around prediction is usual; Grad-CAM's backward pass failed there
    ("element 0 of tensors does not require grad")."""
    x, centres = blob_batch(2, size=20)
    network = BlobNet(2)  # loaded before, as a model is
    with torch.inference_mode():
        maps = explain_batch(network, x.clone(), method=method, class_index=1)
    _peaks_on_blobs(maps, centres)


def test_model_predict_explains_inside_inference_mode(deploy_run: Path) -> None:
    from medimg import Model

    model = Model.load(deploy_run)
    with torch.inference_mode():
        prediction = model.predict(phantom_file(deploy_run), explain=True)[0]
    assert prediction.heatmap is not None and np.isfinite(prediction.heatmap).all()
    assert prediction.overlay_png is not None


def test_class_index_from_numpy() -> None:
    x, centres = blob_batch(2, size=20)
    maps = explain_batch(BlobNet(2), x, class_index=np.int64(1))  # was: 'numpy.int64' object is not iterable
    _peaks_on_blobs(maps, centres)
    per_sample = explain_batch(BlobNet(2), x, class_index=np.array([1, 1]))
    np.testing.assert_allclose(per_sample, maps)


@pytest.mark.parametrize("method", EXPLAIN_METHODS)
@pytest.mark.parametrize("index", [2, -1, [1, 7]])
def test_class_index_out_of_range_is_a_clear_error(method: str, index: int | list[int]) -> None:
    """Was a traceback from torch ("index 2 is out of bounds for dimension 1 with size 2")."""
    x, _ = blob_batch(2, size=12)
    with pytest.raises(ConfigError, match="not a class of this network"):
        explain_batch(BlobNet(2), x, method=method, class_index=index)


def test_class_index_beyond_num_classes_is_refused_before_running() -> None:
    network = BlobNet(2)
    network.num_classes = 2  # type: ignore[assignment]
    x, _ = blob_batch(2, size=12)
    with pytest.raises(ConfigError, match=r"use an index 0\.\.1"):
        explain_batch(network, x, class_index=5)
    with pytest.raises(ConfigError, match="class index"):
        explain_batch(network, x, class_index="lesion")  # type: ignore[arg-type]


def test_non_square_overlay_keeps_the_image_geometry() -> None:
    """A 120 x 300 image explained at a square 64 x 64 input: the overlay is 120 x 300 and its heat lies on the
    blob (not transposed, not flipped, not drawn at the network's square size)."""
    from PIL import Image

    image = np.full((1, 120, 300), 40.0, dtype=np.float32)
    rows, cols = np.ogrid[:120, :300]
    blob = (rows - 30) ** 2 + (cols - 230) ** 2 <= 12**2  # top right
    image[0][blob] = 220.0
    y, x = np.mgrid[:64, :64]
    centre = (30 * 64 / 120, 230 * 64 / 300)  # the blob's place at the network's input size (stretched)
    heat = np.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / 8.0).astype(np.float32)
    overlay = np.asarray(Image.open(io.BytesIO(overlay_png(image, heat))).convert("RGB"), dtype=float)
    assert overlay.shape == (120, 300, 3)
    redness = overlay[..., 0] - overlay[..., 2]
    peak = np.unravel_index(int(redness.argmax()), redness.shape)
    assert abs(peak[0] - 30) <= 10 and abs(peak[1] - 230) <= 10, peak


@pytest.mark.parametrize(
    ("photometric", "modality", "stored", "window"),
    [
        ("MONOCHROME2", "MR", (500, 1500), (1000, 2000)),
        ("MONOCHROME1", "CR", (200, 1000), (600, 1200)),  # inverted: the blob is shown dark
    ],
)
def test_dicom_with_a_window_is_drawn_as_its_8_bit_export(
    tmp_path: Path, photometric: str, modality: str, stored: tuple[int, int], window: tuple[int, int]
) -> None:
    """An MR/CR/DX DICOM reaches medimg already mapped onto 0..255 through its own window; the overlay applied the
    file's window (in stored units) to those values again: a CR was drawn all black, an MR nearly black."""
    from PIL import Image

    from medimg.explain.overlay import display_image
    from medimg.io import read_image
    from tests.io.conftest import write_dicom

    pixels = np.full((40, 60), stored[0], dtype=np.int32)
    pixels[10:20, 30:40] = stored[1]
    path = write_dicom(
        tmp_path / "x.dcm", pixels, photometric=photometric, modality=modality, window=window, pixel_spacing=None
    )
    image = read_image(path)
    shown = display_image(image.array, image.meta).astype(float)
    np.testing.assert_allclose(shown, image.array[0], atol=1.0)  # the 0..255 values the network saw
    assert abs(shown[15, 35] - shown[0, 0]) > 100  # blob and background clearly apart
    overlay = np.asarray(Image.open(io.BytesIO(overlay_png(image.array, np.zeros((8, 8)), image.meta))))
    assert abs(float(overlay[15, 35, 0]) - float(overlay[0, 0, 0])) > 100


class CeilPoolNet(nn.Module):
    """BlobNet with three ``ceil_mode`` max-pools before its target (simple-cnn's layout): 28 px -> 4 x 4 cells of
    8 px, the last one 4 px."""

    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(1, 4, 3, padding=1)
        pools = [nn.MaxPool2d(2, ceil_mode=True) for _ in range(3)]
        self.features = nn.Sequential(conv, nn.ReLU(), *pools)
        self.head = nn.Linear(4, 2)
        with torch.no_grad():
            conv.weight.fill_(1 / 9)
            conv.bias.fill_(-0.05)
            self.head.weight.copy_(torch.tensor([[-1.0] * 4, [1.0] * 4]))
            self.head.bias.zero_()
        self.target_layer_name = "features"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(2).mean(2))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_heat_of_a_ceil_pooled_network_lies_on_its_cells(method: str) -> None:
    """A blob on rows and columns 16..23 (the third 8 px cell of a 28 px input) peaks there, not 2 px up and left
    (the 4 cells were stretched over 28 px: 7 px each)."""
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 16:24, 16:24] = 1.0
    heat = explain_batch(CeilPoolNet(), x, method=method, class_index=1)[0]
    peak = np.unravel_index(int(heat.argmax()), heat.shape)
    assert all(abs(p - 19.5) <= 1 for p in peak), peak
    assert heat.shape == (28, 28) and np.isfinite(heat).all()
