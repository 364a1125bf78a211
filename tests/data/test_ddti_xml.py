"""DDTI's case XMLs (``xml/<n>.xml``, one ``<mark>`` per image ``image/<n>_<k>.jpg``, outlines as JSON in ``<svg>``)
are read as segmentation: each image's nodule outline drawn into its mask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.data.detection import DetectionDataset
from medimg.errors import DatasetError
from medimg.io.read import read_image

SQUARE = [{"x": 4, "y": 4}, {"x": 12, "y": 4}, {"x": 12, "y": 12}, {"x": 4, "y": 12}]


def _mark(image: int, regions: list[list[dict[str, int]]]) -> str:
    svg = json.dumps([{"points": p, "annotation": {}, "regionType": "freehand"} for p in regions]) if regions else ""
    return f"<mark><image>{image}</image><svg>{svg}</svg></mark>"


def write_ddti(root: Path, cases: int = 3) -> Path:
    """``image/<n>_<k>.jpg`` (two images per case) and ``xml/<n>.xml`` outlining a square in each."""
    for n in range(1, cases + 1):
        for k in (1, 2):
            path = root / "image" / f"{n}_{k}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            array = np.full((20, 24, 3), 40, np.uint8)
            array[4:12, 4:12] = 200
            Image.fromarray(array).save(path)
        marks = _mark(1, [SQUARE]) + _mark(2, [SQUARE])
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><case><number>{n}</number><age>45</age><sex>F</sex>'
            f"<composition>solid</composition><tirads>4a</tirads><reportbacaf></reportbacaf>{marks}</case>"
        )
        (root / "xml").mkdir(exist_ok=True)
        (root / "xml" / f"{n}.xml").write_text(xml)
    return root


def test_ddti_outlines_are_drawn_into_each_images_mask(tmp_path: Path) -> None:
    """Read as folders, image/ was one class and xml/ an empty one: refused as a single class."""
    dataset = Dataset.load(write_ddti(tmp_path))
    assert isinstance(dataset, SegmentationDataset)
    assert sorted(c.image.name for c in dataset.cases) == [f"{n}_{k}.jpg" for n in (1, 2, 3) for k in (1, 2)]
    mask = read_image(dataset.cases[0].mask).array[0]
    assert mask[6:10, 6:10].min() > 0 and mask[15:, 15:].max() == 0
    boxes = Dataset.load(tmp_path, task="detect")
    assert isinstance(boxes, DetectionDataset) and len(boxes.cases) == 6


def test_the_images_of_one_case_are_one_patient(tmp_path: Path) -> None:
    """A case XML's images (``4_1.jpg``, ``4_2.jpg``: one thyroid nodule) were split as independent images, one in
    train and the other in test."""
    expected = {f"{n}_{k}.jpg": str(n) for n in (1, 2, 3) for k in (1, 2)}
    masks = Dataset.load(write_ddti(tmp_path), task="segment")
    assert isinstance(masks, SegmentationDataset)
    assert {c.image.name: c.patient_id for c in masks.cases} == expected
    boxes = Dataset.load(tmp_path, task="detect")
    assert {Path(str(c.path)).name: c.patient_id for c in boxes.cases} == expected


def test_a_mark_without_an_outline_is_an_empty_mask_and_a_missing_image_is_named(tmp_path: Path) -> None:
    write_ddti(tmp_path)
    text = (tmp_path / "xml" / "1.xml").read_text().replace(_mark(2, [SQUARE]), _mark(2, []))
    (tmp_path / "xml" / "1.xml").write_text(text)
    dataset = Dataset.load(tmp_path)
    empty = next(c for c in dataset.cases if c.image.name == "1_2.jpg")
    assert read_image(empty.mask).array.max() == 0
    (tmp_path / "image" / "3_2.jpg").unlink()
    with pytest.raises(DatasetError, match=r"3.xml: its mark of image 2 names no image 3_2"):
        Dataset.load(tmp_path)
