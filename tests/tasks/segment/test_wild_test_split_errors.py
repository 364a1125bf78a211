"""A mask of the test split that only the evaluation after training reads (a size no resize can fix): the error
names the file as before, and says the trained model is saved and how to score it once the mask is fixed; after
the fix, `evaluate` on the run works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from medimg.errors import DatasetError
from medimg.model import Model
from tests.tasks.segment.synthetic import write_2d_pairs

TINY = {"epochs": 1, "iterations_per_epoch": 2, "channels": [4, 8], "tta": False}


def test_a_bad_test_mask_after_training_keeps_the_model_and_says_how_to_score_it(tmp_path: Path) -> None:
    data = write_2d_pairs(tmp_path / "discs", n=12, size=32)
    splits = ["train"] * 8 + ["val"] * 2 + ["test"] * 2
    rows = [f"images/case_{i:02d}.png,masks/case_{i:02d}.png,{split}" for i, split in enumerate(splits)]
    (data / "manifest.csv").write_text("image,mask,split\n" + "\n".join(rows) + "\n")
    bad = data / "masks" / "case_11.png"
    shutil.copy(bad, tmp_path / "good.png")
    Image.open(bad).resize((32, 20)).save(bad)  # another aspect ratio: no resize puts it on its image
    run = tmp_path / "run"
    with pytest.raises(DatasetError) as raised:
        Model("unet", task="segment", **TINY).fit(data / "manifest.csv", run_dir=run, progress=False, tensorboard=False)
    message = str(raised.value)
    assert str(bad) in message and f"the model is saved in {run}" in message
    assert f"medimg evaluate {run}" in message
    shutil.copy(tmp_path / "good.png", bad)
    report = Model.load(run).evaluate()
    assert 0.0 <= report.metrics["dice_mean"] <= 1.0
