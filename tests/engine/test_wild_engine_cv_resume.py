"""A cross-validation resumed with other plan settings trains its remaining folds as its first ones were planned."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from tests.engine.test_cv_resume import _fit, _patients


def test_folds_still_to_train_keep_the_saved_settings_and_start_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`fit --folds 2 --epochs 1`, interrupted before fold 1, resumed with `--epochs 2`: fold 0 kept 1 epoch
    (with a warning saying 2 was not applied) while fold 1 trained 2, so the mean over folds mixed two settings;
    fold 1 also warned "--resume: no checkpoint ... starting from scratch" though nothing was lost."""
    data = _patients(tmp_path / "data", {"normal": 6, "pneumonia": 6}, images=2)
    run = tmp_path / "cv"
    _fit(data, run, folds=2)  # 1 epoch
    shutil.rmtree(run / "fold_1")  # as if interrupted between folds 0 and 1
    with caplog.at_level(logging.WARNING):
        _fit(data, run, folds=2, epochs=2, resume=True)
    assert [json.loads((run / f"fold_{k}" / "plan.json").read_text())["epochs"] for k in range(2)] == [1, 1]
    assert "not applied to the folds still to train" in caplog.text
    assert "no checkpoint" not in caplog.text
    assert json.loads((run / "cv.json").read_text())["complete"]
