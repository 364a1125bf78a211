"""`medimg compare --exclude A --exclude B` skipped only B's files (the option repeated kept its last value), where
every other command takes patterns comma-separated or repeated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner


def test_repeated_patterns_all_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import medimg.cli.compare as compare
    from medimg.cli.app import app
    from medimg.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(tmp_path / "phantoms", n_per_class=6, size=16, seed=0)
    seen: dict[str, Any] = {}

    def fit_one(name: str, dataset: Any, run_dir: Path, **kwargs: Any) -> None:
        seen["names"] = sorted(Path(str(c.path)).name for c in dataset.cases)
        raise KeyboardInterrupt  # nothing trains

    monkeypatch.setattr(compare, "_fit_one", fit_one)
    arguments = ["compare", str(data), "--models", "simple-cnn", "--out", str(tmp_path / "out")]
    CliRunner().invoke(app, [*arguments, "--exclude", "*0000.png", "--exclude", "*0001.png"])
    assert seen["names"] and not any(n.endswith(("0000.png", "0001.png")) for n in seen["names"]), seen["names"]
    assert len(seen["names"]) == 12 - 4  # two patterns, two files each (one per class)
