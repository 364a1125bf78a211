"""Readers for plain raster images: PNG, JPEG, BMP, GIF (Pillow) and TIFF (tifffile, Pillow as fallback).

Conventions (all readers return :class:`~medimg.io.image.ImageData` with a ``float32`` array):

* grayscale -> ``(1, H, W)``; RGB -> ``(3, H, W)``; an alpha channel is dropped (RGBA -> 3, LA -> 1 channel), the
  colour stored under a transparent pixel is kept (``meta["transparent"]``: the share of pixels not fully opaque,
  which ``check`` and ``predict`` warn about, :mod:`medimg.io.read_notes`);
  in a TIFF only the extra samples its ExtraSamples tag marks as alpha are: a 2- or 4-sample fluorescence TIFF
  (extra samples "unspecified") keeps every channel (``meta["mode"]`` ``"multichannel"``);
* palette images ("P") -> RGB ``(3, H, W)``, unless every palette entry used is gray (R == G == B), then
  ``(1, H, W)`` with the gray levels (not the palette indices);
* values are raw: 0..255 for 8 bit, 0..65535 for 16 bit, 0/1 for 1-bit images; float TIFFs keep their values;
* a multi-page TIFF becomes a volume ``(C, D, H, W)`` only when it is clearly a stack: tifffile groups the
  pages into one series (same shape and dtype on every page, or an ImageJ/OME ``Z``/``T`` axis). Otherwise
  only the first image is read. Animated GIFs give their first frame (``meta["n_frames"]`` says how many there
  were);
* ``spacing_mm`` and ``affine`` are ``None``: raster resolution tags (dpi) are not reliable physical spacing.

``meta`` holds ``{"format": "png" | "jpeg" | "bmp" | "gif" | "tiff" | "webp" | "jpeg2000", "bits": bits per sample,
"mode": Pillow-style mode such as "L", "RGB", "RGBA", "P", "1", "I;16", "F"}`` plus ``"palette": True`` for
palette images, ``"n_frames"``/``"n_pages"`` when the file holds several images. A 16-bit colour PNG is read at 8 bits
per channel (Pillow keeps the high byte): ``"bits"`` is then 8, ``"file_bits"`` 16 and ``"precision_reduced"`` True.
A 16-bit grey + alpha PNG is one grey channel at 16 bits (mode ``"LA;16"``; Pillow would give 8-bit RGBA).

A decompression-bomb guard refuses images with more than ``max_pixels`` pixels (per frame, times frames for
stacks) before any pixel data is decoded. :func:`raster_header` gives the shape and decoded size from the header
alone, and ``reduce=k`` reads the image reduced by ``k`` on each side (JPEG decoded at 1/2..1/8 scale, a pyramidal
TIFF from its smallest stored level reduced by at most ``k`` (``meta["pyramid_level"]``: that level's reduction), then
block-averaged in the file's own dtype before any float conversion; see :mod:`medimg.io.limits`);
``meta["reduced_by"]`` and ``meta["full_shape"]`` then record it.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import ConfigError, ImageReadError, ImageTooLargeError, MissingDependencyError
from medimg.io.image import ImageData
from medimg.io.limits import ImageHeader, reduce_blocks, too_many_pixels

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_PIXELS", "raster_header", "read_raster"]

#: Default decompression-bomb limit: 20,000 x 20,000 pixels (4e8).
DEFAULT_MAX_PIXELS: int = 20_000 * 20_000

# Pillow's limit (Image.MAX_IMAGE_PIXELS) is a process-wide global. While a header is parsed we lift it under
# this lock so that ``max_pixels`` is the single limit, then restore it.
_PIL_LIMIT_LOCK = threading.Lock()

_RASTER_FORMATS = ("png", "jpeg", "bmp", "gif", "tiff", "pnm", "webp", "jpeg2000")

# TIFF axes (tifffile codes) that are stacked into the depth dimension and into channels.
_DEPTH_AXES = set("ZIQTRPEHALVMO")
_CHANNEL_AXES = set("SC")

# Pillow modes read as one channel, and Pillow modes that Image.reduce handles.
_GREY_MODES = ("1", "L", "LA", "La", "I", "F")
_PILLOW_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK", "YCbCr")
# The factors a JPEG decoder can reduce by while decoding (Pillow's draft mode).
_JPEG_SCALES = (1, 2, 4, 8)


def _corrupt(path: Path, fmt: str, exc: BaseException) -> ImageReadError:
    detail = str(exc).strip() or type(exc).__name__
    return ImageReadError(
        path,
        f"the {fmt.upper()} data is corrupt or truncated ({detail}); re-export or re-download the file",
    )


def _check_pixels(path: Path, n_pixels: int, shape: tuple[int, ...], max_pixels: int | None) -> None:
    if max_pixels is not None and n_pixels > max_pixels:
        raise too_many_pixels(path, n_pixels, shape, max_pixels)


# --------------------------------------------------------------------------------------------------- Pillow
EXIF_ORIENTATION_TAG = 0x0112


def _open_pillow(path: Path, fmt: str) -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - pillow is a core dependency
        raise MissingDependencyError("pillow") from exc
    with _PIL_LIMIT_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        except Exception as exc:
            raise _corrupt(path, fmt, exc) from exc
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _palette_to_array(img: Any, indices: np.ndarray) -> tuple[np.ndarray, bool]:
    """Map palette indices ``(H, W)`` through the palette. Returns ``(array (C, H, W), is_gray)``."""
    raw = img.getpalette("RGB") or []
    palette = np.asarray(raw, dtype=np.uint8).reshape(-1, 3)
    if palette.shape[0] < 256:
        palette = np.concatenate([palette, np.zeros((256 - palette.shape[0], 3), np.uint8)])
    used = np.unique(indices)
    colours = palette[used]
    is_gray = bool(np.all(colours[:, 0] == colours[:, 1]) and np.all(colours[:, 1] == colours[:, 2]))
    if is_gray:
        return palette[indices, 0][None].astype(np.float32), True
    return np.moveaxis(palette[indices], -1, 0).astype(np.float32), False


def _png_header(path: Path) -> tuple[int, int] | None:
    """A PNG's ``(bit depth, colour type)`` from its IHDR chunk; ``None`` when it has none."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError:
        return None
    if len(head) == 26 and head[12:16] == b"IHDR":
        return int(head[24]), int(head[25])
    return None


