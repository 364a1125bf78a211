"""TIFF extra samples: alpha only where the ExtraSamples tag says so; every other sample is a channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.io import read_image

tifffile = pytest.importorskip("tifffile")


def _stains(channels: int) -> np.ndarray:
    """(C, 16, 20) uint16 whose channel k holds the value 1000 * (k + 1)."""
    return np.stack([np.full((16, 20), 1000 * (k + 1), np.uint16) for k in range(channels)])


@pytest.mark.parametrize("channels", [2, 4])
@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_unspecified_extra_samples_are_channels(tmp_path: Path, channels: int, planar: str) -> None:
    data = _stains(channels)
    path = tmp_path / "fluo.tif"
    stored = np.moveaxis(data, 0, -1) if planar == "contig" else data
    tifffile.imwrite(path, stored, photometric="minisblack", planarconfig=planar, extrasamples=[0] * (channels - 1))
    image = read_image(path)
    assert image.array.shape == (channels, 16, 20)
    assert [float(v) for v in image.array.mean(axis=(1, 2))] == [1000.0 * (k + 1) for k in range(channels)]
    assert image.meta["mode"] == "multichannel"


@pytest.mark.parametrize(("photometric", "colour"), [("rgb", 3), ("minisblack", 1)])
@pytest.mark.parametrize("kind", [1, 2])
def test_alpha_extra_samples_are_dropped(tmp_path: Path, photometric: str, colour: int, kind: int) -> None:
    pixels = np.zeros((16, 20, colour + 1), np.uint8)
    pixels[..., :colour] = 90
    pixels[..., colour] = 255
    path = tmp_path / "alpha.tif"
    tifffile.imwrite(path, pixels, photometric=photometric, extrasamples=[kind])
    image = read_image(path)
    assert image.array.shape == (colour, 16, 20)
    assert float(image.array.max()) == 90.0
    assert image.meta["mode"] == ("RGB" if colour == 3 else "L")


def test_rgb_with_an_unspecified_fourth_sample_keeps_it(tmp_path: Path) -> None:
    pixels = np.zeros((16, 20, 4), np.uint8)
    pixels[..., 3] = 7
    path = tmp_path / "rgbx.tif"
    tifffile.imwrite(path, pixels, photometric="rgb", extrasamples=[0])
    image = read_image(path)
    assert image.array.shape == (4, 16, 20)
    assert float(image.array[3].max()) == 7.0
