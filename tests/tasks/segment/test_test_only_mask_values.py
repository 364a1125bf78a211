"""Test masks holding a value the training masks do not (PraNet's TestDataset/Kvasir/masks with a ring of 128 among
0/255): the evaluation after training stops, and what it said to do did not work. It named `--mask-labels`, an
option of `medimg evaluate` that `medimg fit` refuses ('No such option'), and then told the user to run
`medimg evaluate RUN`, which stopped again; it now gives the evaluate command with the option, which scores."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Model
from medimg.errors import DatasetError


def _pairs(root: Path, split: str, count: int, ring: bool) -> None:
    rng = np.random.default_rng(len(split))
    for folder in ("images", "masks"):
        (root / split / folder).mkdir(parents=True)
    for i in range(count):
        mask = np.zeros((24, 24), np.uint8)
        mask[6:18, 6:18] = 255
        if ring:
            mask[5, 5:19] = 128
        image = rng.normal(60, 10, (24, 24)) + (mask > 0) * 120
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(root / split / "images" / f"{i}.png")
        Image.fromarray(mask).save(root / split / "masks" / f"{i}.png")


def test_the_advice_after_training_is_an_evaluate_command_that_works(tmp_path: Path) -> None:
    data = tmp_path / "polyps"
    _pairs(data, "train", 12, ring=False)
    _pairs(data, "test", 4, ring=True)
    with pytest.raises(DatasetError) as raised:
        Model("unet", task="segment", progress=False).fit(data, epochs=1, input_size=16, run_dir=tmp_path / "run")
    said = str(raised.value)
    command = re.search(r"`medimg evaluate (\S+) --mask-labels '([^']+)'`", said)
    assert command is not None, said
    assert "fix the above" not in said
    assert command.group(2) == "0=background,128=ignore,255=foreground"
    report = Model.load(command.group(1)).evaluate(mask_labels=command.group(2), out_dir=tmp_path / "scored")
    assert report.metrics["n"] == 4