PNG_GREY_ALPHA = 4
"""The IHDR colour type of a grey + alpha PNG."""


def _read_grey_alpha_16(path: Path, max_pixels: int | None) -> ImageData:
    """A 16-bit grey + alpha PNG at its full 16 bits. Pillow opens one as 8-bit RGBA of the high bytes (three equal
    channels: a colour image at 8 bits). Its rows are byte for byte those of an 8-bit RGBA PNG of the same width (4
    bytes per pixel, so the same scanline filters), so the file is decoded as one with its IHDR rewritten, and each
    pixel's bytes ``G_hi G_lo A_hi A_lo`` give the grey value and its alpha."""
    import io as _io
    import zlib

    from PIL import Image

    try:
        data = bytearray(path.read_bytes())
        data[24:26] = bytes([8, 6])  # bit depth 8, colour type RGBA
        data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
        with Image.open(_io.BytesIO(bytes(data))) as img:
            _check_pixels(path, img.size[0] * img.size[1], (img.size[1], img.size[0]), max_pixels)
            raw = np.asarray(img, dtype=np.uint16)  # RGBA: the rewritten IHDR says so
    except (ImageReadError, MemoryError):
        raise
    except Exception as exc:
        raise _corrupt(path, "png", exc) from exc
    grey = (raw[..., 0] << 8) | raw[..., 1]
    alpha = (raw[..., 2] << 8) | raw[..., 3]
    meta: dict[str, Any] = {"format": "png", "bits": 16, "mode": "LA;16"}
    transparent = float(np.mean(alpha < 65535))
    if transparent > 0:  # the alpha channel is dropped, as for other images: check and predict say so
        meta["transparent"] = transparent
    return ImageData(array=grey[None].astype(np.float32), source=str(path), meta=meta)


