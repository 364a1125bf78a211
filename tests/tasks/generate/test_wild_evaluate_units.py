"""`medimg evaluate GENERATOR OTHER` on images in other units than the generator's (16-bit PNGs for a generator of
8-bit ones, or the other way round) clipped them to the generator's range and printed FD 0.06 (better than on
the generator's own test split), precision 0 and a memorisation share of 1.0, without a word: every number
looked measured. Such data is refused, naming both ranges; data in the generator's units is evaluated."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError
from medimg.tasks.generate.evaluate import _refuse_other_units, evaluate_generator
from medimg.tasks.generate.plan import make_generate_plan
from tests.tasks.generate.test_plan import fingerprint


def _images(root: Path, dtype: type, scale: int) -> Dataset:
    rng = np.random.default_rng(0)
    for name in ("normal", "lesion"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            pixels = (rng.integers(0, 200, (16, 16)) * scale).astype(dtype)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return Dataset.load(root, task="classify")


@pytest.mark.parametrize(
    ("dtype", "scale", "low", "high", "refused"),
    [
        (np.uint16, 15, 0.0, 255.0, True),  # 16-bit images, a generator of 8-bit ones
        (np.uint8, 1, 0.0, 255.0, False),  # the generator's kind
        (np.uint8, 1, 100.0, 3000.0, True),  # 8-bit images, a generator of 16-bit (NIfTI-written) ones
    ],
)
def test_other_data_in_other_units_is_refused(
    dtype: type, scale: int, low: float, high: float, refused: bool, tmp_path: Path
) -> None:
    data = _images(tmp_path / "other", dtype, scale)
    plan = make_generate_plan(fingerprint([16, 16], low=low, high=high, modality="png" if high == 255 else "ct"))
    # no config.json: the data is not the run's own; the check comes before the network is used
    model = SimpleNamespace(run_dir_=tmp_path / "run", plan_=plan, network_=None)
    if refused:
        with pytest.raises(DatasetError, match="other units than the generator's"):
            evaluate_generator(
                model, data, data.cases, split="all", out_dir=tmp_path / "report", load_dataset=Dataset.load
            )
    else:
        _refuse_other_units(model, data, data.cases, plan)
