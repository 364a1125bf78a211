"""Images given as arrays (NumPy, PIL, CPU tensors) instead of files: ``Model.predict(array)`` in a notebook.

An array holds the values a file of the training data would give (0..255 for 8-bit images, Hounsfield units for
CT), in one of the usual layouts; :func:`images_from_array` turns it into the channel-first :class:`ImageData`
every reader returns, so the model reads it exactly as it reads a file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medimg.errors import ConfigError
from medimg.io.image import ImageData

#: a last axis of this length is colour (``(H, W, 3)`` as PIL, imageio and matplotlib give it), in RGB(A) order
CHANNEL_LAST = (3, 4)


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
    """``value`` (an array, a CPU tensor, a PIL image, a list of rows) as a NumPy array of numbers.

    Raises:
        ConfigError: a CUDA tensor (it must come to the CPU first), or values that are not numbers.
    """
    if getattr(value, "is_cuda", False):
        raise ConfigError(f"{what} is a CUDA tensor: pass X.cpu() (medimg puts the batches on the device itself)")
    array = np.asarray(value)
    if array.dtype == np.bool_ or array.dtype.kind not in "biuf":
        raise ConfigError(f"{what}: an array of {array.dtype} is not an image; give numbers (e.g. uint8 or float)")
    return array


def images_from_array(value: Any, spatial_dims: int, channels: int, first: int = 0) -> list[ImageData]:
    """Channel-first ``float32`` images (``source`` ``array[i]``, counted from ``first``) from one array:

    * 2D: one image ``(H, W)``, ``(H, W, 3|4)`` (RGB(A); OpenCV's BGR must be converted first) or ``(C, H, W)``
      with ``C`` the model's channels; a batch ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, 3|4)``;
    * 3D: one volume ``(D, H, W)`` or ``(C, D, H, W)``; a batch ``(N, D, H, W)`` or ``(N, C, D, H, W)``.

    Raises:
        ConfigError: not numbers, or dimensions that fit none of these (the message says which shapes work).
    """
    array = numeric_array(value, f"array[{first}]")
    colour_last = array.ndim >= 3 and array.shape[-1] in CHANNEL_LAST and array.shape[-3] > max(CHANNEL_LAST)
    if spatial_dims == 2 and colour_last:
        array = np.moveaxis(array, -1, -3)  # (..., H, W, C) -> (..., C, H, W)
    one = 1 + spatial_dims  # dimensions of one image with its channel axis
    if array.ndim == spatial_dims:
        batch = array[None, None]
    elif array.ndim == one:
        batch = array[None] if array.shape[0] == channels or (spatial_dims == 2 and colour_last) else array[:, None]
    elif array.ndim == one + 1:
        batch = array
    else:
        shapes = (
            "(H, W), (H, W, 3), (C, H, W) or a batch of those" if spatial_dims == 2 else "(D, H, W) or (C, D, H, W)"
        )
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
