"""Detection layouts (Pascal VOC, COCO, CSV boxes): reading, official splits, box cleaning, clear errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from medimg import Dataset
from medimg.data.detection import DetectionDataset, box_statistics
from medimg.data.layouts import detect_layout, get_layout, select_layout
from medimg.errors import DatasetError
from tests.conftest import shared_data
from tests.tasks.detect.synthetic import voc_xml, write_coco, write_csv, write_voc, write_yolo

#: One sample per detection layout, for the registry contract test in ``test_layouts.py``.
DETECTION_SAMPLES: dict[str, Callable[[Path], Path]] = {
    "voc": lambda root: write_voc(root, n=4),
    "coco": lambda root: write_coco(root, n=4),
    "csv_boxes": lambda root: write_csv(root, n=3),
    "yolo": lambda root: write_yolo(root, n=4),
}


def test_voc_folder_with_its_official_split(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "voc", n=12)
    assert detect_layout(root) is get_layout("voc")
    ds = Dataset.load(root)
    assert isinstance(ds, DetectionDataset) and ds.task == "detect" and ds.source == "voc"
    assert ds.class_names == ["disc", "square"] and len(ds) == 12 and ds.num_boxes == 36
    assert ds.split_counts() == {"train": 8, "val": 2, "test": 2}
    case = ds.cases[0]
    assert case.label is None and case.boxes and all(b.x2 > b.x1 and b.y2 > b.y1 for b in case.boxes)
    assert case.case_id == "JPEGImages/img_000.png" and ds.image_sizes[case.case_id] == (48, 64)
    assert ds.describe()["num_boxes"] == 36 and sum(ds.class_counts().values()) == 36


def test_voc_lists_of_train_and_trainval_without_val_give_the_validation_split(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """m2cai16-tool-locations: ``train.txt`` (v01-v09), ``trainval.txt`` (v01-v11), ``test.txt``, no ``val.txt``:
    v10 and v11 were "in no ImageSets/Main list", trained on, and a validation part was carved from train."""
    import logging

    root = write_voc(tmp_path / "voc", n=12)
    main = root / "ImageSets" / "Main"
    val = (main / "val.txt").read_text()
    (main / "trainval.txt").write_text((main / "train.txt").read_text() + val)
    (main / "val.txt").unlink()
    with caplog.at_level(logging.WARNING, logger="medimg"):
        ds = Dataset.load(root)
    assert ds.split_counts() == {"train": 8, "val": 2, "test": 2}
    assert "in no ImageSets/Main list" not in caplog.text


def test_voc_one_level_down_and_unlabelled_images(tmp_path: Path) -> None:
    """BCCD's layout: ``bccd/BCCD/{Annotations,JPEGImages,ImageSets}``; an image without XML is unlabelled."""
    root = write_voc(tmp_path / "bccd" / "BCCD", n=6, splits=False)
    (root / "Annotations" / "img_005.xml").unlink()
    ds = Dataset.load(tmp_path / "bccd", task="detect")
    assert isinstance(ds, DetectionDataset) and ds.name == "bccd" and len(ds) == 5
    assert [c.case_id for c in ds.unlabelled] == ["BCCD/JPEGImages/img_005.png"]
    assert not ds.has_own_split


def test_an_image_in_no_split_list_trains_and_the_lists_split_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """BCCD's ``ImageSets/Main`` lists miss one annotated image: the whole official split was dropped and a random
    one made (official test images trained); unlisted, most images are no split of the lists."""
    root = write_voc(tmp_path / "voc", n=12)
    listed = {split: (root / "ImageSets" / "Main" / f"{split}.txt").read_text().split() for split in ("train", "test")}
    stray = listed["train"][0]
    (root / "ImageSets" / "Main" / "train.txt").write_text("\n".join(listed["train"][1:]) + "\n")
    with caplog.at_level("WARNING", logger="medimg"):
        ds = Dataset.load(root)
    split = {Path(str(c.path)).stem: c.split for c in ds.cases}
    assert split[stray] == "train" and all(split[name] == "test" for name in listed["test"])
    assert "the lists' split is kept and these train" in caplog.text
    for name in ("train", "val", "test"):  # lists naming a few images only: no split
        file = root / "ImageSets" / "Main" / f"{name}.txt"
        if file.is_file():
            file.write_text(file.read_text().split()[0] + "\n")
    assert not Dataset.load(root).has_own_split


