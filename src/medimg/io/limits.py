"""What one image may cost to read, known from its header before any pixel is decoded.

A 100 KB PNG can hold 20,000 x 20,000 pixels; decoded naively it needs gigabytes. Every reader therefore first
reads the header (:func:`medimg.io.read.read_header`: format, shape, bytes per sample) and :func:`plan_read`
decides how to read the pixels:

* at full resolution when the array :func:`~medimg.io.read_image` returns (``float32``, every channel) fits in
  the budget ``max_bytes`` (default :data:`MAX_IMAGE_BYTES`, 2 GiB);
* **reduced** by an integer factor when the caller says which size it needs (``target_size``, e.g. a
  classifier's input size): the image is decoded in its own dtype (JPEG directly at 1/2, 1/4 or 1/8 scale, the
  "draft" mode), averaged over ``factor`` x ``factor`` blocks, and only then converted to ``float32``. It stays
  at least :data:`REDUCTION_MARGIN` times the target size on each side, so the anti-aliased resize that follows
  sees the same content;
* **refused** with an :class:`~medimg.errors.ImageTooLargeError` that says how large the image is, the limit, and
  what to do, when neither fits (also when the decode itself, before any reduction, would exceed the budget).

``max_bytes`` is the one memory setting for reading an image: the CLI and the Python API
(:func:`medimg.io.read_image`), the ONNX predictor and the service all read through it; a service passes its own
smaller budget. Reading transiently needs about 1.5x the budget for 8-bit rasters and up to 3.5x for grey DICOM
(its float64 rescaling), so a process's peak per image is bounded independent of the file.

Example:
    >>> header = read_header("big.png")                           # doctest: +SKIP
    >>> header.shape, header.float_bytes                          # doctest: +SKIP
    ((1, 8000, 8000), 256000000)
    >>> plan_read(header, "big.png", target_size=(224, 224))      # reduce by 4 -> 2000 x 2000  # doctest: +SKIP
    4
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medimg.errors import ImageTooLargeError

__all__ = [
    "MAX_IMAGE_BYTES",
    "REDUCTION_MARGIN",
    "ImageHeader",
    "plan_read",
    "reduce_blocks",
    "reduce_for_size",
    "reduced_geometry",
    "reduction_factor",
    "too_many_pixels",
]

MAX_IMAGE_BYTES: int = 2 << 30
"""Default budget of one image read (bytes): the ``float32`` array :func:`~medimg.io.read_image` returns, at the
resolution it is read, and the decode before any reduction, must each fit in it (2 GiB: a 20,000 x 20,000 grey
image or a 512 x 512 x 2048 volume at full resolution)."""


def too_many_pixels(path: str | os.PathLike[str], pixels: int, shape: Sequence[int], limit: int) -> ImageTooLargeError:
    """The error of an image with more ``pixels`` than the decompression-bomb ``limit``: most often a whole-slide
    image (Camelyon's 100,000-pixel-wide pyramids), which medimg reads no level of: the fix is tiles."""
    return ImageTooLargeError(
        path,
        f"the image has {pixels:,} pixels (shape {tuple(shape)}), more than the limit of {limit:,} "
        "(decompression-bomb guard). A whole-slide image? medimg reads no slide pyramids: cut the slide into tiles "
        "or export a lower resolution level (QuPath, OpenSlide, `vips dzsave`) and give medimg those; if the file is "
        "trusted, pass a larger max_pixels",
    )


CLASSIFY_READ_SIZE: tuple[int, int] = (512, 512)
"""The size 2D classification images are read for, in training, evaluation and prediction alike (one read, so a
file gives the same network input everywhere): 4x the largest input the planner chooses
(:data:`medimg.planning.planner.MAX_INPUT_2D`), so a larger ``--set input_size`` still works; with the reading
margin (:data:`REDUCTION_MARGIN`) only images over 8192 px per side are read reduced, to at least 4096 px."""

REDUCTION_MARGIN: int = 8
"""A reduced read keeps at least this many times the caller's target size on each side (and an image is only
reduced when it is more than twice that), so the final anti-aliased resize does the real filtering."""


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says about its pixels.

    Attributes:
        format: ``png``, ``jpeg``, ``bmp``, ``gif``, ``tiff``, ``dicom`` or ``nifti``.
        shape: ``(C, *spatial)`` as :func:`~medimg.io.read_image` would return it at full resolution (colour
            palettes count 3 channels).
        decoded_bytes: memory of the full-resolution decode as the decoder holds it, before medimg converts it
            (Pillow keeps RGB in 4 bytes per pixel, DICOM and NIfTI their stored dtype).
        decode_scales: the reduction factors the decoder can apply itself while decoding (``(1, 2, 4, 8)`` for
            JPEG, ``(1,)`` otherwise).
    """

    format: str
    shape: tuple[int, ...]
    decoded_bytes: int
    decode_scales: tuple[int, ...] = (1,)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return self.shape[1:]

    @property
    def pixels(self) -> int:
        """Pixels (voxels) per channel."""
        return math.prod(self.spatial_shape)

    @property
    def float_bytes(self) -> int:
        """Memory of the full-resolution ``float32`` array."""
        return math.prod(self.shape) * 4


def reduction_factor(
    spatial_shape: Sequence[int], target_size: Sequence[int] | None, margin: int = REDUCTION_MARGIN
) -> int:
    """The integer factor an image of ``spatial_shape`` may be reduced by for a consumer of ``target_size``.

    Returns 1 (no reduction) without a target, when the dimensionalities differ, or when any side is less than
    ``2 * margin`` times its target; otherwise the largest factor that keeps every side at least ``margin``
    times its target.

    Example:
        >>> reduction_factor((8000, 8000), (32, 32))
        31
        >>> reduction_factor((512, 512), (224, 224))
        1
    """
    if not target_size or len(target_size) != len(spatial_shape):
        return 1
    factor = min(
        int(side) // (margin * max(1, int(target))) for side, target in zip(spatial_shape, target_size, strict=True)
    )
    return factor if factor >= 2 else 1


def plan_read(
    header: ImageHeader,
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = MAX_IMAGE_BYTES,
    target_size: Sequence[int] | None = None,
) -> int:
    """Decide how to read an image within the budget: the reduction factor (1 = full resolution).

    Args:
        header: the file's header (:func:`medimg.io.read.read_header`).
        path: the file, for the error message.
        max_bytes: the budget (see :data:`MAX_IMAGE_BYTES`); ``None``: no limit.
        target_size: the spatial size the caller will resize to; ``None``: the caller needs full resolution.

    Raises:
        ImageReadError: the image does not fit the budget even reduced (the message gives its size, the limit
            and the remedies).
    """
    factor = reduction_factor(header.spatial_shape, target_size)
    if max_bytes is None:
        return factor
    dims = len(header.spatial_shape)
    decoder_scale = max((s for s in header.decode_scales if s <= factor), default=1)
    decoded = header.decoded_bytes // decoder_scale**dims
    result = math.prod(header.shape[:1] + tuple(math.ceil(s / factor) for s in header.spatial_shape)) * 4
    if decoded <= max_bytes and result <= max_bytes:
        return factor
    size = " x ".join(str(s) for s in header.spatial_shape)
    if factor > 1:
        how = f"even reduced by {factor}"
    elif target_size:
        how = "at full resolution (it is not large enough to reduce for this use)"
    else:
        how = "at full resolution (this use needs every pixel)"
    raise ImageTooLargeError(
        path,
        f"the {header.format.upper()} image is {size} pixels x {header.shape[0]} channel(s): reading it {how} "
        f"needs {_gib(max(decoded, result))}, more than the per-image limit of {_gib(max_bytes)} "
        "(medimg.io.limits.MAX_IMAGE_BYTES). Downsample or crop it (e.g. to 4000 px on the longest side), or, "
        "if this machine has the memory, raise the limit (read_image(..., max_bytes=...))",
    )


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def reduce_blocks(array: np.ndarray, factor: int, axes: Sequence[int] | None = None) -> np.ndarray:
    """Average blocks of ``factor`` samples along each of ``axes`` (default: every axis but the first).

    Edge blocks that are cut short are averaged over the samples they have (as Pillow's ``Image.reduce``), so
    each reduced axis gets ``ceil(n / factor)`` samples. The sums are taken in ``float32`` one axis at a time, so
    an 8-bit image is never held in ``float32`` at full resolution.

    Args:
        array: e.g. ``(C, H, W)`` or ``(C, D, H, W)``, any numeric or bool dtype.
        factor: the block size (1 returns ``array`` as ``float32``).
        axes: the axes to reduce; ``None``: all but the leading channel axis.

    Returns:
        ``float32`` array of the reduced shape.

    Example:
        >>> reduce_blocks(np.arange(5, dtype=np.uint8)[None], 2)
        array([[0.5, 2.5, 4. ]], dtype=float32)
    """
    out = np.asarray(array)
    if out.dtype == np.bool_:
        out = out.view(np.uint8)
    if factor <= 1:
        return out.astype(np.float32, copy=False)
    for axis in range(1, out.ndim) if axes is None else axes:
        n = out.shape[axis]
        starts = np.arange(0, n, factor)
        summed = np.add.reduceat(out, starts, axis=axis, dtype=np.float32)
        counts = (np.minimum(starts + factor, n) - starts).astype(np.float32)
        shape = [1] * out.ndim
        shape[axis] = len(starts)
        out = summed / counts.reshape(shape)
    return out.astype(np.float32, copy=False)


def reduce_for_size(array: np.ndarray, target_size: Sequence[int]) -> np.ndarray:
    """``(C, *spatial)`` reduced by :func:`reduction_factor` for ``target_size`` (unchanged when it is 1).

    The preprocessing of both engines calls this before its anti-aliased resize, so an image that was read at
    full resolution is shrunk by cheap block averaging first instead of a Gaussian filter hundreds of taps wide.
    """
    factor = reduction_factor(array.shape[1:], target_size)
    return reduce_blocks(array, factor) if factor > 1 else array


def reduced_geometry(
    spacing_mm: tuple[float, ...] | None, affine: np.ndarray | None, factor: int, axes: int
) -> tuple[tuple[float, ...] | None, np.ndarray | None]:
    """Spacing and voxel-to-world affine of an image reduced by ``factor`` along its ``axes`` spatial axes.

    The affine's first ``axes`` columns belong to the array's spatial axes, in order (as medimg's DICOM and NIfTI
    readers return them). Each new voxel is the mean of a block, so it sits at the centre of that block: the
    spacing grows by ``factor`` and the origin moves by ``(factor - 1) / 2`` old voxels along each reduced axis.
    """
    if factor <= 1:
        return spacing_mm, affine
    spacing = tuple(float(s) * factor for s in spacing_mm) if spacing_mm is not None else None
    if affine is None:
        return spacing, None
    new = np.array(affine, dtype=np.float64, copy=True)
    n = new.shape[0] - 1
    new[:n, n] = new[:n, n] + new[:n, :axes].sum(axis=1) * (factor - 1) / 2
    new[:n, :axes] = new[:n, :axes] * factor
    return spacing, new
