"""Reading any supported image: the dispatch on top of the format detection and the readers.

:func:`read_image` detects the format from the file's content (:mod:`medimg.io.formats`), checks the header
against the memory limits (:func:`read_header`, :mod:`medimg.io.limits`) and hands the file to its reader
(:mod:`medimg.io.dicom`, :mod:`medimg.io.nifti`, :mod:`medimg.io.raster`), which load their libraries on first
use. Nothing below this module imports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.errors import ImageReadError, ImageTooLargeError, MedimgError
from medimg.io.formats import ARRAY_FILE_FORMATS, detect_format
from medimg.io.limits import CLASSIFY_READ_SIZE, MAX_IMAGE_BYTES, ImageHeader, plan_read, too_many_pixels

if TYPE_CHECKING:
    from medimg.io.image import ImageData

__all__ = ["non_finite_reason", "read_geometry", "read_header", "read_image", "read_input"]


def read_header(path: str | os.PathLike[str], fmt: str | None = None) -> ImageHeader:
    """The header of an image file, read without decoding its pixels.

    Args:
        path: an image file (not a DICOM folder).
        fmt: its format when already known (:func:`~medimg.io.formats.detect_format`).

    Raises:
        ImageReadError: the file is missing, not an image, or its header is corrupt.
    """
    p = Path(path)
    if fmt is None:
        fmt = detect_format(p)
    with _header_errors(p, fmt):
        if fmt == "dicom":
            from medimg.io.dicom import dicom_header

            return dicom_header(p)
        if fmt == "nifti":
            from medimg.io.nifti import nifti_header

            return nifti_header(p)
        if fmt in ("metaimage", "nrrd"):
            from medimg.io.itk import itk_header

            return itk_header(p)
        if fmt == "npy":
            from medimg.io.npy import npy_header

            return npy_header(p)
        if fmt in ARRAY_FILE_FORMATS:
            from medimg.io.array_files import array_file_header

            return array_file_header(p, fmt)
        from medimg.io.raster import raster_header

        return raster_header(p, fmt)


def read_geometry(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[int, ...]] | None:
    """``(affine, spatial shape)`` of a NIfTI, MetaImage or NRRD file as :func:`read_image` returns them, from its
    header (the voxels are not read); ``None`` for a folder or a file of another format (read the image itself).

    Raises:
        ImageReadError: the header is corrupt.
    """
    p = Path(path)
    if p.is_dir():
        return None
    fmt = detect_format(p)
    with _header_errors(p, fmt):
        if fmt == "nifti":
            from medimg.io.nifti import nifti_geometry

            return nifti_geometry(p)
        if fmt in ("metaimage", "nrrd"):
            from medimg.io.itk import itk_affine

            return itk_affine(p)
    return None


@contextmanager
def _header_errors(p: Path, fmt: str) -> Iterator[None]:
    """A header reader's own errors as an :class:`ImageReadError` naming the file (medimg's errors, and running out
    of memory, as they are)."""
    try:
        yield
    except (MedimgError, MemoryError):
        raise
    except Exception as exc:
        raise ImageReadError(p, f"the {fmt} header cannot be read ({type(exc).__name__}: {exc})") from exc


def _plan_read(
    path: Path, fmt: str, max_pixels: int | None, max_bytes: int | None, target_size: Sequence[int] | None
) -> int:
    """Check the header against the limits before decoding; the reduction factor to read with."""
    header = read_header(path, fmt)
    if max_pixels is not None and header.pixels > max_pixels:
        raise too_many_pixels(path, header.pixels, header.spatial_shape, max_pixels)
    return plan_read(header, path, max_bytes=max_bytes, target_size=target_size)


def read_image(
    path: str | os.PathLike[str],
    *,
    window: str | tuple[float, float] | None = None,
    max_pixels: int | None = 20_000 * 20_000,
    dicom_display: bool = True,
    max_bytes: int | None = MAX_IMAGE_BYTES,
    target_size: Sequence[int] | None = None,
    series_uid: str | None = None,
) -> ImageData:
    """Read any supported image, detecting its format from the content.

    Dispatches to :func:`medimg.io.read_dicom`, :func:`medimg.io.read_nifti` or the raster reader; a folder is
    read as one DICOM series (:func:`medimg.io.read_dicom_series`).

    Args:
        path: an image file (DICOM, NIfTI ``.nii``/``.nii.gz``, PNG, JPEG, BMP, TIFF, GIF, MetaImage
            ``.mha``/``.mhd`` and NRRD with SimpleITK installed) or a DICOM folder.
        window: optional intensity window: a preset name (``"lung"``, ``"brain"``... see
            :data:`medimg.io.WINDOW_PRESETS`), ``"auto"``/``"file"`` (the DICOM file's own window, else the
            image's min-max) or an explicit ``(center, width)``. On non-DICOM images it applies to the raw
            values. The result is then ``float32`` in 0..1 and ``meta["window"] = (center, width)``.
        max_pixels: decompression-bomb guard (pixels per image, from the header, any format); None disables it.
        dicom_display: without a window, map non-CT grey DICOM (MR, US, CR, DX...) to 0..255 by its own VOI
            window or robust percentiles, as its 8-bit export would be (see :mod:`medimg.io.windowing`);
            ``False`` keeps the raw scanner values.
        max_bytes: memory budget of this read (:data:`medimg.io.limits.MAX_IMAGE_BYTES`): computed from the
            header before any pixel is decoded; an image over it is read reduced when ``target_size`` allows,
            else refused. None disables it.
        target_size: the spatial size the caller resizes to (a classifier's input size): a much larger image is
            read reduced by an integer factor, keeping at least 8x this size (``meta["reduced_by"]`` and
            ``meta["full_shape"]`` say so; spacing and affine follow). None: full resolution.
        series_uid: a folder: the SeriesInstanceUID of the series to read, when it holds several (``""``: the
            files without one).

    Returns:
        ImageData with a channel-first ``float32`` array ``(C, H, W)`` or ``(C, D, H, W)``; see each reader
        for its axis conventions and ``meta``.

    Raises:
        ImageReadError: missing, empty, truncated, corrupt or unsupported file (the message names the file and
            says what is wrong). Library exceptions are always wrapped into it.
        ImageTooLargeError: more pixels than ``max_pixels``, or more memory than ``max_bytes`` even reduced.
        ConfigError: unknown window name, malformed ``(center, width)``, or a CT window on a non-CT DICOM.
        MissingDependencyError: the reader for this format needs a package that is not installed.
    """
    from medimg.io.windowing import apply_input_intensity, resolve_window

    p = Path(path)
    if window is not None:
        resolve_window(window, {})  # validate the window before any (possibly slow) read
    fmt = "dicom series" if p.is_dir() else detect_format(p)
    reduce = 1 if fmt == "dicom series" else _plan_read(p, fmt, max_pixels, max_bytes, target_size)
    try:
        if fmt == "dicom series":
            from medimg.io.dicom import read_dicom_series

            image = read_dicom_series(p, series_uid=series_uid)
        elif fmt == "dicom":
            from medimg.io.dicom import read_dicom

            image = read_dicom(p, reduce=reduce)
        elif fmt == "nifti":
            from medimg.io.nifti import read_nifti

            image = read_nifti(p, reduce=reduce)
        elif fmt in ("metaimage", "nrrd"):
            from medimg.io.itk import read_itk

            image = read_itk(p, reduce=reduce)
        elif fmt == "npy":
            from medimg.io.npy import read_npy

            image = read_npy(p, reduce=reduce)
        elif fmt in ARRAY_FILE_FORMATS:
            from medimg.io.array_files import read_array_file

            image = read_array_file(p, fmt, reduce=reduce)
        else:
            from medimg.io.raster import read_raster

            image = read_raster(p, fmt=fmt, max_pixels=max_pixels, reduce=reduce)
    except (MedimgError, MemoryError):
        raise
    except Exception as exc:
        raise ImageReadError(
            p, f"unexpected error while reading this {fmt} file ({type(exc).__name__}: {exc})"
        ) from exc
    if (reason := non_finite_reason(image.array)) is not None:
        raise ImageReadError(p, reason)
    return apply_input_intensity(image, window, dicom_display=dicom_display)


def non_finite_reason(array: np.ndarray, *, given: str = "save the image again") -> str | None:
    """Why an image cannot be used when some of its pixels are NaN or infinite (a network turns one into NaN
    probabilities, or a silently shifted answer), else ``None``. The one check of every image read, from a file
    (:func:`read_image`) or given as an array (:meth:`medimg.planning.domain.InputReader.read_arrays`).

    Args:
        array: the image's pixels, any shape.
        given: how to give the repaired image again (a file: save it again; an array: pass it again).
    """
    if not np.issubdtype(array.dtype, np.floating):
        return None
    finite = np.isfinite(array)
    if finite.all():
        return None
    bad = int(array.size - np.count_nonzero(finite))
    return (
        f"{bad} of {array.size} pixel values are NaN or infinite: no prediction or training can use them. "
        f"Replace them (e.g. with 0 or the background value) and {given}"
    )


def read_input(path: str | os.PathLike[str], input_size: Sequence[int] | None, **options: Any) -> ImageData:
    """An inference input read as the model's training images were. A classifier's (``input_size``: the size its
    network resizes whole images to) for :data:`~medimg.io.limits.CLASSIFY_READ_SIZE` (every pixel up to 8192 px
    per side), so the same file gives the same network input in training, evaluation and prediction (a read
    reduced for the network's input instead rounds and JPEG-decodes differently); an image that does not fit the
    reading budget so (``max_bytes``, a service's) is read reduced for ``input_size``: the only way it fits.
    Without ``input_size`` (segmentation, detection: masks and boxes are given in the image's own pixels) every
    pixel.

    Args:
        options: :func:`read_image`'s other options (``window``, ``max_pixels``, ``max_bytes``...).
    """
    if input_size is None:
        return read_image(path, **options)
    try:
        return read_image(path, target_size=CLASSIFY_READ_SIZE, **options)
    except ImageTooLargeError:
        return read_image(path, target_size=input_size, **options)


def read_mask(path: str | os.PathLike[str]) -> ImageData:
    """A label map (segmentation mask), read as :func:`read_image` reads it except that a colour palette image
    gives its palette *indices*, the class labels (Pascal VOC's convention, and that of annotation tools exporting
    "SegmentationClass" PNGs), not the colours the palette paints them with. A grey palette keeps its grey levels.
    An ``.npz`` / HDF5 file holding an image and its label map gives the label map (:mod:`medimg.io.array_files`).

    Raises:
        ImageReadError: as :func:`read_image`; an ``.npz`` / HDF5 file without a label array.
    """
    from dataclasses import replace

    if Path(path).is_file() and (fmt := detect_format(Path(path))) in ARRAY_FILE_FORMATS:
        from medimg.io.array_files import read_array_file

        return read_array_file(path, fmt, role="label")
    image = read_image(path)
    if image.meta.get("transparent") and not image.meta.get("palette"):
        image = _transparent_as_background(image, Path(path))
    if image.channels > 1 and image.meta.get("format") in ("nifti", "metaimage", "nrrd") and not image.meta.get("rgb"):
        array = label_map_of_channels(image.array, Path(path))
        return replace(image, array=array, meta={**image.meta, "channels_merged": True})
    if not image.meta.get("palette") or image.channels != 3:
        return image
    from PIL import Image

    try:
        with Image.open(path) as picture:
            indices = np.asarray(picture)
    except OSError as error:  # read a moment ago: a file changed under us
        raise ImageReadError(path, f"the palette indices cannot be read ({error})") from error
    indices = indices[..., 0] if indices.ndim == 3 else indices
    return replace(image, array=indices[None].astype(np.float32), meta={**image.meta, "palette_indices": True})


#: a pixel of a one-colour layer at least this opaque belongs to the structure it paints (a soft brush's edge)
HALF_OPAQUE = 0.5


def _transparent_as_background(image: ImageData, path: Path) -> ImageData:
    """A mask painted on a transparent layer (GIMP, Photoshop, a drawing tool's export): a fully transparent pixel is
    background, whatever colour is stored under it (often white, or the brush's colour: invisible in every viewer);
    a layer of one colour wherever it shows is drawn by its alpha alone: the structure (255) where it is at least
    :data:`HALF_OPAQUE`, so a black brush counts as well as a white one. Read without its alpha, such a mask was one
    value all over: no structure at all. ``meta["alpha_drawn"]`` says which was read: ``"layer"`` (one colour) or
    ``"background"`` (transparent pixels set to 0)."""
    from dataclasses import replace

    from medimg.io.raster import opacity

    alpha = opacity(path)
    if alpha is None or alpha.shape != image.array.shape[1:]:
        return image
    shown = alpha > 0
    colours = image.array[:, shown]
    if colours.size == 0 or np.all(colours == colours[:, :1]):
        array = np.where(alpha >= HALF_OPAQUE, 255.0, 0.0).astype(np.float32)[None]
        return replace(image, array=array, meta={**image.meta, "alpha_drawn": "layer"})
    array = np.where(shown[None], image.array, 0).astype(image.array.dtype)
    return replace(image, array=array, meta={**image.meta, "alpha_drawn": "background"})


def label_map_of_channels(array: np.ndarray, path: Path) -> np.ndarray:
    """One label map ``(1, *spatial)`` of a volume mask stored with several channels (a 4D NIfTI ``(X, Y, Z, K)``):
    the same frame repeated -> that frame; binary channels, one per voxel (one-hot, background first) -> the channel
    index; binary channels that never overlap (one per structure, no background) -> channel k is label k + 1.
    Read as a grey mask, its first channel alone was the label map: a one-hot mask's background became the class.

    Raises:
        ImageReadError: any other multi-channel mask (overlapping or non-binary channels), naming the fix.
    """
    if all(np.array_equal(array[0], channel) for channel in array[1:]):
        return array[:1]
    binary = bool(np.all((array == 0) | (array == 1)))
    total = array.sum(axis=0)
    if binary and np.all(total == 1):
        return np.argmax(array, axis=0)[None].astype(np.float32)
    if binary and np.all(total <= 1):
        return np.tensordot(np.arange(1, array.shape[0] + 1, dtype=np.float32), array, axes=1)[None]
    raise ImageReadError(
        path,
        f"this mask has {array.shape[0]} channels (a 4D file) that are not one label each (overlapping or non-binary "
        "channels): save one label map of the image's shape, a value per class (0 background)",
    )
