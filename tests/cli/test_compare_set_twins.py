"""`medimg compare` takes an option and its `--set` twin as `fit` does: `--epochs 3 --set epochs=5` trained 3 epochs
and said nothing of the 5; `--set seed=3` lost to `--seed`'s default 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from medimg.errors import ConfigError


@pytest.fixture
def data(tmp_path: Path) -> Path:
    from medimg.data.synthetic import make_phantom_dataset

    return make_phantom_dataset(tmp_path / "phantoms", n_per_class=6, size=16, seed=0)


def _compare(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *arguments: str) -> tuple[Any, dict]:
    """`medimg compare DATA ...` up to its first model's training: its error, or the options it trains with."""
    import medimg.cli.compare as compare
    from medimg.cli.app import app

    seen: dict[str, Any] = {}

    class Stop(Exception):
        pass

    def first_model(name: str, classical: dict, deep_overrides: dict) -> None:
        seen.setdefault("overrides", dict(deep_overrides))

    def fit_one(name: str, dataset: Any, run_dir: Path, **kwargs: Any) -> None:
        seen["fit_options"] = kwargs["fit_options"]
        raise Stop  # nothing trains

    monkeypatch.setattr(compare, "_model_for", first_model)
    monkeypatch.setattr(compare, "_fit_one", fit_one)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["compare", str(data), "--models", "simple-cnn", "--out", str(out), *arguments])
    return result.exception, seen


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--epochs", "3", "--set", "epochs=5"], "--set epochs=5 contradicts --epochs 3"),
        (["--seed", "1", "--set", "seed=3"], "--set seed=3 contradicts --seed 1"),
    ],
)
def test_two_values_are_refused(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    error, seen = _compare(data, tmp_path, monkeypatch, *arguments)
    assert isinstance(error, ConfigError) and message in str(error), error
    assert not seen  # refused before any model


def test_one_value_from_either_side_is_used(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, seen = _compare(data, tmp_path, monkeypatch, "--set", "epochs=5", "--set", "seed=3")
    assert seen["overrides"] == {"epochs": 5}  # seed is a run option, not a deep model's plan field
    assert seen["fit_options"]["seed"] == 3
