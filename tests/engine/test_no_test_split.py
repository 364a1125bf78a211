"""`fit --test-fraction 0`: the model trains and the fit succeeds without a test report, saying how to evaluate."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from medimg import Model


@pytest.fixture
def data(tmp_path: Path) -> Path:
    from medimg.data.synthetic import make_phantom_dataset

    return make_phantom_dataset(tmp_path / "phantoms", n_per_class=12, size=16, seed=1)


def test_fit_without_a_test_split_trains_and_says_how_to_evaluate(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`fit --test-fraction 0` trained, then failed ("has no 'test' cases; use --split all"); now the fit succeeds
    without a test report and says how to evaluate on held-out data."""
    with caplog.at_level(logging.INFO):
        model = Model("simple-cnn").fit(
            data, run_dir=tmp_path / "run", test_fraction=0.0, epochs=1, progress=False, tensorboard=False
        )
    assert model.report_ is None and (tmp_path / "run" / "model.pt").is_file()
    assert "no test split" in caplog.text and "medimg evaluate" in caplog.text
    assert "--split all" not in caplog.text


def test_cli_fit_without_a_test_split_exits_0(data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    result = CliRunner().invoke(
        app,
        [
            *("fit", str(data), "--run-dir", str(tmp_path / "run"), "--epochs", "1", "--network", "simple-cnn"),
            *("--test-fraction", "0", "--no-progress", "--threads", "1"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no test split" in result.output and "medimg evaluate" in result.output


def test_a_classical_fit_without_a_test_split_trains_and_says_how_to_evaluate(
    data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The classical baselines trained and then failed with the old advice ("use --split all")."""
    with caplog.at_level(logging.INFO):
        model = Model("random-forest").fit(data, run_dir=tmp_path / "rf", test_fraction=0.0, progress=False)
    assert model.report_ is None and (tmp_path / "rf" / "metadata.json").is_file()
    assert "no test split" in caplog.text and "--split all" not in caplog.text


def test_evaluating_a_run_without_a_test_split_points_to_held_out_data(data: Path, tmp_path: Path) -> None:
    """Model.evaluate() of such a run advised `--split all`, which scores the images it trained on."""
    from medimg.errors import DatasetError

    model = Model("simple-cnn").fit(
        data, run_dir=tmp_path / "run", test_fraction=0.0, epochs=1, progress=False, tensorboard=False
    )
    with pytest.raises(DatasetError, match=r"trained with no test split .* evaluate it on held-out data") as error:
        model.evaluate()
    assert "--split all" not in str(error.value)
