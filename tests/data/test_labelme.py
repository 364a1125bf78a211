"""LabelMe JSON annotations (one per image, as the LabelMe tool saves them beside the images a lab outlines): they were
no dataset ("no class sub-folders"), or one class per folder."""

from __future__ import annotations

import base64
import io
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


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def write_labelme(root: Path, shapes: list[dict], n: int = 3, *, embed: bool = False, size=(30, 40)) -> Path:  # type: ignore[no-untyped-def,type-arg]
    """``root/<k>.png`` + ``root/<k>.json`` (or only the JSON, the image embedded as ``imageData``)."""
    root.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        image = np.full((*size, 3), 40 + k, np.uint8)
        if not embed:
            Image.fromarray(image).save(root / f"scan_{k}.png")
        document = {
            "version": "5.4.1",
            "flags": {},
            "shapes": [{**shape, "group_id": None, "description": "", "flags": {}} for shape in shapes],
            "imagePath": f"scan_{k}.png" if not embed else f"C:\\Users\\lab\\Desktop\\scans\\scan_{k}.png",
            "imageData": base64.b64encode(_png_bytes(image)).decode() if embed else None,
            "imageHeight": size[0],
            "imageWidth": size[1],
        }
        (root / f"scan_{k}.json").write_text(json.dumps(document))
    return root


LESION_IN_ORGAN = [
    {"label": "organ", "points": [[2, 2], [30, 2], [30, 25], [2, 25]], "shape_type": "polygon"},
    {"label": "lesion", "points": [[10, 10], [14, 10]], "shape_type": "circle"},  # centre, a point on the rim
    {"label": "ruler", "points": [[0, 0], [39, 0]], "shape_type": "line"},
]


def test_polygons_and_circles_are_drawn_into_masks(tmp_path: Path) -> None:
    root = write_labelme(tmp_path / "outlined", LESION_IN_ORGAN)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(root / "not_outlined.png")
    assert select_layout(root).name == "labelme_masks"
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 3
    assert dataset.value_names == {0: "background", 1: "lesion", 2: "organ"}
    assert dataset.unlabelled == ["not_outlined.png"]
    mask = np.asarray(dataset.read(dataset.cases[0]).mask[0])
    assert (mask[10, 10], mask[4, 4], mask[27, 35], mask[0, 20]) == (1, 2, 0, 0)  # lesion over organ; the line: none
    assert 40 < int((mask == 1).sum()) < 75  # a disc of radius 4 (pi * 16 = 50, with its rim), not its box (81)
    boxes = Dataset.load(root, task="detect")
    assert isinstance(boxes, DetectionDataset) and boxes.class_names == ["lesion", "organ"]
    assert sorted(tuple(b)[:4] for b in boxes.cases[0].boxes or ()) == [(2.0, 2.0, 30.0, 25.0), (6.0, 6.0, 14.0, 14.0)]


def test_rectangles_alone_are_detection_data(tmp_path: Path) -> None:
    rectangles = [{"label": "nodule", "points": [[20, 15], [5, 3]], "shape_type": "rectangle"}]
    root = write_labelme(tmp_path / "boxes", rectangles)
    dataset = Dataset.load(root)
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["nodule"]
    assert [tuple(b)[:4] for b in dataset.cases[0].boxes or ()] == [(5.0, 3.0, 20.0, 15.0)]


def test_an_image_embedded_in_its_json_is_read_from_there(tmp_path: Path) -> None:
    """LabelMe's default saves the image inside the JSON; the JSONs alone, from another machine (imagePath a Windows
    path), are enough."""
    root = write_labelme(tmp_path / "only_json", LESION_IN_ORGAN, embed=True)
    dataset = Dataset.load(root)
    sample = dataset.read(dataset.cases[1])
    assert sample.image.array.shape[-2:] == (30, 40) and float(sample.image.array.max()) == 41.0
    assert int((np.asarray(sample.mask[0]) == 2).sum()) > 300