def test_boxes_are_clipped_and_bad_ones_dropped_and_reported(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "voc", n=2, splits=False)
    objects = [
        (-3, 5, 20, 30, "disc"),  # out of bounds: clipped
        (10, 10, 10, 20, "disc"),  # zero width: degenerate
        (30, 5, 40, 15, "square"),
        (30, 5, 40, 15, "square"),  # duplicate
        (60, 40, 70, 50, "square"),  # partly outside (64 x 48 image)
    ]
    (root / "Annotations" / "img_000.xml").write_text(voc_xml("img_000.png", (48, 64), objects))
    ds = Dataset.load(root)
    assert isinstance(ds, DetectionDataset)
    boxes = ds.cases[0].boxes
    assert boxes is not None and len(boxes) == 3
    assert boxes[0][:4] == (0.0, 5.0, 20.0, 30.0) and boxes[2][:4] == (60.0, 40.0, 64.0, 48.0)
    kinds = sorted(issue.kind for issue in ds.box_issues)
    assert kinds == ["degenerate", "duplicate", "out_of_bounds", "out_of_bounds"]
    stats = box_statistics(ds)
    assert stats.per_class["disc"]["out_of_bounds"] == 1 and stats.per_class["square"]["duplicates"] == 1
    text = stats.summary()
    assert "disc" in text and "square" in text and "degenerate" in text


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "Annotations" / "img_001.xml").write_text(""), r"img_001\.xml: the file is empty"),
        (lambda root: (root / "JPEGImages" / "img_001.png").unlink(), r"img_001\.xml: its image img_001\.png"),
        (lambda root: (root / "Annotations" / "img_001.xml").write_text("<annotation><object>"), r"img_001\.xml: not"),
    ],
    ids=["empty-xml", "missing-image", "malformed-xml"],
)
def test_voc_problems_name_the_file(tmp_path: Path, damage: Callable[[Path], object], message: str) -> None:
    root = write_voc(tmp_path / "voc", n=3, splits=False)
    damage(root)
    with pytest.raises(DatasetError, match=message):
        Dataset.load(root, task="detect")


def test_unknown_label_names_the_file(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "voc", n=3, splits=False)
    with pytest.raises(DatasetError, match=r"img_00\d\.xml: class\(es\) '(disc|square)' not in class_names"):
        Dataset.load(root, class_names=["disc"])
    csv = write_csv(tmp_path / "csv", n=3)
    with pytest.raises(DatasetError, match=r"line \d+: label '(disc|square)' is not in class_names"):
        Dataset.load(csv, class_names=["circle"])


def test_coco_folder_with_split_files(tmp_path: Path) -> None:
    root = write_coco(tmp_path / "coco", n=8)
    assert detect_layout(root) is get_layout("coco")
    ds = Dataset.load(root)
    assert isinstance(ds, DetectionDataset) and ds.source == "coco"
    assert ds.class_names == ["disc", "square"] and len(ds) == 8 and ds.num_boxes == 24
    assert ds.split_counts() == {"train": 6, "val": 2}
    box = ds.cases[0].boxes[0]  # type: ignore[index]
    assert box.x2 - box.x1 >= 9 and box.y2 - box.y1 >= 9  # [x, y, w, h] became corners


def test_coco_in_a_capitalised_annotations_folder_beside_image_folders_per_split(tmp_path: Path) -> None:
    """EVICAN: ``Annotations/instances_train2019_EVICAN2.json`` beside ``Images/EVICAN_train2019/*.jpg``. The folder
    read as "a single class ('Images')", the JSON given alone as "image ... not found beside the JSON"."""
    root = write_coco(tmp_path / "evican", n=8)
    (root / "annotations").rename(root / "Annotations")
    (root / "images").rename(root / "Images")
    (root / "Images" / "EVICAN_train2019").mkdir()
    for image in sorted((root / "Images").glob("*.png")):
        image.rename(root / "Images" / "EVICAN_train2019" / image.name)
    ds = Dataset.load(root)
    assert isinstance(ds, DetectionDataset) and len(ds) == 8 and ds.split_counts() == {"train": 6, "val": 2}
    alone = Dataset.load(root / "Annotations" / "instances_train.json")
    assert isinstance(alone, DetectionDataset) and len(alone) == 6


