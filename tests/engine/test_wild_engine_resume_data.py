"""`fit --resume` with other data than the run was training on is refused, nothing rewritten; the same data moved
to another folder (a job's local scratch copy) still resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.errors import DatasetError
from tests.engine.test_cv_resume import _patients

FAST: dict[str, Any] = {"epochs": 1, "progress": False, "tensorboard": False, "num_threads": 1}
KEPT = ("config.json", "dataset.json", "splits.json", "fingerprint.json", "model.pt", "report/report.json")


@pytest.fixture
def trained(tmp_path: Path) -> tuple[Path, Path]:
    data = _patients(tmp_path / "data", {"normal": 5, "pneumonia": 5})
    run = tmp_path / "run"
    Model("simple-cnn").fit(data, run_dir=run, **FAST)
    return data, run


def _kept(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in KEPT}


def test_resume_on_other_images_is_refused_and_the_run_kept(trained: tuple[Path, Path], tmp_path: Path) -> None:
    """Before: the run's checkpoint went on training on the other folder's images, its config, dataset, splits,
    fingerprint and report were rewritten for them, exit 0."""
    _, run = trained
    other = _patients(tmp_path / "other", {"normal": 4, "pneumonia": 4}, seed=5)
    before = _kept(run)
    with pytest.raises(
        DatasetError, match=r"not the data .*run was training on: 6 image\(s\) gone .*it was trained on"
    ):
        Model("simple-cnn").fit(other, run_dir=run, resume=True, **FAST)
    assert _kept(run) == before


def test_resume_on_images_of_the_same_names_with_other_pixels_is_refused(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """Same file names, other contents (another copy of the data, images replaced): the fingerprint tells."""
    data, run = trained
    other = tmp_path / "replaced"
    shutil.copytree(data, other)
    for path in sorted(other.glob("normal/*/img0.png")):
        Image.fromarray(255 - np.asarray(Image.open(path))).save(path)
    before = _kept(run)
    with pytest.raises(DatasetError, match=r"the images of .*replaced are not those .*intensity"):
        Model("simple-cnn").fit(other, run_dir=run, resume=True, **FAST)
    assert _kept(run) == before


def test_the_same_data_moved_to_another_folder_resumes(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, run = trained
    moved = tmp_path / "scratch" / "data"
    shutil.copytree(data, moved)
    Model("simple-cnn").fit(moved, run_dir=run, resume=True, **FAST)
    assert (run / "report" / "report.json").is_file()


def test_resume_with_another_seed_or_fraction_keeps_the_saved_ones(
    trained: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """`--resume --seed 5 --val-fraction 0.3`: the remaining epochs drew from seed 5 while the split was seed 0's,
    and config.json / metadata.json recorded seed 5 and 0.3, without a word. Now the saved values are kept, with
    a warning naming each."""
    data, run = trained
    with caplog.at_level("WARNING"):
        Model("simple-cnn").fit(data, run_dir=run, resume=True, seed=5, val_fraction=0.3, **FAST)
    assert "--seed 5 (saved 0), --val-fraction 0.3 (saved 0.15)" in caplog.text
    options = json.loads((run / "config.json").read_text())["options"]
    assert (options["seed"], options["val_fraction"]) == (0, 0.15)
    assert json.loads((run / "metadata.json").read_text())["training"]["ensemble"]["seeds"] == [0]
