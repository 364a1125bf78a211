"""`medimg compare ... --reuse`, which compare's own refusal recommends ("pass --reuse to reuse its finished runs and
train only the models it lacks"), died with a TypeError traceback on the first reused run: the progress line
formatted its training time, which a reused run does not have."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from medimg.cli.app import app
from tests.conftest import write_npz


def test_a_comparison_reuses_its_finished_runs_and_adds_the_missing_model(tmp_path: Path) -> None:
    npz = write_npz(tmp_path / "tiny.npz", shape=(16, 16), n=(24, 8, 8))
    out = tmp_path / "cmp"
    common = ["--features", "first-order", "--cv-folds", "2", "--n-resamples", "20", "--timing-images", "2"]
    common += ["--out", str(out), "--no-progress"]
    first = CliRunner().invoke(app, ["compare", str(npz), "--models", "logistic-regression", *common])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(
        app, ["compare", str(npz), "--models", "logistic-regression,decision-tree", *common, "--reuse"]
    )
    assert again.exit_code == 0, (again.output, again.exception)
    assert "logistic-regression: done (reused its finished run)" in again.output
    rows = json.loads((out / "comparison.json").read_text())
    assert "decision-tree" in json.dumps(rows) and "logistic-regression" in json.dumps(rows)


def test_reusing_a_run_trained_with_other_settings_is_refused(tmp_path: Path) -> None:
    """A reused run kept its old features while the page said "classical features: <the new ones>": the table
    showed handcrafted scores under first-order, silently."""
    npz = write_npz(tmp_path / "tiny.npz", shape=(16, 16), n=(24, 8, 8))
    out = tmp_path / "cmp"
    common = ["--cv-folds", "2", "--n-resamples", "20", "--timing-images", "2", "--out", str(out), "--no-progress"]
    first = CliRunner().invoke(
        app, ["compare", str(npz), "--models", "logistic-regression", "--features", "first-order", *common]
    )
    assert first.exit_code == 0, first.output
    other = ["compare", str(npz), "--models", "logistic-regression", "--features", "first-order,glcm", *common]
    again = CliRunner().invoke(app, [*other, "--reuse"])
    assert again.exit_code != 0
    message = str(again.exception)
    assert "features 'first-order', not 'first-order,glcm'" in message and "--reuse" in message
    assert "first-order,glcm" not in (out / "comparison.json").read_text()


def test_reusing_a_run_of_another_split_seed_or_fraction_is_refused(tmp_path: Path) -> None:
    """``--seed 1 --reuse`` reused every run of seed 0: the page said "split seed 1" over seed 0's test images
    (``--test-fraction 0.3 --reuse`` alike)."""
    out = tmp_path / "cmp"
    classes = tmp_path / "cls"
    for k in range(24):
        path = classes / ("a", "b")[k % 2] / f"{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(k).integers(0, 60, (12, 12)) + 100 * (k % 2)
        Image.fromarray(pixels.astype(np.uint8)).save(path)
    common = ["--models", "logistic-regression", "--features", "first-order", "--cv-folds", "2"]
    common += ["--n-resamples", "20", "--timing-images", "2", "--out", str(out), "--no-progress"]
    first = CliRunner().invoke(app, ["compare", str(classes), *common])
    assert first.exit_code == 0, first.output
    for extra, shown in ((["--seed", "1"], "seed 0, not 1"), (["--test-fraction", "0.3"], "test_fraction 0.15, not")):
        again = CliRunner().invoke(app, ["compare", str(classes), *common, *extra, "--reuse"])
        assert again.exit_code != 0 and shown in str(again.exception), (again.output, again.exception)
    same = CliRunner().invoke(app, ["compare", str(classes), *common, "--seed", "0", "--reuse"])
    assert same.exit_code == 0 and "done (reused its finished run)" in same.output, (same.output, same.exception)


def test_reusing_a_run_trained_on_other_data_is_refused(tmp_path: Path) -> None:
    """Eight images added to the data, the same command with --reuse: the old runs were reused, "n test 4" and the
    old table under the new data, no word."""
    out, classes = tmp_path / "cmp", tmp_path / "cls"

    def write(count: int) -> None:
        for k in range(count):
            path = classes / ("a", "b")[k % 2] / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.random.default_rng(k).integers(0, 60, (12, 12)) + 100 * (k % 2)
            Image.fromarray(pixels.astype(np.uint8)).save(path)

    write(24)
    common = ["--models", "logistic-regression", "--features", "first-order", "--cv-folds", "2"]
    common += ["--n-resamples", "20", "--timing-images", "2", "--out", str(out), "--no-progress"]
    assert CliRunner().invoke(app, ["compare", str(classes), *common]).exit_code == 0
    write(32)
    again = CliRunner().invoke(app, ["compare", str(classes), *common, "--reuse"])
    assert again.exit_code != 0 and "was trained on other data (num_cases 24, not 32" in str(again.exception), (
        again.output,
        again.exception,
    )
