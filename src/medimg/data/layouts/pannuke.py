"""PanNuke (Gamper et al. 2020), nuclei of 19 tissues, as it ships: per fold, ``Fold 1/images/fold1/images.npy``
(``N x 256 x 256 x 3`` RGB, stored as float) and ``Fold 1/masks/fold1/masks.npy`` (``N x 256 x 256 x 6``: one instance
map per nucleus type, Neoplastic, Inflammatory, Connective, Dead, Epithelial, then background), ``types.npy`` beside
the images (the tissue). Repacked copies with both arrays in one ``fold1/`` folder read the same way.

The arrays hold thousands of images, not files, so each image and its label map (``0`` background, ``k`` the
``k``-th nucleus type wherever its instance map is above 0) are written once as PNG files into the mask cache
(:mod:`.drawn_masks`, a few hundred MB for the whole set) and read from there. With the three folds present, the
first is training, the second validation and the third test (the first of the paper's three arrangements); with
fewer, medimg splits. The array headers are read by :func:`detect`; the pixels only by :func:`load`, fold by fold
(memory-mapped).

CoNIC 2022 (Graham et al.; Lizard's nuclei as 256 px patches) ships the same way in one folder: ``data/images.npy``
(``N x 256 x 256 x 3`` uint8) beside ``data/labels.npy`` (``N x 256 x 256 x 2``: the instance map, then the class of
each pixel, 0 background and 1..6 neutrophil, epithelial, lymphocyte, plasma, eosinophil, connective), with
``patch_info.csv`` naming each patch's source image (``consep_1-0000``: patches of ``consep_1`` are kept on one side of
the split). The class map is the label map; read as the pair of files, the patches were one volume and its instance
ids the classes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import walk_files
from medimg.data.layouts.drawn_masks import cache_folder, write_mask, write_png
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

NUCLEUS_TYPES = ("neoplastic", "inflammatory", "connective", "dead", "epithelial")
CONIC_TYPES = ("neutrophil", "epithelial", "lymphocyte", "plasma", "eosinophil", "connective")
DETECT_ENTRIES = 200
FOLD_NUMBER = re.compile(r"fold\s*_?(\d+)", re.IGNORECASE)
SPLIT_OF_FOLD = {1: "train", 2: "val", 3: "test"}


def _shape(array_file: Path) -> tuple[int, ...] | None:
    """The shape in an ``.npy`` file's header (no pixels read), ``None`` when it is not one."""
    try:
        return tuple(np.load(array_file, mmap_mode="r").shape)
    except (OSError, ValueError):
        return None


def _folds(root: Path, limit: int | None = DETECT_ENTRIES) -> list[tuple[int, Path, Path]]:
    """``(fold number, images.npy, masks.npy)`` under ``root``: the masks of a fold in the same folder as its images
    or under the fold's own top folder (``Fold 1/masks/fold1/``), with PanNuke's shapes."""
    files = walk_files(root, limit)
    masks = [f for f in files if f.name.lower() == "masks.npy"]
    folds = []
    for images in (f for f in files if f.name.lower() == "images.npy"):
        parts = images.relative_to(root).parts
        number = next((int(m.group(1)) for p in reversed(parts) if (m := FOLD_NUMBER.search(p))), 0)
        top = root / parts[0] if len(parts) > 1 else root
        mine = [m for m in masks if m.parent == images.parent] or [m for m in masks if top in m.parents and top != root]
        if len(mine) != 1:
            continue
        image_shape, mask_shape = _shape(images), _shape(mine[0])
        expected = (*image_shape[:3], len(NUCLEUS_TYPES) + 1) if image_shape else None
        if image_shape and len(image_shape) == 4 and image_shape[3] == 3 and mask_shape == expected:
            folds.append((number, images, mine[0]))
    return sorted(folds)


def _conic(root: Path, limit: int | None = DETECT_ENTRIES) -> tuple[Path, Path] | None:
    """CoNIC's ``(images.npy, labels.npy)`` side by side under ``root``, with its shapes (``N x H x W x 3`` and
    ``N x H x W x 2``); ``None`` when there are none."""
    files = walk_files(root, limit)
    for images in (f for f in files if f.name.lower() == "images.npy"):
        labels = next((f for f in files if f.parent == images.parent and f.name.lower() == "labels.npy"), None)
        image_shape, label_shape = _shape(images), _shape(labels) if labels is not None else None
        if labels is None or image_shape is None or len(image_shape) != 4 or image_shape[3] != 3:
            continue
        if label_shape == (*image_shape[:3], 2):
            return images, labels
    return None


def detect(path: Path) -> bool:
    """A folder holding PanNuke's ``images.npy`` and ``masks.npy`` of a fold, or CoNIC's ``images.npy`` and
    ``labels.npy`` (their headers)."""
    return path.is_dir() and (bool(_folds(path)) or _conic(path) is not None)


