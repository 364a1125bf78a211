"""A class folder holding whole images and a sub-folder of pieces cut from them, as SIPaKMeD ships its Pap smear
cells (``im_Parabasal/im_Parabasal/001.bmp`` fields beside ``CROPPED/001_02.bmp`` cells): refused, naming both
choices. Before: both kinds trained as one class, ``check`` said OK, and a cell could be tested whose own field had
been trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.errors import DatasetError

CLASSES = ("im_Dyskeratotic", "im_Parabasal", "im_Superficial-Intermediate")


def _sipakmed(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in CLASSES:
        folder = root / name / name
        (folder / "CROPPED").mkdir(parents=True)
        for field in range(1, 4):
            Image.fromarray(rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)).save(folder / f"{field:03d}.bmp")
            (folder / f"{field:03d}_cyt01.dat").write_text("1.0,2.0\n")
            for cell in range(1, 4):
                cropped = rng.integers(0, 256, (20 + cell, 24, 3)).astype(np.uint8)
                Image.fromarray(cropped).save(folder / "CROPPED" / f"{field:03d}_{cell:02d}.bmp")
    return root


def test_fields_beside_their_cropped_cells_are_refused_with_both_choices(tmp_path: Path) -> None:
    root = _sipakmed(tmp_path / "sipakmed")
    with pytest.raises(DatasetError) as raised:
        Dataset.load(root)
    message = str(raised.value)
    assert "im_Dyskeratotic/im_Dyskeratotic/ holds 3 image(s) and CROPPED/ 9 named after them" in message
    assert "001_01.bmp after 001.bmp" in message
    assert "--include '*/CROPPED/*' for the pieces, or --exclude '*/CROPPED/*'" in message
    cells = Dataset.load(root, include="*/CROPPED/*")
    assert len(cells.cases) == 27 and all("CROPPED" in case.case_id for case in cells.cases)
    # each field's cells are one group: a split keeps them on one side (they were split cell by cell)
    field_of = {c.case_id: c.patient_id for c in cells.cases}
    assert len(set(field_of.values())) == 9
    assert field_of["im_Parabasal/im_Parabasal/CROPPED/002_01.bmp"] == "im_Parabasal/im_Parabasal/002"
    assert field_of["im_Parabasal/im_Parabasal/CROPPED/002_03.bmp"] == "im_Parabasal/im_Parabasal/002"
    fields = Dataset.load(root, exclude="*/CROPPED/*")
    assert len(fields.cases) == 9


def test_patient_folders_and_unrelated_sub_folders_are_not_pieces(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for name in ("benign", "malignant"):
        (tmp_path / name / "extra").mkdir(parents=True)
        for k in range(4):
            Image.fromarray(rng.integers(0, 256, (16, 16)).astype(np.uint8)).save(tmp_path / name / f"case{k}.png")
            extra = rng.integers(0, 256, (16, 16)).astype(np.uint8)
            Image.fromarray(extra).save(tmp_path / name / "extra" / f"other{k}_1.png")  # not named after case{k}
    assert len(Dataset.load(tmp_path).cases) == 16
