"""A segmentation evaluation's per-case results name each case's patient (``patient_id``), as a classification
report's predictions do, so a user can group a patient's cases; without patient ids there is no such column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from medimg.tasks.segment.report import build_segmentation_report, write_segmentation_report

SCORES = {"dice": 0.8, "iou": 0.7, "hd95": 1.0, "assd": 0.5, "sensitivity": 0.8, "precision": 0.8}


def _report(patients: list[str | None] | None):  # type: ignore[no-untyped-def]
    per_case = [{0: {**SCORES, "tp": 1, "fp": 0, "fn": 0}, 1: {**SCORES, "tp": 1, "fp": 0, "fn": 0}}] * 4
    return build_segmentation_report(
        per_case,
        ["a", "b", "c", "d"],
        ["background", "lesion"],
        split="test",
        model_name="unet",
        dataset_name="d",
        n_resamples=10,
        patient_ids=patients,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_per_case_csv_json_and_html_name_each_cases_patient(tmp_path: Path) -> None:
    report = _report(["P1", "P1", "NA", None])
    paths = write_segmentation_report(report, tmp_path)
    rows = _rows(paths["csv"])
    assert list(rows[0])[:2] == ["case_id", "patient_id"]
    assert [(r["case_id"], r["patient_id"]) for r in rows] == [("a", "P1"), ("b", "P1"), ("c", "NA"), ("d", "")]
    cases = json.loads(paths["json"].read_text())["cases"]
    assert [c["patient_id"] for c in cases] == ["P1", "P1", "NA", None]
    assert "<th" in paths["html"].read_text() and ">Patient<" in paths["html"].read_text()


def test_no_patient_column_when_the_data_name_no_patients(tmp_path: Path) -> None:
    for patients in (None, [None] * 4):
        rows = _rows(write_segmentation_report(_report(patients), tmp_path)["csv"])
        assert "patient_id" not in rows[0]


def test_evaluating_a_manifest_with_patients_writes_them_per_case(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from medimg import Model
    from medimg.tasks.segment.data import SegmentationDataset
    from medimg.tasks.segment.evaluate import evaluate_cases
    from tests.serve.support import train_tiny_segmentation_run
    from tests.tasks.segment.synthetic import write_2d_pairs

    model = Model.load(train_tiny_segmentation_run(tmp_path_factory))
    assert model.network_ is not None and model.plan_ is not None
    root = write_2d_pairs(tmp_path / "ext", n=3, size=32, seed=5)
    lines = ["image,mask,patient_id"] + [
        f"images/case_{i:02d}.png,masks/case_{i:02d}.png,{'P7' if i < 2 else 'P9'}" for i in range(3)
    ]
    (root / "pairs.csv").write_text("\n".join(lines) + "\n")
    dataset = SegmentationDataset.load(root / "pairs.csv")
    report = evaluate_cases(
        model.network_, model.plan_, dataset, dataset.cases, split="all", out_dir=tmp_path / "r", n_resamples=10
    )
    rows = _rows(tmp_path / "r" / "per_case.csv")
    assert sorted((r["case_id"].split("/")[-1], r["patient_id"]) for r in rows) == [
        ("case_00.png", "P7"),
        ("case_01.png", "P7"),
        ("case_02.png", "P9"),
    ]
    assert report.metrics["n_patients"] == 2
