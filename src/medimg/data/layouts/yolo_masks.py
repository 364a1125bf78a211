"""YOLO segmentation labels (``class x1 y1 x2 y2 ...`` polygons, as Ultralytics' ``yolo segment`` and Roboflow's
"YOLOv8 segmentation" export write them) read as image/mask pairs when ``task="segment"`` is asked for.

The folders, splits and class names are read as for detection (:mod:`.yolo`); each image's polygons (fractions
of its size) are drawn into one label map (``0`` background, class id + 1) by :mod:`.drawn_masks`, cached outside
the data. An image without a label file is all background; a plain box line in a segmentation set has no outline
and is left out (counted in one warning).
"""

from __future__ import annotations

import logging
from pathlib import Path

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.detection import image_size
from medimg.data.layouts.common import name_selected
from medimg.data.layouts.drawn_masks import DrawnObject, cache_folder, draw_label_map, mask_file, write_mask
from medimg.data.layouts.yolo import _image_folders, _labels_folder, class_names_from_yaml, dataset_folder
from medimg.data.layouts.yolo import detect as detect_yolo
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)


def _polygon_lines(label_file: Path) -> list[list[str]]:
    if not label_file.is_file():
        return []
    return [
        line.split() for line in label_file.read_text(encoding="utf-8", errors="replace").splitlines() if line.split()
    ]


def detect(path: Path) -> bool:
    """A YOLO folder (:func:`medimg.data.layouts.yolo.detect`) whose first label files hold polygons."""
    if not detect_yolo(path):
        return False
    for _, images in _image_folders(dataset_folder(path)):
        for label_file in sorted(_labels_folder(images).glob("*.txt"))[:20]:
            if any(len(fields) > 5 for fields in _polygon_lines(label_file)):
                return True
    return False


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """Read YOLO segmentation labels as image/mask pairs (masks drawn once, cached).

    Raises:
        DatasetError: not a YOLO folder, a malformed label line, a class id without a name, or an image whose
            size cannot be read; the message names the file.
    """
    root = dataset_folder(path)
    folders = _image_folders(root)
    if not folders:
        raise DatasetError(f"{path} is not a YOLO folder: expected images/ beside labels/ (optionally per split)")
    names = class_names_from_yaml(root)
    label_files = [f for _, images in folders for f in sorted(_labels_folder(images).rglob("*.txt"))]
    cache = cache_folder(label_files or [root])
    cases: list[SegCase] = []
    boxes_only = 0
    for split, images in folders:
        for image in sorted(p for p in images.rglob("*") if p.is_file()):
            if file_suffix(image) not in IMAGE_SUFFIXES or not name_selected(image.name, include, exclude):
                continue
            case_id = image.relative_to(root).as_posix()
            target = mask_file(cache, case_id)
            label_file = _labels_folder(images) / image.relative_to(images).with_suffix(".txt")
            lines = _polygon_lines(label_file)
            boxes_only += sum(1 for fields in lines if len(fields) <= 5)
            if not target.is_file():
                size = image_size(image)
                if size is None:
                    raise DatasetError(
                        f"{image}: its size cannot be read from its header, so YOLO's fractions cannot be used"
                    )
                write_mask(target, draw_label_map(size, _objects(lines, size, label_file, names)))
            cases.append(SegCase(case_id=case_id, image=image, mask=target, split=split))
    if boxes_only:
        logger.warning("%s: %d box line(s) without an outline are not drawn into the masks", root, boxes_only)
    if not cases:
        raise DatasetError(f"{path}: the images folders hold no images")
    value_names = {0: "background", **{i + 1: name for i, name in enumerate(names or [])}}
    logger.info("%s: %d YOLO segmentation mask(s) drawn or reused in %s", root, len(cases), cache)
    return SegmentationDataset(name=root.resolve().name, root=root, source="yolo", cases=cases, value_names=value_names)


def _objects(
    lines: list[list[str]], size: tuple[int, int], label_file: Path, names: list[str] | None
) -> list[DrawnObject]:
    height, width = size
    objects = []
    for number, fields in enumerate(lines, start=1):
        if len(fields) <= 5:
            continue
        try:
            cls, values = int(float(fields[0])), [float(v) for v in fields[1:]]
        except ValueError:
            raise DatasetError(f"{label_file}:{number}: not 'class x1 y1 x2 y2 ...' numbers") from None
        if len(values) % 2 or (names is not None and not 0 <= cls < len(names)):
            raise DatasetError(f"{label_file}:{number}: an odd number of coordinates, or class {cls} without a name")
        pixels = [v * (width if i % 2 == 0 else height) for i, v in enumerate(values)]
        objects.append(DrawnObject(cls + 1, polygons=[pixels]))
    return objects
