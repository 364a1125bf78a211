"""A 2D mask at another resolution than its image over the same field of view (the COVID-19 Radiography Database's
256 px lung masks for 299 px radiographs) is resized onto the image's grid; any other size difference is an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.data.dataset import SegmentationDataset
from medimg.data.mask_grid import nearest_resize, same_field_of_view
from medimg.errors import DatasetError


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def _lungs(size: int) -> np.ndarray:
    """Two rectangles at the same place of the field of view whatever the resolution."""
    mask = np.zeros((size, size), np.uint8)
    quarter = size // 4
    mask[quarter : 3 * quarter, size // 8 : 3 * size // 8] = 255
    mask[quarter : 3 * quarter, 5 * size // 8 : 7 * size // 8] = 128
    return mask


def _covid_like(root: Path, *, image_size: int = 30, mask_size: int = 16, cases: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for k in range(cases):
        _png(root / "COVID" / "images" / f"COVID-{k + 1}.png", rng.integers(0, 255, (image_size, image_size)))
        _png(root / "COVID" / "masks" / f"COVID-{k + 1}.png", _lungs(mask_size))
    return root


def test_nearest_resize_copies_values_and_keeps_the_field_of_view() -> None:
    labels = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    up = nearest_resize(labels, (4, 6))
    np.testing.assert_array_equal(up[0], np.repeat(np.repeat(labels[0], 2, axis=0), 2, axis=1))
    np.testing.assert_array_equal(nearest_resize(up, (2, 3)), labels)
    odd = nearest_resize(np.arange(256, dtype=np.float32).reshape(1, 1, 256), (1, 299))
    assert set(np.unique(odd)) <= set(range(256)) and odd[0, 0, 0] == 0 and odd[0, 0, -1] == 255


def test_same_field_of_view_is_the_same_aspect_ratio_in_2d_only() -> None:
    assert same_field_of_view((256, 256), (299, 299))
    assert same_field_of_view((1024, 1024), (2048, 2048))
    assert same_field_of_view((100, 150), (203, 300))  # rounding of one side
    assert not same_field_of_view((5, 4), (4, 4))
    assert not same_field_of_view((80, 60), (60, 80))  # transposed
    assert not same_field_of_view((8, 8, 8), (16, 16, 16))  # volumes: not guessed


def test_a_lower_resolution_mask_is_read_on_its_images_grid(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _covid_like(tmp_path / "set")
    dataset = SegmentationDataset.load(root)
    with caplog.at_level("WARNING"):
        sample = dataset.read(dataset.cases[0])
    assert sample.mask is not None and sample.mask.shape == (1, 30, 30)
    assert set(np.unique(sample.mask)) == {0, 128, 255}  # no values made up between labels
    expected = nearest_resize(_lungs(16)[None], (30, 30))
    np.testing.assert_array_equal(sample.mask, expected)
    assert sample.image.meta["mask_resized_from"] == [16, 16]
    assert "another resolution" in caplog.text and "COVID-1.png" in caplog.text


def test_a_mask_of_another_aspect_ratio_is_still_an_error(tmp_path: Path) -> None:
    root = _covid_like(tmp_path / "set")
    _png(root / "COVID" / "masks" / "COVID-1.png", np.zeros((16, 12)))
    dataset = SegmentationDataset.load(root)
    case = next(c for c in dataset.cases if c.image.name == "COVID-1.png")
    with pytest.raises(DatasetError, match=r"COVID-1\.png has size \(16, 12\).*aspect ratio"):
        dataset.read(case)


def test_a_region_of_interest_at_another_resolution_is_resized_too(tmp_path: Path) -> None:
    for stem in ("21", "22"):
        _png(tmp_path / "training" / "images" / f"{stem}_training.png", np.zeros((16, 16)))
        _png(tmp_path / "training" / "1st_manual" / f"{stem}_manual1.png", np.zeros((16, 16)))
        roi = np.zeros((8, 8))
        roi[2:6, 2:6] = 255
        _png(tmp_path / "training" / "mask" / f"{stem}_training_mask.png", roi)
    dataset = SegmentationDataset.load(tmp_path)
    sample = dataset.read(dataset.cases[0])
    assert sample.roi is not None and sample.roi.shape == (16, 16)
    assert sample.roi.sum() == 64 and sample.roi[4:12, 4:12].all()


def test_check_reports_the_resized_masks_and_passes(tmp_path: Path) -> None:
    root = _covid_like(tmp_path / "set")
    result = CliRunner().invoke(app, ["check", str(root), "--task", "segment"])
    assert result.exit_code == 0, result.output
    assert "size mismatches 0" in result.output
    assert "3 mask(s) have another resolution than their images" in result.output
    assert "status    OK" in result.output
