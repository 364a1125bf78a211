"""An image and its label map saved together as arrays: one ``.npz`` or HDF5 (``.h5``) file per case or slice.

Research pipelines store preprocessed data so: TransUNet's Synapse slices (``train_npz/case0005_slice000.npz``)
and volumes (``test_vol_h5/case0001.npy.h5``), SSL4MIS's ACDC slices and volumes, the left atrium, pancreas and
BraTS ``.h5`` files of the semi-supervised segmentation papers, each holding an ``image`` and a ``label`` array.

:func:`read_array_file` reads the image array (``role="image"``, what :func:`medimg.io.read_image` gives) or the
label array (``role="label"``, what :func:`medimg.io.read_mask` gives) of such a file. The arrays are found by name
among the file's top-level arrays (case-insensitive):

- image: the first of :data:`IMAGE_KEYS` the file has, else its only array that is not a label;
- label: the first of :data:`LABEL_KEYS`.

Their axes are taken as a ``.npy`` file's are (:mod:`medimg.io.npy`: ``(H, W)``, ``(H, W, C)``, ``(D, H, W)``...);
a file carries no spacing and no orientation. Arrays are never unpickled.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np

from medimg.errors import ImageReadError, MissingDependencyError
from medimg.io.formats import ARRAY_FILE_FORMATS
from medimg.io.image import ImageData
from medimg.io.limits import ImageHeader, reduce_blocks
from medimg.io.npy import array_layout, check_array_dtype

__all__ = ["ARRAY_FILE_FORMATS", "IMAGE_KEYS", "LABEL_KEYS", "array_file_header", "array_keys", "read_array_file"]

#: names of the image array, in order of preference
IMAGE_KEYS = ("image", "img", "images", "imgs", "data", "x", "volume", "vol", "raw", "input")
#: names of the label array, in order of preference
LABEL_KEYS = ("label", "labels", "mask", "masks", "seg", "segmentation", "gt", "y", "target")

Role = Literal["image", "label"]
#: how to give a segmentation set kept as one array of images and one of label maps (TissueNet's ``X``, ``y``)
LABEL_MAPS_AS_FILES = (
    "save each image and its label map as images/<name>.tif and masks/<name>.tif (instance labels: 0 background, "
    "1, 2, ... one per object) and give that folder"
)


class _Array:
    """A stored array's shape and dtype, and how to read it."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, read: Callable[[], np.ndarray]) -> None:
        self.shape = shape
        self.dtype = dtype
        self.read = read


@contextmanager
def _arrays(path: Path, fmt: str) -> Iterator[dict[str, _Array]]:
    """The file's top-level arrays by name (headers only; ``.read()`` gives the data while the file is open)."""
    if fmt == "hdf5":
        try:
            import h5py
        except ImportError as error:  # a dependency; a broken install
            raise MissingDependencyError("h5py") from error
        try:
            handle = h5py.File(path, "r")
        except OSError as error:
            raise ImageReadError(path, f"the HDF5 file cannot be opened ({error}); it may be damaged") from error
        with handle:
            datasets = {name: item for name, item in handle.items() if isinstance(item, h5py.Dataset)}

            def reader(item: h5py.Dataset) -> Callable[[], np.ndarray]:
                return lambda: np.asarray(item[()])

            yield {name: _Array(tuple(item.shape), item.dtype, reader(item)) for name, item in datasets.items()}
        return
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ImageReadError(path, f"the .npz file is damaged or truncated ({error})") from error
    with archive:
        found = {}
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            try:
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = header(stream)
            except (ValueError, OSError, zipfile.BadZipFile) as error:
                raise ImageReadError(path, f"the array {member[:-4]!r} cannot be read ({error})") from error

            def read(member: str = member) -> np.ndarray:
                with archive.open(member) as stream:
                    return np.lib.format.read_array(stream, allow_pickle=False)

            found[member[:-4]] = _Array(tuple(shape), np.dtype(dtype), read)
        yield found