def test_a_coco_eval_file_beside_train_and_val_files_is_the_test_split(tmp_path: Path) -> None:
    """EVICAN's ``instances_train2019``, ``_val2019`` and ``_eval2019`` files: 'some COCO files name no split; the
    data's own split is not used', and its evaluation images were trained on."""
    root = write_coco(tmp_path / "evican", n=8)
    val = root / "annotations" / "instances_val.json"
    data = json.loads(val.read_text())
    held = data["images"][:1]
    rest = {**data, "images": data["images"][1:]}
    held_ids = {image["id"] for image in held}
    rest["annotations"] = [a for a in data["annotations"] if a["image_id"] not in held_ids]
    evaluation = {**data, "images": held, "annotations": [a for a in data["annotations"] if a["image_id"] in held_ids]}
    val.write_text(json.dumps(rest))
    (root / "annotations" / "instances_eval2019.json").write_text(json.dumps(evaluation))
    ds = Dataset.load(root)
    assert ds.split_counts() == {"train": 6, "val": 1, "test": 1}


def test_a_box_table_in_an_annotations_folder_names_images_beside_that_folder(tmp_path: Path) -> None:
    """VinDr-SpineXR: ``annotations/train.csv`` (``image_id,...,xmin,ymin,xmax,ymax``, ids without suffix) beside
    ``train_images/<id>.dicom``: "line 2: .../annotations/<id> does not exist"."""
    table = write_csv(tmp_path / "vindr", n=6)
    (tmp_path / "vindr" / "img").rename(tmp_path / "vindr" / "train_images")
    (tmp_path / "vindr" / "annotations").mkdir()
    rows = table.read_text().splitlines()
    moved = [rows[0], *(re.sub(r"^img/(\d+)\.png", r"\1", row) for row in rows[1:])]
    (tmp_path / "vindr" / "annotations" / "train.csv").write_text("\n".join(moved) + "\n")
    table.unlink()
    ds = Dataset.load(tmp_path / "vindr" / "annotations" / "train.csv", task="detect")
    assert isinstance(ds, DetectionDataset) and len(ds) == 6
    assert all(c.path.parent.name == "train_images" for c in ds.cases)


def test_coco_single_file_and_its_errors(tmp_path: Path) -> None:
    root = write_coco(tmp_path / "coco", n=4, split_files=False)
    file = root / "annotations" / "instances_all.json"
    ds = Dataset.load(file)
    assert isinstance(ds, DetectionDataset) and len(ds) == 4 and not ds.has_own_split
    data = json.loads(file.read_text())
    data["annotations"][0]["category_id"] = 99
    file.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"instances_all\.json: annotation 1 names category id 99"):
        Dataset.load(file)
    data["annotations"][0]["category_id"] = 7
    data["images"][0]["file_name"] = "gone.png"
    file.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"image 'gone\.png' \(id 100\) not found"):
        Dataset.load(file)
    file.write_text("")
    assert not get_layout("coco").detect(file)
    with pytest.raises(DatasetError, match=r"instances_all\.json: the COCO annotation file is empty"):
        Dataset.load(file, layout="coco")


