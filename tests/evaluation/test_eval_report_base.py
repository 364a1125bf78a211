"""The shared Report base: JSON round trips for classification and segmentation, generic reading, a new task's
report with only its own sections, and no evaluation -> tasks import."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from medimg.errors import MedimgError
from medimg.evaluation import html
from medimg.evaluation.report import (
    CLASSIFICATION_HEADLINE,
    ClassificationReport,
    Report,
    build_classification_report,
)
from medimg.tasks.segment.report import HEADLINE, SegmentationReport, build_segmentation_report

CLI_KEYS = {"metrics", "confidence_intervals", "headline", "split"}  # read by medimg.cli.app._print_metrics


def _classification() -> ClassificationReport:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    p1 = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.2, 40), 0.01, 0.99)
    return build_classification_report(
        y, np.c_[1 - p1, p1], ["benign", "malignant"], split="test", model_name="m", dataset_name="d", n_resamples=50
    )


def _segmentation() -> SegmentationReport:
    names = ["background", "vessel", "<tumour>"]
    per_case = []
    for i in range(5):
        case = {}
        for c in range(3):
            dice = math.nan if (i == 4 and c == 2) else 0.5 + 0.08 * i
            case[c] = {
                "dice": dice,
                "iou": dice * 0.8,
                "hd95": 2.0 + i,
                "assd": 0.5,
                "sensitivity": dice,
                "precision": dice,
                "tp": 10,
                "fp": 2,
                "fn": 3,
            }
        per_case.append(case)
    return build_segmentation_report(
        per_case,
        [f"case_{i}" for i in range(5)],
        names,
        split="val",
        model_name="unet",
        dataset_name="discs",
        pixel_auc=0.9,
        n_resamples=50,
        extra={"spacing_known": False},
    )


def test_classification_round_trip_dict_text_and_file(tmp_path: Path) -> None:
    report = _classification()
    data = report.to_dict()
    assert set(data) >= CLI_KEYS and data["task"] == "classify"
    assert data["format"] == "medimg.classification_report" and data["format_version"] == 1
    assert data["headline"] == [k for k in CLASSIFICATION_HEADLINE if k in data["headline"]]  # CLI print order
    assert {"accuracy", "roc_auc", "sensitivity", "specificity"} <= set(data["headline"])
    assert ClassificationReport.from_dict(data) == report
    assert ClassificationReport.from_json(report.to_json()) == report
    assert ClassificationReport.from_json(report.save_json(tmp_path / "report.json")) == report
    assert ClassificationReport.from_json(str(tmp_path / "report.json")).to_json() == report.to_json()


def test_classification_reads_reports_written_before_the_base_class() -> None:
    data = _classification().to_dict()
    del data["task"], data["headline"]
    loaded = ClassificationReport.from_dict(data)
    assert loaded.task == "classify" and loaded.headline == list(CLASSIFICATION_HEADLINE)


def test_segmentation_round_trip(tmp_path: Path) -> None:
    report = _segmentation()
    assert math.isnan(report.cases[4]["dice_<tumour>"])
    data = report.to_dict()
    assert CLI_KEYS | {"cases", "postprocessing", "task"} <= set(data)
    assert data["task"] == "segment" and data["format"] == "medimg.segmentation_report"
    assert data["headline"] == [k for k in HEADLINE if k in data["headline"]]
    assert data["cases"][4]["dice_<tumour>"] is None  # NaN -> null
    json.dumps(data, allow_nan=False)
    loaded = SegmentationReport.from_json(report.save_json(tmp_path / "report.json"))
    assert loaded.to_dict() == data
    assert SegmentationReport.from_dict(json.loads(report.to_json())).to_dict() == data
    page = loaded.to_html()  # nulls render as "—"
    assert "Per-case results" in page and "&lt;tumour&gt;" in page and "<tumour>" not in page
    assert page.index("case_0") < page.index("case_3")  # worst Dice first
    assert "HD95 (mean) (px)" in page


def test_segmentation_reads_reports_without_format_header() -> None:
    data = _segmentation().to_dict()
    del data["format"], data["format_version"]
    assert SegmentationReport.from_dict(data).to_dict() == {
        **data,
        "format": "medimg.segmentation_report",
        "format_version": 1,
    }


def test_reports_of_another_task_are_refused_but_read_generically(tmp_path: Path) -> None:
    seg = _segmentation().save_json(tmp_path / "seg.json")
    with pytest.raises(MedimgError, match="not a medimg classification report"):
        ClassificationReport.from_json(seg)
    with pytest.raises(MedimgError, match="not a medimg segmentation report"):
        SegmentationReport.from_dict(_classification().to_dict())
    generic = Report.from_json(seg)
    assert type(generic) is Report and generic.task == "segment" and generic.headline[0] == "dice_mean"
    assert "Dice" not in generic.to_html()  # no task sections, but a valid page
    assert generic.to_html().count("<section>") == 2  # headline + run details


def test_from_dict_errors() -> None:
    with pytest.raises(MedimgError, match="JSON object"):
        Report.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(MedimgError, match=r"lacks required field\(s\) \['cases'\]"):
        SegmentationReport.from_dict({k: v for k, v in _segmentation().to_dict().items() if k != "cases"})
    data = {**_classification().to_dict(), "format_version": 99}
    with pytest.raises(MedimgError, match="upgrade medimg"):
        ClassificationReport.from_dict(data)
    with pytest.raises(MedimgError, match="cannot read report JSON text"):
        Report.from_json("{broken")


@dataclass(kw_only=True)
class _DetectionReport(Report):
    """What a new task writes: its identity, labels and its own sections, nothing else."""

    FORMAT: ClassVar[str] = "medimg.detection_report"
    TITLE: ClassVar[str] = "Detection report"
    METRIC_LABELS: ClassVar[Mapping[str, str]] = {"map50": "mAP at IoU 0.5"}
    task: str = field(default="detect", init=False)
    boxes: list[dict[str, Any]] = field(default_factory=list)

    def task_sections(self, images: Mapping[str, bytes]) -> list[str]:
        columns = [html.Column("case_id", "Case", kind="text"), html.Column("ap", "AP")]
        return [html.section("Per-case AP", html.table(self.boxes, columns))]


def test_a_new_task_adds_only_its_sections() -> None:
    report = _DetectionReport(
        metrics={"n": 2, "map50": 0.7},
        confidence_intervals={"map50": {"value": 0.7, "low": 0.6, "high": 0.8, "confidence": 0.9}},
        split="test",
        model_name="retinanet",
        dataset_name="<lesions>",
        headline=["map50"],
        boxes=[{"case_id": "a", "ap": 0.5}, {"case_id": "b", "ap": 0.9}],
    )
    page = report.to_html()
    assert "<title>Detection report — retinanet on &lt;lesions&gt;</title>" in page
    assert "mAP at IoU 0.5" in page and "0.600 – 0.800" in page and "90% CI" in page
    assert page.index("Headline metrics") < page.index("Per-case AP") < page.index("Limitations")
    assert _DetectionReport.from_json(report.to_json()) == report


def test_evaluation_does_not_import_tasks() -> None:
    code = (
        "import sys, medimg.evaluation.report, medimg.evaluation.html\n"
        "print(sorted(m for m in sys.modules if m.startswith('medimg.tasks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_class_in_no_case_of_the_split_is_warned_of(caplog: pytest.LogCaptureFixture) -> None:
    """A class seen only in training (a rare label) has no score on the test split: said, not silently averaged."""
    per_case = [
        {c: {**dict.fromkeys(("iou", "hd95", "assd", "sensitivity", "precision"), 0.5), "dice": d, "tp": 1, "fp": 0,
             "fn": 0} for c, d in enumerate([0.9, 0.8, math.nan])}
        for _ in range(3)
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING):
        report = build_segmentation_report(
            per_case, ["a", "b", "c"], ["background", "tumour", "necrosis"], split="test", model_name="unet",
            dataset_name="d", pixel_auc=None, n_resamples=20,
        )  # fmt: skip
    assert report.metrics["per_class"]["necrosis"]["n_cases"] == 0
    assert "necrosis appear in no case of the test split" in caplog.text


def test_cases_without_a_surface_distance_are_counted_and_said(caplog: pytest.LogCaptureFixture) -> None:
    """A missed lesion (Dice 0, no HD95) left the HD95 mean near perfect without a word."""
    found = {"dice": 0.9, "iou": 0.8, "hd95": 1.0, "assd": 0.2, "sensitivity": 0.9, "precision": 0.9}
    missed = {**found, "dice": 0.0, "iou": 0.0, "hd95": math.nan, "assd": math.nan, "sensitivity": 0.0}
    per_case = [{0: {**found, "tp": 1, "fp": 0, "fn": 0}, 1: {**case, "tp": 1, "fp": 0, "fn": 1}}
                for case in (found, found, missed)]  # fmt: skip
    with caplog.at_level(logging.WARNING):
        report = build_segmentation_report(
            per_case, ["a", "b", "c"], ["background", "lesion"], split="test", model_name="unet",
            dataset_name="d", pixel_auc=None, n_resamples=20,
        )  # fmt: skip
    assert report.metrics["per_class"]["lesion"]["n_without_distance"] == 1
    assert "HD95 and ASSD leave out 1 case(s) of lesion" in caplog.text
    assert "Left out of HD95 and surface distance" in "".join(report.task_sections({}))


def test_a_notebook_shows_a_report_as_its_page_in_a_frame() -> None:
    import html as stdlib_html

    report = _classification()
    shown = report._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and len(shown) < 4 * len(report.to_html())
    page = stdlib_html.unescape(shown.split('srcdoc="', 1)[1].split('" title=', 1)[0])
    assert page == report.to_html()  # the page itself, its styles kept inside the frame
