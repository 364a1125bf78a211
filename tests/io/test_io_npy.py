"""Images saved as ``.npy`` arrays: axes read as the module's table says, never unpickled, refused with the reason
when they are not an image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.errors import ImageReadError
from medimg.io import read_image
from medimg.io.formats import detect_format
from medimg.io.read import read_header

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ((20, 30), lambda a: a[None]),
        ((20, 30, 3), lambda a: a.transpose(2, 0, 1)),  # channels last, as images are saved
        ((3, 20, 30), lambda a: a),  # channels first, as a tensor is saved
        ((1, 20, 30), lambda a: a),
        ((12, 20, 30), lambda a: a[None]),  # a volume
        ((2, 12, 20, 30), lambda a: a),
        ((12, 20, 30, 2), lambda a: a.transpose(3, 0, 1, 2)),
    ],
)
def test_axes_follow_the_table(tmp_path: Path, stored: tuple[int, ...], expected) -> None:  # type: ignore[no-untyped-def]
    array = RNG.integers(0, 1000, stored).astype(np.int16)
    np.save(tmp_path / "x.npy", array)
    image = read_image(tmp_path / "x.npy")
    assert detect_format(tmp_path / "x.npy") == "npy" and image.meta["format"] == "npy"
    np.testing.assert_array_equal(image.array, expected(array).astype(np.float32))
    assert read_header(tmp_path / "x.npy").shape == image.array.shape
    assert image.spacing_mm is None and image.affine is None


def test_booleans_read_as_zero_one_and_a_large_array_is_read_reduced(tmp_path: Path) -> None:
    np.save(tmp_path / "mask.npy", np.eye(6, dtype=bool))
    np.testing.assert_array_equal(read_image(tmp_path / "mask.npy").array[0], np.eye(6))
    np.save(tmp_path / "big.npy", np.ones((4096, 4096), np.uint8))
    reduced = read_image(tmp_path / "big.npy", target_size=(64, 64))
    assert reduced.meta["reduced_by"] > 1 and reduced.array.shape[1] < 4096
    with pytest.raises(ImageReadError, match="pixels"):
        read_image(tmp_path / "big.npy", max_pixels=1000)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.array([{"patient": "x"}], dtype=object), "cannot be read"),  # would need unpickling
        (np.zeros((8, 8), np.complex64), "not numbers of an image"),
        (np.zeros((2, 3, 4, 5, 6)), "not an image medimg reads"),
        (np.zeros(16), "not an image medimg reads"),
    ],
)
def test_arrays_that_are_no_image_are_refused_with_the_reason(tmp_path: Path, array: np.ndarray, words: str) -> None:
    np.save(tmp_path / "bad.npy", array, allow_pickle=True)
    with pytest.raises(ImageReadError, match=words):
        read_image(tmp_path / "bad.npy")


def test_a_truncated_file_is_named(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((64, 64), np.float32))
    data = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"x\.npy"):
        read_image(tmp_path / "x.npy")


def test_a_class_folder_dataset_of_npy_slices(tmp_path: Path) -> None:
    from medimg import Dataset

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            np.save(tmp_path / label / f"{i}.npy", RNG.random((16, 16)).astype(np.float32))
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["a", "b"] and len(dataset.cases) == 6
    assert dataset.read(dataset.cases[0]).array.shape == (1, 16, 16)
