"""The speed benchmark's torch.compile row (slow: inductor compiles forward and backward on 2 cores)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import write_npz

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_speed_measures_torch_compile_side_by_side(tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPTS))
    import speed  # type: ignore[import-not-found]

    data = write_npz(tmp_path / "tiny.npz", n=(256, 32, 32))
    result = speed.measure_speed(data, steps=2, rounds=1, trainer_epoch=False, compile_row=True)
    names = [row["configuration"] for row in result["rows"]]
    assert any("torch.compile" in n for n in names)
    assert result["compile_s"] is not None and result["compile_s"] > 0
    assert all(row["images_per_s"] > 0 for row in result["rows"])
    assert "torch.compile:" in speed.format_speed(result)
