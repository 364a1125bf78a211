"""iPhone photos (HEIC, the camera's default) in a dermatology set: named as what they are. Before: read directly
they were "unrecognised image format ... may be corrupt, truncated at the start, or another format", and a class
folder of them was "without images" with no word of the photos in it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.errors import ImageReadError
from medimg.io import read_image

_HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)


def test_heic_photo_is_named(tmp_path: Path) -> None:
    (tmp_path / "IMG_0001.HEIC").write_bytes(_HEIC)
    with pytest.raises(ImageReadError, match=r"a HEIC/HEIF photo .* export it as JPEG or PNG"):
        read_image(tmp_path / "IMG_0001.HEIC")


def test_class_folder_of_heic_photos_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    for cls in ("naevus", "melanoma"):
        (tmp_path / cls).mkdir()
        Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)).save(tmp_path / cls / "a.jpg")
        Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)).save(tmp_path / cls / "b.jpg")
    (tmp_path / "keratosis").mkdir()
    (tmp_path / "keratosis" / "IMG_0002.HEIC").write_bytes(_HEIC)
    with caplog.at_level(logging.WARNING):
        Dataset.load(tmp_path)
    assert "keratosis (keratosis: found 1 HEIC photo file(s), which medimg does not read" in caplog.text
