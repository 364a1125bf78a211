"""`medimg serve` of a classical run (random forest, SVM... on image features): the README's classical baselines
share the run folder, report and `predict` of the deep models, so a user may well try to serve one. It printed an
AttributeError traceback (`'NoneType' object has no attribute 'named_modules'`; with `--explain none`, after the
database was created, `... has no attribute 'input_size'`) instead of one line saying what serves and what does
not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from medimg import Model
from medimg.cli.app import app
from medimg.errors import ConfigError
from tests.conftest import write_npz


@pytest.fixture(scope="module")
def classical_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("classical")
    npz = write_npz(root / "tiny.npz", shape=(16, 16), n=(24, 8, 8))
    run = root / "run"
    Model("logistic-regression", features="first-order", cv_folds=2, n_jobs=1).fit(npz, run_dir=run, progress=False)
    return run


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn, "run", never)


@pytest.mark.parametrize("explain", ["gradcam", "none"])
def test_serving_a_classical_run_is_one_error_line_and_creates_nothing(
    explain: str, classical_run: Path, tmp_path: Path, no_server: None
) -> None:
    database = tmp_path / "serve.db"
    result = CliRunner().invoke(app, ["serve", str(classical_run), "--db", str(database), "--explain", explain])
    assert isinstance(result.exception, ConfigError), (result.output, result.exception)
    message = str(result.exception)
    assert "classical model" in message and "medimg predict" in message
    assert not database.exists()


def test_predicting_a_classical_run_on_onnx_runtime_does_not_say_to_export_it(classical_run: Path) -> None:
    """`predict RUN --engine onnx` said "export it first: medimg export RUN", which refuses a classical run."""
    result = CliRunner().invoke(app, ["predict", str(classical_run), str(classical_run), "--engine", "onnx"])
    assert isinstance(result.exception, ConfigError), (result.output, result.exception)
    message = str(result.exception)
    assert "classical model" in message and "export it" not in message
