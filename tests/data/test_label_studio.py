"""Label Studio's JSON export (tasks with annotation results in percent of the image): it was no dataset ("no class
sub-folders") or, for detection, a COCO file it is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.dataset import SegmentationDataset
from medimg.data.detection import DetectionDataset
from medimg.data.layouts import select_layout
from medimg.errors import DatasetError


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def result(kind: str, label: str, **value: object) -> dict[str, object]:
    return {
        "type": kind,
        "from_name": "label",
        "to_name": "image",
        "original_width": 40,
        "original_height": 20,
        "value": {**value, kind: [label]},
    }


POLYGON_AND_ELLIPSE = [
    result("polygonlabels", "organ", points=[[5, 10], [75, 10], [75, 90], [5, 90]]),  # percent: x of 40, y of 20
    result("ellipselabels", "lesion", x=25, y=50, radiusX=10, radiusY=10),  # 4 px wide, 2 px high
    result("keypointlabels", "tip", x=1, y=1, width=1),
]


def write_export(root: Path, results: list[dict[str, object]], n: int = 3) -> Path:
    """``export.json`` + ``images/<prefix>-scan_<k>.png`` uploaded (``/data/upload/7/<prefix>-scan_<k>.png``); the
    last task's first annotation cancelled, its second one empty."""
    (root / "images").mkdir(parents=True)
    tasks = []
    for k in range(n):
        Image.fromarray(np.full((20, 40), 60 + k, np.uint8)).save(root / "images" / f"scan_{k}.png")
        done = [{"result": results, "was_cancelled": False}]
        if k == n - 1:
            done = [{"result": results, "was_cancelled": True}, {"result": [], "was_cancelled": False}]
        tasks.append(
            {
                "id": k + 1,
                "data": {"image": f"/data/upload/7/{k:04d}abcd-scan_{k}.png"},
                "annotations": done,
                "predictions": [{"result": [result("rectanglelabels", "ghost", x=0, y=0, width=50, height=50)]}],
            }
        )
    (root / "export.json").write_text(json.dumps(tasks))
    return root


def test_polygons_and_ellipses_are_drawn_in_pixels(tmp_path: Path) -> None:
    root = write_export(tmp_path / "project", POLYGON_AND_ELLIPSE)
    assert select_layout(root).name == "label_studio_masks"
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 3
    assert dataset.value_names == {0: "background", 1: "lesion", 2: "organ"}  # predictions ("ghost") never count
    mask = np.asarray(dataset.read(dataset.cases[0]).mask[0])
    assert (mask[10, 10], mask[10, 13], mask[10, 25], mask[0, 0], mask[10, 35]) == (1, 1, 2, 0, 0)
    assert mask[13, 10] == 2  # 3 px below the ellipse's centre: outside its 2 px half-height
    assert not np.asarray(dataset.read(dataset.cases[2]).mask[0]).any()  # the cancelled annotation does not count
    boxes = Dataset.load(root, task="detect")
    assert isinstance(boxes, DetectionDataset) and boxes.class_names == ["lesion", "organ"]


def test_rotated_rectangles_alone_are_detection_data(tmp_path: Path) -> None:
    flat = result("rectanglelabels", "nodule", x=25, y=25, width=25, height=50, rotation=0)
    turned = result("rectanglelabels", "nodule", x=50, y=10, width=10, height=20, rotation=90)
    dataset = Dataset.load(write_export(tmp_path / "project", [flat, turned]))
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["nodule"]
    boxes = sorted(tuple(round(v, 3) for v in tuple(b)[:4]) for b in dataset.cases[0].boxes or ())
    # 10 by 5 px from (10, 5); 4 by 4 px from (20, 2), turned 90 degrees clockwise about that corner
    assert boxes == [(10.0, 5.0, 20.0, 15.0), (16.0, 2.0, 20.0, 6.0)]


def test_an_image_that_is_nowhere_is_named(tmp_path: Path) -> None:
    root = write_export(tmp_path / "project", POLYGON_AND_ELLIPSE)
    (root / "images" / "scan_1.png").unlink()
    with pytest.raises(DatasetError, match=r"(?s)1 Label Studio task problem.*task 2's image '/data/upload/7/"):
        Dataset.load(root, task="segment")