def test_midog_corner_boxes_are_read_as_corners(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """MIDOG 2021's ``MIDOG.json`` is COCO with ``bbox`` as corners ``[x1, y1, x2, y2]``. Read as ``[x, y, w, h]``
    the boxes doubled and ran outside their images (check warned, fit trained on them: mAP 0)."""
    root = write_coco(tmp_path / "coco", n=4, split_files=False)
    file = root / "annotations" / "instances_all.json"
    data = json.loads(file.read_text())
    expected = {a["id"]: list(a["bbox"]) for a in data["annotations"]}
    sizes = {image["id"]: (image["width"], image["height"]) for image in data["images"]}
    for annotation in data["annotations"]:  # the same boxes written as corners, moved towards the far corner
        x, y, w, h = annotation["bbox"]
        width, height = sizes[annotation["image_id"]]
        x, y = width - w - 1 - x // 4, height - h - 1 - y // 4
        expected[annotation["id"]] = [x, y, x + w, y + h]
        annotation["bbox"] = [x, y, x + w, y + h]
    file.write_text(json.dumps(data))
    with caplog.at_level("WARNING"):
        ds = Dataset.load(file)
    assert isinstance(ds, DetectionDataset) and ds.num_boxes == len(expected) and not ds.box_issues
    read = sorted([b.x1, b.y1, b.x2, b.y2] for c in ds.cases for b in c.boxes or [])
    assert read == sorted(expected.values())
    assert "are corners [x1, y1, x2, y2]" in caplog.text


def test_coco_crowd_regions_are_dropped(tmp_path: Path) -> None:
    root = write_coco(tmp_path / "coco", n=4, split_files=False)
    file = root / "annotations" / "instances_all.json"
    data = json.loads(file.read_text())
    data["annotations"][0]["iscrowd"] = 1
    file.write_text(json.dumps(data))
    ds = Dataset.load(file)
    assert isinstance(ds, DetectionDataset) and ds.num_boxes == 11
    assert [issue.kind for issue in ds.box_issues] == ["crowd"]


def test_csv_boxes_with_negatives(tmp_path: Path) -> None:
    manifest = write_csv(tmp_path / "csv", n=4, negatives=1)
    assert detect_layout(manifest) is get_layout("csv_boxes")
    ds = Dataset.load(manifest)
    assert isinstance(ds, DetectionDataset) and ds.source == "csv" and len(ds) == 4
    assert ds.cases[0].boxes == () and ds.num_boxes == 9
    assert ds.describe()["images_without_boxes"] == 1


def test_csv_boxes_errors_name_the_line(tmp_path: Path) -> None:
    manifest = write_csv(tmp_path / "csv", n=2, negatives=0)
    manifest.write_text(manifest.read_text() + "img/9.png,1,1,5,5,disc\nimg/0.png,a,1,5,5,disc\nimg/1.png,1,1,5,5,\n")
    with pytest.raises(DatasetError) as error:
        Dataset.load(manifest)
    text = str(error.value)
    assert "img/9.png does not exist" in text and "are not all numbers" in text and "has no label" in text


def test_detection_data_is_not_read_as_another_task(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "voc", n=4)
    assert select_layout(root).task == "detect"
    with pytest.raises(DatasetError, match=r"looks like detection data.*--task detect"):
        Dataset.load(root, task="classify")


def test_bccd_reads_with_its_official_split() -> None:
    root = shared_data("bccd")
    ds = Dataset.load(root, task="detect")
    assert isinstance(ds, DetectionDataset) and len(ds) == 364
    assert ds.class_names == ["Platelets", "RBC", "WBC"]
    assert ds.split_counts() == {"train": 205, "val": 87, "test": 72}
    # 4,888 boxes annotated; two have zero width and height (a point) and are dropped and reported
    assert ds.num_boxes == 4886 and [issue.kind for issue in ds.box_issues] == ["degenerate", "degenerate"]


def test_check_reports_boxes_per_class(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    root = write_voc(tmp_path / "voc", n=6)
    result = CliRunner().invoke(app, ["check", str(root), "--json", str(tmp_path / "check.json")])
    assert result.exit_code == 0, result.output
    assert "class " in result.output and "disc" in result.output and "square" in result.output
    boxes = json.loads((tmp_path / "check.json").read_text())["boxes"]
    assert set(boxes["per_class"]) == {"disc", "square"} and boxes["images"] == 6


def test_roboflow_coco_export_per_split_folder(tmp_path: Path) -> None:
    """Roboflow's COCO export: ``<split>/_annotations.coco.json`` beside the split's images, and the dataset's name
    as category 0, the supercategory of the real ones (no box has it). Before: "no class sub-folders"."""
    from PIL import Image

    for split, n in (("train", 4), ("valid", 2), ("test", 2)):
        (tmp_path / split).mkdir()
        images, annotations = [], []
        for i in range(n):
            name = f"img_{i}_jpg.rf.{i:032x}.jpg"
            Image.new("RGB", (50, 40)).save(tmp_path / split / name)
            images.append({"id": i, "file_name": name, "width": 50, "height": 40})
            annotations.append({"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [5, 6, 10, 12], "iscrowd": 0})
        categories = [
            {"id": 0, "name": "cells", "supercategory": "none"},
            {"id": 1, "name": "RBC", "supercategory": "cells"},
            {"id": 2, "name": "WBC", "supercategory": "cells"},
        ]
        document = {"images": images, "annotations": annotations, "categories": categories}
        (tmp_path / split / "_annotations.coco.json").write_text(json.dumps(document))
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["RBC", "WBC"]
    assert dataset.split_counts() == {"train": 4, "val": 2, "test": 2} and dataset.num_boxes == 8


def test_roboflow_voc_export_with_each_xml_beside_its_image(tmp_path: Path) -> None:
    """Roboflow's Pascal VOC export: ``train/``, ``valid/``, ``test/`` each holding images with their XML beside
    them (no Annotations/ or JPEGImages/). Before: "no class sub-folders"."""
    from PIL import Image

    for split, n in (("train", 3), ("valid", 1), ("test", 1)):
        (tmp_path / split).mkdir()
        for i in range(n):
            stem = f"img_{i}_jpg.rf.{i:08x}"
            Image.new("RGB", (50, 40)).save(tmp_path / split / f"{stem}.jpg")
            xml = voc_xml(f"{stem}.jpg", (40, 50), [(5.0, 6.0, 20.0, 30.0, "WBC"), (25.0, 6.0, 45.0, 30.0, "RBC")])
            (tmp_path / split / f"{stem}.xml").write_text(xml)
    Image.new("RGB", (50, 40)).save(tmp_path / "train" / "unannotated.jpg")
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["RBC", "WBC"]
    assert dataset.split_counts() == {"train": 3, "val": 1, "test": 1} and dataset.num_boxes == 10
    assert [c.case_id for c in dataset.unlabelled] == ["train/unannotated.jpg"]


def test_roboflow_tensorflow_csv_export_per_split_folder(tmp_path: Path) -> None:
    """Roboflow's TensorFlow CSV export: ``<split>/_annotations.csv`` (``filename,width,height,class,xmin,ymin,
    xmax,ymax``) beside the split's images, a file name possibly in several splits. Before: one split at a time."""
    from PIL import Image

    for split, classes in (("train", ("RBC", "WBC")), ("valid", ("RBC",)), ("test", ("Platelets",))):
        (tmp_path / split).mkdir()
        rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
        for i, cls in enumerate(classes):
            Image.new("RGB", (50, 40)).save(tmp_path / split / f"img_{i}.jpg")
            rows.append(f"img_{i}.jpg,50,40,{cls},5,6,25,30")
        (tmp_path / split / "_annotations.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["Platelets", "RBC", "WBC"]
    assert dataset.split_counts() == {"train": 2, "val": 1, "test": 1}
    by_id = {c.case_id: c for c in dataset.cases}
    assert set(by_id) == {"train/img_0.jpg", "train/img_1.jpg", "valid/img_0.jpg", "test/img_0.jpg"}
    assert [dataset.class_names[b.label] for b in by_id["test/img_0.jpg"].boxes or ()] == ["Platelets"]
    assert [dataset.class_names[b.label] for b in by_id["train/img_1.jpg"].boxes or ()] == ["WBC"]  # one list


def test_tbx11k_voc_annotations_beside_class_folders_with_the_task_asked(tmp_path: Path) -> None:
    """TBX11K: ``annotations/xml/tb0001.xml`` (VOC) for ``imgs/tb/tb0001.png``, ``imgs/health/`` and ``imgs/sick/``
    without boxes. ``task="detect"`` reads the boxes, each image found by its ``<filename>`` in ``imgs/``; without
    it the folder stays its image classes. Before: "is not a YOLO folder"."""
    import numpy as np
    from PIL import Image

    from tests.tasks.detect.synthetic import voc_xml

    rng = np.random.default_rng(0)
    for name in ("health/h0001.png", "sick/s0001.png", "tb/tb0001.png", "tb/tb0002.png"):
        (tmp_path / "imgs" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (48, 64), dtype=np.uint8)).save(tmp_path / "imgs" / name)
    (tmp_path / "annotations" / "xml").mkdir(parents=True)
    for i in (1, 2):
        xml = voc_xml(f"tb{i:04d}.png", (48, 64), [(4, 6, 20, 30, "ActiveTuberculosis")])
        (tmp_path / "annotations" / "xml" / f"tb{i:04d}.xml").write_text(xml)
    dataset = Dataset.load(tmp_path, task="detect")
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["ActiveTuberculosis"]
    assert sorted(c.case_id for c in dataset.cases) == ["imgs/tb/tb0001.png", "imgs/tb/tb0002.png"]
    assert dataset.num_boxes == 2 and len(dataset.unlabelled) == 2  # health and sick: no annotation, kept aside
    assert Dataset.load(tmp_path).class_names == ["health", "sick", "tb"]


def test_a_folder_without_boxes_asked_for_as_detection_names_the_formats_read(tmp_path: Path) -> None:
    """Lung-PET-CT-Dx: DICOM series with VOC XML named by SOPInstanceUID in ``Annotation/``; with ``--task detect``
    the error said only "is not a YOLO folder", as if YOLO were the one format."""
    import numpy as np
    from PIL import Image

    for cls in ("a", "b"):
        for i in range(3):
            (tmp_path / cls).mkdir(exist_ok=True)
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    with pytest.raises(DatasetError, match=r"holds no boxes medimg reads: not a YOLO folder.*Pascal VOC.*COCO"):
        Dataset.load(tmp_path, task="detect")


def test_dentex_levels_of_categories_give_the_diagnoses(tmp_path: Path) -> None:
    """DENTEX's ``train_quadrant_enumeration_disease.json`` beside ``xrays/``: ``categories_1`` (quadrants),
    ``categories_2`` (tooth numbers) and ``categories_3`` (diagnoses), each annotation with ``category_id_1..3``; no
    ``categories``. It was refused: every annotation "names category id None, not in categories"."""
    import numpy as np
    from PIL import Image

    root = tmp_path / "quadrant-enumeration-disease"
    (root / "xrays").mkdir(parents=True)
    diagnoses = ["Impacted", "Caries", "Periapical Lesion", "Deep Caries"]
    images, annotations = [], []
    for i in range(8):
        Image.fromarray(np.full((60, 80), 30 + i, np.uint8)).save(root / "xrays" / f"train_{i}.png")
        images.append({"id": i + 1, "file_name": f"train_{i}.png", "width": 80, "height": 60})
        annotations.append(
            {"id": i + 1, "image_id": i + 1, "bbox": [10, 12, 20, 16], "iscrowd": 0, "area": 320,
             "category_id_1": i % 4, "category_id_2": i % 8, "category_id_3": (i + 1) % 4}
        )  # fmt: skip
    document = {
        "images": images,
        "annotations": annotations,
        "categories_1": [{"id": q, "name": str(q + 1)} for q in range(4)],
        "categories_2": [{"id": t, "name": str(t + 1)} for t in range(8)],
        "categories_3": [{"id": d, "name": name} for d, name in enumerate(diagnoses)],
    }
    (root / "train_quadrant_enumeration_disease.json").write_text(json.dumps(document))
    dataset = Dataset.load(root)
    assert dataset.task == "detect" and dataset.class_names == diagnoses
    first = next(c for c in dataset.cases if c.case_id.endswith("train_0.png"))
    (box,) = first.boxes
    assert dataset.class_names[box.label] == "Caries" and (box.x1, box.y1, box.x2, box.y2) == (10, 12, 30, 28)
    # DENTEX's training_data/ holds that set beside quadrant/ (its own JSON): sets, not classes (read as two classes,
    # a model telling them apart, status OK, once unlabelled/ was moved out as its refusal advised)
    other = tmp_path / "quadrant"
    (other / "xrays").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((60, 80), 90 + i, np.uint8)).save(other / "xrays" / f"train_{i}.png")
    (other / "train_quadrant.json").write_text(json.dumps({**document, "images": images[:4]}))
    with pytest.raises(DatasetError, match=r"each hold their own COCO annotation file.*medimg fit '.*quadrant"):
        Dataset.load(tmp_path)


def test_a_coco_file_two_folders_below_its_images_folder_finds_them(tmp_path: Path) -> None:
    """TBX11K: ``annotations/json/TBX11K_train.json`` lists ``tb/tb0003.png`` of ``imgs/tb/``. Refused for its
    trainval file listing the images again, with the advice "give one file: medimg fit .../TBX11K_train.json",
    which failed: every "image 'tb/tb0003.png' not found beside the JSON"."""
    import numpy as np
    from PIL import Image

    images, annotations = [], []
    for i in range(6):
        folder = "tb" if i % 2 else "health"
        (tmp_path / "imgs" / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((40, 40), 30 + i, np.uint8)).save(tmp_path / "imgs" / folder / f"{folder}{i:04d}.png")
        images.append({"id": i + 1, "file_name": f"{folder}/{folder}{i:04d}.png", "width": 40, "height": 40})
        if i % 2:
            annotations.append({"id": i, "image_id": i + 1, "bbox": [5, 6, 10, 12], "category_id": 1})
    document = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "ActiveTuberculosis"}]}
    (tmp_path / "annotations" / "json").mkdir(parents=True)
    (tmp_path / "annotations" / "json" / "TBX11K_train.json").write_text(json.dumps(document))
    dataset = Dataset.load(tmp_path / "annotations" / "json" / "TBX11K_train.json")
    assert dataset.task == "detect" and len(dataset.cases) == 6
    assert sum(len(c.boxes) for c in dataset.cases) == 3


