from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from medimg.errors import ImageReadError
from medimg.io import read_image
from medimg.io.raster import read_raster

RNG = np.random.default_rng(0)


def test_png_8bit_gray(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, size=(7, 9), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.array.shape == (1, 7, 9)
    assert image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array[0], data)
    assert image.meta == {"format": "png", "bits": 8, "mode": "L"}
    assert image.spacing_mm is None and image.affine is None
    assert image.source == str(tmp_path / "g.png")


def test_png_16bit_gray_keeps_raw_values(tmp_path: Path) -> None:
    data = np.array([[0, 1, 4095], [40000, 65535, 12345]], dtype=np.uint16)
    Image.fromarray(data).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.array.shape == (1, 2, 3)
    np.testing.assert_array_equal(image.array[0], data.astype(np.float32))
    assert image.meta["bits"] == 16 and image.meta["mode"] == "I;16"


def test_png_rgb_and_rgba(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    image = read_image(tmp_path / "c.png")
    assert image.array.shape == (3, 5, 6)
    np.testing.assert_array_equal(image.array, np.moveaxis(rgb, -1, 0))
    rgba = np.concatenate([rgb, np.full((5, 6, 1), 17, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(tmp_path / "ca.png")
    image = read_image(tmp_path / "ca.png")
    assert image.array.shape == (3, 5, 6)
    np.testing.assert_array_equal(image.array, np.moveaxis(rgb, -1, 0))
    assert image.meta["mode"] == "RGBA"


def test_gray_with_alpha_drops_alpha(tmp_path: Path) -> None:
    la = np.stack([np.arange(6, dtype=np.uint8).reshape(2, 3), np.full((2, 3), 9, np.uint8)], axis=-1)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    assert image.array.shape == (1, 2, 3)
    np.testing.assert_array_equal(image.array[0], la[..., 0])


def test_palette_colour_becomes_rgb(tmp_path: Path) -> None:
    indices = np.array([[0, 1], [2, 1]], dtype=np.uint8)
    img = Image.fromarray(indices, mode="P")
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    img.save(tmp_path / "p.png")
    image = read_image(tmp_path / "p.png")
    assert image.array.shape == (3, 2, 2)
    np.testing.assert_array_equal(image.array[:, 0, 0], [255, 0, 0])
    np.testing.assert_array_equal(image.array[:, 0, 1], [0, 255, 0])
    np.testing.assert_array_equal(image.array[:, 1, 0], [0, 0, 255])
    assert image.meta["palette"] is True and image.meta["mode"] == "P"


def test_gray_palette_gives_gray_levels_not_indices(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2]], dtype=np.uint8)
    img = Image.fromarray(indices, mode="P")
    img.putpalette([0, 0, 0, 128, 128, 128, 255, 255, 255] + [0] * (256 * 3 - 9))
    img.save(tmp_path / "gp.png")
    image = read_image(tmp_path / "gp.png")
    assert image.array.shape == (1, 1, 3)
    np.testing.assert_array_equal(image.array[0], [[0, 128, 255]])


def test_one_bit_is_zero_one(tmp_path: Path) -> None:
    data = np.array([[True, False, True], [False, False, True]])
    Image.fromarray(data).save(tmp_path / "b.png")
    image = read_image(tmp_path / "b.png")
    np.testing.assert_array_equal(image.array[0], data.astype(np.float32))
    assert image.meta["bits"] == 1 and image.meta["mode"] == "1"


def test_jpeg(tmp_path: Path) -> None:
    data = np.zeros((16, 16, 3), np.uint8)
    data[..., 0], data[..., 1], data[..., 2] = 200, 100, 50
    Image.fromarray(data).save(tmp_path / "x.jpg", quality=95)
    image = read_image(tmp_path / "x.jpg")
    assert image.array.shape == (3, 16, 16)
    np.testing.assert_allclose(image.array.mean(axis=(1, 2)), [200, 100, 50], atol=3)
    assert image.meta["format"] == "jpeg"


def test_bmp(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "x.bmp")
    image = read_image(tmp_path / "x.bmp")
    np.testing.assert_array_equal(image.array, np.moveaxis(data, -1, 0))
    assert image.meta["format"] == "bmp"


def test_gif_gray_and_colour(tmp_path: Path) -> None:
    mask = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    Image.fromarray(mask).save(tmp_path / "m.gif")
    image = read_image(tmp_path / "m.gif")
    assert image.array.shape == (1, 2, 2)
    np.testing.assert_array_equal(image.array[0], mask)
    assert image.meta["format"] == "gif"


def test_tiff_16bit_and_rgb(tmp_path: Path) -> None:
    data = np.array([[0, 1000], [50000, 65535]], dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", data)
    image = read_image(tmp_path / "a.tif")
    assert image.array.shape == (1, 2, 2)
    np.testing.assert_array_equal(image.array[0], data)
    assert image.meta == {"format": "tiff", "bits": 16, "mode": "I;16"}
    rgb = RNG.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    image = read_image(tmp_path / "rgb.tif")
    np.testing.assert_array_equal(image.array, np.moveaxis(rgb, -1, 0))


def test_tiff_stack_becomes_a_volume(tmp_path: Path) -> None:
    stack = np.arange(4 * 3 * 5, dtype=np.uint16).reshape(4, 3, 5)
    # plain multi-page file, as most software writes them (pages of identical shape and dtype)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as writer:
        for page in stack:
            writer.write(page, contiguous=False, metadata=None)
    image = read_image(tmp_path / "pages.tif")
    assert image.array.shape == (1, 4, 3, 5)
    np.testing.assert_array_equal(image.array[0], stack)
    assert image.meta["n_pages"] == 4
    # one shaped 3D array
    tifffile.imwrite(tmp_path / "shaped.tif", stack, photometric="minisblack")
    np.testing.assert_array_equal(read_image(tmp_path / "shaped.tif").array[0], stack)
    # Pillow multi-page (fallback path agrees)
    frames = [Image.fromarray(p.astype(np.uint8)) for p in stack]
    frames[0].save(tmp_path / "pil.tif", save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(read_image(tmp_path / "pil.tif").array[0], stack)
    np.testing.assert_array_equal(read_raster(tmp_path / "pil.tif", fmt="tiff").array[0], stack)


def test_tiff_pages_of_different_sizes_are_not_a_stack(tmp_path: Path) -> None:
    with tifffile.TiffWriter(tmp_path / "mixed.tif") as writer:
        writer.write(np.full((6, 8), 3, np.uint8), contiguous=False)
        writer.write(np.full((3, 4), 9, np.uint8), contiguous=False)
    image = read_image(tmp_path / "mixed.tif")
    assert image.array.shape == (1, 6, 8)
    assert np.all(image.array == 3)


def test_compressed_tiff_falls_back_to_pillow(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, size=(9, 7), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    image = read_image(tmp_path / "lzw.tif")
    np.testing.assert_array_equal(image.array[0], data)


def test_truncated_png(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, size=(64, 64), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "full.png")
    blob = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ImageReadError, match="corrupt or truncated") as info:
        read_image(tmp_path / "cut.png")
    assert str(tmp_path / "cut.png") in str(info.value)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the cut EXIF of a TIFF
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".gif", ".tif"])
def test_truncation_never_leaks_library_errors(tmp_path: Path, suffix: str) -> None:
    data = RNG.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / f"full{suffix}")
    blob = (tmp_path / f"full{suffix}").read_bytes()
    for n in (1, 7, 30, 200, len(blob) // 2, len(blob) - 10):
        cut = tmp_path / f"cut{n}{suffix}"
        cut.write_bytes(blob[:n])
        try:
            read_image(cut)
        except ImageReadError as exc:
            assert exc.path == str(cut)
        # Formats that tolerate a missing tail (e.g. BMP padding) may read; anything else must not escape.


def test_decompression_bomb_guard(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "big.png")
    before = Image.MAX_IMAGE_PIXELS
    slide = (
        r"decompression-bomb guard\)\. A whole-slide image\? .*: cut the slide into tiles"  # advice a CLI user can take
    )
    with pytest.raises(ImageReadError, match=slide):
        read_image(tmp_path / "big.png", max_pixels=5_000)
    with pytest.raises(ImageReadError, match=slide):
        read_raster(tmp_path / "big.png", max_pixels=9_999)
    assert read_raster(tmp_path / "big.png", max_pixels=10_000).array.shape == (1, 100, 100)
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((100, 100), np.uint8))
    with pytest.raises(ImageReadError, match="decompression-bomb"):
        read_image(tmp_path / "big.tif", max_pixels=5_000)
    assert before == Image.MAX_IMAGE_PIXELS


def test_window_on_a_raster_clips_raw_values(tmp_path: Path) -> None:
    data = np.array([[0, 50, 100, 200]], dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "w.png")
    image = read_image(tmp_path / "w.png", window=(100, 100))
    np.testing.assert_allclose(image.array[0], [[0.0, 0.0, 0.5, 1.0]])
    assert image.meta["window"] == (100.0, 100.0)
    auto = read_image(tmp_path / "w.png", window="auto")
    assert auto.meta["window"] == (100.0, 200.0)
    np.testing.assert_allclose(auto.array[0], [[0.0, 0.25, 0.5, 1.0]])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_16bit_colour_png_is_flagged(tmp_path: Path) -> None:
    h, w = 2, 3
    pixels = (np.arange(h * w * 3).reshape(h, w, 3) * 1000).astype(">u2")
    raw = b"".join(b"\x00" + pixels[i].tobytes() for i in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    blob = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    (tmp_path / "rgb16.png").write_bytes(blob)
    image = read_image(tmp_path / "rgb16.png")
    assert image.array.shape == (3, 2, 3)
    assert image.meta["bits"] == 8 and image.meta["file_bits"] == 16 and image.meta["precision_reduced"] is True


def test_palette_and_miniswhite_tiff(tmp_path: Path) -> None:
    indices = np.array([[0, 1], [2, 1]], dtype=np.uint8)
    img = Image.fromarray(indices, mode="P")
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    img.save(tmp_path / "p.tif")
    image = read_image(tmp_path / "p.tif")
    assert image.array.shape == (3, 2, 2)
    np.testing.assert_array_equal(image.array[:, 0, 0], [255, 0, 0])
    np.testing.assert_array_equal(image.array[:, 1, 0], [0, 0, 255])
    data = np.array([[0, 10], [200, 255]], dtype=np.uint8)
    tifffile.imwrite(tmp_path / "w.tif", data, photometric="miniswhite")
    inverted = read_image(tmp_path / "w.tif")
    np.testing.assert_array_equal(inverted.array[0], 255 - data.astype(np.float32))
    assert inverted.meta["inverted"] is True


def test_our_limit_replaces_pillows_global_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "p.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow alone would refuse this image
    assert read_image(tmp_path / "p.png").array.shape == (1, 100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_netpbm_images_are_read(tmp_path: Path) -> None:
    """PGM/PPM (MIAS mammograms, STARE fundus images): read by content like any raster, found in folders."""
    from medimg.io.formats import detect_format, is_image_file

    grey = (np.arange(20 * 24) % 251).astype(np.uint8).reshape(20, 24)
    Image.fromarray(grey).save(tmp_path / "mdb001.pgm")
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "im0001.ppm")
    for name, channels in (("mdb001.pgm", 1), ("im0001.ppm", 3)):
        path = tmp_path / name
        assert is_image_file(path) and detect_format(path) == "pnm"
        image = read_image(path)
        assert image.array.shape == (channels, 20, 24) and np.array_equal(image.array[0], grey)
