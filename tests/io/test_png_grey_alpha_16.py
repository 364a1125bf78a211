"""A 16-bit grey + alpha PNG (colour type 4), as ImageJ/Fiji and some microscope exports write a grey image with a
mask: Pillow opens it as 8-bit RGBA (three equal channels of the high bytes), so it was read as a colour image at
8 bits. It is read as one grey channel at its 16 bits, whatever scanline filters the encoder chose."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from medimg.io import read_image
from medimg.io.raster import raster_header


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filtered(row: bytes, previous: bytes, kind: int, bpp: int = 4) -> bytes:
    """One scanline with PNG filter ``kind`` (0 none, 1 sub, 2 up, 3 average, 4 Paeth) applied."""
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = previous[i]
        c = previous[i - bpp] if i >= bpp else 0
        predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
        out.append((x - predictor) % 256)
    return bytes([kind]) + bytes(out)


def _write_grey_alpha_16(path: Path, grey: np.ndarray, alpha: np.ndarray) -> None:
    height, width = grey.shape
    pixels = np.stack([grey, alpha], axis=-1).astype(">u2")
    rows = [pixels[i].tobytes() for i in range(height)]
    previous = bytes(len(rows[0]))
    scanlines = b""
    for i, row in enumerate(rows):
        scanlines += _filtered(row, previous, kind=i % 5)
        previous = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines)) + chunk(b"IEND", b"")
    )


def test_a_16_bit_grey_alpha_png_is_one_grey_channel_at_16_bits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 65536, (10, 7)).astype(np.uint16)
    alpha = np.full_like(grey, 65535)
    alpha[0, 0] = 0
    path = tmp_path / "cells.png"
    _write_grey_alpha_16(path, grey, alpha)  # rows filtered none, sub, up, average, Paeth in turn
    image = read_image(path)
    assert image.array.shape == (1, 10, 7)
    np.testing.assert_array_equal(image.array[0], grey.astype(np.float32))
    assert image.meta["bits"] == 16 and image.meta["transparent"] > 0
    assert raster_header(path, "png").shape == (1, 10, 7)  # what check counts: one grey channel
