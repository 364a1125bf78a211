"""DICOM folders through the whole pipeline, and k-fold cross-validation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from medimg import Dataset, Model
from medimg.data.synthetic import draw_phantom
from medimg.errors import RunFolderError
from tests.io.conftest import write_dicom


def _dicom_dataset(root: Path, n: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for label, name in enumerate(("normal", "lesion")):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = draw_phantom(rng, 32, lesion=bool(label)).astype(np.int16)
            # stored values 0..255 -> HU -150..360 through slope 2 / intercept -150: soft tissue, seen through the
            # soft-tissue window (-160..240) the test reads them with (most pixels below it made each normal
            # phantom a few values: a mask by its content, left out, so the class was empty)
            write_dicom(root / name / f"img{i:03d}.dcm", pixels, slope=2.0, intercept=-150.0, signed=True)
    return root


def test_dicom_folder_fit_and_predict(tmp_path: Path) -> None:
    data = _dicom_dataset(tmp_path / "dicom")
    ds = Dataset.load(data, window="soft-tissue")
    image = ds.read(ds.cases[0])
    assert image.array.min() >= 0 and image.array.max() <= 1  # windowed to 0..1
    model = Model("simple-cnn").fit(ds, run_dir=tmp_path / "run", epochs=2, progress=False, tensorboard=False)
    assert model.run_dir_ == tmp_path / "run"
    assert json.loads((tmp_path / "run" / "metadata.json").read_text())["input"]["window"] == "soft-tissue"
    loaded = Model.load(tmp_path / "run")
    preds = loaded.predict(data / "lesion")
    assert len(preds) == 16 and all(p.source.endswith(".dcm") for p in preds)
    import pydicom
    import pydicom.data

    # the same Hounsfield units given as an array get the run's window, as the file does (were fed raw)
    first = sorted((data / "lesion").iterdir())[0]
    hu = pydicom.dcmread(first).pixel_array * 2.0 - 150.0
    (by_file,), (by_array,) = loaded.predict(first), loaded.predict(hu)
    assert by_array.probabilities == pytest.approx(by_file.probabilities, abs=1e-5)
    np.testing.assert_allclose(loaded.preprocess(hu), loaded.preprocess(first), atol=1e-5)

    bundled = pydicom.data.get_testdata_file("CT_small.dcm", download=False)
    if bundled:
        (pred,) = loaded.predict(bundled)
        assert pred.label in {"normal", "lesion"}


def test_kfold_cross_validation(phantom_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        model = Model("simple-cnn").fit(
            phantom_dir, run_dir=tmp_path / "cv", folds=2, epochs=1, progress=False, tensorboard=False
        )
    assert "the first fold's network is this Model's" in caplog.text  # what predict uses after fit(folds=...)
    assert f"medimg predict {tmp_path / 'cv' / 'fold_0'} IMAGES" in caplog.text  # the CLI's: a fold's run
    summary = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert summary["folds"] == 2 and len(summary["per_fold"]) == 2
    assert "val_accuracy" in summary["mean"] and "val_accuracy" in summary["sd"]
    assert model.cv_summary_ == summary
    # each fold validates on different cases; together they cover train+val exactly once
    val_sets = [
        {
            k
            for k, v in json.loads((tmp_path / "cv" / f"fold_{i}" / "splits.json").read_text())["assignment"].items()
            if v == "val"
        }
        for i in range(2)
    ]
    assert not val_sets[0] & val_sets[1]
    Model.load(tmp_path / "cv" / "fold_1")
    with pytest.raises(RunFolderError, match="cross-validation run"):
        Model.load(tmp_path / "cv")
