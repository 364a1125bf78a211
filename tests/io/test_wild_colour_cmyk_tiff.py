"""A CMYK TIFF (a figure saved for print from Photoshop, a publication's panel) is read as RGB, as its CMYK JPEG is and
as Pillow reads it. Before: its four ink amounts were four channels of a "multichannel" image (a fluorescence TIFF's
reading), so cyan-magenta-yellow came out as inverted colours and a set of RGB tiles with a few CMYK ones had
"mixed channel counts"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from medimg.io import read_image
from medimg.io.raster import _read_pillow, raster_header


def _inks() -> np.ndarray:
    """Every (C, K) pair with M and Y their mirror: (256, 256, 4) uint8."""
    pairs = np.stack(np.meshgrid(np.arange(256), np.arange(256)), -1).reshape(-1, 2).astype(np.uint8)
    return np.concatenate([pairs, pairs[:, ::-1]], axis=1).reshape(256, 256, 4)


def test_cmyk_tiff_read_as_rgb_like_pillow(tmp_path: Path) -> None:
    inks = _inks()
    Image.frombytes("CMYK", (256, 256), inks.tobytes()).save(tmp_path / "figure.tif")
    image = read_image(tmp_path / "figure.tif")
    expected = _read_pillow(tmp_path / "figure.tif", "tiff", None).array  # Pillow's CMYK -> RGB
    assert image.array.shape == (3, 256, 256)
    np.testing.assert_array_equal(image.array, expected)
    assert image.meta["mode"] == "CMYK" and image.meta["converted_from"] == "CMYK"
    assert raster_header(tmp_path / "figure.tif", "tiff").shape[0] == 3


def test_pure_cyan_is_cyan_and_16_bit_inks_keep_their_range(tmp_path: Path) -> None:
    cyan = np.zeros((4, 4, 4), np.uint16)
    cyan[..., 0] = 65535  # full cyan, no black
    tifffile.imwrite(tmp_path / "cyan16.tif", cyan, photometric="separated")
    image = read_image(tmp_path / "cyan16.tif")
    np.testing.assert_array_equal(image.array[:, 0, 0], [0, 65535, 65535])
    assert image.meta["bits"] == 16