def test_instance_labelled_masks_give_one_class_a_box_per_object(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GlaS: ``train_<n>_anno.bmp`` numbers each gland 1..k of its image; read for detection, every number was a class
    of its own (``label_1`` .. ``label_13``), each image's first gland in one. A label map of classes stays one."""
    import logging

    import numpy as np
    from PIL import Image

    for image in range(8):
        anno = np.zeros((48, 48), np.uint8)
        for gland in range(image + 2):  # 2..9 glands, one value each, apart
            row, col = divmod(gland, 3)
            anno[2 + 15 * row : 10 + 15 * row, 2 + 15 * col : 10 + 15 * col] = gland + 1
        Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(tmp_path / f"train_{image + 1}.bmp")
        Image.fromarray(anno).save(tmp_path / f"train_{image + 1}_anno.bmp")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path, task="detect")
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["foreground"]
    assert sum(len(case.boxes) for case in dataset.cases) == sum(range(2, 10))
    assert "instance-labelled masks (each object its own value above 0, 2..9 objects per image)" in caplog.text
    again = Dataset.load(tmp_path, task="detect", **dataset.options)  # as evaluate reads the run's data again
    assert isinstance(again, DetectionDataset) and again.class_names == ["foreground"]
    for image in range(8):  # the same values as classes: 1..3 in every image
        anno = np.zeros((48, 48), np.uint8)
        anno[2:10, 2:10], anno[20:30, 20:30], anno[35:40, 5:12] = 1, 2, 3
        Image.fromarray(anno).save(tmp_path / f"train_{image + 1}_anno.bmp")
    classes = Dataset.load(tmp_path, task="detect")
    assert isinstance(classes, DetectionDataset) and classes.class_names == ["label_1", "label_2", "label_3"]


