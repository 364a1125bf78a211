"""Real-data acceptance of the classical baselines (slow; skipped without ../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shared_data

pytestmark = pytest.mark.slow


def test_pneumoniamnist_handcrafted_svm_beats_auto_sklearn(tmp_path: Path) -> None:
    from medimg import Model

    npz = shared_data("medmnist/pneumoniamnist.npz")
    Model("svm", features="handcrafted", cv_folds=3).fit(npz, run_dir=tmp_path / "svm", progress=False)
    metrics = json.loads((tmp_path / "svm" / "report" / "report.json").read_text())["metrics"]
    assert metrics["accuracy"] > 0.855 and metrics["roc_auc"] > 0.942  # MedMNIST v2 auto-sklearn row


def test_herlev_two_class_with_masks(tmp_path: Path) -> None:
    from medimg import Model
    from medimg.cli.compare import write_grouped_manifest
    from medimg.data.dataset import Dataset

    data = shared_data("herlev/data")
    manifest = write_grouped_manifest(
        Dataset.load(data, exclude="*-d.bmp"), ["normal=normal_*", "abnormal=*"], tmp_path / "herlev2.csv"
    )
    Model("logistic-regression", features="handcrafted", masks="herlev", cv_folds=3).fit(
        manifest, run_dir=tmp_path / "lr", progress=False
    )
    metrics = json.loads((tmp_path / "lr" / "report" / "report.json").read_text())["metrics"]
    assert metrics["roc_auc"] > 0.95
