"""Masks as they are stored in the wild: JPEG-compressed masks, whose ringing around the edges is not region."""

from __future__ import annotations

import numpy as np
import pytest

from medimg.features import MaskSpec


def _disc(radius: float, size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius**2


@pytest.mark.parametrize("quality", [95, 75, 50])
def test_a_jpeg_mask_gives_the_region_that_was_drawn(tmp_path, quality):
    from PIL import Image

    drawn = _disc(15)
    Image.fromarray(drawn.astype(np.uint8) * 255).save(tmp_path / "cell_mask.jpg", quality=quality)
    mask = MaskSpec.parse("{stem}_mask.jpg").read(tmp_path / "cell_mask.jpg")
    assert np.array_equal(mask > 0, drawn)  # not the ringing pixels (1, 2, 3...) around the disc


def test_a_grey_coded_jpeg_mask_keeps_its_levels(tmp_path):
    from PIL import Image

    coded = np.where(_disc(7), 128, np.where(_disc(15), 255, 0)).astype(np.uint8)
    Image.fromarray(coded).save(tmp_path / "cell_mask.jpg", quality=90)
    mask = MaskSpec.parse("{stem}_mask.jpg").read(tmp_path / "cell_mask.jpg")
    assert np.array_equal(mask > 0, coded > 0)
    assert len(np.unique(mask)) == 3
    assert MaskSpec.parse("{stem}_mask.jpg").to_json() != MaskSpec.parse("{stem}_mask.png").to_json() | {
        "pattern": "{stem}_mask.jpg"
    }  # JPEG masks' rows cached before the snapping are not reused
