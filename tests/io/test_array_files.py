"""An image and its label map saved as named arrays in one ``.npz`` or HDF5 file (:mod:`medimg.io.array_files`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.errors import ImageReadError
from medimg.io import detect_format, read_image, read_mask
from medimg.io.read import read_header

h5py = pytest.importorskip("h5py")


def test_npz_slice_gives_its_image_and_its_label(tmp_path: Path) -> None:
    image = np.arange(48 * 40, dtype=np.float32).reshape(48, 40) / 100
    label = (image > 9).astype(np.uint8) * 3
    path = tmp_path / "case0005_slice012.npz"
    np.savez(path, image=image, label=label)
    assert detect_format(path) == "npz"
    read = read_image(path)
    assert read.array.shape == (1, 48, 40) and read.meta["array"] == "image" and read.spacing_mm is None
    np.testing.assert_array_equal(read.array[0], image)
    mask = read_mask(path)
    np.testing.assert_array_equal(mask.array[0], label)
    assert read_header(path).shape == (1, 48, 40)


def test_hdf5_volume_with_few_slices_is_a_volume_not_channels(tmp_path: Path) -> None:
    """``(4, H, W)`` alone would read as four channels; a label map of the same shape says it is a volume."""
    volume = np.random.default_rng(0).random((4, 24, 20)).astype(np.float32)
    label = (volume > 0.5).astype(np.float32)
    path = tmp_path / "case0001.npy.h5"
    with h5py.File(path, "w") as handle:
        handle["Image"], handle["Label"] = volume, label  # names are matched whatever their case
    assert detect_format(path) == "hdf5"
    assert read_header(path).shape == (1, 4, 24, 20)
    np.testing.assert_array_equal(read_image(path).array[0], volume)
    np.testing.assert_array_equal(read_mask(path).array[0], label)


def test_unnamed_single_array_is_the_image_and_has_no_label(tmp_path: Path) -> None:
    path = tmp_path / "slice.npz"
    np.savez(path, np.ones((16, 16), np.uint8))  # saved as arr_0
    assert read_image(path).array.shape == (1, 16, 16)
    with pytest.raises(ImageReadError, match="holds no label array"):
        read_mask(path)


def test_many_unnamed_arrays_and_object_arrays_are_refused_with_the_reason(tmp_path: Path) -> None:
    many = tmp_path / "pneumoniamnist.npz"
    np.savez(many, train_images=np.zeros((2, 8, 8)), train_labels=np.zeros((2, 1)), val_images=np.zeros((1, 8, 8)))
    with pytest.raises(ImageReadError, match=r"none is named as an image .* is a dataset: give it to medimg fit"):
        read_image(many)
    objects = tmp_path / "objects.npz"
    np.savez(objects, image=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ImageReadError, match="not numbers of an image"):
        read_image(objects)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ImageReadError, match="HDF5 file cannot be opened"):
        read_image(broken)
