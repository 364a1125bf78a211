"""QuPath's GeoJSON annotations beside image tiles, as pathology labs export the regions and cells they outlined:
read as segmentation (drawn into label maps, holes cut out) or detection (each object's box). Before: a folder of
tiles and ``.geojson`` files was no dataset ("no class sub-folders")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.dataset import SegmentationDataset
from medimg.data.detection import DetectionDataset
from medimg.errors import DatasetError


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _ring(x1: float, y1: float, x2: float, y2: float) -> list[list[float]]:
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]


def _feature(geometry: dict[str, Any], name: str | None, kind: str = "annotation") -> dict[str, Any]:
    properties: dict[str, Any] = {"objectType": kind}
    if name is not None:
        properties["classification"] = {"name": name, "color": [200, 0, 0]}
    return {"type": "Feature", "id": "f", "geometry": geometry, "properties": properties}


FEATURES = [
    _feature({"type": "Polygon", "coordinates": [_ring(10, 10, 60, 60), _ring(25, 25, 45, 45)]}, "Tumor"),  # a hole
    _feature({"type": "MultiPolygon", "coordinates": [[_ring(70, 5, 95, 20)], [_ring(70, 50, 95, 75)]]}, "Stroma"),
    _feature({"type": "Point", "coordinates": [5, 5]}, "Tumor"),  # a point outlines nothing
    _feature({"type": "Polygon", "coordinates": [_ring(0, 70, 20, 79)]}, "Ignore*"),  # QuPath's class to leave out
]


def write_tiles(
    root: Path, features: list[dict[str, Any]], *, count: int = 3, bare: bool = False, images: str = ""
) -> Path:
    """``root/tile_<k>.png`` (in ``root/images`` with ``images``) + ``root/tile_<k>.geojson`` holding ``features``."""
    rng = np.random.default_rng(0)
    (root / images).mkdir(parents=True, exist_ok=True)
    for number in range(count):
        Image.fromarray(rng.integers(0, 256, (80, 100, 3)).astype(np.uint8)).save(root / images / f"tile_{number}.png")
        document: Any = features if bare else {"type": "FeatureCollection", "features": features}
        (root / f"tile_{number}.geojson").write_text(json.dumps(document))
    return root


def test_regions_are_drawn_with_their_holes(tmp_path: Path) -> None:
    dataset = Dataset.load(write_tiles(tmp_path / "data", FEATURES))
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 3
    assert dataset.value_names == {0: "background", 1: "Stroma", 2: "Tumor"}
    mask = dataset.read(dataset.cases[0]).mask
    assert mask is not None
    labels = mask[0]
    assert labels[15, 15] == 2 and labels[35, 35] == 0  # the tumour ring, its hole
    assert labels[10, 80] == 1 and labels[60, 80] == 1 and labels[35, 80] == 0  # both stroma parts, not between
    assert labels[75, 5] == 0  # the Ignore* region


def test_boxes_of_each_object(tmp_path: Path) -> None:
    dataset = Dataset.load(write_tiles(tmp_path / "data", FEATURES), task="detect")
    assert isinstance(dataset, DetectionDataset)
    assert dataset.class_names == ["Stroma", "Tumor"]
    boxes = sorted((b.label, round(b.x1), round(b.y1)) for b in dataset.cases[0].boxes)
    assert boxes == [(0, 70, 5), (0, 70, 50), (1, 10, 10)]


def test_qupath_02_lists_unclassified_cells_and_images_in_their_own_folder(tmp_path: Path) -> None:
    cells = [
        _feature({"type": "Polygon", "coordinates": [_ring(5 + 12 * k, 5, 14 + 12 * k, 14)]}, None, "cell")
        for k in range(5)
    ]
    root = write_tiles(tmp_path / "data", cells, bare=True, images="images")  # images/tile_k.png + tile_k.geojson
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset)
    assert dataset.value_names == {0: "background", 1: "unclassified"}
    assert sorted(case.image.parent.name for case in dataset.cases) == ["images"] * 3
    mask = dataset.read(dataset.cases[0]).mask
    assert mask is not None and int((mask[0] == 1).sum()) > 5 * 60


def test_a_geojson_without_its_image_is_named(tmp_path: Path) -> None:
    root = write_tiles(tmp_path / "data", FEATURES, count=2)
    (root / "tile_9.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": FEATURES}))
    (root / "slide_1.svs").write_bytes(b"II*\x00")
    (root / "slide_1.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": FEATURES}))
    with pytest.raises(DatasetError) as raised:
        Dataset.load(root, task="segment")
    message = str(raised.value)
    assert "tile_9.geojson: no image named tile_9" in message
    assert "slide_1.geojson: its image is a whole slide, which medimg does not read: export tiles" in message