def _patch_sources(images_file: Path, count: int) -> list[str | None]:
    """Each CoNIC patch's source image from ``patch_info.csv`` beside the arrays (``consep_1-0000``: ``consep_1``),
    ``None`` each when the table is missing or has another number of rows."""
    import csv

    table = images_file.parent / "patch_info.csv"
    if not table.is_file():
        return [None] * count
    with table.open(newline="", encoding="utf-8-sig") as handle:
        cells = [row[0].strip() for row in csv.reader(handle) if row]
    names = cells[1:] if cells and not re.search(r"\d", cells[0]) else cells  # its header: patch_info
    if len(names) != count:
        logger.warning(
            "%s: %d rows for %d patches: not used to keep each image's patches together", table, len(names), count
        )
        return [None] * count
    return [re.sub(r"-\d+$", "", name) or None for name in names]


def _written_pairs(
    images: np.ndarray, label_map: Callable[[int], np.ndarray], folder: Path, what: str
) -> tuple[list[tuple[Path, Path]], int]:
    """Each image of ``images`` and its label map (``label_map(index)``) as PNG files in ``folder`` (written once:
    the last mask is written last), and how many were written now."""
    from tqdm.auto import tqdm

    folder.mkdir(exist_ok=True)
    pairs, written = [], 0
    pending = not (folder / f"{images.shape[0] - 1:05d}_mask.png").is_file()
    for index in tqdm(range(images.shape[0]), desc=f"writing {what}", disable=not pending, leave=False):
        image_path, mask_path = folder / f"{index:05d}.png", folder / f"{index:05d}_mask.png"
        if not mask_path.is_file():
            write_png(image_path, np.clip(np.rint(np.asarray(images[index], np.float32)), 0, 255).astype(np.uint8))
            write_mask(mask_path, label_map(index))
            written += 1
        pairs.append((image_path, mask_path))
    return pairs, written


def _load_conic(path: Path, images_file: Path, labels_file: Path) -> SegmentationDataset:
    """CoNIC's patches and class maps, written once as PNG files (cached), each patch's source image its patient."""
    images, labels = np.load(images_file, mmap_mode="r"), np.load(labels_file, mmap_mode="r")
    folder = cache_folder([images_file, labels_file]) / "conic"
    pairs, written = _written_pairs(
        images, lambda index: np.asarray(labels[index, :, :, 1]).astype(np.uint8), folder, "CoNIC patches"
    )
    if written:
        logger.info("%s: %d CoNIC patch(es) and class maps written to %s", path, written, folder)
    sources = _patch_sources(images_file, len(pairs))
    cases = [
        SegCase(f"conic/{index:05d}", image, mask, patient_id=source)
        for index, ((image, mask), source) in enumerate(zip(pairs, sources, strict=True))
    ]
    return _nuclei_dataset(path, cases, CONIC_TYPES)


def load(path: Path) -> SegmentationDataset:
    """PanNuke's folds (or CoNIC's patches), each image and label map written once as PNG files (cached).

    Raises:
        DatasetError: no fold's arrays are found, or the cache cannot be written.
    """
    folds = _folds(path, None)
    conic = None if folds else _conic(path, None)
    if conic is not None:
        return _load_conic(path, *conic)
    if not folds:
        raise DatasetError(
            f"{path} holds no PanNuke fold (images.npy of N x 256 x 256 x 3 with masks.npy of N x 256 x 256 x 6)"
        )
    numbers = [number for number, _, _ in folds]
    official = sorted(numbers) == [1, 2, 3]
    cache = cache_folder([file for _, images, masks in folds for file in (images, masks)])
    cases: list[SegCase] = []
    for number, images_file, masks_file in folds:
        images, masks = np.load(images_file, mmap_mode="r"), np.load(masks_file, mmap_mode="r")

        def label_map(index: int, masks: np.ndarray = masks) -> np.ndarray:
            labels = np.zeros(masks.shape[1:3], np.uint8)
            for value in range(len(NUCLEUS_TYPES)):
                labels[np.asarray(masks[index, :, :, value]) > 0] = value + 1
            return labels

        folder = cache / f"fold{number}"
        pairs, written = _written_pairs(images, label_map, folder, f"PanNuke fold {number}")
        split = SPLIT_OF_FOLD.get(number) if official else None
        cases += [
            SegCase(f"fold{number}/{index:05d}", image, mask, split=split) for index, (image, mask) in enumerate(pairs)
        ]
        if written:
            logger.info("%s: fold %d: %d image(s) and label maps written to %s", path, number, written, folder)
    if not official:
        logger.info("%s: folds %s, not PanNuke's three: medimg splits the images", path, numbers)
    return _nuclei_dataset(path, cases, NUCLEUS_TYPES)


def _nuclei_dataset(path: Path, cases: list[SegCase], types: tuple[str, ...]) -> SegmentationDataset:
    """The data set of ``cases`` whose label maps hold 0 for the background and ``k`` for the ``k``-th of ``types``."""
    return SegmentationDataset(
        name=dataset_name(path),
        root=path,
        source="pannuke",
        cases=cases,
        value_names={0: "background", **{k + 1: name for k, name in enumerate(types)}},
    )
