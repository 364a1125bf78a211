"""Images given as arrays (NumPy, PIL, CPU tensors) instead of files: ``Model.predict(array)`` in a notebook.

An array holds the values a file of the training data would give (0..255 for 8-bit images, Hounsfield units for
CT), in one of the usual layouts; :func:`images_from_array` turns it into the channel-first :class:`ImageData`
every reader returns, so the model reads it exactly as it reads a file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from medimg.errors import ConfigError
from medimg.io.image import ImageData

logger = logging.getLogger(__name__)

#: an axis this short beside longer ones holds channels: grey, grey + alpha (PIL's "LA"), RGB, RGBA
MAX_CHANNELS = 4
#: an axis of 2 holds channels only beside axes at least this many times longer: two channels of a 2D image rather
#: than a volume of two slices (an axis of 1, 3 or 4 holds channels beside any axis longer than :data:`MAX_CHANNELS`)
TWO_CHANNEL_RATIO = 8


def is_array_input(value: Any) -> bool:
    """True for an image given as data rather than as a path: NumPy arrays, PIL images, CPU tensors."""
    if isinstance(value, str | bytes):
        return False
    return hasattr(value, "__array__") or hasattr(value, "__array_interface__")


def holds_arrays(inputs: Any) -> bool:
    """True when ``inputs`` (what ``Model.predict`` was given) is an array or a sequence holding one."""
    if is_array_input(inputs):
        return True
    return isinstance(inputs, list | tuple) and any(map(is_array_input, inputs))


def is_array_data(data: Any) -> bool:
    """True for images given as one array, or a non-empty list/tuple of arrays only (``Model.fit(X, y)``)."""
    if is_array_input(data):
        return True
    return isinstance(data, list | tuple) and bool(data) and all(map(is_array_input, data))


def numeric_array(value: Any, what: str) -> np.ndarray:
    """``value`` (an array, a CPU tensor, a PIL image, a list of rows) as a NumPy array of numbers. A PIL image
    gives the values its file reads as (:func:`medimg.io.raster.pillow_frame_to_array`), grey ``(H, W)`` or
    colour ``(H, W, 3)``: a palette image its colours (not its palette indices), CMYK / YCbCr / LAB its RGB, grey +
    alpha its grey, a 1-bit image 0/1.

    Raises:
        ConfigError: a CUDA tensor (it must come to the CPU first), or values that are not numbers.
    """
    if getattr(value, "is_cuda", False):
        raise ConfigError(f"{what} is a CUDA tensor: pass X.cpu() (medimg puts the batches on the device itself)")
    if _is_pil_image(value):
        from medimg.io.raster import pillow_frame_to_array

        first = pillow_frame_to_array(value)[0]  # channel-first, as every reader returns
        return first[0] if first.shape[0] == 1 else np.moveaxis(first, 0, -1)
    array = np.asarray(value)
    if array.dtype == np.bool_ or array.dtype.kind not in "biuf":
        raise ConfigError(f"{what}: an array of {array.dtype} is not an image; give numbers (e.g. uint8 or float)")
    return array


def _is_pil_image(value: Any) -> bool:
    """True for a PIL image (without importing Pillow for other inputs)."""
    return any(cls.__module__.startswith("PIL.") and cls.__name__ == "Image" for cls in type(value).__mro__)


def channel_axis(shape: Sequence[int], channels: int | None = None) -> int | None:
    """Which axis of ONE image of ``shape`` (no batch axis) holds its channels: ``0`` (``(C, H, W)``, PyTorch's
    order), ``-1`` (``(H, W, C)``: PIL's, Keras's, MedMNIST's) or ``None`` (every axis is spatial: ``(H, W)``, a
    volume ``(D, H, W)``). ``fit(X, y)`` and ``predict`` read arrays by this one rule:

    * an axis of 1 holds channels; one of 3 or 4 beside axes longer than 4 too (RGB, RGBA); one of 2 only beside
      axes at least :data:`TWO_CHANNEL_RATIO` times longer (grey + alpha, two modalities), so ``(2, 32, 32)`` is one
      image of two channels while ``(2, 8, 8)`` stays a volume of two slices;
    * the first axis is looked at first: by that rule while ``channels`` is unknown (``fit``, which learns the
      channels from the data), else when it is ``channels`` long (``predict``: a trained model's channels decide
      whether ``(3, H, W)`` is one RGB image or three grey ones); then the last axis, by that rule.
    """
    if len(shape) < 3:
        return None
    first = shape[0] == channels if channels is not None else _holds_channels(shape[0], shape[1:])
    if first:
        return 0
    return -1 if _holds_channels(shape[-1], shape[:-1]) else None


def _holds_channels(size: int, others: Sequence[int]) -> bool:
    """Whether an axis of ``size`` beside axes of ``others`` lengths holds channels (see :func:`channel_axis`)."""
    if size == 1:
        return True
    if size == 2:
        return min(others) >= TWO_CHANNEL_RATIO * size
    return size <= MAX_CHANNELS and min(others) > MAX_CHANNELS


def channel_last_rows(images: np.ndarray) -> tuple[np.ndarray, int]:
    """``N`` images (``fit``'s ``X``) as MedMNIST's channel-last rows, ``(N, H, W)``, ``(N, H, W, C)`` or
    ``(N, D, H, W)`` (a view; an axis of one channel dropped), and their spatial dimensions (2 or 3), the channel
    axis found by :func:`channel_axis` (``(N, C, H, W)``, PyTorch's order, is moved last)."""
    shape = tuple(images.shape[1:])
    axis = channel_axis(shape)
    if axis == 0:
        images = np.moveaxis(images, 1, -1)
    if axis is not None and images.shape[-1] == 1:
        images = images[..., 0]
    return images, len(shape) - (axis is not None)


def images_from_array(value: Any, spatial_dims: int, channels: int, first: int = 0) -> list[ImageData]:
    """Channel-first ``float32`` images (``source`` ``array[i]``, counted from ``first``) from one array:

    * 2D: one image ``(H, W)``, ``(H, W, C)`` (channel last: grey ``C`` 1 as Keras gives it, grey + alpha, RGB(A);
      OpenCV's BGR must be converted first) or ``(C, H, W)`` with ``C`` the model's channels; a batch ``(N, H, W)``,
      ``(N, C, H, W)`` or ``(N, H, W, C)``;
    * 3D: one volume ``(D, H, W)``, ``(C, D, H, W)`` or ``(D, H, W, C)``; a batch of those.

    Whether an array of one axis more than an image is one image with channels or a batch is
    :func:`channel_axis`'s rule, as ``fit(X, y)`` reads its images, with the model's channels.

    Raises:
        ConfigError: not numbers, or dimensions that fit none of these (the message says which shapes work).
    """
    array = numeric_array(value, f"array[{first}]")
    one = 1 + spatial_dims  # dimensions of one image with its channel axis
    if array.ndim == spatial_dims:
        batch = array[None, None]
    elif array.ndim == one:
        axis = channel_axis(array.shape, channels)
        if axis == 0 and channels > 1:
            _note_channels_first(value, array, first)
        batch = array[:, None] if axis is None else np.moveaxis(array, axis, 0)[None]
    elif array.ndim == one + 1:
        batch = np.moveaxis(array, -1, 1) if channel_axis(array.shape[1:], channels) == -1 else array
    else:
        shapes = "(H, W), (H, W, C), (C, H, W)" if spatial_dims == 2 else "(D, H, W), (C, D, H, W), (D, H, W, C)"
        raise ConfigError(
            f"array[{first}]: an array of shape {tuple(array.shape)} is not a {spatial_dims}D image for this model; "
            f"give {shapes} or a batch of those"
        )
    return [
        # no "format": an array has none, so the training-domain check judges its channels, values and size only
        ImageData(
            array=np.ascontiguousarray(image, dtype=np.float32), source=f"array[{first + i}]", meta={"from_array": True}
        )
        for i, image in enumerate(batch)
    ]


def _note_channels_first(value: Any, array: np.ndarray, index: int) -> None:
    """Warn that a NumPy ``(C, H, W)`` array whose first axis is the model's channels is read as ONE image of ``C``
    different channels, not ``C`` grey images: the length of the answer would otherwise depend on the batch size
    (2 or 4 grey images give one prediction each, 3 give one of their channel mix, and no domain warning, as a mix
    looks like colour). PyTorch tensors are channel-first by convention and channels that are all alike are a grey
    image either way: neither is warned about."""
    if type(value).__module__.split(".")[0] == "torch" or bool(np.all(array == array[:1])):
        return
    count, *spatial = array.shape
    size = ", ".join(map(str, spatial))
    logger.warning(
        "array[%d]: shape %s is read as ONE image of %d channels (channels first: this model takes %d); if it holds "
        "%d grey images, give them as (%d, %s, 1) or a list of (%s) arrays for one prediction each (one colour "
        "image as (%s, %d) is read without this note)",
        index,
        tuple(array.shape),
        count,
        count,
        count,
        count,
        size,
        size,
        size,
        count,
    )


def array_images(inputs: Any, spatial_dims: int, channels: int) -> list[ImageData]:
    """The images of ``predict``'s array input: one array (an image or a batch) or a list of them, numbered
    ``array[0]``, ``array[1]``... across the list.

    Raises:
        ConfigError: paths and arrays mixed in one call, or an array :func:`images_from_array` refuses.
    """
    items = [inputs] if is_array_input(inputs) else list(inputs)
    if not all(map(is_array_input, items)):
        raise ConfigError("give predict either paths or arrays, not both in one call")
    images: list[ImageData] = []
    for item in items:
        images += images_from_array(item, spatial_dims, channels, first=len(images))
    return images


def refuse_arrays_unless_classifier(task: str) -> None:
    """Arrays carry no geometry (spacing, orientation), which masks and boxes need: only a classifier takes them.

    Raises:
        ConfigError: ``task`` is not ``classify``.
    """
    if task != "classify":
        raise ConfigError(
            f"predict takes arrays for classifiers only; this is a {task} model: save the image to a file "
            "(PNG, NIfTI...) and give its path, so its geometry comes with it"
        )
