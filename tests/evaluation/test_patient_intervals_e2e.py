"""fit/evaluate hand the cases' patient ids to the report: its intervals count patients (deep and classical)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def patients_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 patients x 4 near-identical 16x16 images; a bright disc marks the tumour patients."""
    root = tmp_path_factory.mktemp("patients")
    (root / "img").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    yy, xx = np.mgrid[:16, :16]
    for pid in range(20):
        label = ("normal", "tumour")[pid % 2]
        base = rng.normal(100, 20, (16, 16)) + 80 * (label == "tumour") * (((yy - 8) ** 2 + (xx - 8) ** 2) < 16)
        for k in range(4):
            name = f"img/P{pid:03d}_{k}.png"
            Image.fromarray(np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)).save(root / name)
            rows.append([name, label, f"P{pid:03d}"])
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label", "patient_id"])
        writer.writerows(rows)
    return root / "labels.csv"


def _check_report(folder: Path) -> None:
    report = json.loads((folder / "report.json").read_text())
    splits = json.loads((folder.parent / "splits.json").read_text())["assignment"]
    test_patients = {Path(c).name[:4] for c, s in splits.items() if s == "test"}
    assert report["metrics"]["n_patients"] == len(test_patients) < report["metrics"]["n"]
    assert {e["unit"] for e in report["confidence_intervals"].values()} == {"patient"}
    with open(folder / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["patient_id"] for r in rows} == test_patients
    assert "intervals count patients" in (folder / "report.html").read_text()


def test_deep_fit_reports_intervals_by_patient(patients_csv: Path, tmp_path: Path) -> None:
    from medimg import Model

    Model("simple-cnn").fit(patients_csv, run_dir=tmp_path / "run", epochs=1, progress=False, input_size=16)
    _check_report(tmp_path / "run" / "report")


def test_classical_fit_reports_intervals_by_patient(patients_csv: Path, tmp_path: Path) -> None:
    from threadpoolctl import threadpool_limits

    from medimg import Model

    with threadpool_limits(limits=1):
        Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1).fit(
            patients_csv, run_dir=tmp_path / "run", progress=False, seed=0
        )
    _check_report(tmp_path / "run" / "report")
