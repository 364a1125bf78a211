"""A segmentation run saves its training domain like a classification run (format, bit depth, channels,
intensities, sizes); inputs unlike the training images are flagged (issue 14)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from tests.serve.support import train_tiny_segmentation_run


def test_the_run_saves_its_training_domain_and_flags_a_16bit_image(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = train_tiny_segmentation_run(tmp_path_factory)  # 12 grey 8-bit PNG discs of 32 px
    domain = json.loads((run / "fingerprint.json").read_text())["domain"]
    assert set(domain["formats"]) == {"png"} and set(domain["bits"]) == {"8"} and set(domain["channels"]) == {"1"}
    assert domain["spatial_dims"] == 2 and domain["min_shape"] == [32, 32] and domain["intensity_max"] <= 255
    pixels = np.asarray(Image.open(run.parent / "discs" / "images" / "case_00.png").convert("L"), dtype=np.uint16)
    Image.fromarray(pixels).save(tmp_path / "deep.png")  # the same values, stored as 16-bit
    model = Model.load(run)
    with caplog.at_level(logging.WARNING):
        (prediction,) = model.predict(tmp_path / "deep.png", out_dir=tmp_path / "out")
    verdict = prediction.to_dict()["domain"]
    assert verdict["in_domain"] is False and any("16-bit" in r for r in verdict["reasons"]), verdict
    assert "outside the model's training domain" in caplog.text and "deep.png" in caplog.text
    (like_training,) = model.predict(run.parent / "discs" / "images" / "case_01.png", out_dir=tmp_path / "out")
    assert like_training.to_dict()["domain"] == {"in_domain": True, "reasons": []}
