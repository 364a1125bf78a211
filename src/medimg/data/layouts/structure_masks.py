"""Several mask files per case, in a folder per case, composed into one label map when the case is read.

* One binary mask per structure (TotalSegmentator's and AbdomenAtlas' ``<case>/ct.nii.gz`` +
  ``<case>/segmentations/liver.nii.gz``, ``spleen.nii.gz``...): the case folder holds its image and a structure
  folder (``segmentations/`` or ``structures/``) of files named for their structures. The structures are the
  classes: ``0`` background, ``k`` the ``k``-th structure name in alphabetical order over the whole set; where two
  overlap the later name wins, and a case without a file for a structure has none of it. ``--include``/``--exclude``
  patterns choose structures by file or structure name (``--include liver --include spleen``: a set of 117
  structures trained on two), never the images.
* One binary mask per object (the 2018 Data Science Bowl's nuclei: ``<id>/images/<id>.png`` + ``<id>/masks/*.png``,
  one file per nucleus): the objects are one class, their union the foreground.

The composition is :func:`medimg.data.dataset.read_case_mask`'s (:attr:`~medimg.data.case.SegCase.structures`).
Splits come from split folders (``train/<case>/...``) or from a table beside the cases naming each case and its
split (TotalSegmentator's ``meta.csv``: ``image_id;...;split``).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Container
from dataclasses import replace
from pathlib import Path

from medimg.data.case import SegCase, normalise_split, split_in_name
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import (
    MANIFEST_SUFFIXES,
    file_stem,
    image_files_in,
    manifest_delimiter,
    name_selected,
    sub_folders,
    text_encoding,
)
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

#: names of the folder of a case that holds its per-structure masks
STRUCTURE_FOLDERS = frozenset({"segmentations", "structures"})
#: the folders of a case folder of objects: its one image, and one mask per object (the Data Science Bowl's)
OBJECT_IMAGES, OBJECT_MASKS = "images", "masks"
#: words of a file beside the image that is an annotation, not the image (AbdomenAtlas' ``combined_labels.nii.gz``)
ANNOTATION_WORDS = ("label", "mask", "seg", "structure")
#: names the image of a case folder may have, preferred when a case folder holds several images
IMAGE_NAMES = ("ct", "image", "img", "imaging", "mr", "mri", "volume", "scan")
#: one annotator's mask of one instance of a structure (KiTS21's
#: ``segmentations/kidney_instance-1_annotation-1.nii.gz``, KiTS23's ``instances/``): raw annotations that the
#: case's own label map combines, not structures to train
ANNOTATOR_INSTANCE = re.compile(r"^[a-z0-9]+_instance-\d+_annotation-\d+$", re.IGNORECASE)
#: columns of a case table naming the case, and its split
ID_COLUMNS = ("image_id", "case_id", "case", "id", "subject", "patient_id")
#: how many case folders :func:`detect` looks at (each must be one), among how many entries of a folder
DETECT_SAMPLE = 10
DETECT_ENTRIES = 2000


def _image_of(folder: Path, limit: int | None = None) -> Path | None:
    """The image of a case folder: its one image file that is not an annotation, or the one named like an image."""
    images = [p for p in image_files_in(folder, limit) if not any(w in p.name.lower() for w in ANNOTATION_WORDS)]
    if len(images) == 1:
        return images[0]
    named = [p for p in images if file_stem(p).lower() in IMAGE_NAMES]
    return named[0] if len(named) == 1 else None


def _structure_folder(folder: Path) -> Path | None:
    """The case folder's folder of structure masks; not one of annotators' instance masks (KiTS21's
    ``segmentations/``, read by :mod:`.image_mask_pairs` with the case's ``aggregated_MAJ_seg`` label map)."""
    found = next((d for d in sub_folders(folder, DETECT_ENTRIES) if d.name.lower() in STRUCTURE_FOLDERS), None)
    if found is None:
        return None
    masks = image_files_in(found, DETECT_SAMPLE)
    return None if masks and all(ANNOTATOR_INSTANCE.match(file_stem(m)) for m in masks) else found


def _object_case(folder: Path, limit: int | None = None) -> tuple[Path, Path] | None:
    """``(image, masks folder)`` of a case folder of the Data Science Bowl's shape (``images/`` holding its one
    image, ``masks/`` one file per object; without ``masks/`` in a test split, ``stage1_test/<id>/images/``: an
    image without masks), else ``None``."""
    if image_files_in(folder, limit):
        return None
    images, masks = folder / OBJECT_IMAGES, folder / OBJECT_MASKS
    if not (images.is_dir() and (masks.is_dir() or split_in_name(folder.parent.name, "last") == "test")):
        return None
    found = image_files_in(images, limit)
    return (found[0], masks) if len(found) == 1 else None


def is_case_mask(path: Path, image_folders: Container[Path]) -> bool:
    """Whether ``path`` is a mask file of a case folder of either kind whose image lies in one of ``image_folders``
    (``<case>/segmentations/liver.nii.gz`` beside ``<case>/ct.nii.gz``; ``<id>/masks/<object>.png`` beside
    ``<id>/images/<id>.png``): what ``predict`` on such folders leaves out."""
    folder, case = path.parent.name.lower(), path.parent.parent
    if folder in STRUCTURE_FOLDERS:
        return case in image_folders
    return folder == OBJECT_MASKS and case / OBJECT_IMAGES in image_folders


def _case(folder: Path, limit: int | None = None) -> tuple[Path, Path, bool] | None:
    """``(image, mask folder, per structure)`` of a case folder of either kind (see the module docstring)."""
    structures = _structure_folder(folder)
    if structures is not None and (image := _image_of(folder, limit)) is not None:
        return image, structures, True
    objects = _object_case(folder, limit)
    return (*objects, False) if objects is not None else None


def _is_case(folder: Path) -> bool:
    return _case(folder, 50) is not None


def _case_parents(root: Path) -> list[tuple[Path, str | None]]:
    """The folders holding the case folders, with their split: the split folders, else ``root`` (or the one folder
    an archive wraps the set in). Looks at the first :data:`DETECT_ENTRIES` entries of each folder only."""
    subdirs = sub_folders(root, DETECT_ENTRIES)
    split_of = {d: split_in_name(d.name, "last") for d in subdirs}
    splits: list[tuple[Path, str | None]] = [(d, split) for d, split in split_of.items() if split is not None]
    if splits:
        return splits
    if len(subdirs) == 1 and not _is_case(subdirs[0]):
        return _case_parents(subdirs[0])
    return [(root, None)]


def detect(path: Path) -> bool:
    """True for a folder of case folders (directly or in split folders), each of the first
    :data:`DETECT_SAMPLE` of each split holding one image and a folder of masks, one of them mask files (names
    only)."""
    if not path.is_dir():
        return False
    folders = [d for parent, _ in _case_parents(path) for d in sub_folders(parent, DETECT_ENTRIES)[:DETECT_SAMPLE]]
    cases = [_case(d, 50) for d in folders]
    if not cases or any(case is None for case in cases):
        return False
    return any(case[1].is_dir() and image_files_in(case[1], 50) for case in cases if case is not None)


def _selected(mask: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Whether a pattern keeps the structure ``mask``: matched against its file name or its structure name."""
    return names_selected((mask.name, file_stem(mask)), include, exclude)


def names_selected(names: tuple[str, ...], include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Whether the patterns keep a structure's mask of these ``names`` (its file name, its structure): an
    ``include`` pattern matching one of them (or none given), and no ``exclude`` pattern matching any."""
    if include and not any(name_selected(name, include, ()) for name in names):
        return False
    return all(name_selected(name, (), exclude) for name in names)


def _table_splits(root: Path) -> dict[str, str]:
    """``case -> split`` from a table in ``root`` with a case column and a ``split`` column (TotalSegmentator's
    ``meta.csv``); empty without one."""
    for table in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES):
        with table.open(encoding=text_encoding(table), errors="replace", newline="") as handle:
            rows = csv.DictReader(handle, delimiter=manifest_delimiter(table))
            columns = {name.strip().lower(): name for name in rows.fieldnames or []}
            id_column = next((columns[c] for c in ID_COLUMNS if c in columns), None)
            if id_column is None or "split" not in columns:
                continue
            found = {(row.get(id_column) or "").strip(): normalise_split(row.get(columns["split"])) for row in rows}
        return {case: split for case, split in found.items() if case and split}
    return {}


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """The case folders under ``path`` with their mask files; reads no pixels.

    Args:
        include: structure file-name patterns to keep (all when empty; object masks are all kept).
        exclude: structure file-name patterns to leave out.

    Raises:
        DatasetError: no case folder, no structure left by the patterns, or both kinds of case folder in one set.
            The message names the fix.
    """
    root = path
    found: list[tuple[str, Path, list[Path], str | None]] = []
    left_out: list[str] = []
    kinds: set[bool] = set()
    parents = _case_parents(root)
    places = dict.fromkeys([root, *(parent for parent, _ in parents)])  # the top, then beside the case folders
    listed = next(filter(None, map(_table_splits, places)), {})
    for parent, split in parents:
        for folder in sub_folders(parent):
            case = _case(folder)
            if case is None:
                left_out.append(folder.relative_to(root).as_posix())
                continue
            image, mask_folder, per_structure = case
            kinds.add(per_structure)
            in_folder = image_files_in(mask_folder) if mask_folder.is_dir() else []
            masks = [m for m in in_folder if not per_structure or _selected(m, include, exclude)]
            found.append((folder.relative_to(root).as_posix(), image, masks, split or listed.get(folder.name)))
    if len(kinds) > 1:
        raise DatasetError(
            f"{root} mixes case folders with a 'segmentations' folder (one mask per structure) and case folders "
            "with 'images' + 'masks' folders (one mask per object): keep one kind per dataset"
        )
    per_structure = kinds == {True}
    names = sorted({file_stem(m) for _, _, masks, _ in found for m in masks}) if per_structure else []
    if not any(masks for _, _, masks, _ in found):
        raise DatasetError(
            f"no masks found in the case folders of {root}: each case folder needs its image and a 'segmentations' "
            "folder of one mask file per structure (or 'images' + 'masks' folders); check --include/--exclude"
        )
    value_of = {name: k + 1 for k, name in enumerate(names)}
    cases: list[SegCase] = []
    unlabelled: list[str] = []
    for case_id, image, masks, split in found:
        if not masks:
            unlabelled.append(image.relative_to(root).as_posix())
            continue
        files = tuple((value_of[file_stem(m)] if per_structure else 1, m) for m in masks)
        cases.append(SegCase(case_id, image, masks[0], split=split, structures=files))
    if left_out:
        logger.warning(
            "%s: %d folder(s) without one image and a folder of masks left out (e.g. %s)",
            root,
            len(left_out),
            left_out[0],
        )
    what = f"{len(names)} structure(s)" if per_structure else "one mask per object"
    logger.info("%s: %d case(s), %s composed into label maps", root, len(cases), what)
    return structure_dataset(root, cases, names if per_structure else None, unlabelled)


def structure_dataset(
    root: Path,
    cases: list[SegCase],
    names: list[str] | None,
    unlabelled: list[str],
    unpaired: list[str] | None = None,
) -> SegmentationDataset:
    """The dataset of cases whose :attr:`~medimg.data.case.SegCase.structures` are composed on read: ``names`` the
    structures of values ``1..K`` (``None``: unnamed objects); a split only when every case has one."""
    if cases and not all(c.split for c in cases):
        cases = [replace(c, split=None) for c in cases]  # a partial split is no split of the whole
    named = {0: "background", **{k + 1: name for k, name in enumerate(names)}} if names is not None else {}
    return SegmentationDataset(
        name=dataset_name(root),
        root=root,
        source="folder",
        cases=cases,
        unlabelled=unlabelled,
        unpaired=unpaired or [],
        value_names=named,
    )
