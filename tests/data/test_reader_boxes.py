"""Box tables drawn by several readers (VinDr-CXR's ``rad_id``): one object's boxes fused, the rest kept."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset

HEADER = ["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"]


def _write(root: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    for name in {str(r[0]) for r in rows}:
        (root / "train").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(root / "train" / f"{name}.png")
    with (root / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([r if len(header) == len(HEADER) else r[:3] + r[4:] for r in rows])
    return root / "train.csv"


ROWS: list[list[object]] = [
    ["a", "Nodule", 8, "R8", 10, 10, 20, 20],
    ["a", "Nodule", 8, "R9", 12, 10, 22, 20],  # the same nodule, another reader
    ["a", "Nodule", 8, "R10", 11, 12, 21, 22],
    ["a", "Nodule", 8, "R8", 14, 14, 24, 24],  # R8's second nodule beside its first: not fused with it
    ["a", "Effusion", 10, "R9", 10, 10, 20, 20],  # another class over the nodule: not fused
    ["a", "Cardiomegaly", 3, "R10", 30, 30, 60, 60],  # one reader only: kept as drawn
    ["b", "No finding", 14, "R8", "", "", "", ""],
    ["b", "No finding", 14, "R9", "", "", "", ""],
]


def _boxes(table: Path) -> list[tuple[str, float, float, float, float]]:
    data = Dataset.load(table, task="detect")
    case = next(c for c in data.cases if c.case_id == "a")
    assert case.boxes is not None
    return sorted((data.class_names[b.label], b.x1, b.y1, b.x2, b.y2) for b in case.boxes)


def test_one_objects_boxes_by_several_readers_are_fused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO"):
        boxes = _boxes(_write(tmp_path, ROWS))
    assert boxes == [
        ("Cardiomegaly", 30, 30, 60, 60),
        ("Effusion", 10, 10, 20, 20),
        ("Nodule", 11, 10 + 2 / 3, 21, 20 + 2 / 3),  # the three readers' mean box
        ("Nodule", 14, 14, 24, 24),
    ]
    assert "6 boxes of 3 readers fused into 4 objects" in caplog.text


def test_without_a_reader_column_every_box_stays(tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "rad_id"]
    assert len(_boxes(_write(tmp_path, ROWS, header))) == 6
