"""2D images and 3D volumes in one segmentation set (CAMUS: 2D+time sequences beside the 2D frames): check names
the problem and fit refuses with the fix, where fingerprinting failed with a NumPy traceback."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from medimg import Model
from medimg.cli.app import app
from medimg.errors import DatasetError
from tests.tasks.segment.synthetic import FAST_FIT, write_2d_pairs


def _with_sequences(root: Path) -> Path:
    """``write_2d_pairs`` plus two 2D+time sequences and their masks, named as CAMUS names them."""
    write_2d_pairs(root, n=12)
    rng = np.random.default_rng(1)
    for i in range(2):
        sequence = rng.integers(0, 255, (48, 48, 5)).astype(np.uint8)
        nib.save(nib.Nifti1Image(sequence, np.eye(4)), root / "images" / f"case_{i:02d}_half_sequence.nii.gz")
        nib.save(
            nib.Nifti1Image((sequence > 128).astype(np.uint8), np.eye(4)),
            root / "masks" / f"case_{i:02d}_half_sequence.nii.gz",
        )
    return root


def test_check_reports_mixed_dimensions(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(_with_sequences(tmp_path / "set"))])
    assert result.exit_code == 1, result.output
    assert "the data mixes 12 2D images (e.g. images/case_00.png) and 2 3D volumes" in result.output
    assert "--exclude" in result.output and "PROBLEMS FOUND" in result.output


def test_fit_refuses_with_the_fix_and_the_exclusion_trains(tmp_path: Path) -> None:
    data = _with_sequences(tmp_path / "set")
    with pytest.raises(DatasetError, match=r"mixes 2D images \(e\.g\. .*\) and 3D volumes .*--exclude"):
        Model("unet", task="segment").fit(data, run_dir=tmp_path / "run", **FAST_FIT)
    model = Model("unet", task="segment").fit(data, run_dir=tmp_path / "run2", exclude=("*sequence*",), **FAST_FIT)
    assert model.run_dir_ is not None
