"""``fit --task generate`` with options a generator cannot use: ``--synthetic`` (generated images trained on as
real ones) and ``--unlabelled`` (silently ignored) are refused before training."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from medimg.config import FitOptions
from medimg.errors import ConfigError
from medimg.tasks.generate.task import GenerateTask


def _setup(options: FitOptions) -> None:
    planned: Any = SimpleNamespace(plan=None, loaded=None, run_dir=None)
    GenerateTask().setup(None, planned, [], options, None)  # type: ignore[arg-type]


def test_a_synthetic_set_is_not_trained_on_by_a_generator() -> None:
    with pytest.raises(ConfigError, match=r"--synthetic synth: a generator learns from real images only.*--synthetic"):
        _setup(FitOptions(synthetic="synth"))


def test_an_unlabelled_pool_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"--unlabelled pool: .*drop --unlabelled"):
        _setup(FitOptions(unlabelled="pool"))


def test_a_synthetic_set_or_teacher_given_as_a_path_is_taken() -> None:
    """``fit(data, synthetic=model.generate(...).folder)``: was 'invalid option: synthetic: Input should be a valid
    string'."""

    from medimg.config import check_overrides
    from medimg.planning.plan import Plan

    options = FitOptions(synthetic=Path("synth"), teacher=Path("runs") / "teacher")  # type: ignore[arg-type]
    assert options.synthetic == "synth" and options.teacher == str(Path("runs") / "teacher")
    check_overrides(Plan, {"synthetic": Path("synth")}, tuple(FitOptions.model_fields))  # Model.fit's check


def test_a_single_class_folder_is_refused_with_the_generators_reason(tmp_path: Path) -> None:
    """Was: 'a classifier needs at least two classes' (the user asked for a generator of their rare class)."""
    from medimg.data.synthetic import make_phantom_dataset
    from medimg.errors import DatasetError

    data = make_phantom_dataset(tmp_path / "data", n_per_class=2, size=8, seed=0)
    (data / "normal" / "phantom_0000.png").unlink()
    (data / "normal" / "phantom_0001.png").unlink()
    (data / "normal").rmdir()
    with pytest.raises(DatasetError, match=r"single class: a generator .*medimg generate RUN --class NAME"):
        GenerateTask().load_dataset(data)