def _choose(names: list[str], role: Role, path: Path) -> str:
    lower = {name.lower(): name for name in names}
    keys = IMAGE_KEYS if role == "image" else LABEL_KEYS
    chosen = next((lower[key] for key in keys if key in lower), None)
    if chosen is not None:
        return chosen
    listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") if names else "none"
    if role == "image":
        others = [name for name in names if name.lower() not in LABEL_KEYS]
        if len(others) == 1:
            return others[0]
        raise ImageReadError(
            path,
            f"holds the arrays {listed}, and none is named as an image ({', '.join(IMAGE_KEYS[:4])}...): save the "
            "image as 'image' (and its label map as 'label'); a MedMNIST-style file of many images "
            "(train_images...) is a dataset: give it to medimg fit",
        )
    raise ImageReadError(
        path, f"holds no label array (arrays: {listed}); medimg reads a label map named {', '.join(LABEL_KEYS[:6])}..."
    )


def array_keys(path: str | os.PathLike[str], fmt: str) -> tuple[str, str | None]:
    """The names of the file's image array and label array (``None`` when it has none), from its headers.

    Raises:
        ImageReadError: the file is unreadable, or no array is named as an image.
    """
    p = Path(path)
    with _arrays(p, fmt) as arrays:
        shapes = {name: array.shape for name, array in arrays.items()}
    names = list(shapes)
    image = _choose(names, "image", p)
    try:
        label = _choose(names, "label", p)
    except ImageReadError:  # an image without a label map
        return image, None
    if len(shapes[image]) == len(shapes[label]) == 4 and shapes[image][0] == shapes[label][0]:
        raise ImageReadError(  # TissueNet's X (N, H, W, 2) and y (N, H, W, 2): no one case's image and label map
            p,
            f"holds {shapes[image][0]} images ({image}: {shapes[image]}) and as many label maps ({label}: "
            f"{shapes[label]}), a dataset in one file, not one case; {LABEL_MAPS_AS_FILES}",
        )
    return image, label


def _chosen(path: Path, arrays: dict[str, _Array], role: Role) -> tuple[str, _Array, bool]:
    """The array of ``role``, and whether a 3D one is a volume: an image and a label map of one 3D shape are a
    volume and its labels (labels have no channels), even when the first axis is short (a 4-slice ``(4, H, W)``)."""
    names = list(arrays)
    name = _choose(names, role, path)
    array = arrays[name]
    check_array_dtype(array.dtype, path)
    try:
        partner = _choose(names, "label" if role == "image" else "image", path)
    except ImageReadError:
        partner = name
    volume = partner != name and len(array.shape) == 3 and arrays[partner].shape == array.shape
    return name, array, volume


def array_file_header(path: str | os.PathLike[str], fmt: str) -> ImageHeader:
    """The shape and decoded size of the file's image array, from its header (no data read).

    Raises:
        ImageReadError: the file is unreadable, has no image array, or it is not an image's shape or type.
    """
    p = Path(path)
    with _arrays(p, fmt) as arrays:
        _, array, volume = _chosen(p, arrays, "image")
    order, channel = array_layout(array.shape, p, volume=volume)
    full = tuple(array.shape[i] for i in order)
    shape = full if channel is not None else (1, *full)
    return ImageHeader(format=fmt, shape=shape, decoded_bytes=math.prod(array.shape) * array.dtype.itemsize)


def read_array_file(path: str | os.PathLike[str], fmt: str, *, role: Role = "image", reduce: int = 1) -> ImageData:
    """The image (or label) array of an ``.npz`` / HDF5 file as an image, axes as :mod:`medimg.io.npy` takes them;
    ``meta["array"]`` names the array read. ``reduce`` > 1 averages blocks (images only).

    Raises:
        ImageReadError: the file is unreadable, lacks the array, or it is not an image's shape or type.
    """
    p = Path(path)
    with _arrays(p, fmt) as arrays:
        name, array, volume = _chosen(p, arrays, role)
        order, channel = array_layout(array.shape, p, volume=volume)
        data = np.transpose(np.asarray(array.read()), order)
    if channel is None:
        data = data[None]
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    meta: dict[str, object] = {"format": fmt, "dtype": str(array.dtype), "array": name}
    if reduce > 1 and role == "image":
        meta.update(reduced_by=reduce, full_shape=list(data.shape))
        data = reduce_blocks(data, reduce)
    return ImageData(array=np.ascontiguousarray(data, dtype=np.float32), meta=meta, source=str(p))
