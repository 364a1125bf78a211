"""Acceptance runs on the real data in ../shared/data (marked slow: `make slow`; skipped without the data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medimg import Dataset, Model
from tests.conftest import shared_data

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_pneumoniamnist_default_plan_meets_the_published_baseline(tmp_path: Path) -> None:
    """Default settings must beat MedMNIST v2's ResNet-18 (28) row: ACC 0.854, AUC 0.944."""
    model = Model().fit(shared_data("medmnist/pneumoniamnist.npz"), run_dir=tmp_path / "run", progress=False)
    report = model.evaluate()
    assert report.metrics["accuracy"] >= 0.85
    assert report.metrics["roc_auc"] >= 0.94
    assert model.metadata_["training"]["total_time_s"] <= 600


def test_herlev_seven_classes_end_to_end(tmp_path: Path) -> None:
    ds = Dataset.load(shared_data("herlev/data"), exclude="*-d.bmp")
    model = Model().fit(ds, run_dir=tmp_path / "run", epochs=3, progress=False)
    assert model.class_names_ is not None and len(model.class_names_) == 7
    assert (tmp_path / "run" / "report" / "report.html").is_file()
    assert model.predict(ds.cases[0].path)[0].label in model.class_names_


def test_adrenalmnist3d_end_to_end(tmp_path: Path) -> None:
    model = Model().fit(
        shared_data("medmnist/adrenalmnist3d_64.npz"), run_dir=tmp_path / "run", epochs=2, progress=False
    )
    assert model.plan_ is not None and model.plan_.spatial_dims == 3
    report = model.evaluate()
    assert report.metrics["n"] == 298
    assert (tmp_path / "run" / "report" / "report.html").is_file()
