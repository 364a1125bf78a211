"""COCO segmentation (``segmentation`` polygons or run-length masks) read as image/mask pairs, when
``task="segment"`` is asked for (CVAT, Roboflow and Label Studio export outlines this way).

Each image's objects are drawn into one label map (``0`` background, ``k`` the ``k``-th category by id; larger
objects first) by :mod:`.drawn_masks`, cached outside the data; an image without objects is all background. The
files, splits and categories are read as for detection (:mod:`.coco`), so the same folder trains a detector
(default) or a segmentation network (``--task segment``). Run-length masks (``iscrowd`` regions, COCO's
``{"counts": ..., "size": ...}``) need ``pycocotools`` (``pip install 'medimg[detect]'``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.coco import (
    ImagesByName,
    _json_files,
    _split_of,
    category_names,
    locate_image,
    read_documents,
)
from medimg.data.layouts.common import problems_error, text_head
from medimg.data.layouts.drawn_masks import DrawnObject, cache_folder, draw_label_map, mask_file, write_mask
from medimg.errors import DatasetError, MissingDependencyError

logger = logging.getLogger(__name__)

SNIFF_BYTES = 1 << 20


def detect(path: Path) -> bool:
    """COCO files (:func:`medimg.data.layouts.coco.detect`) whose annotations carry a ``segmentation``."""
    return any('"segmentation"' in text_head(file, SNIFF_BYTES) for file in _json_files(path))


def _objects(annotations: Sequence[dict[str, Any]], value_of: dict[Any, int], file: Path) -> list[DrawnObject]:
    objects = []
    for annotation in annotations:
        value = value_of.get(annotation.get("category_id"))
        segmentation = annotation.get("segmentation")
        if value is None or not segmentation:
            continue
        if isinstance(segmentation, list):
            objects.append(DrawnObject(value, polygons=[list(map(float, p)) for p in segmentation if len(p) >= 6]))
        elif isinstance(segmentation, dict) and "counts" in segmentation:
            objects.append(DrawnObject(value, mask=_decode_rle(segmentation, file)))
        else:
            raise DatasetError(f"{file}: annotation {annotation.get('id')} has a segmentation of unknown form")
    return objects


def _decode_rle(rle: dict[str, Any], file: Path) -> np.ndarray:
    try:
        from pycocotools import mask as mask_utils
    except ImportError as error:
        raise MissingDependencyError("pycocotools", "detect") from error
    height, width = (int(v) for v in rle["size"])
    encoded = mask_utils.frPyObjects(rle, height, width) if isinstance(rle["counts"], list) else rle
    try:
        return np.asarray(mask_utils.decode(encoded), dtype=bool)
    except Exception as error:  # pycocotools raises plain exceptions on malformed counts
        raise DatasetError(f"{file}: a run-length segmentation cannot be decoded ({error})") from error


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> SegmentationDataset:
    """Read COCO segmentation as image/mask pairs (masks drawn once, cached).

    Raises:
        DatasetError: no COCO file, a malformed one, an image that does not exist, or an undecodable segmentation;
            the message names the file.
    """
    documents = read_documents(path)
    names = category_names(documents)
    root = path if path.is_dir() else path.parent
    cache = cache_folder([file for file, _ in documents])
    by_name = ImagesByName(root)
    cases: list[SegCase] = []
    problems: list[str] = []
    for file, data in documents:
        split = _split_of(file, len(documents) > 1)
        value_of = {c.get("id"): names.index(str(c.get("name", "")).strip()) + 1 for c in data.get("categories") or []
                    if str(c.get("name", "")).strip() in names}  # fmt: skip
        per_image: dict[Any, list[dict[str, Any]]] = {}
        for annotation in data.get("annotations") or []:
            per_image.setdefault(annotation.get("image_id"), []).append(annotation)
        for image in data["images"]:
            located = locate_image(file, image, split, root, include, exclude, problems, by_name)
            if located is None:
                continue
            found, case_id, size = located
            target = mask_file(cache, case_id)
            if not target.is_file():
                if size is None:
                    problems.append(f"{file}: the size of {found} is neither in the JSON nor in its header")
                    continue
                write_mask(target, draw_label_map(size, _objects(per_image.get(image.get("id"), []), value_of, file)))
            cases.append(SegCase(case_id=case_id, image=found, mask=target, split=split))
    if problems:
        raise problems_error(path, problems, "annotation problem(s)")
    if cases and any(c.split for c in cases) and not all(c.split for c in cases):
        logger.warning("%s: some COCO files name no split; the data's own split is not used", path)
        cases = [SegCase(c.case_id, c.image, c.mask) for c in cases]
    logger.info("%s: %d COCO segmentation mask(s) drawn or reused in %s", path, len(cases), cache)
    return SegmentationDataset(
        name=dataset_name(root),
        root=root,
        source="coco",
        cases=cases,
        value_names={0: "background", **{i + 1: name for i, name in enumerate(names)}},
    )
