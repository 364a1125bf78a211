"""`medimg plan` on a 6-image set advised "pass --test-fraction 0", an option only `fit` had: plan takes
--val-fraction and --test-fraction (or their --set twins) and plans the split fit would make."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medimg.errors import ConfigError, MedimgError


@pytest.fixture
def six_images(tmp_path: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("normal", "tumor"):
        (tmp_path / "six" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "six" / name / f"{i}.png")
    return tmp_path / "six"


def _plan(data: Path, out: Path, *arguments: str) -> tuple[BaseException | None, str]:
    from medimg.cli.app import app

    result = CliRunner().invoke(app, ["plan", str(data), "--out", str(out), *arguments])
    return result.exception, result.output


def test_the_fractions_plan_advises_are_options_of_plan(six_images: Path, tmp_path: Path) -> None:
    import typer

    from medimg.cli.app import app

    error, _ = _plan(six_images, tmp_path / "p0")
    assert isinstance(error, MedimgError) and "pass --test-fraction 0" in str(error), error
    options = {opt for param in typer.main.get_command(app).commands["plan"].params for opt in param.opts}  # type: ignore[attr-defined]
    advised = set(re.findall(r"--[a-z][a-z-]+", str(error)))
    assert advised and advised <= options, advised - options  # every option the advice names, plan takes
    error, output = _plan(six_images, tmp_path / "p1", "--test-fraction", "0", "--val-fraction", "0.2")
    assert error is None, (error, output)
    assert json.loads((tmp_path / "p1" / "plan.json").read_text())["task"] == "classify"
    error, output = _plan(six_images, tmp_path / "p2", "--set", "test_fraction=0", "--set", "val_fraction=0.2")
    assert error is None, (error, output)


def test_plan_refuses_a_fraction_given_two_values_or_out_of_range(six_images: Path, tmp_path: Path) -> None:
    error, _ = _plan(six_images, tmp_path / "p", "--test-fraction", "0", "--set", "test_fraction=0.2")
    assert isinstance(error, ConfigError) and "--set test_fraction=0.2 contradicts --test-fraction 0" in str(error)
    error, _ = _plan(six_images, tmp_path / "p", "--test-fraction", "1.5")
    assert isinstance(error, ConfigError) and "test_fraction" in str(error), error
    assert not (tmp_path / "p").exists()


def test_an_invalid_run_option_is_named_by_its_flag() -> None:
    """``medimg fit DATA --val-fraction 0`` said "invalid option: val_fraction: Input should be greater than 0",
    the Python field's name, not the flag typed."""
    from medimg.config import FitOptions, check_overrides
    from medimg.planning.plan import Plan

    with pytest.raises(ConfigError, match=r"invalid option --val-fraction \(val_fraction=\): Input should be greater"):
        check_overrides(Plan, {"val_fraction": 0.0}, tuple(FitOptions.model_fields))
    with pytest.raises(ConfigError, match=r"invalid option --threads \(num_threads=\)"):
        check_overrides(Plan, {"num_threads": "many"}, tuple(FitOptions.model_fields))
