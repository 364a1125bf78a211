"""A folder to predict leaves out the files the run's fit left out by name (``--exclude``): AutoPET's study folder
of ``CT.nii.gz``, ``PET.nii.gz`` and ``SUV.nii.gz``, fit on SUV alone, had its CT and PET segmented as SUV."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest


def test_predict_on_a_folder_leaves_out_what_fit_excluded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from medimg import Model
    from medimg.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(tmp_path / "phantoms", n_per_class=12, size=24, seed=3)
    for image in sorted(data.glob("*/phantom_000*.png")):
        shutil.copy(image, image.with_name(image.stem + "_overlay.png"))  # another form of each image: left out
    Model("simple-cnn").fit(
        data, run_dir=tmp_path / "run", exclude="*_overlay.png", epochs=1, seed=0, progress=False, tensorboard=False
    )
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(next(data.glob("lesion/phantom_0001.png")), folder / "scan.png")
    shutil.copy(next(data.glob("lesion/phantom_0001_overlay.png")), folder / "scan_overlay.png")
    model = Model.load(tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="medimg"):
        sources = [Path(p.source).name for p in model.predict(folder)]
    assert sources == ["scan.png"]
    assert "left them out (--exclude *_overlay.png)" in caplog.text
    # the user's own patterns choose instead, and a file given by name is predicted whatever its name
    assert sorted(Path(p.source).name for p in model.predict(folder, exclude=[])) == ["scan.png", "scan_overlay.png"]
    assert [Path(p.source).name for p in model.predict(folder / "scan_overlay.png")] == ["scan_overlay.png"]
