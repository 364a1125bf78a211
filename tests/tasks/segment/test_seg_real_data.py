"""Acceptance runs on the real sets (the README's numbers): slow, and skipped without ../shared/data.

Each trains with the default plan exactly as ``medimg fit DATA --task segment --model unet`` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from medimg import Model
from tests.conftest import shared_data

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_drive_vessels(tmp_path: Path) -> None:
    model = Model("unet", task="segment").fit(shared_data("drive"), run_dir=tmp_path / "drive", progress=False)
    metrics = model.evaluate().metrics
    assert metrics["n"] == 20  # the official test set, evaluated inside the field of view
    assert metrics["dice_pooled"] >= 0.78 and metrics["pixel_auc"] >= 0.97


def test_isic2018_lesions(tmp_path: Path) -> None:
    model = Model("unet", task="segment").fit(
        shared_data("isic2018_task1_256"), run_dir=tmp_path / "isic", progress=False
    )
    metrics = model.evaluate().metrics
    assert metrics["n"] == 594 and metrics["dice_mean"] >= 0.85


def test_msd_hippocampus(tmp_path: Path) -> None:
    model = Model("unet", task="segment", class_names=["background", "anterior", "posterior"]).fit(
        shared_data("msd_hippocampus"), run_dir=tmp_path / "hippo", test_fraction=0.2, progress=False
    )
    metrics = model.evaluate().metrics
    assert metrics["n"] == 52 and metrics["dice_mean"] >= 0.85