def test_a_missing_image_and_a_broken_json_are_named(tmp_path: Path) -> None:
    root = write_labelme(tmp_path / "broken", LESION_IN_ORGAN)
    (root / "scan_1.png").unlink()
    (root / "scan_2.json").write_text('{"shapes": [{"label": "organ", "imagePath": "x.png"')
    with pytest.raises(DatasetError) as raised:
        Dataset.load(root, task="segment")
    message = str(raised.value)
    assert "2 LabelMe file problem(s)" in message and "scan_1.json: its image scan_1.png does not exist" in message
    assert "scan_2.json: not readable LabelMe JSON" in message


def test_mask_shapes_are_placed_in_their_box(tmp_path: Path) -> None:
    """LabelMe 5.3+'s ``mask`` shape (an AI-assisted outline): a PNG of the region over the box ``points``."""
    patch = np.zeros((6, 8), np.uint8)
    patch[1:5, 2:7] = 255
    shape = {
        "label": "cell",
        "points": [[10, 12], [17, 17]],
        "shape_type": "mask",
        "mask": base64.b64encode(_png_bytes(patch)).decode(),
    }
    dataset = Dataset.load(write_labelme(tmp_path / "masks", [shape]))
    mask = np.asarray(dataset.read(dataset.cases[0]).mask[0])
    assert int(mask.sum()) == 20 and mask[13, 12] == 1 and mask[12, 12] == 0 and mask[13, 11] == 0


def test_a_malformed_shape_is_named_with_its_file(tmp_path: Path) -> None:
    """A shape whose points are not numbers (a hand-edited JSON) is listed with its file, not a traceback."""
    bad = [{"label": "organ", "points": [[2, 2], [30, "two"], [30, 25]], "shape_type": "polygon"}]
    root = write_labelme(tmp_path / "edited", bad, n=1)
    with pytest.raises(DatasetError, match=r"(?s)1 LabelMe file problem.*scan_0.json: a polygon shape is malformed"):
        Dataset.load(root)


def test_embedded_images_of_json_files_with_one_name_in_two_folders_stay_apart(tmp_path: Path) -> None:
    """``train/scan_0.json`` and ``val/scan_0.json`` both cached their image as ``scan_0.image.png``: the
    validation case was read as the training image."""
    root = tmp_path / "labelme"
    write_labelme(root / "train", LESION_IN_ORGAN, embed=True)
    write_labelme(root / "val", LESION_IN_ORGAN, embed=True)
    for file in (root / "val").glob("*.json"):
        document = json.loads(file.read_text())
        document["imageData"] = base64.b64encode(_png_bytes(np.full((30, 40, 3), 200, np.uint8))).decode()
        file.write_text(json.dumps(document))
    dataset = Dataset.load(root)
    brightest = {c.case_id: float(dataset.read(c).image.array.max()) for c in dataset.cases}
    assert len(brightest) == 6
    assert {v for k, v in brightest.items() if k.startswith("val/")} == {200.0}, brightest
    assert {v for k, v in brightest.items() if k.startswith("train/")} == {40.0, 41.0, 42.0}, brightest


def test_jsons_in_a_masks_folder_find_their_images_in_the_images_folder_beside(tmp_path: Path) -> None:
    """G1020: ``Masks/image_0.json`` (``imagePath: image_0.jpg``, nothing embedded) beside ``Images/image_0.jpg``
    and ``NerveRemoved/image_0.jpg``: refused as "its image does not exist beside it and none is embedded"."""
    write_labelme(tmp_path / "Masks", LESION_IN_ORGAN)
    for k in range(3):
        (tmp_path / "Masks" / f"scan_{k}.png").rename(tmp_path / f"scan_{k}.png")
        for folder in ("Images", "NerveRemoved"):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(np.full((30, 40, 3), 40 + k, np.uint8)).save(tmp_path / folder / f"scan_{k}.png")
        (tmp_path / f"scan_{k}.png").unlink()
    dataset = Dataset.load(tmp_path)
    assert sorted(c.image.parent.name for c in dataset.cases) == ["Images"] * 3
