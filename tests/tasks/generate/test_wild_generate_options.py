"""``fit --task generate`` with options a generator cannot use: ``--synthetic`` (generated images trained on as
real ones) and ``--unlabelled`` (silently ignored) are refused before training."""

from __future__ import annotations

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
