"""A model trained with field-of-view masks predicts images without one: its output outside the field of view was
never trained (a tester's fundus model drew lesion on most of the black border), so predict says so when it cannot
find the field of view itself (masks that are not the image's bright region), and not for a model whose masks only
had ignored colours (Herlev)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from tests.serve.support import disc_files, train_tiny_segmentation_run


def test_predict_warns_when_the_model_was_trained_with_field_of_view_masks(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from medimg import Model

    trained = train_tiny_segmentation_run(tmp_path_factory)
    image = next(iter(disc_files(trained, tmp_path / "inputs").values()))
    with caplog.at_level(logging.WARNING):
        Model.load(trained).predict([image], out_dir=tmp_path / "plain")
    assert "region-of-interest" not in caplog.text  # trained without one: nothing to say

    said = "trained with region-of-interest masks: outside them its output was never trained"
    for name, facts, warned in (
        ("drawn_rois", {"has_roi": True, "roi_mask_cases": 3}, True),  # masks that gave no field-of-view rule
        ("ignored_colours", {"has_roi": True, "roi_mask_cases": 0}, False),  # Herlev: ignored pixels, no ROI masks
        ("older", {"has_roi": True, "roi_mask_cases": None}, True),  # a run from before roi_mask_cases
    ):
        run = tmp_path / name
        shutil.copytree(trained, run)
        fingerprint = json.loads((run / "fingerprint.json").read_text()) | facts
        if facts["roi_mask_cases"] is None:
            del fingerprint["roi_mask_cases"]
        (run / "fingerprint.json").write_text(json.dumps(fingerprint))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            Model.load(run).predict([image], out_dir=tmp_path / f"{name}_masks")
        assert (said in caplog.text) == warned, name
