"""A photo stored sideways (EXIF orientation 5..8) whose mask was drawn on its upright view (CVAT, LabelMe and
browsers show it turned) is said to be stored rotated, with the fix, not blamed on the mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.errors import DatasetError


def test_a_sideways_photo_with_an_upright_mask_is_named(tmp_path: Path) -> None:
    from medimg.data.dataset import SegmentationDataset

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = np.random.default_rng(0).integers(0, 255, (32, 24, 3), dtype=np.uint8)  # upright it is 24 x 32 (h x w)
    Image.fromarray(stored).save(tmp_path / "images" / "case_0.jpg", exif=exif.tobytes())
    Image.fromarray(np.zeros((24, 32), np.uint8)).save(tmp_path / "masks" / "case_0.png")
    data = SegmentationDataset.load(tmp_path)
    with pytest.raises(DatasetError) as raised:
        data.read(data.cases[0])
    message = str(raised.value)
    assert "stored rotated (EXIF orientation 6: viewers show it turned 90 degrees clockwise, 32x24 px" in message
    assert "re-save the image upright" in message
    assert "re-export the mask" not in message
