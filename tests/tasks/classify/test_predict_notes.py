"""Classification predict says once per set of inputs what the reader keeps as stored (an EXIF orientation,
transparent pixels), as segmentation predict does: its stream reads in workers that warn about nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.io.test_read_notes import write_exif_jpeg, write_transparent_png
from tests.serve.support import train_tiny_run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory)


def test_predict_warns_once_about_exif_and_transparency(
    tiny_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from medimg import Model

    files = [write_exif_jpeg(tmp_path / f"turned_{i}.jpg", seed=i) for i in range(3)]
    files += [write_transparent_png(tmp_path / f"cut_{i}.png", seed=i) for i in range(2)]
    with caplog.at_level(logging.WARNING):
        predictions = Model.load(tiny_run).predict([str(f) for f in files])
    assert len(predictions) == 5
    said = [r.getMessage() for r in caplog.records]
    exif = [m for m in said if "EXIF orientation 6" in m]
    transparent = [m for m in said if "transparent pixels" in m]
    assert len(exif) == 1 and "turned_0.jpg" in exif[0]
    assert len(transparent) == 1 and "cut_0.png" in transparent[0]


def test_the_onnx_engine_says_the_same_once(tiny_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ONNX predict (the same stream) read EXIF-turned and transparent inputs without a word."""
    from medimg import Model
    from medimg.export.predictor import OnnxPredictor

    exported = Model.load(tiny_run).export(tmp_path / "model.onnx")
    files = [write_exif_jpeg(tmp_path / f"turned_{i}.jpg", seed=i) for i in range(2)]
    files += [write_transparent_png(tmp_path / f"cut_{i}.png", seed=i) for i in range(2)]
    with caplog.at_level(logging.WARNING):
        predictions = list(OnnxPredictor(exported.path).predict_iter([str(f) for f in files], decode_workers=0))
    assert len(predictions) == 4
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if "EXIF orientation 6" in m]) == 1
    assert len([m for m in said if "transparent pixels" in m]) == 1
