"""Classical predict with masks: a file whose mask is missing or empty is listed as not usable, as deep predict
lists such files, and the rest is predicted (was: the whole predict stopped with a DatasetError)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from tests.features.conftest import make_cells


@pytest.fixture(scope="module")
def cells_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("classical-gaps")
    cells = make_cells(root / "cells", n_per_class=10, size=24)
    model = Model("logistic-regression", features="first-order", masks="herlev", cv_folds=2, n_jobs=1)
    model.fit(cells, exclude="*-d.bmp", run_dir=root / "run", progress=False, test_fraction=0.3)
    incoming = root / "incoming"
    incoming.mkdir()
    for i in range(3):
        for suffix in ("", "-d"):
            shutil.copy(cells / "abnormal_cell" / f"cell{i:03d}{suffix}.bmp", incoming / f"cell{i:03d}{suffix}.bmp")
    (incoming / "cell001-d.bmp").unlink()  # its mask is missing
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(incoming / "cell002-d.bmp")  # its mask holds no region
    return root / "run", incoming


def test_a_file_without_a_usable_mask_is_listed_and_the_rest_predicted(cells_run):
    run, incoming = cells_run
    model = Model.load(run)
    predictions = model.predict(incoming)
    assert [p.source for p in predictions] == [str(incoming / "cell000.bmp")]
    failed = dict(model.failed_)
    assert set(failed) == {str(incoming / "cell001.bmp"), str(incoming / "cell002.bmp")}
    assert failed[str(incoming / "cell001.bmp")].startswith("no mask: expected")
    assert "cell001-d.bmp" in failed[str(incoming / "cell001.bmp")]
    assert "empty" in failed[str(incoming / "cell002.bmp")]


def test_cli_predict_lists_the_file_without_mask_and_exits_1(cells_run, tmp_path):
    from typer.testing import CliRunner

    from medimg.cli.app import app

    run, incoming = cells_run
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["predict", str(run), str(incoming), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "2 file(s) could not be used" in result.output and "Traceback" not in result.output
    rows = json.loads((out / "predictions.json").read_text())
    assert [row["source"] for row in rows] == [str(incoming / "cell000.bmp")]
    assert (out / "predictions.failed.csv").is_file()