def test_coco_files_listing_the_same_images_name_the_files(tmp_path: Path) -> None:
    """TBX11K ships ``TBX11K_train.json`` and ``TBX11K_val.json`` beside ``TBX11K_trainval.json``, which lists them
    again: "the same image is listed more than once across the COCO files" named no file, no image and no fix."""
    root = write_coco(tmp_path / "tbx", n=8)
    train = json.loads((root / "annotations" / "instances_train.json").read_text())
    val = json.loads((root / "annotations" / "instances_val.json").read_text())
    both = {**train, "images": train["images"] + val["images"], "annotations": train["annotations"]}
    (root / "annotations" / "instances_trainval.json").write_text(json.dumps(both))
    with pytest.raises(DatasetError, match=r"8 image\(s\) are listed by more than one COCO file \(e\.g\. .* in "):
        Dataset.load(root)
    with pytest.raises(DatasetError, match=r"instances_trainval\.json.*medimg fit .*instances_t"):
        Dataset.load(root)


def test_a_detection_folder_asked_for_as_classes_names_its_folders_of_classes(tmp_path: Path) -> None:
    """TBX11K's ``imgs/{health,sick,tb}/`` beside its COCO boxes: ``--task classify`` named detection and a CSV
    manifest only, not the class folders a user meant."""
    from PIL import Image

    root = write_coco(tmp_path / "TBX11K", n=8)
    for cls in ("health", "tb"):
        (root / "imgs" / cls).mkdir(parents=True)
        Image.new("L", (8, 8)).save(root / "imgs" / cls / f"{cls[0]}0001.png")
    with pytest.raises(DatasetError, match=r"the folders of images in imgs/ \(health, tb\) as the classes: medimg fit"):
        Dataset.load(root, task="classify")


def test_a_voc_set_inside_wrapper_folders_is_read_as_voc(tmp_path: Path) -> None:
    """BCCD's ``dataset-master/dataset-master/{JPEGImages,Annotations}/`` with a README: read through the wrappers,
    ``JPEGImages`` was a single class."""
    write_voc(tmp_path / "bccd" / "dataset-master" / "dataset-master", n=8, splits=False)
    (tmp_path / "bccd" / "dataset-master" / "dataset-master" / "README.md").write_text("BCCD\n")
    dataset = Dataset.load(tmp_path / "bccd")
    assert isinstance(dataset, DetectionDataset) and len(dataset.cases) == 8
