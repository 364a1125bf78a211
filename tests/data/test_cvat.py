"""CVAT's own export ("CVAT for images 1.1": ``annotations.xml`` + ``images/``): it was no dataset ("no class
sub-folders"), or the images folder one class."""

from __future__ import annotations

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


def cvat_rle(region: np.ndarray) -> str:
    """CVAT's mask run lengths: row by row over the mask's box, background first."""
    flat = region.ravel().astype(int)
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            counts.append(run)
            value, run = pixel, 1
    counts.append(run)
    return ", ".join(map(str, counts))


def write_cvat(root: Path, shapes: str, n: int = 4, *, subsets: bool = True) -> Path:
    """``annotations.xml`` listing ``images/scan_<k>.png`` (40x30), each with ``shapes``; the last image without
    shapes (an image without objects)."""
    (root / "images").mkdir(parents=True)
    entries = []
    for k in range(n):
        Image.fromarray(np.full((30, 40), 50 + k, np.uint8)).save(root / "images" / f"scan_{k}.png")
        subset = f' subset="{"Train" if k < n - 1 else "Validation"}"' if subsets else ""
        entries.append(
            f'<image id="{k}" name="scan_{k}.png" width="40" height="30"{subset}>{shapes if k < n - 1 else ""}</image>'
        )
    meta = "<meta><task><name>polyps</name><labels><label><name>polyp</name></label></labels></task></meta>"
    document = f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>{meta}{"".join(entries)}'
    (root / "annotations.xml").write_text(document + "</annotations>")
    return root


REGION = np.zeros((4, 6), bool)
REGION[1:3, 2:5] = True
SHAPES = (
    '<polygon label="organ" source="manual" occluded="0" points="2.0,2.0;30.0,2.0;30.0,25.0;2.0,25.0" z_order="0"/>'
    '<ellipse label="lesion" source="manual" occluded="0" cx="10" cy="10" rx="6" ry="2" z_order="0"/>'
    f'<mask label="polyp" source="manual" occluded="0" rle="{cvat_rle(REGION)}" left="33" top="20" width="6" '
    'height="4" z_order="0"/>'
    '<polyline label="organ" source="manual" occluded="0" points="0,0;5,5" z_order="0"/>'
)


def test_polygons_ellipses_and_masks_are_drawn_with_the_subsets_as_splits(tmp_path: Path) -> None:
    root = write_cvat(tmp_path / "task", SHAPES)
    assert select_layout(root).name == "cvat_masks"
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 4
    assert dataset.value_names == {0: "background", 1: "lesion", 2: "organ", 3: "polyp"}
    assert [c.split for c in dataset.cases] == ["train", "train", "train", "val"]
    mask = np.asarray(dataset.read(dataset.cases[0]).mask[0])
    assert (mask[10, 10], mask[10, 13], mask[4, 25], mask[0, 0]) == (1, 1, 2, 0)  # the ellipse over the polygon
    assert (mask[10, 15], mask[13, 10], mask[10, 3]) == (1, 2, 2)  # 6 px wide, 2 px high: rx along x, ry along y
    assert int((mask == 3).sum()) == 6 and mask[21, 35] == 3 and mask[20, 35] == 0  # the mask at left 33, top 20
    assert not np.asarray(dataset.read(dataset.cases[3]).mask[0]).any()  # listed without shapes: no object
    boxes = Dataset.load(root, task="detect")
    assert isinstance(boxes, DetectionDataset) and boxes.class_names == ["lesion", "organ", "polyp"]
    assert len(boxes.cases[0].boxes or ()) == 3 and not boxes.cases[3].boxes


def test_boxes_alone_are_detection_data(tmp_path: Path) -> None:
    box = '<box label="polyp" source="manual" occluded="0" xtl="5.5" ytl="3" xbr="20" ybr="15" z_order="0"/>'
    dataset = Dataset.load(write_cvat(tmp_path / "task", box, subsets=False))
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["polyp"]
    assert [tuple(b)[:4] for b in dataset.cases[0].boxes or ()] == [(5.5, 3.0, 20.0, 15.0)]
    assert all(c.split is None for c in dataset.cases)


def test_a_missing_image_is_named(tmp_path: Path) -> None:
    root = write_cvat(tmp_path / "task", SHAPES)
    (root / "images" / "scan_1.png").unlink()
    with pytest.raises(DatasetError, match=r"(?s)1 CVAT annotation problem.*image 'scan_1.png' is neither in"):
        Dataset.load(root, task="segment")
