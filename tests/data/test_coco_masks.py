"""COCO segmentation outlines (CVAT, Roboflow, Label Studio exports) train a segmentation network with --task
segment: the masks are drawn once into label maps, cached outside the data, and match the outlines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset, SegmentationDataset
from tests.tasks.detect.synthetic import CLASSES, write_coco


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_outlines_become_label_maps_named_by_category(tmp_path: Path, _cache: Path) -> None:
    root = write_coco(tmp_path / "coco", n=8, outlines=True)
    assert Dataset.load(root).task == "detect"  # the boxes, unless segmentation is asked for
    dataset = SegmentationDataset.load(root)
    assert dataset.value_names == {0: "background", 1: CLASSES[0], 2: CLASSES[1]}
    assert {c.split for c in dataset.cases} == {"train", "val"} and len(dataset) == 8
    assert all(c.mask is not None and c.mask.is_relative_to(_cache) for c in dataset.cases)
    assert not list(root.rglob("*.png.part")) and len(list(root.rglob("*.png"))) == 8  # nothing written beside it
    document = json.loads((root / "annotations" / "instances_train.json").read_text())
    image = document["images"][0]
    sample = dataset.read(next(c for c in dataset.cases if c.case_id.endswith(image["file_name"])))
    assert sample.mask is not None
    for annotation in (a for a in document["annotations"] if a["image_id"] == image["id"]):
        x, y, w, h = (round(v) for v in annotation["bbox"])
        inside = sample.mask[0, y + 2 : y + h - 2, x + 2 : x + w - 2]
        assert inside.size and np.isin(inside, [1, 2]).mean() > 0.9  # the object's interior is drawn
    mtime = dataset.cases[0].mask.stat().st_mtime_ns  # type: ignore[union-attr]
    again = SegmentationDataset.load(root)  # unchanged annotations: the drawn masks are reused
    assert again.cases[0].mask == dataset.cases[0].mask and again.cases[0].mask.stat().st_mtime_ns == mtime  # type: ignore[union-attr]


def test_a_segmentation_run_trains_on_coco_outlines(tmp_path: Path) -> None:
    from medimg import Model

    root = write_coco(tmp_path / "coco", n=12, outlines=True)
    model = Model("unet", task="segment", epochs=2, channels=[8, 16], batch_size=4).fit(
        root, run_dir=tmp_path / "run", seed=0, progress=False, tensorboard=False
    )
    assert model.plan_.class_names == ["background", *CLASSES]
    assert 0.0 <= model.report_.metrics["dice_mean"] <= 1.0


def test_yolo_segmentation_polygons_become_label_maps(tmp_path: Path, _cache: Path) -> None:
    """Ultralytics' ``yolo segment`` labels (``class x1 y1 x2 y2 ...`` as fractions) train segmentation."""
    from tests.tasks.detect.synthetic import write_yolo

    root = write_yolo(tmp_path / "yolo", n=8, outlines=True)
    assert Dataset.load(root).task == "detect"  # their bounding boxes, unless segmentation is asked for
    dataset = SegmentationDataset.load(root)
    assert dataset.value_names == {0: "background", 1: CLASSES[0], 2: CLASSES[1]}
    assert {c.split for c in dataset.cases} == {"train", "val"} and len(dataset) == 8
    first = next(c for c in dataset.cases if (root / "train" / "labels" / f"{c.image.stem}.txt").read_text())
    values = np.unique(dataset.read(first).mask)
    assert values[0] == 0 and set(values[1:]) <= {1, 2} and len(values) > 1


def test_images_named_in_any_script_keep_masks_of_their_own(tmp_path: Path, _cache: Path) -> None:
    """``病例一.png`` and ``病例二.png`` were both cached as ``images_.png``: every case got the first one's mask."""
    root = write_coco(tmp_path / "coco", n=8, outlines=True)
    names = ["一", "二", "三", "四", "五", "六", "七", "八"]
    for annotation_file in (root / "annotations").glob("*.json"):
        document = json.loads(annotation_file.read_text())
        for image in document["images"]:
            new = f"病例{names[int(image['file_name'][2:5])]}.png"
            (root / "images" / image["file_name"]).rename(root / "images" / new)
            image["file_name"] = new
        annotation_file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    dataset = SegmentationDataset.load(root)
    assert len(dataset) == 8 and len({c.mask for c in dataset.cases}) == 8
    masks = {c.case_id: dataset.read(c).mask for c in dataset.cases}
    assert len({m.tobytes() for m in masks.values() if m is not None}) == 8  # each image's own outlines


def test_livecell_annotations_in_their_own_folder_find_images_in_another_tree(tmp_path: Path, _cache: Path) -> None:
    """LIVECell: ``annotations/LIVECell/livecell_coco_{train,val,test}.json`` beside
    ``images/livecell_train_val_images/*.tif`` and ``images/livecell_test_images/``: the JSON files were not found,
    the two image folders read as two classes and a classifier of them trained (status OK)."""
    from PIL import Image

    root = tmp_path / "LIVECell_dataset_2021"
    (root / "annotations" / "LIVECell").mkdir(parents=True)
    image_id = 0
    for split, folder, count in (("train", "train_val", 4), ("val", "train_val", 2), ("test", "test", 2)):
        images, annotations = [], []
        for _ in range(count):
            image_id += 1
            name = f"A172_Phase_A7_1_{image_id:02d}d00h00m_1.tif"
            (root / "images" / f"livecell_{folder}_images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((24, 32), 90, np.uint8)).save(root / "images" / f"livecell_{folder}_images" / name)
            images.append({"id": image_id, "width": 32, "height": 24, "file_name": name})
            outline = [[4, 4, 12, 4, 12, 12, 4, 12]]
            box = {"id": image_id, "image_id": image_id, "category_id": 1, "bbox": [4, 4, 8, 8]}
            annotations.append(box | {"segmentation": outline})
        # the train and val files key their annotations by id (a dict: it was a traceback), the test file lists them
        listed = annotations if split == "test" else {str(a["id"]): a for a in annotations}
        document = {"images": images, "annotations": listed, "categories": [{"id": 1, "name": "cell"}]}
        (root / "annotations" / "LIVECell" / f"livecell_coco_{split}.json").write_text(json.dumps(document))
        # the per-cell-type files of the download beside them (the annotations were not found again: two classes)
        (root / "annotations" / "LIVECell_single_cells" / "a172").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / "LIVECell_single_cells" / "a172" / f"{split}.json").write_text(json.dumps(document))
    boxes = Dataset.load(root)
    assert boxes.task == "detect" and boxes.split_counts() == {"train": 4, "val": 2, "test": 2}
    masks = SegmentationDataset.load(root)
    assert len(masks) == 8 and masks.value_names == {0: "background", 1: "cell"}
    assert {c.image.parent.name for c in masks.cases if c.split == "test"} == {"livecell_test_images"}
