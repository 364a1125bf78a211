"""CT files carrying a narrow display window that is not applied: the check says so and names --window.

RSNA's intracranial haemorrhage CTs carry WindowCenter 36 / WindowWidth 80; read in HU over the set's whole range, a
model learnt nothing ("any" AUC 0.40), with --window brain it did (1.00)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.io.conftest import write_dicom

from medimg.data.dataset import Dataset
from medimg.data.quality import check_dataset
from medimg.io.windowing import unused_window_warning


def _head_cts(root: Path, window: tuple[float, float]) -> Path:
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("bleed", "normal")):
        for i in range(3):
            (root / cls).mkdir(parents=True, exist_ok=True)
            pixels = (rng.normal(1040, 30, (16, 16)) + 60 * k).astype(np.uint16)
            write_dicom(root / cls / f"ID_{k}{i}.dcm", pixels, intercept=-1024.0, slope=1.0, window=window)
    return root


def test_a_narrow_window_in_the_headers_is_named_unless_one_is_asked_for(tmp_path: Path) -> None:
    data = Dataset.load(_head_cts(tmp_path / "head", (36.0, 80.0)))
    said = [w for w in check_dataset(data).warnings if "narrow display window" in w]
    assert len(said) == 1 and "center 36, width 80, near the brain window" in said[0]
    assert "--window file" in said[0] and "--window brain" in said[0]
    windowed = Dataset.load(tmp_path / "head", window="brain")
    assert not [w for w in check_dataset(windowed).warnings if "narrow display window" in w]
    lung = Dataset.load(_head_cts(tmp_path / "chest", (-600.0, 1500.0)))
    assert not [w for w in check_dataset(lung).warnings if "narrow display window" in w]


def test_the_warning_needs_most_images_to_carry_one() -> None:
    assert unused_window_warning([(40.0, 80.0), None, None]) is None
    assert unused_window_warning([(40.0, 80.0), (40.0, 80.0), None]) is not None
    assert unused_window_warning([(60.0, 150.0)] * 3) is not None and "liver" in str(
        unused_window_warning([(60.0, 150.0)])
    )
    assert unused_window_warning([]) is None
