"""The input of every image feature transformer: images (channel-first) with an optional label-map mask.

Feature transformers follow the scikit-learn contract, but their ``X`` is a sequence of images rather than a
numeric matrix. :func:`as_samples` accepts, per item, an :class:`ImageSample`, an array ``(H, W)``,
``(C, H, W)``, ``(H, W, C)``, ``(D, H, W)`` (a grey volume) or ``(C, D, H, W)`` (its channel axis found by
:func:`channels_first`), or a pair ``(image, mask)`` (the mask's shape settles the channel axis); a whole batch
may also be one array ``(N, H, W)`` (grayscale 2D), ``(N, C, H, W)``, ``(N, H, W, C)``, ``(N, D, H, W)`` (grey
volumes) or ``(N, C, D, H, W)`` / ``(N, D, H, W, C)``, its channel axis found by
:func:`medimg.io.arrays.channel_axis`, the rule ``Model.fit(X, y)`` and ``predict`` read arrays by. Masks are
integer label maps ``(*spatial)``: ``0`` is outside the region of interest; ``0/255`` and boolean masks count as
one region (label 1); other integer values are labels, kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medimg.errors import DatasetError

LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class ImageSample:
    """One image for feature extraction.

    Attributes:
        image: ``(C, *spatial)`` float (2D ``(C, H, W)`` or 3D ``(C, D, H, W)``), raw intensities.
        mask: ``(*spatial)`` integer label map or ``None`` (the whole image is the region of interest).
        source: where it came from (file path or case id), for error messages.
        spacing_mm: voxel spacing per spatial axis, when known (radiomics uses it).
    """

    image: np.ndarray
    mask: np.ndarray | None = None
    source: str = ""
    spacing_mm: tuple[float, ...] | None = None

    @property
    def channels(self) -> int:
        return int(self.image.shape[0])

    @property
    def spatial_dims(self) -> int:
        return int(self.image.ndim - 1)

    def gray(self) -> np.ndarray:
        """``(*spatial)`` float64: the only channel, or the luminance of RGB(A), or the channel mean."""
        image = self.image.astype(np.float64, copy=False)
        if image.shape[0] == 1:
            return image[0]
        if image.shape[0] in (3, 4):
            return np.tensordot(LUMA, image[:3], axes=1)
        return image.mean(axis=0)

    def roi(self) -> np.ndarray:
        """``(*spatial)`` bool: the region of interest (mask > 0, or everything)."""
        if self.mask is None:
            return np.ones(self.image.shape[1:], dtype=bool)
        return self.mask > 0


def normalise_mask(mask: np.ndarray, source: str = "") -> np.ndarray:
    """A label map from a user's mask: bool and 8-bit ``0/255`` masks -> ``{0, 1}``; integer labels kept.

    Raises:
        DatasetError: the mask holds non-integer or negative values.
    """
    array = np.asarray(mask)
    if array.dtype == bool:
        return array.astype(np.int32)
    if not np.all(np.isfinite(array)) or np.any(array < 0) or not np.all(np.equal(np.mod(array, 1), 0)):
        raise DatasetError(f"mask of {source or 'an image'} must hold non-negative integer labels")
    if np.array_equal(np.unique(array), [0, 255]) or np.array_equal(np.unique(array), [255]):
        return (array != 0).astype(np.int32)  # an 8-bit 0/255 mask is one region
    return array.astype(np.int32)  # a label map: values kept (a {0, 2} mask still means label 2)


def make_sample(
    image: Any, mask: Any = None, source: str = "", spacing_mm: tuple[float, ...] | None = None
) -> ImageSample:
    """Validate one image (+ mask) into an :class:`ImageSample`.

    Raises:
        DatasetError: the image is not 2D/3D, holds non-finite values, the mask's shape differs from the
            image's spatial shape, or the mask is empty.
    """
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim not in (3, 4):
        raise DatasetError(f"{source or 'image'} has shape {array.shape}: expected (H, W), (C, H, W) or (C, D, H, W)")
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise DatasetError(f"{source or 'image'} is empty or holds NaN/inf values")
    label_map = None
    if mask is not None:
        label_map = normalise_mask(mask, source)
        if label_map.shape != array.shape[1:]:
            raise DatasetError(
                f"mask of {source or 'image'} has shape {label_map.shape} but the image is {array.shape[1:]} "
                "(spatial): the mask must match its image pixel for pixel"
            )
        if not np.any(label_map):
            raise DatasetError(f"mask of {source or 'image'} is empty (no pixel > 0): fix or remove the mask")
    return ImageSample(image=array, mask=label_map, source=source, spacing_mm=spacing_mm)


def channels_first(image: Any, mask: Any = None) -> np.ndarray:
    """One image of a list, ``(C, *spatial)``: its channel axis found as in a batch array (the rule of
    :func:`medimg.io.arrays.channel_axis`), so ``(H, W, 3)`` (PIL's, Keras's order) is an RGB image and a
    ``(D, H, W)`` CT volume is a grey volume, not ``H`` or ``D`` channels; a mask given with it decides: a mask of
    the image's whole shape makes it a grey volume, one of all axes but the first (last) a channel-first (-last)
    image. ``(H, W)`` images and arrays of other ranks are returned as they are (:func:`make_sample` checks them).
    """
    array = np.asarray(image)
    if array.ndim not in (3, 4):
        return array
    if mask is not None:
        mask_shape = np.shape(mask)
        if array.ndim == 3 and mask_shape == array.shape:
            return array[None]
        if mask_shape == array.shape[1:]:
            return array
        if mask_shape == array.shape[:-1]:
            return np.moveaxis(array, -1, 0)
    from medimg.io.arrays import channel_axis

    axis = channel_axis(array.shape)
    if axis == -1:
        return np.moveaxis(array, -1, 0)
    if axis is None and array.ndim == 3:  # (D, H, W): a grey volume
        return array[None]
    return array


def as_samples(X: Any) -> list[ImageSample]:
    """Turn a feature transformer's ``X`` into validated :class:`ImageSample` objects (see module docs)."""
    if isinstance(X, ImageSample):
        return [X]
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim >= 3 and X.shape[0] == 0:
            raise DatasetError(f"no images to extract features from: the image batch {X.shape} is empty")
        if X.ndim == 3:
            return [make_sample(x[None], source=f"image {i}") for i, x in enumerate(X)]
        if X.ndim in (4, 5):
            from medimg.io.arrays import channel_axis

            axis = channel_axis(X.shape[1:])  # the one rule of Model.fit/predict: (N, H, W, 3) is RGB
            if axis == -1:
                X = np.moveaxis(X, -1, 1)
            elif axis is None and X.ndim == 5:
                raise DatasetError(
                    f"cannot tell the channel axis of the image batch {X.shape}: give (N, C, D, H, W) or "
                    "(N, D, H, W, C) with C of 1 to 4, or a list of channel-first images"
                )
            elif axis is None:  # (N, D, H, W): grey volumes
                X = X[:, None]
            return [make_sample(x, source=f"image {i}") for i, x in enumerate(X)]
        raise DatasetError(
            f"an image batch array must be (N, H, W), (N, C, H, W), (N, H, W, C), (N, D, H, W) or 5D with a "
            f"channel axis, got {X.shape}"
        )
    if not isinstance(X, Sequence) and not isinstance(X, np.ndarray):
        raise DatasetError(f"expected a sequence of images, got {type(X).__name__}")
    samples = []
    for i, item in enumerate(X):
        if isinstance(item, ImageSample):
            samples.append(item)
        elif isinstance(item, tuple) and len(item) == 2:
            samples.append(make_sample(channels_first(item[0], item[1]), item[1], source=f"image {i}"))
        else:
            samples.append(make_sample(channels_first(item), source=f"image {i}"))
    if not samples:
        raise DatasetError("no images to extract features from")
    return samples
