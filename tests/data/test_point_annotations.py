"""Point annotations (landmarks, object centres) in text files beside the images, which medimg does not read:
ISBI 2015's cephalometric landmarks, TUPAC16's mitoses. They were left out without a word: the split folders or
case folders were trained as classes, status OK."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.case import normalise_split
from medimg.errors import DatasetError


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)


def test_split_folders_named_without_a_separator_are_splits() -> None:
    assert [normalise_split(n) for n in ("TrainingData", "Test1Data", "Test2Data", "trainimages")] == [
        "train", "test", "test", "train",
    ]  # fmt: skip
    assert [normalise_split(n) for n in ("metadata", "test1", "contest data", "data")] == [None] * 4


def test_isbi_2015_landmarks_are_named_not_split_folders_trained_as_classes(tmp_path: Path) -> None:
    """``RawImage/TrainingData/001.bmp``, ``RawImage/Test1Data/013.bmp`` beside ``AnnotationsByMD/400_senior/
    001.txt`` (19 ``x,y`` lines, then two lines of one number): classes TrainingData and Test1Data, status OK."""
    for i in range(1, 9):
        _png(tmp_path / "RawImage" / ("TrainingData" if i < 7 else "Test1Data") / f"{i:03d}.bmp", 20 * i)
        lines = [f"{10 * k + i},{5 * k}" for k in range(19)] + ["1", "2"]
        (tmp_path / "AnnotationsByMD" / "400_senior").mkdir(parents=True, exist_ok=True)
        (tmp_path / "AnnotationsByMD" / "400_senior" / f"{i:03d}.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"has no class sub-folders.*found 8 file\(s\) of point coordinates"):
        Dataset.load(tmp_path)


def test_tupac_mitoses_beside_the_case_folders_are_warned_of(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``mitoses_image_data/01/01.tif`` beside ``mitoses_ground_truth/01/01.csv`` (``row,col`` lines, no header):
    the data was said to be in "the only folder, with no images beside it"."""
    for case in range(1, 4):
        for image in range(1, 4):
            _png(tmp_path / "mitoses_image_data" / f"{case:02d}" / f"{image:02d}.png", 30 * case + image)
            truth = tmp_path / "mitoses_ground_truth" / f"{case:02d}" / f"{image:02d}.csv"
            truth.parent.mkdir(parents=True, exist_ok=True)
            truth.write_text(f"{100 + image},{200 + case}\n{50 + image},{70 + case}\n")
    with caplog.at_level("WARNING"), pytest.raises(DatasetError, match="named like the cases that annotation files"):
        Dataset.load(tmp_path)  # the case folders 01, 02, 03 are no classes
    assert "read without mitoses_ground_truth beside it, which holds annotations: 9 file(s) of point" in caplog.text
