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
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import problems_error
from medimg.data.layouts.drawn_masks import DrawnObject, cache_folder, draw_label_map, mask_file, write_mask
from medimg.data.layouts.yolo import (
    case_id_of,
    class_names_from_yaml,
    dataset_folder,
    detection_folders,
    label_files,
    labelled_images,
    read_label_lines,
    required_size,
    split_folders,
    unnamed_ids,
)
from medimg.data.layouts.yolo import detect as detect_yolo
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)


def detect(path: Path) -> bool:
    """A YOLO folder (:func:`medimg.data.layouts.yolo.detect`) whose first label files hold polygons."""
    if not detect_yolo(path):
        return False
    root = dataset_folder(path)
    for _, images in detection_folders(path):
        for label_file in label_files(images, root, limit=20):
            if any(len(values) > 4 for _, _, values in read_label_lines(label_file, [])):
                return True
    return False


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """Read YOLO segmentation labels as image/mask pairs (masks drawn once, cached).

    Raises:
        DatasetError: not a YOLO folder, a malformed label line, a class id without a name, or an image whose
            size cannot be read; the message names the file.
    """
    root = dataset_folder(path)
    folders = split_folders(root, path)
    if not folders:
        raise DatasetError(f"{path} is not a YOLO folder: expected images/ beside labels/ (optionally per split)")
    names = class_names_from_yaml(root, path)
    found = [f for _, images in folders for f in label_files(images, root)]
    cache = cache_folder(found or [root])
    cases: list[SegCase] = []
    problems: list[str] = []
    boxes_only = 0
    for split, image, label_file in labelled_images(folders, include, exclude, root):
        case_id = case_id_of(image, root)
        target = mask_file(cache, case_id)
        lines = read_label_lines(label_file, problems)
        polygons = [(cls, values) for _, cls, values in lines if len(values) > 4]
        boxes_only += len(lines) - len(polygons)
        if names is not None and (unnamed := unnamed_ids({cls for cls, _ in polygons}, names)) is not None:
            problems.append(f"{label_file}: {unnamed}")
        if not target.is_file() and not problems:
            height, width = required_size(image)
            objects = [
                DrawnObject(cls + 1, polygons=[[v * (width if i % 2 == 0 else height) for i, v in enumerate(values)]])
                for cls, values in polygons
            ]
            write_mask(target, draw_label_map((height, width), objects))
        cases.append(SegCase(case_id=case_id, image=image, mask=target, split=split))
    if problems:
        raise problems_error(root, problems, "label problem(s)")
    if boxes_only:
        logger.warning("%s: %d box line(s) without an outline are not drawn into the masks", root, boxes_only)
    if not cases:
        raise DatasetError(f"{path}: the images folders hold no images")
    value_names = {0: "background", **{i + 1: name for i, name in enumerate(names or [])}}
    logger.info("%s: %d YOLO segmentation mask(s) drawn or reused in %s", root, len(cases), cache)
    return SegmentationDataset(name=dataset_name(root), root=root, source="yolo", cases=cases, value_names=value_names)
