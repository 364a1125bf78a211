"""Masks painted on a transparent layer (GIMP, Photoshop, drawing tools export the layer as an RGBA PNG): the alpha
draws the structure when the layer is one colour, and a fully transparent pixel is background whatever colour is
stored under it. Read without the alpha, such a mask was one value all over: every case "empty", status OK."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.io import read_image, read_mask

SQUARE = (slice(10, 30), slice(12, 28))


def _structure() -> np.ndarray:
    inside = np.zeros((48, 40), bool)
    inside[SQUARE] = True
    return inside


@pytest.mark.parametrize("brush", [(255, 255, 255), (0, 0, 0), (255, 0, 0)])
def test_a_one_colour_layer_is_drawn_by_its_alpha(tmp_path: Path, brush: tuple[int, int, int]) -> None:
    rgba = np.zeros((48, 40, 4), np.uint8)
    rgba[..., :3] = brush  # the brush's colour stored everywhere, as an exported layer keeps it
    rgba[..., 3][_structure()] = 255
    rgba[9, 10:30, 3] = 100  # a soft brush's faint edge: under half opaque, not the structure
    Image.fromarray(rgba, "RGBA").save(tmp_path / "mask.png")
    mask = read_mask(tmp_path / "mask.png")
    assert mask.array.shape == (1, 48, 40) and mask.meta["alpha_drawn"] == "layer"
    np.testing.assert_array_equal(mask.array[0] > 0, _structure())
    assert set(np.unique(mask.array)) == {0.0, 255.0}
    assert read_image(tmp_path / "mask.png").array.shape[0] == 3  # an image keeps its colours (alpha dropped)


def test_colour_coded_classes_on_a_transparent_background(tmp_path: Path) -> None:
    rgba = np.full((48, 40, 4), 255, np.uint8)  # white under every transparent pixel
    rgba[..., 3] = 0
    rgba[10:20, 5:15] = (255, 0, 0, 255)
    rgba[30:40, 20:30] = (0, 0, 255, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "mask.png")
    mask = read_mask(tmp_path / "mask.png")
    assert mask.meta["alpha_drawn"] == "background"
    colours = {tuple(int(v) for v in c) for c in mask.array.reshape(3, -1).T}
    assert colours == {(0, 0, 0), (255, 0, 0), (0, 0, 255)}


def test_opaque_and_wholly_transparent_masks(tmp_path: Path) -> None:
    grey = np.where(_structure(), 255, 0).astype(np.uint8)
    Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)]), "RGBA").save(tmp_path / "opaque.png")
    opaque = read_mask(tmp_path / "opaque.png")
    assert "alpha_drawn" not in opaque.meta
    np.testing.assert_array_equal(opaque.array[0] > 0, _structure())
    clear = np.zeros((48, 40, 4), np.uint8)
    clear[..., :3] = 255
    Image.fromarray(clear, "RGBA").save(tmp_path / "clear.png")  # nothing drawn: an empty mask, not all structure
    assert not read_mask(tmp_path / "clear.png").array.any()


def test_check_and_training_read_layer_masks_as_drawn(tmp_path: Path) -> None:
    from medimg.tasks.segment.quality import check_segmentation

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for number in range(8):
        Image.fromarray((rng.random((48, 40)) * 255).astype(np.uint8)).save(tmp_path / "images" / f"c{number}.png")
        rgba = np.zeros((48, 40, 4), np.uint8)
        rgba[..., :3] = 255
        rgba[..., 3][_structure()] = 255
        Image.fromarray(rgba, "RGBA").save(tmp_path / "masks" / f"c{number}.png")
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    report = check_segmentation(dataset, progress=False)
    assert report.ok and not report.empty_masks and report.mask_values == [0.0, 255.0]
    sample = dataset.read(dataset.cases[0])
    assert sample.mask is not None
    np.testing.assert_array_equal(sample.mask[0] > 0, _structure())