def pillow_frame_to_array(img: Any) -> tuple[np.ndarray, str, int, dict[str, Any]]:
    """Convert one loaded Pillow frame to ``(array (C, H, W) float32, mode, bits, extra meta)``."""
    mode = str(img.mode)
    extra: dict[str, Any] = {}
    if mode == "1":
        return np.asarray(img, dtype=bool)[None].astype(np.float32), mode, 1, extra
    if mode in ("P", "PA"):
        data = np.asarray(img)
        indices = data[..., 0] if data.ndim == 3 else data
        arr, _is_gray = _palette_to_array(img, indices)
        extra["palette"] = True
        return arr, "P", 8, extra
    if mode in ("L", "LA", "La"):
        data = np.asarray(img)
        data = data[..., 0] if data.ndim == 3 else data
        return data[None].astype(np.float32), mode, 8, extra
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.float32)[None], "I;16", 16, extra
    if mode in ("I", "F"):
        return np.asarray(img).astype(np.float32)[None], mode, 32, extra
    if mode in ("RGB", "RGBA", "RGBa", "RGBX"):
        data = np.asarray(img)[..., :3]
        return np.moveaxis(data, -1, 0).astype(np.float32), mode, 8, extra
    # CMYK, YCbCr, LAB, HSV...: let Pillow convert to RGB.
    data = np.asarray(img.convert("RGB"))
    extra["converted_from"] = mode
    return np.moveaxis(data, -1, 0).astype(np.float32), mode, 8, extra


def _pillow_channels(mode: str) -> int:
    return 1 if mode in _GREY_MODES or mode.startswith("I;16") else 3


