"""ImageJ / Fiji ROI sets beside microscopy images (the ROI Manager's ``RoiSet.zip`` of ``.roi`` files, or one
``.roi``): read as segmentation (outlines drawn into label maps) or detection (their boxes). Before: a folder of
``cells_01.tif`` + ``cells_01.zip`` was no dataset ("no class sub-folders")."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.dataset import SegmentationDataset
from medimg.data.detection import DetectionDataset
from medimg.data.layouts.imagej_rois import parse_roi
from medimg.errors import DatasetError


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def roi_bytes(kind: int, points: list[tuple[float, float]], *, sub_pixel: bool = False) -> bytes:
    """An ImageJ ``.roi`` file as ``ij.io.RoiEncoder`` writes it (version 228): ``kind`` 0 polygon, 1 rectangle,
    2 oval (``points``: two corners), 10 point."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    left, top, right, bottom = int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))
    polygon = kind in (0, 7, 8, 10)
    count = len(points) if polygon else 0
    header = bytearray(64)
    header[0:4] = b"Iout"
    struct.pack_into(">hB", header, 4, 228, kind)
    struct.pack_into(">hhhhH", header, 8, top, left, bottom, right, count)
    struct.pack_into(">h", header, 50, 128 if sub_pixel else 0)
    body = b""
    if polygon:
        body += struct.pack(f">{count}h", *(int(x) - left for x in xs))
        body += struct.pack(f">{count}h", *(int(y) - top for y in ys))
        if sub_pixel:
            body += struct.pack(f">{count}f", *xs) + struct.pack(f">{count}f", *ys)
    return bytes(header) + body


CELL = [(10.0, 10.0), (30.0, 10.0), (30.0, 25.0), (10.0, 25.0)]


def write_roi_sets(root: Path, count: int = 3) -> Path:
    """``root/cells_<k>.tif`` with ``cells_<k>_RoiSet.zip``: a polygon, a rectangle, an oval, a point."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for number in range(count):
        Image.fromarray(rng.integers(0, 256, (64, 80)).astype(np.uint8)).save(root / f"cells_{number}.tif")
        with zipfile.ZipFile(root / f"cells_{number}_RoiSet.zip", "w") as archive:
            archive.writestr("0001-0015-0020.roi", roi_bytes(0, CELL))
            archive.writestr("0002-0040-0045.roi", roi_bytes(1, [(40.0, 35.0), (50.0, 55.0)]))
            archive.writestr("0003-0060-0020.roi", roi_bytes(2, [(55.0, 5.0), (75.0, 25.0)]))
            archive.writestr("0004-0005-0060.roi", roi_bytes(10, [(5.0, 60.0)]))  # a point: no area
    return root


def test_parse_roi_reads_imagej_outlines() -> None:
    assert parse_roi(roi_bytes(0, CELL)) == ("polygon", CELL)
    assert parse_roi(roi_bytes(1, [(40.0, 35.0), (50.0, 55.0)])) == ("rectangle", [(40.0, 35.0), (50.0, 55.0)])
    assert parse_roi(roi_bytes(2, [(55.0, 5.0), (75.0, 25.0)])) == ("oval", [(65.0, 15.0), (75.0, 25.0)])
    assert parse_roi(roi_bytes(10, [(5.0, 60.0)])) == ("point", [])
    fine = [(10.25, 10.5), (30.75, 10.5), (20.5, 25.25)]
    assert parse_roi(roi_bytes(0, fine, sub_pixel=True)) == ("polygon", fine)
    with pytest.raises(ValueError, match="no 'Iout' header"):
        parse_roi(b"PK\x03\x04" + bytes(80))


def test_roi_sets_are_drawn_into_masks(tmp_path: Path) -> None:
    dataset = Dataset.load(write_roi_sets(tmp_path / "fiji"))
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 3
    assert dataset.value_names == {0: "background", 1: "roi"}
    mask = dataset.read(dataset.cases[0]).mask
    assert mask is not None
    labels = mask[0]
    assert labels[15, 20] == 1 and labels[45, 45] == 1 and labels[15, 65] == 1  # polygon, rectangle, oval
    assert labels[60, 5] == 0 and labels[40, 20] == 0  # the point, outside every outline


def test_roi_sets_as_boxes(tmp_path: Path) -> None:
    dataset = Dataset.load(write_roi_sets(tmp_path / "fiji"), task="detect")
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["roi"]
    boxes = sorted((round(b.x1), round(b.y1), round(b.x2), round(b.y2)) for b in dataset.cases[0].boxes)
    assert boxes == [(10, 10, 30, 25), (40, 35, 50, 55), (55, 5, 75, 25)]


def test_a_roi_set_without_its_image_is_named(tmp_path: Path) -> None:
    root = write_roi_sets(tmp_path / "fiji", count=2)
    with zipfile.ZipFile(root / "missing_RoiSet.zip", "w") as archive:
        archive.writestr("a.roi", roi_bytes(0, CELL))
    with pytest.raises(DatasetError, match=r"missing_RoiSet\.zip: no image named missing beside it"):
        Dataset.load(root, task="segment")
