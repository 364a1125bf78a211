"""Box tables in the column layouts exports write: image size beside the box, top-left corner and size under
other names, centre and size, normalised coordinates, class names differing in case."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.detection import DetectionDataset
from medimg.data.layouts import csv_boxes
from medimg.errors import DatasetError

#: (file, width, height, boxes as x1, y1, x2, y2, class)
IMAGES = [
    ("a.png", 80, 60, [(10, 20, 24, 34, "nodule"), (50, 5, 70, 21, "mass")]),
    ("b.png", 64, 96, [(3, 70, 20, 90, "nodule")]),
    ("c.png", 64, 64, []),
]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    for name, width, height, _ in IMAGES:
        Image.fromarray(np.full((height, width), 60, np.uint8)).save(tmp_path / "images" / name)
    return tmp_path


def _write(folder: Path, header: str, row) -> Path:  # type: ignore[no-untyped-def]
    lines = [header]
    for name, width, height, boxes in IMAGES:
        lines += [row(f"images/{name}", width, height, b) for b in boxes] or [
            row(f"images/{name}", width, height, None)
        ]
    path = folder / "ann.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _boxes(dataset: DetectionDataset) -> dict[str, list[tuple[float, float, float, float, str]]]:
    return {
        Path(case.case_id).name: [
            (*(round(v, 3) for v in b[:4]), dataset.class_names[b.label]) for b in case.boxes or ()
        ]
        for case in dataset.cases
    }


def _truth() -> dict[str, list[tuple[float, float, float, float, str]]]:
    return {name: [(*(float(v) for v in b[:4]), b[4]) for b in boxes] for name, _, _, boxes in IMAGES}


def test_image_size_columns_beside_box_size_columns(folder: Path) -> None:
    """filename,width,height,x,y,w,h,class: width/height (the image's) were read as the box's size, every box ran
    to the image's corner; a negative row failed with 'box corners are not all numbers'."""

    def row(path: str, width: int, height: int, b) -> str:  # type: ignore[no-untyped-def]
        if b is None:
            return f"{path},{width},{height},,,,,"
        return f"{path},{width},{height},{b[0]},{b[1]},{b[2] - b[0]},{b[3] - b[1]},{b[4]}"

    table = _write(folder, "filename,width,height,x,y,w,h,class", row)
    assert _boxes(csv_boxes.load(table)) == _truth()


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("image,x_min,y_min,width,height,label", "size"),
        ("filename,xmin,ymin,w,h,class", "size"),
        ("image,x_center,y_center,width,height,label", "centre"),
    ],
)
def test_top_left_and_centre_size_columns_are_boxes(folder: Path, header: str, kind: str) -> None:
    """These were called classification data even with task='detect' (and the advice was to classify)."""

    def row(path: str, width: int, height: int, b) -> str:  # type: ignore[no-untyped-def]
        if b is None:
            return f"{path},,,,,"
        w, h = b[2] - b[0], b[3] - b[1]
        x, y = (b[0], b[1]) if kind == "size" else (b[0] + w / 2, b[1] + h / 2)
        return f"{path},{x},{y},{w},{h},{b[4]}"

    table = _write(folder, header, row)
    dataset = Dataset.load(table, task="detect")
    assert isinstance(dataset, DetectionDataset) and _boxes(dataset) == _truth()


def test_a_box_table_without_box_columns_names_the_accepted_ones(folder: Path) -> None:
    (folder / "t.csv").write_text("path,left,top,right,bottom,label\nimages/a.png,1,2,3,4,x\n")
    with pytest.raises(DatasetError, match=r"no box columns found among path, left.*x_center"):
        csv_boxes.load(folder / "t.csv")