def _pillow_pixel_bytes(mode: str) -> int:
    """Bytes per pixel Pillow holds a decoded image of ``mode`` in."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _pillow_header(path: Path, fmt: str) -> ImageHeader:
    img = _open_pillow(path, fmt)
    with img:
        width, height = img.size
        if fmt == "tiff" and _exif_orientation(img) in (5, 6, 7, 8):  # Pillow gives a TIFF's upright size
            width, height = height, width
        mode = str(img.mode)
        n_frames = int(getattr(img, "n_frames", 1) or 1)
    if fmt == "png" and _png_header(path) == (16, PNG_GREY_ALPHA):
        mode = "I;16"  # read as one grey channel (:func:`_read_grey_alpha_16`), not as Pillow's RGBA
    spatial = (n_frames, height, width) if fmt == "tiff" and n_frames > 1 else (height, width)
    return ImageHeader(
        format=fmt,
        shape=(_pillow_channels(mode), *spatial),
        decoded_bytes=math.prod(spatial) * _pillow_pixel_bytes(mode),
        decode_scales=_JPEG_SCALES if fmt == "jpeg" else (1,),
    )


def _pillow_reduced_frame(img: Any, factor: int) -> tuple[np.ndarray, str, int, dict[str, Any]]:
    """One loaded Pillow frame as ``(array (C, H, W) float32, mode, bits, extra meta)`` (see
    :func:`pillow_frame_to_array`), reduced by ``factor`` with Pillow's box reduction first: the pixels stay in
    their 8/16/32-bit form until the image is small."""
    mode = str(img.mode)
    if factor <= 1:
        return pillow_frame_to_array(img)
    if mode in ("P", "PA"):  # reduce the colours, not the palette indices
        used = [index for _, index in img.getcolors(maxcolors=1 << 16) or []]
        palette = np.asarray(img.getpalette("RGB") or [0, 0, 0], dtype=np.uint8).reshape(-1, 3)
        colours = palette[[i for i in used if i < len(palette)]]
        grey = bool(len(colours) and np.all(colours == colours[:, :1]))
        array = pillow_frame_to_array(img.convert("L" if grey else "RGB").reduce(factor))[0]
        return array, "P", 8, {"palette": True}
    if mode == "1":  # as 0/255 grey, then back to 0..1 (fractions where the block was mixed)
        return pillow_frame_to_array(img.convert("L").reduce(factor))[0] / 255.0, "1", 1, {}
    if mode.startswith("I;16"):
        return pillow_frame_to_array(img.convert("I").reduce(factor))[0], "I;16", 16, {}
    if mode not in _PILLOW_REDUCIBLE:
        array = pillow_frame_to_array(img.convert("RGB").reduce(factor))[0]
        return array, mode, 8, {"converted_from": mode}
    return pillow_frame_to_array(img.reduce(factor))


def _read_pillow(path: Path, fmt: str, max_pixels: int | None, reduce: int = 1) -> ImageData:
    png_header = _png_header(path) if fmt == "png" else None  # (bit depth, colour type), read once
    if png_header == (16, PNG_GREY_ALPHA):
        return _read_grey_alpha_16(path, max_pixels)
    img = _open_pillow(path, fmt)
    with img:
        width, height = img.size
        n_frames = int(getattr(img, "n_frames", 1) or 1)
        stack = fmt == "tiff" and n_frames > 1
        _check_pixels(path, width * height * (n_frames if stack else 1), (height, width), max_pixels)
        frames: list[np.ndarray] = []
        drafted = 1
        try:
            if fmt == "jpeg" and reduce > 1:  # decode at 1/2, 1/4 or 1/8 scale directly
                img.draft(img.mode, (math.ceil(width / reduce), math.ceil(height / reduce)))
                drafted = max(1, width // img.size[0])
            orientation = _exif_orientation(img)  # before load: Pillow turns a TIFF upright as it loads it
            img.load()
            frame_size = img.size
            transparent = _transparent_share(img)
            arr, mode, bits, extra = _pillow_reduced_frame(_as_stored(img, fmt, orientation), reduce // drafted)
            frames.append(arr)
            if stack:
                for i in range(1, n_frames):
                    img.seek(i)
                    img.load()
                    if img.size != frame_size:
                        stack = False
                        break
                    frame, frame_mode, _, _ = _pillow_reduced_frame(_as_stored(img, fmt, orientation), reduce)
                    if frame.shape != arr.shape or frame_mode != mode:
                        stack = False
                        break
                    frames.append(frame)
        except (ImageReadError, MemoryError):
            raise
        except Exception as exc:
            raise _corrupt(path, fmt, exc) from exc
    meta: dict[str, Any] = {"format": fmt, "bits": bits, "mode": mode, **extra}
    if reduce > 1:
        meta["reduced_by"] = drafted * max(1, reduce // drafted)
        meta["full_shape"] = [
            int(arr.shape[0]),
            *((n_frames,) if stack and len(frames) == n_frames else ()),
            height,
            width,
        ]
    if n_frames > 1:
        meta["n_frames"] = n_frames
    if orientation != 1:  # viewers show it turned; the pixels are read as stored (as MONAI and torchvision do)
        meta["exif_orientation"] = orientation
    if transparent > 0:  # the alpha channel is dropped: check and predict say so (medimg.io.read_notes)
        meta["transparent"] = transparent
    if png_header is not None and png_header[0] == 16 and mode in ("RGB", "RGBA"):
        _warn_reduced_png(path)
        # the values are 8-bit (0..255): ``bits`` says so, as the check's bit-depth warning and the domain compare
        # it with the other images' (``file_bits`` keeps what the file stores)
        meta["file_bits"] = 16
        meta["precision_reduced"] = True
    if stack and len(frames) == n_frames:
        array = np.stack(frames, axis=1)  # (C, D, H, W)
        if reduce > 1:
            array = reduce_blocks(array, reduce, axes=(1,))  # the frames were reduced one by one; now the depth
    else:
        if n_frames > 1:
            logger.info("%s: %d frames/pages; reading the first only", path, n_frames)
        array = frames[0]
    return ImageData(array=np.ascontiguousarray(array, dtype=np.float32), source=str(path), meta=meta)


#: folders whose 16-bit colour PNGs were warned about (:func:`_warn_reduced_png`)
_REDUCED_PNG_FOLDERS: set[Path] = set()


def _warn_reduced_png(path: Path) -> None:
    """Warn that a 16-bit colour PNG is read at 8 bits per channel: once per folder (its siblings are read the same
    way), not once per file and epoch."""
    if path.parent in _REDUCED_PNG_FOLDERS:
        return
    _REDUCED_PNG_FOLDERS.add(path.parent)
    logger.warning(
        "%s: 16-bit colour PNG read at 8 bits per channel (0..255: Pillow keeps the high byte); save it as 16-bit "
        "TIFF to keep full precision (the other 16-bit colour PNGs in %s are read the same way)",
        path,
        path.parent,
    )


def _alpha_band(img: Any) -> np.ndarray | None:
    """A loaded Pillow frame's alpha (0..255): its alpha band (RGBA, LA, PA...) or its transparency key (a PNG/GIF
    ``tRNS`` colour or palette entries); ``None`` when it has neither or Pillow cannot convert it (I;16 with a key)."""
    try:
        if "A" in img.getbands():
            return np.asarray(img.getchannel("A"))
        if "transparency" in img.info:
            return np.asarray(img.convert("RGBA").getchannel("A"))
    except Exception:  # a mode Pillow cannot convert: as if it had no alpha
        return None
    return None


def _transparent_share(img: Any) -> float:
    """The share of a loaded Pillow frame's pixels that are not fully opaque (:func:`_alpha_band`); 0.0 when it has
    no alpha."""
    alpha = _alpha_band(img)
    return 0.0 if alpha is None else _share_below(alpha, 255)


def opacity(path: str | os.PathLike[str]) -> np.ndarray | None:
    """The opacity ``(H, W)`` of a raster file's pixels as stored (its first frame's :func:`_alpha_band`), 0.0
    transparent to 1.0 opaque; ``None`` when it has none or Pillow cannot open it."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            alpha = _alpha_band(img)
    except Exception:  # an unreadable file: as if it had no alpha
        return None
    return None if alpha is None else alpha.astype(np.float32) / 255.0


