"""``fit --strict`` refuses masks without an image (README: "masks without an image are listed in a warning
(``--strict``: an error)"); it warned, skipped them and trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.errors import DatasetError
from medimg.model import Model
from tests.tasks.segment.synthetic import FAST_FIT, write_2d_pairs


def _with_orphan(tmp_path: Path) -> Path:
    data = write_2d_pairs(tmp_path / "discs", n=8, size=32)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(data / "masks" / "zz_99.png")
    return data


def test_fit_strict_refuses_a_mask_without_an_image(tmp_path: Path) -> None:
    data = _with_orphan(tmp_path)
    with pytest.raises(DatasetError, match=r"masks/zz_99\.png.*Rename them"):
        Model("unet", task="segment").fit(data, run_dir=tmp_path / "run", strict=True, test_fraction=0.25, **FAST_FIT)
    assert not (tmp_path / "run" / "model.pt").exists()
