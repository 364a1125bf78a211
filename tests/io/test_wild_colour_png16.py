"""A 16-bit colour PNG is read at 8 bits per channel (Pillow keeps the high byte), so its meta says 8 bits: before it
said 16, and ``check`` told a set of 16-bit colour PNGs beside 8-bit ones (one slide scanner's export beside
another's) that their values were on different scales ("up to 255 against up to 65535") and to convert them, though
both were read 0..255; a 16-bit TIFF (read 0..65535) beside such PNGs got no warning at all."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.quality import check_dataset
from medimg.io import read_image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png16(path: Path, rgb8: np.ndarray) -> None:
    pixels = (rgb8.astype(np.uint16) * 257).astype(">u2")
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[i].tobytes() for i in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    )


def test_16bit_colour_png_says_8_bits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3)).astype(np.uint8)
    _png16(tmp_path / "a.png", rgb)
    _png16(tmp_path / "b.png", rgb)
    with caplog.at_level(logging.WARNING, logger="medimg.io.raster"):
        image = read_image(tmp_path / "a.png")
        read_image(tmp_path / "b.png")
    np.testing.assert_array_equal(image.array, np.moveaxis(rgb, -1, 0).astype(np.float32))
    assert image.meta["bits"] == 8 and image.meta["file_bits"] == 16 and image.meta["precision_reduced"] is True
    assert caplog.text.count("read at 8 bits per channel") == 1  # once for the folder, not per file


def test_check_compares_16bit_colour_pngs_as_8_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for cls in ("tumour", "normal"):
        (tmp_path / cls).mkdir()
        for i in range(4):
            rgb = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
            if cls == "tumour":
                _png16(tmp_path / cls / f"{i}.png", rgb)
            else:
                Image.fromarray(rgb).save(tmp_path / cls / f"{i}.png")
    report = check_dataset(Dataset.load(tmp_path))
    assert not [w for w in report.warnings if "different bit depths" in w]