def _share_below(alpha: np.ndarray, opaque: float) -> float:
    """The share of ``alpha``'s values below ``opaque`` (rounded to 4 digits, and at least 1e-4 when any is)."""
    count = int(np.count_nonzero(alpha < opaque))
    return max(round(count / alpha.size, 4), 1e-4) if count else 0.0


def _exif_orientation(img: Any) -> int:
    """The EXIF orientation tag of a Pillow image (a TIFF's Orientation tag): 1 (upright) when it has none, the EXIF
    block is damaged or the value is not one of 1..8."""
    try:
        return _orientation(img.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception:  # a damaged EXIF block must not make the pixels unreadable
        return 1


def _orientation(value: Any) -> int:
    """An Orientation tag's value as 1..8; 1 (upright) for none or any other value."""
    orientation = int(value or 1)
    return orientation if 1 <= orientation <= 8 else 1


#: The Pillow transposition that undoes the one Pillow's TIFF loader applies for each orientation
#: (``ImageOps.exif_transpose``): 6 is turned 270 degrees there, so 90 degrees back here; the others undo themselves.
_UNDO_TRANSPOSE: dict[int, str] = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_90",
    7: "TRANSVERSE",
    8: "ROTATE_270",
}


def _as_stored(img: Any, fmt: str, orientation: int) -> Any:
    """A loaded Pillow frame with its pixels as stored. Pillow turns a TIFF upright by its Orientation tag as it
    loads it (not a JPEG, PNG or WebP), so a TIFF tifffile cannot decode (JPEG-compressed, without imagecodecs) came
    back turned while every other file, and the same TIFF through tifffile, is read as stored."""
    if fmt != "tiff" or orientation not in _UNDO_TRANSPOSE:
        return img
    from PIL import Image

    return img.transpose(getattr(Image.Transpose, _UNDO_TRANSPOSE[orientation]))


def _tiff_orientation(tif: Any) -> int:
    """A TIFF's Orientation tag (274), as :func:`_exif_orientation` gives it."""
    try:
        return _orientation(tif.pages.first.tags.valueof(EXIF_ORIENTATION_TAG))
    except Exception:  # a damaged tag must not make the pixels unreadable
        return 1


# -------------------------------------------------------------------------------------------------- tifffile


#: TIFF ExtraSamples values that mark an alpha channel: 1 associated (premultiplied), 2 unassociated alpha. 0
#: ("unspecified") is a further channel of the image (a fluorescence stain), never alpha.
_ALPHA_EXTRASAMPLES = (1, 2)
#: TIFF Photometric values whose three colour samples are RGB once decoded (RGB, YCbCr, CIELab is not)
_RGB_PHOTOMETRIC = (2, 6)


def _alpha_samples(extrasamples: tuple[Any, ...], samples: int) -> list[int]:
    """The indices of the alpha samples among a TIFF pixel's ``samples``: the ExtraSamples (the last
    ``len(extrasamples)`` samples) that the tag marks as associated or unassociated alpha. An extra sample marked
    "unspecified", or a file without the tag, is a channel: a 2- or 4-channel fluorescence TIFF keeps them all."""
    first = samples - len(extrasamples)
    return [first + i for i, kind in enumerate(extrasamples) if int(kind) in _ALPHA_EXTRASAMPLES and first + i > 0]


#: TIFF Photometric SEPARATED: ink amounts, CMYK unless the InkSet tag says other inks
_SEPARATED = 5
_INKSET_TAG = 332


def _cmyk_inks(keyframe: Any) -> bool:
    """Whether a TIFF page stores CMYK ink amounts (Photometric SEPARATED, InkSet not "other inks")."""
    return int(keyframe.photometric) == _SEPARATED and int(keyframe.tags.valueof(_INKSET_TAG) or 1) != 2


