"""One folder of masks per structure, beside the images: IDRiD's ``1. Original Images/a. Training Set/IDRiD_01.jpg``
+ ``2. All Segmentation Groundtruths/a. Training Set/1. Microaneurysms/IDRiD_01_MA.tif``, ``2. Haemorrhages/``...,
and JSRT's SCR masks (``masks/heart/JPCLN001.gif``, ``masks/left lung/``...).

A ground-truth folder (named for masks, labels, annotations or ground truth) holds one sub-folder per structure,
directly or inside split folders; each structure folder holds masks named for their images, optionally with a code
after the image's name (IDRiD's ``_MA``). The structures are the classes (``0`` background, ``k`` the
``k``-th structure name in alphabetical order, the folder's numbering left out: ``Microaneurysms``); an image's
masks are composed into one label map when it is read (:func:`medimg.data.dataset.read_case_mask`; where two
overlap, the later name wins), and an image without a mask for a structure has none of it. Sub-folders named as
masks themselves (Montgomery's ``ManualMask/leftMask/`` + ``rightMask/``: parts of one lung mask) are not
structures: the image/mask pairs read them. Splits come from the folder names (``a. Training Set``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medimg.data.case import ENUMERATION, SegCase, normalise_split
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts.common import file_stem, image_files_in, path_selected, split_of, sub_folders
from medimg.data.layouts.structure_masks import structure_dataset
from medimg.errors import DatasetError
from medimg.io.folder_walk import walk_tree
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix, in_system_folder

logger = logging.getLogger(__name__)

#: words of a ground-truth folder's name
TRUTH_WORDS = ("groundtruth", "ground truth", "ground_truth", "masks", "labels", "annotations", "segmentations")
#: a structure folder's own name that says it holds parts of one mask instead (Montgomery's ``leftMask``)
MASK_WORDS = ("mask", "label", "seg")
#: a structure's code after the image's name in a mask's name (IDRiD's ``IDRiD_01_MA.tif`` for ``IDRiD_01.jpg``)
CODE = re.compile(r"[-_ ][a-z0-9]{1,12}$")
DETECT_DEPTH = 3
DETECT_ENTRIES = 200


def clean_name(name: str) -> str:
    """A folder's name without its enumeration: ``1. Microaneurysms`` -> ``Microaneurysms``."""
    return ENUMERATION.sub("", name).strip()


def _is_truth_folder(folder: Path) -> bool:
    name = folder.name.lower()
    # DDR's lesion_segmentation/train/label/{EX,HE,MA,SE}/: "label" as a word (not AROI's images in raw/labeled/)
    return any(word in name for word in TRUTH_WORDS) or "label" in re.split(r"[^a-z]+", name)


def _structure_folders(truth: Path, limit: int | None = DETECT_ENTRIES) -> list[tuple[Path, str | None]]:
    """``(structure folder, split)`` under a ground-truth folder: its sub-folders holding masks, directly or
    inside split folders; none when fewer than two structures (or any named as a mask: parts of one mask)."""
    found: list[tuple[Path, str | None]] = []
    for sub in sub_folders(truth, limit):
        split = normalise_split(sub.name)
        for folder in sub_folders(sub, limit) if split else [sub]:
            if image_files_in(folder, 20):
                found.append((folder, split))
    names = {clean_name(folder.name).lower() for folder, _ in found}
    if len(names) < 2 or any(word in name for name in names for word in MASK_WORDS):
        return []
    return found if _shared_images(found, limit) else []


def _shared_images(found: list[tuple[Path, str | None]], limit: int | None) -> bool:
    """Whether some image has masks in two of the ``found`` folders (by name, a structure's code left out): the
    structures of IDRiD and JSRT annotate the same images; folders of different images are partitions of one mask
    set (REFUGE's ``Disc_Cup_Masks/Glaucoma/`` and ``Non-Glaucoma/``, mirroring its image folders), not
    structures."""
    seen: dict[str, Path] = {}
    for folder, _ in found:
        for mask in image_files_in(folder, limit):
            stem = file_stem(mask).lower()
            for key in {stem, CODE.sub("", stem)}:
                if seen.setdefault(key, folder) != folder:
                    return True
    return False


def truth_folders(root: Path) -> list[Path]:
    """The ground-truth folders of structure folders under ``root`` (at most three levels down)."""
    level, found = [root], []
    for _ in range(DETECT_DEPTH):
        deeper = []
        for folder in level:
            for sub in sub_folders(folder, DETECT_ENTRIES):
                if _is_truth_folder(sub) and _structure_folders(sub):
                    found.append(sub)
                else:
                    deeper.append(sub)
        level = deeper
    return found


def detect(path: Path) -> bool:
    """True for a folder holding a ground-truth folder of at least two structure folders of masks (names only)."""
    return path.is_dir() and bool(truth_folders(path))


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """The images under ``path`` (outside its ground-truth folders) with their structure masks; reads no pixels.

    Args:
        include, exclude: file-name patterns an image (not a mask) must match / must not match.

    Raises:
        DatasetError: no ground-truth folder of structures, or no mask names an image.
    """
    root = path
    truths = truth_folders(root)
    if not truths:
        raise DatasetError(f"{root}: no ground-truth folder with one sub-folder of masks per structure")
    images: dict[str, list[Path]] = {}
    for image in sorted(walk_tree(root)):
        if file_suffix(image) not in IMAGE_SUFFIXES or not image.is_file() or in_system_folder(image, root):
            continue
        if any(truth in image.parents for truth in truths) or not path_selected(image, include, exclude, root):
            continue
        images.setdefault(file_stem(image).lower(), []).append(image)
    masks: dict[Path, list[tuple[str, Path]]] = {}
    unpaired: list[str] = []
    for truth in truths:
        for folder, split in _structure_folders(truth, None):
            for mask in image_files_in(folder):
                stem = file_stem(mask).lower()
                candidates = images.get(stem) or images.get(CODE.sub("", stem), [])
                same_split = [i for i in candidates if split is None or split_of(root, i) == split]
                if not (same_split or candidates):
                    unpaired.append(mask.relative_to(root).as_posix())
                    continue
                masks.setdefault((same_split or candidates)[0], []).append((clean_name(folder.name), mask))
    if not masks:
        raise DatasetError(
            f"no mask in the structure folders of {root} is named for an image (e.g. "
            f"{unpaired[0] if unpaired else '-'}): name each mask like its image, optionally with a code after it"
        )
    names = sorted({name for found in masks.values() for name, _ in found})
    value_of = {name: k + 1 for k, name in enumerate(names)}
    cases = []
    for image, found in sorted(masks.items()):
        files = tuple(sorted((value_of[name], mask) for name, mask in found))
        split = split_of(root, image)
        cases.append(SegCase(image.relative_to(root).as_posix(), image, files[0][1], split=split, structures=files))
    paired = set(masks)
    unlabelled = sorted(p.relative_to(root).as_posix() for ps in images.values() for p in ps if p not in paired)
    if unpaired:
        logger.warning("%s: %d mask(s) name no image (e.g. %s)", root, len(unpaired), unpaired[0])
    logger.info("%s: %d image(s), %d structure folder(s) composed into label maps", root, len(cases), len(names))
    if unlabelled:  # DDR's DR_grading/ beside its lesion_segmentation/: said, not silently left out
        from medimg.data.layouts.image_mask_pairs import say_images_without_masks

        say_images_without_masks(unlabelled, len(cases), root)
    return structure_dataset(root, cases, names, unlabelled, unpaired)
