"""Images saved as NumPy arrays, one per ``.npy`` file (research pipelines save preprocessed slices and volumes so).

The array is read as stored (memory-mapped, never unpickled: an object array is refused); its axes are taken as:

==============================================  ===========================================================
file array shape                                ``ImageData.array``
==============================================  ===========================================================
``(H, W)``                                      ``(1, H, W)``
``(H, W, C)``, ``C`` in 1, 3, 4                 ``(C, H, W)`` (channels last, as images are saved)
``(C, H, W)``, ``C`` in 1, 3, 4, ``H, W > 4``   ``(C, H, W)`` (channels first, as PyTorch tensors are saved)
``(D, H, W)`` otherwise                         ``(1, D, H, W)``: a volume
``(C, D, H, W)`` / ``(D, H, W, C)``, ``C <= 4``    ``(C, D, H, W)``
==============================================  ===========================================================

A file carries no spacing and no orientation (``spacing_mm`` and ``affine`` are ``None``); booleans read as 0/1;
complex or structured arrays are refused with the reason.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from medimg.errors import ImageReadError
from medimg.io.image import ImageData
from medimg.io.limits import ImageHeader, reduce_blocks

__all__ = ["NPY_MAGIC", "array_layout", "check_array_dtype", "npy_header", "read_npy"]

NPY_MAGIC = b"\x93NUMPY"
_CHANNELS = (1, 3, 4)


def array_layout(shape: tuple[int, ...], path: Path, *, volume: bool = False) -> tuple[tuple[int, ...], int | None]:
    """The axis order that puts channels first (a permutation of the file's axes) and the channel axis, if any.
    ``volume``: a 3D array is a volume ``(D, H, W)`` whatever its size (a label map of its shape lies beside it)."""
    if len(shape) == 2:
        return (0, 1), None
    if len(shape) == 3 and not volume:
        if shape[2] in _CHANNELS and shape[0] > 4:
            return (2, 0, 1), 2
        if shape[0] in _CHANNELS and min(shape[1:]) > 4:
            return (0, 1, 2), 0
    if len(shape) == 3:
        return (0, 1, 2), None
    if len(shape) == 4:
        if shape[0] <= 4:
            return (0, 1, 2, 3), 0
        if shape[3] <= 4:
            return (3, 0, 1, 2), 3
    raise ImageReadError(
        path,
        f"an array of shape {shape} is not an image medimg reads: save a 2D image (H, W[, C]) or a volume "
        "(D, H, W[, C]), one per file",
    )


def check_array_dtype(dtype: np.dtype, path: Path) -> None:
    if dtype.hasobject or dtype.names or dtype.kind not in "biuf":
        raise ImageReadError(
            path, f"the array holds {dtype} values, not numbers of an image: save a numeric array (np.save)"
        )


def npy_header(path: str | os.PathLike[str]) -> ImageHeader:
    """The shape and decoded size of a ``.npy`` file's array, from its header (the data is not read)."""
    p = Path(path)
    stored = _open(p)  # memory-mapped: only the header is read
    order, channel = array_layout(tuple(stored.shape), p)
    full = tuple(stored.shape[i] for i in order)
    layout = full if channel is not None else (1, *full)
    return ImageHeader(format="npy", shape=layout, decoded_bytes=math.prod(stored.shape) * stored.dtype.itemsize)


def _open(path: Path) -> np.ndarray:
    try:
        stored = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:  # object arrays need pickle: never loaded; a short file cannot be mapped
        raise ImageReadError(path, f"the .npy file cannot be read ({error}); save a numeric array (np.save)") from error
    except OSError as error:
        raise ImageReadError(path, f"the .npy file is damaged or truncated ({error})") from error
    check_array_dtype(stored.dtype, path)
    return stored


def read_npy(path: str | os.PathLike[str], *, reduce: int = 1) -> ImageData:
    """Read a ``.npy`` image (see the module doc); ``reduce`` > 1 averages blocks of that size on each spatial
    axis before the float32 conversion (``meta["reduced_by"]``, ``meta["full_shape"]``).

    Raises:
        ImageReadError: not a valid ``.npy`` file, a pickled object array, or not an image's shape or type.
    """
    p = Path(path)
    stored = _open(p)
    order, channel = array_layout(tuple(stored.shape), p)
    array = np.transpose(stored, order)
    if channel is None:
        array = array[None]
    meta: dict[str, object] = {"format": "npy", "dtype": str(stored.dtype)}
    data = np.asarray(array, dtype=np.uint8 if stored.dtype == np.bool_ else None)
    if reduce > 1:
        meta.update(reduced_by=reduce, full_shape=list(data.shape))
        data = reduce_blocks(data, reduce)
    return ImageData(array=np.ascontiguousarray(data, dtype=np.float32), meta=meta, source=str(p))
