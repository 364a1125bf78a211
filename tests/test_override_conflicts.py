"""An option and its `--set` twin given two values (`medimg fit D --lr 0.1 --set learning_rate=0.5` trained at 0.1
and said nothing of the 0.5) are refused naming both; equal values are one value; a `--set` run option alone
(`--set seed=3`) is used, not lost to the option's default. Segmentation's `--set augmentation=null` switches the
planned augmentation off, as classification's does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from medimg.errors import ConfigError
from medimg.model import Model
from tests.tasks.segment.synthetic import write_2d_pairs


def _fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *arguments: str) -> tuple[Any, dict[str, Any]]:
    """`medimg fit DATA ...` up to Model.fit: its error, or (the Model's --set values, fit's keyword arguments)."""
    import medimg.cli.app as cli

    seen: dict[str, Any] = {}

    def fake_fit(self: Model, data: Any, **kwargs: Any) -> Model:
        seen.update(constructor=dict(self.plan_overrides), fit=kwargs)
        return self  # run_dir_ None: the CLI returns as on a rank other than 0

    monkeypatch.setattr(Model, "fit", fake_fit)
    monkeypatch.setattr(cli, "_check_before_fit", lambda *a, **k: None)
    result = CliRunner().invoke(cli.app, ["fit", str(tmp_path), "--task", "classify", *arguments])
    return result.exception, seen


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--lr", "0.1", "--set", "learning_rate=0.5"], "--set learning_rate=0.5 contradicts --lr 0.1"),
        (["--batch-size", "4", "--set", "batch_size=8"], "--set batch_size=8 contradicts --batch-size 4"),
        (["--epochs", "2", "--set", "epochs=3"], "--set epochs=3 contradicts --epochs 2"),
        (["--seed", "1", "--set", "seed=3"], "--set seed=3 contradicts --seed 1"),
        (
            ["--test-fraction", "0", "--set", "test_fraction=0.2"],
            "--set test_fraction=0.2 contradicts --test-fraction 0",
        ),
        (["--strict", "--set", "strict=false"], "--set strict=false contradicts --strict"),
        (["--threads", "2", "--set", "num_threads=4"], "--set num_threads=4 contradicts --threads 2"),
    ],
)
def test_an_option_and_its_set_twin_with_two_values_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    error, seen = _fit(tmp_path, monkeypatch, *arguments)
    assert isinstance(error, ConfigError) and message in str(error) and "give one of them" in str(error), error
    assert not seen  # refused before training


def test_equal_values_are_one_and_a_set_run_option_alone_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error, seen = _fit(tmp_path, monkeypatch, "--lr", "0.1", "--set", "learning_rate=1e-1", "--batch-size", "8")
    assert error is None, error
    assert seen["fit"]["learning_rate"] == 0.1 and seen["fit"]["batch_size"] == 8
    assert "learning_rate" not in seen["constructor"]
    error, seen = _fit(
        tmp_path, monkeypatch, "--set", "seed=3", "--set", "test_fraction=0", "--set", "learning_rate=0.5"
    )
    assert error is None, error
    assert (
        seen["fit"]["seed"] == 3 and seen["fit"]["test_fraction"] == 0
    )  # were --seed's and --test-fraction's defaults
    assert seen["constructor"] == {"learning_rate": 0.5} and "learning_rate" not in seen["fit"]


def test_the_python_api_refuses_a_plan_field_given_to_model_and_fit_with_two_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"learning_rate=0\.5 to Model\(\.\.\.\) and learning_rate=0\.1 to fit\(\)"):
        Model(learning_rate=0.5).fit(tmp_path / "nowhere", learning_rate=0.1)


def test_segmentation_augmentation_null_switches_the_planned_augmentation_off(tmp_path: Path) -> None:
    from medimg.cli.app import app

    data = write_2d_pairs(tmp_path / "discs", n=8, size=32)
    plans = {}
    for name, extra in (
        ("planned", []),
        ("off", ["--set", "augmentation=null"]),
        ("false", ["--set", "augmentation=false"]),
    ):
        out = tmp_path / name
        result = CliRunner().invoke(app, ["plan", str(data), "--task", "segment", "--out", str(out), *extra])
        assert result.exit_code == 0, (result.output, result.exception)
        plans[name] = json.loads((out / "plan.json").read_text())
    assert plans["planned"]["augmentation"]["flip_axes"]  # on by the plan
    assert plans["off"]["augmentation"] == plans["false"]["augmentation"]
    assert not plans["off"]["augmentation"]["flip_axes"] and plans["off"]["reasons"]["augmentation"] == "set by user"