def _cmyk_to_rgb(data: np.ndarray, bits: int) -> np.ndarray:
    """CMYK ink amounts ``(4, ...)`` as RGB ``(3, ...)`` in the same range, as Pillow converts them (each colour's
    complement times the black's: ``R = (top - K) - round(C * (top - K) / top)``), so a CMYK TIFF (a figure saved
    for print) reads as its CMYK JPEG does. Without it the four inks were four channels of a fluorescence image,
    the colours inverted."""
    top = (1 << bits) - 1
    ink = data.astype(np.int64)
    white = top - ink[3:4]
    return (white - np.rint(ink[:3] * white / top).astype(np.int64)).astype(data.dtype)


def tiff_mode(channels: int, dtype: np.dtype, palette: bool, photometric: int | None = None) -> str:
    """The Pillow-style mode of TIFF pixels (``meta["mode"]``): ``"L"``, ``"I;16"``, ``"RGB"``, ``"F"``...; pixels
    of several channels that are not RGB (fluorescence stains, ``photometric`` minisblack) are ``"multichannel"``."""
    if palette:
        return "P"
    if dtype == np.bool_:
        return "1"
    if channels == 3 and (photometric is None or photometric in _RGB_PHOTOMETRIC):
        return "RGB"
    if channels >= 2:
        return "multichannel"
    if dtype.kind == "f":
        return "F"
    if dtype.itemsize == 1:
        return "L"
    if dtype.itemsize == 2:
        return "I;16"
    return "I"


def _tiff_layout(tif: Any, path: Path) -> tuple[Any, str, tuple[int, ...], list[str], list[str]]:
    """The first series of a TIFF and its layout: ``(series, axes, shape, channel_axes, depth_axes)`` with the
    axes of length 1 dropped (Y and X kept).

    Raises:
        ImageReadError: no image data, or more dimensions than an image or a volume.
    """
    if not tif.series:
        raise ImageReadError(path, "the TIFF file holds no image data")
    series = tif.series[0]
    axes = str(series.axes)
    shape = tuple(int(s) for s in series.shape)
    # Keep Y, X and every axis longer than 1.
    keep = [i for i, a in enumerate(axes) if a in "YX" or shape[i] > 1]
    axes = "".join(axes[i] for i in keep)
    shape = tuple(shape[i] for i in keep)
    if "Y" not in axes or "X" not in axes:
        raise ImageReadError(path, f"unsupported TIFF layout (axes {series.axes!r} have no Y and X)")
    depth_axes = [a for a in axes if a in _DEPTH_AXES]
    channel_axes = [a for a in axes if a in _CHANNEL_AXES]
    other = [a for a in axes if a not in _DEPTH_AXES | _CHANNEL_AXES | {"Y", "X"}]
    if len(depth_axes) > 1 or len(channel_axes) > 1 or other:
        raise ImageReadError(
            path,
            f"TIFF with axes {series.axes!r} (shape {series.shape}) has more dimensions than an image or "
            "a volume; export one volume per file (axes ZYX, optionally with channels)",
        )
    return series, axes, shape, channel_axes, depth_axes


