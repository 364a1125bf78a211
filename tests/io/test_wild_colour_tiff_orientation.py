"""A TIFF with an Orientation tag (a camera or scanner export, a photo saved as TIFF) is read as stored, like a JPEG
or PNG with an EXIF orientation, and says so (``meta["exif_orientation"]``, which ``check`` and ``predict`` warn
about and the mask pairing names). Before: tifffile read it as stored without a word, and a TIFF tifffile cannot
decode (JPEG-compressed, without imagecodecs) came back from Pillow turned upright, its width and height swapped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.io import read_image
from medimg.io.raster import _read_pillow


def _stored() -> np.ndarray:
    y, x = np.mgrid[0:24, 0:40]
    return np.stack([y * 10, x * 6, (x + y) * 3], axis=-1).astype(np.uint8)  # (24, 40, 3): every pixel differs


def _save(path: Path, orientation: int | None, **kwargs: object) -> None:
    from PIL import Image

    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(_stored()).save(path, exif=exif.tobytes(), **kwargs)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_tiff_orientation_read_as_stored_and_noted(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / f"photo_{orientation}.tif"
    _save(path, orientation)
    expected = np.moveaxis(_stored(), -1, 0).astype(np.float32)
    for image in (read_image(path), _read_pillow(path, "tiff", None)):  # tifffile, and Pillow as its fallback
        assert image.array.shape == (3, 24, 40)
        np.testing.assert_array_equal(image.array, expected)
        assert image.meta["exif_orientation"] == orientation


def test_jpeg_compressed_tiff_with_orientation_not_turned(tmp_path: Path) -> None:
    turned, upright = tmp_path / "turned.tif", tmp_path / "upright.tif"
    _save(turned, 6, compression="jpeg")
    _save(upright, None, compression="jpeg")
    a, b = read_image(turned), read_image(upright)
    assert a.array.shape == b.array.shape == (3, 24, 40)
    np.testing.assert_array_equal(a.array, b.array)
    assert a.meta["exif_orientation"] == 6
    assert "exif_orientation" not in b.meta
