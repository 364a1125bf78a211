"""The web service's per-image report as a clinician reads it: the input in words, the decision rule, no empty
cells, and a disclaimer that names what the report holds. Built from hand-made report rows (no model)."""

from __future__ import annotations

import re

from tests.serve.support import report_row as _row

from medimg.serve.reports import report_fhir, report_html


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", "", page)


def test_classification_page_states_the_input_and_the_decision_rule() -> None:
    """The input read "PNG, shape [1, 32, 32]" (a Python list) and nothing said how the prediction is chosen."""
    page = _text(report_html(_row()))
    assert "[1, 32, 32]" not in page
    assert "PNG, 1 channel, 32 × 32 pixels" in page
    assert "the class with the highest probability (with two classes: the class whose probability is above 50%)" in page
    assert "heatmap" not in page  # no heatmap in this report: the disclaimer does not mention one


def test_segmentation_page_has_no_blank_cells_and_a_disclaimer_about_segmentation() -> None:
    """Without pixel spacing the Area column was a row of empty cells, and the disclaimer spoke of "the prediction
    and heatmap" of a segmentation."""
    segmentation = {
        "classes": [
            {"index": 0, "name": "background", "count": 679, "fraction": 0.295, "colour": "#000000"},
            {"index": 1, "name": "lesion", "count": 1625, "fraction": 0.705, "colour": "#e6194b"},
        ],
        "count_unit": "pixel",
        "measure": "area_mm2",
        "size_unit": None,
        "mask_format": "png",
    }
    row = _row(task="segment", label="lesion", label_index=1, segmentation=segmentation, mask_data=b"")
    page = report_html(row)
    assert '<td class="num"></td>' not in page
    text = _text(page)
    assert "no pixel spacing" in text
    assert "heatmap" not in text and "The segmentation and its measurements have not been reviewed" in text
    assert "heatmap" not in report_fhir(row)["conclusion"]


def test_volume_input_is_given_in_voxels() -> None:
    row = _row(input_info={"format": "nifti", "shape": [1, 4, 10, 12]})
    assert "NIFTI, 1 channel, 4 × 10 × 12 voxels" in _text(report_html(row))
