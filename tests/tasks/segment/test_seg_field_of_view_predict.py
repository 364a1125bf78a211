"""A model trained with field-of-view masks predicts images without one: its output outside the field of view was
never trained (a tester's fundus model drew lesion on most of the black border), so predict says so."""

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

    with_fov = tmp_path / "fov_run"
    shutil.copytree(trained, with_fov)
    fingerprint = json.loads((with_fov / "fingerprint.json").read_text()) | {"has_roi": True}
    (with_fov / "fingerprint.json").write_text(json.dumps(fingerprint))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Model.load(with_fov).predict([image], out_dir=tmp_path / "fov")
    assert "trained with region-of-interest masks: outside them its output was never trained" in caplog.text
