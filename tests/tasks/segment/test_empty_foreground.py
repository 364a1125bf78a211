"""A segmentation set whose every mask is empty (LIDC outlines that named no slice of their series, drawn into
blank masks): `check` said status OK and `fit` trained on background alone, reporting a Dice of 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError
from medimg.tasks.segment.quality import check_segmentation


def _pairs(root: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (24, 24), np.uint8)).save(root / "images" / f"case{i}.png")
        Image.fromarray(np.zeros((24, 24), np.uint8)).save(root / "masks" / f"case{i}.png")
    return root


def test_check_reports_a_set_of_empty_masks(tmp_path: Path) -> None:
    report = check_segmentation(Dataset.load(_pairs(tmp_path / "blank"), task="segment"))
    assert report.no_foreground and not report.ok
    assert "every mask is empty" in report.summary()


def test_fit_refuses_to_train_on_background_alone(tmp_path: Path) -> None:
    from medimg import Model

    data = _pairs(tmp_path / "blank")
    model = Model("unet", task="segment", epochs=1, input_size=16)
    with pytest.raises(DatasetError, match="training masks is empty"):
        model.fit(data, run_dir=tmp_path / "run", progress=False)