def test_normalised_coordinates_are_scaled_by_each_image(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Corners as fractions of the image: every box was 'degenerate', then 'none of the images has a box'."""

    def row(path: str, width: int, height: int, b) -> str:  # type: ignore[no-untyped-def]
        if b is None:
            return f"{path},,,,,"
        return f"{path},{b[0] / width},{b[1] / height},{b[2] / width},{b[3] / height},{b[4]}"

    table = _write(folder, "path,x1,y1,x2,y2,label", row)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = csv_boxes.load(table)
    assert _boxes(dataset) == _truth() and not dataset.box_issues
    assert "read as normalised" in caplog.text


def test_class_names_differing_in_case_are_one_class(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    """'Nodule' and 'nodule' were two classes without a word (a 3-class detector with one class split in two)."""

    def row(path: str, width: int, height: int, b) -> str:  # type: ignore[no-untyped-def]
        if b is None:
            return f"{path},,,,,"
        return f"{path},{b[0]},{b[1]},{b[2]},{b[3]},{'Nodule' if path.endswith('b.png') else b[4]}"

    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = csv_boxes.load(_write(folder, "path,x1,y1,x2,y2,label", row))
    assert dataset.class_names == ["mass", "nodule"] and _boxes(dataset) == _truth()
    assert "'Nodule' (1 box), 'nodule' (1 box) -> 'nodule'" in caplog.text


def test_a_box_outside_the_image_is_reported_once_and_misread_columns_are_suspected(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = ["path,x1,y1,x2,y2,label", "images/a.png,400,400,410,410,x"]
    rows += [f"images/c.png,{i},{i},{i + 70},{i + 70},x" for i in range(5)]
    (folder / "t.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = csv_boxes.load(folder / "t.csv")
    kinds = sorted(issue.kind for issue in dataset.box_issues)
    assert kinds == ["degenerate"] + ["out_of_bounds"] * 5  # the box at 400,400 was counted clipped and dropped
    assert "5 of 6 boxes run outside their image" in caplog.text


def test_coco_sizes_of_another_resolution_are_refused(folder: Path) -> None:
    """A COCO JSON made on images twice the files' size loaded with status OK: boxes wholly outside (or on the wrong
    place of) the real image, a run planned and trained on them."""
    import json

    document: dict = {
        "images": [],
        "annotations": [],
        "categories": [{"id": 1, "name": "mass"}, {"id": 2, "name": "nodule"}],
    }
    for i, (name, width, height, boxes) in enumerate(IMAGES):
        document["images"].append({"id": i, "file_name": f"images/{name}", "width": 2 * width, "height": 2 * height})
        for x1, y1, x2, y2, label in boxes:
            document["annotations"].append(
                {"id": len(document["annotations"]) + 1, "image_id": i, "category_id": 1 if label == "mass" else 2,
                 "bbox": [2 * x1, 2 * y1, 2 * (x2 - x1), 2 * (y2 - y1)], "iscrowd": 0}
            )  # fmt: skip
    (folder / "annotations.json").write_text(json.dumps(document))
    with pytest.raises(DatasetError, match=r"'images/a.png' \(id 0\) is 80x60 px .* but 160x120 in the JSON.*0\.5"):
        Dataset.load(folder / "annotations.json", task="detect")
    for image, (_, width, height, _) in zip(document["images"], IMAGES, strict=True):
        image["width"], image["height"] = width, height
    (folder / "annotations.json").write_text(json.dumps(document))
    assert len(Dataset.load(folder / "annotations.json", task="detect")) == 3


def test_voc_class_names_differing_in_case_are_one_class(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """'Disc' in one XML file and 'disc' in the others were two classes, each with part of the boxes."""
    from tests.tasks.detect.synthetic import voc_xml, write_voc

    root = write_voc(tmp_path / "voc", n=4, splits=False)
    objects = [(2, 2, 14, 14, "Disc"), (20, 20, 30, 30, "square")]
    (root / "Annotations" / "img_000.xml").write_text(voc_xml("img_000.png", (48, 64), objects))
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(root, task="detect")
    assert isinstance(dataset, DetectionDataset) and dataset.class_names == ["disc", "square"]
    assert dataset.cases[0].boxes is not None and dataset.cases[0].boxes[0].label == 0  # 'Disc' is 'disc'
    assert "'Disc' (1 box), 'disc'" in caplog.text


def test_a_table_asked_for_as_boxes_says_which_columns_are_missing(folder: Path) -> None:
    """With --task detect a table of unread box columns was 'classification data: pass task=classify'."""
    (folder / "t.csv").write_text("image,left,top,right,bottom,label\nimages/a.png,1,2,30,40,x\n")
    with pytest.raises(DatasetError, match=r"no box columns found among image, left, top, right, bottom, label"):
        Dataset.load(folder / "t.csv", task="detect")
    (folder / "plain.csv").write_text("path,label\nimages/a.png,x\nimages/b.png,y\n")
    with pytest.raises(DatasetError, match="looks like classification data"):
        Dataset.load(folder / "plain.csv", task="detect")


def test_check_warns_when_most_boxes_run_outside_their_image(folder: Path) -> None:
    """check said 'status OK' without a word when every box had been clipped (a column mix-up)."""
    from medimg.data.quality import check_dataset

    rows = ["path,x1,y1,x2,y2,label"] + [f"images/{n},{5 + i},{5 + i},{100 + i},{100 + i},x" for i, n in
                                         enumerate(["a.png", "b.png", "c.png"])]  # fmt: skip
    (folder / "t.csv").write_text("\n".join(rows) + "\n")
    report = check_dataset(csv_boxes.load(folder / "t.csv"))
    assert any("3 of 3 boxes ran outside their image" in w for w in report.warnings), report.warnings
    assert not report.ok and report.misread_boxes == 3  # `check` said "status OK" beside it


def test_check_is_not_ok_when_every_box_was_dropped(folder: Path) -> None:
    """Every box degenerate (x2 = x1: a width column read as a corner, a point annotation): `check` said "status OK"
    for a set with nothing to learn, beside a table of 0 boxes. A set of normal images without any box stays OK (an
    evaluation set of false positives)."""
    from medimg.data.quality import check_dataset

    rows = ["path,x1,y1,x2,y2,label"] + [f"images/{n},10,10,10,30,x" for n in ("a.png", "b.png", "c.png")]
    (folder / "t.csv").write_text("\n".join(rows) + "\n")
    report = check_dataset(csv_boxes.load(folder / "t.csv"))
    assert any("all 3 box(es) the data gives were dropped" in w for w in report.warnings), report.warnings
    assert not report.ok and report.lost_boxes == 3 and report.to_dict()["lost_boxes"] == 3
    rows[2] = "images/b.png,10,10,20,30,x"  # one box left: learnable, the two degenerate ones listed as before
    (folder / "t.csv").write_text("\n".join(rows) + "\n")
    assert check_dataset(csv_boxes.load(folder / "t.csv")).lost_boxes == 0
    (folder / "t.csv").write_text("path,x1,y1,x2,y2,label\nimages/a.png,,,,,\nimages/b.png,,,,,\n")
    assert check_dataset(csv_boxes.load(folder / "t.csv")).lost_boxes == 0  # no box given: none lost