def _level_factor(series: Any, level: Any, axes: str, shape: tuple[int, ...]) -> int:
    """The integer factor by which a pyramid ``level`` of ``series`` (layout ``axes``/``shape`` as
    :func:`_tiff_layout` gives it) is reduced on both sides (its sides ``ceil`` or ``floor`` of the full ones over
    it), or 0 when it is not such a level (other axes, dtype or another reduction per side)."""
    if str(level.axes) != str(series.axes) or np.dtype(level.dtype) != np.dtype(series.dtype):
        return 0
    full = {a: n for a, n in zip(axes, shape, strict=True) if a in "YX"}
    sides = {a: int(level.shape[str(level.axes).index(a)]) for a in "YX"}
    factor = round(full["X"] / max(1, sides["X"]))
    fits = all(sides[a] in (full[a] // max(1, factor), -(-full[a] // max(1, factor))) for a in "YX")
    others = [n for a, n in zip(str(level.axes), level.shape, strict=True) if a not in "YX"]
    same = others == [n for a, n in zip(str(series.axes), series.shape, strict=True) if a not in "YX"]
    return factor if factor >= 2 and fits and same else 0


def _pyramid_level(series: Any, axes: str, shape: tuple[int, ...], reduce: int) -> tuple[Any, int]:
    """``(level, factor)``: the smallest stored pyramid level of ``series`` (SubIFDs or pages tifffile groups
    as levels) reduced by at most ``reduce``, so that a reduced read decodes that level and block-averages it by
    ``reduce // factor`` instead of decoding the full resolution (as a JPEG is decoded at 1/2..1/8 scale);
    ``(series, 1)`` without one (or for ``reduce`` 1)."""
    best: tuple[Any, int] = (series, 1)
    if reduce <= 1:
        return best
    for level in list(getattr(series, "levels", None) or [])[1:]:
        factor = _level_factor(series, level, axes, shape)
        if best[1] < factor <= reduce:
            best = (level, factor)
    return best


def _tifffile_header(path: Path) -> ImageHeader:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series, axes, shape, channel_axes, depth_axes = _tiff_layout(tif, path)
        palette = int(series.keyframe.photometric) == 3 and series.keyframe.colormap is not None
        cmyk = _cmyk_inks(series.keyframe)
        itemsize = int(np.dtype(series.dtype).itemsize)
        levels = [_level_factor(series, level, axes, shape) for level in list(series.levels or [])[1:]]
    spatial = tuple(shape[axes.index(a)] for a in (*depth_axes, "Y", "X"))
    channels = shape[axes.index(channel_axes[0])] if channel_axes else 3 if palette else 1
    if cmyk and channels == 4:  # read as RGB
        channels = 3
    return ImageHeader(
        format="tiff",
        shape=(channels, *spatial),
        decoded_bytes=math.prod(shape) * itemsize,
        decode_scales=(1, *sorted({f for f in levels if f > 1})),  # a pyramid's stored levels decode smaller
    )


def raster_header(path: str | os.PathLike[str], fmt: str) -> ImageHeader:
    """The shape and decoded size of a PNG, JPEG, BMP, GIF or TIFF from its header (no pixel is decoded).

    Raises:
        ImageReadError: the header is corrupt or truncated.
    """
    p = Path(path)
    if fmt == "tiff":
        try:
            return _tifffile_header(p)
        except ImageReadError:
            raise
        except Exception as exc:  # tifffile missing or unable: Pillow reads the header below
            logger.debug("%s: tifffile cannot read the header (%s); trying Pillow", p, exc)
    return _pillow_header(p, fmt)


def _read_tifffile(path: Path, max_pixels: int | None, reduce: int = 1) -> ImageData:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series, axes, shape, channel_axes, depth_axes = _tiff_layout(tif, path)
        keyframe = series.keyframe
        photometric = int(keyframe.photometric)
        bits = int(keyframe.bitspersample)
        samples = int(keyframe.samplesperpixel)
        extrasamples = tuple(keyframe.extrasamples or ())
        colormap = keyframe.colormap
        n_pages = len(tif.pages)
        n_series = len(tif.series)
        orientation = _tiff_orientation(tif)
        cmyk = _cmyk_inks(keyframe)
        n_pix = shape[axes.index("Y")] * shape[axes.index("X")]
        if depth_axes:
            n_pix *= shape[axes.index(depth_axes[0])]
        _check_pixels(path, n_pix, tuple(shape), max_pixels)
        level, by = _pyramid_level(series, axes, shape, reduce)
        stored = tuple(
            level.shape[level.axes.index(a)] if a in "YX" and by > 1 else n for a, n in zip(axes, shape, strict=True)
        )
        data = np.squeeze(level.asarray()).reshape(stored)
    order = [axes.index(a) for a in (*channel_axes, *depth_axes, "Y", "X")]
    data = np.transpose(data, order)
    if not channel_axes:
        data = data[None]
    dtype = data.dtype
    meta: dict[str, Any] = {"format": "tiff", "bits": bits}
    palette = photometric == 3 and colormap is not None and data.shape[0] == 1
    if palette:
        cmap = np.asarray(colormap)  # (3, 2**bits) uint16
        idx = data[0].astype(np.intp)
        used = np.unique(idx)
        is_gray = bool(np.all(cmap[0, used] == cmap[1, used]) and np.all(cmap[1, used] == cmap[2, used]))
        if bits <= 8 and cmap.max() > 255:
            cmap = cmap // 256  # TIFF colormaps are 16-bit; for 8-bit images keep the high byte (0..255)
        data = cmap[:1, idx] if is_gray else cmap[:, idx]
        meta["palette"] = True
    elif photometric == 0 and dtype.kind in "ub":  # MINISWHITE: 0 is white -> invert so that high = bright
        top = 1 if dtype == np.bool_ else (1 << bits) - 1
        data = top - data.astype(np.int64)
        meta["inverted"] = True
    alpha = _alpha_samples(extrasamples, samples) if channel_axes == ["S"] else []
    if alpha:
        opaque = 1.0 if dtype.kind == "f" else (1 << bits) - 1
        if transparent := _share_below(data[alpha[0]], opaque):  # said by check and predict (medimg.io.read_notes)
            meta["transparent"] = transparent
        data = np.delete(data, alpha, axis=0)
    if cmyk and data.shape[0] == 4 and dtype.kind == "u":
        data = _cmyk_to_rgb(data, bits)  # ink amounts: as Pillow converts a CMYK JPEG (or this TIFF, without tifffile)
        meta["converted_from"] = "CMYK"
    channels = int(data.shape[0])
    meta["mode"] = "CMYK" if "converted_from" in meta else tiff_mode(channels, dtype, palette, photometric)
    if n_pages > 1:
        meta["n_pages"] = n_pages
    if orientation != 1:  # viewers show it turned; read as stored like any raster (check and predict say so)
        meta["exif_orientation"] = orientation
    if n_series > 1:
        logger.info("%s: %d image series in the TIFF; reading the first only", path, n_series)
    if reduce > 1:  # block means in the file's dtype (float32 sums), never a full-size float copy
        full = [shape[axes.index(a)] for a in (*depth_axes, "Y", "X")]
        meta["reduced_by"], meta["full_shape"] = by * (reduce // by), [int(data.shape[0]), *full]
        if by > 1:
            meta["pyramid_level"] = by
        data = reduce_blocks(data, reduce // by)
    return ImageData(array=np.ascontiguousarray(data, dtype=np.float32), source=str(path), meta=meta)


def _read_tiff(path: Path, max_pixels: int | None, reduce: int = 1) -> ImageData:
    try:
        import tifffile  # noqa: F401
    except ImportError:
        tifffile_error: Exception | None = MissingDependencyError("tifffile")
    else:
        try:
            return _read_tifffile(path, max_pixels, reduce)
        except (ImageReadError, MemoryError):
            raise
        except Exception as exc:  # e.g. a compression that needs imagecodecs: try Pillow
            tifffile_error = exc
            logger.debug("%s: tifffile failed (%s); trying Pillow", path, exc)
    try:
        return _read_pillow(path, "tiff", max_pixels, reduce)
    except ImageReadError as exc:
        if isinstance(exc, ImageTooLargeError):
            raise
        hint = ""
        if "imagecodecs" in str(tifffile_error):
            hint = "; its compression needs the 'imagecodecs' package: pip install imagecodecs"
        raise ImageReadError(
            path, f"the TIFF cannot be decoded (tifffile: {tifffile_error}; Pillow: {exc.reason}){hint}"
        ) from exc


def read_raster(
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    reduce: int = 1,
) -> ImageData:
    """Read a PNG, JPEG, BMP, GIF or TIFF file.

    Args:
        path: the image file.
        fmt: the format if already known (one of ``png, jpeg, bmp, gif, tiff``); None: detect from content.
        max_pixels: refuse images with more pixels than this (decompression-bomb guard); None disables it.
        reduce: read the image reduced by this integer factor on each spatial side (block means, computed
            before any float conversion; JPEG decoded at a smaller scale directly). See :mod:`medimg.io.limits`.

    Returns:
        ImageData with ``array`` ``float32`` ``(C, H, W)`` (``(C, D, H, W)`` for a TIFF stack), raw values,
        ``spacing_mm=None``, ``affine=None`` and ``meta`` with ``format``, ``bits`` and ``mode``.

    Raises:
        ImageReadError: unreadable, corrupt, truncated, too large or not a raster format.
        ConfigError: ``max_pixels`` is not a positive int or None.
    """
    p = Path(path)
    if fmt is None:
        from medimg.io.formats import detect_format

        fmt = detect_format(p)
    if fmt not in _RASTER_FORMATS:
        raise ImageReadError(p, f"{fmt} is not a raster format; use read_image, which dispatches on format")
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels <= 0):
        raise ConfigError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
    image = _read_tiff(p, max_pixels, reduce) if fmt == "tiff" else _read_pillow(p, fmt, max_pixels, reduce)
    if image.array.size == 0 or not math.prod(image.array.shape):
        raise ImageReadError(p, "the image has no pixels (width or height is 0)")
    return image
