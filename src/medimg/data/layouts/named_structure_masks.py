"""One binary mask per structure in one folder of masks, each named for its image and its structure, composed into
one label map when the case is read.

EDD2020 (``originalImages/EDD2020_ACB0001.jpg`` + ``masks/EDD2020_ACB0001_BE.tif``, ``..._suspicious.tif``: a mask
for each class the image shows) and ISIC 2018's lesion attributes (``ISIC2018_Task1-2_Training_Input/
ISIC_0000000.jpg`` + ``ISIC2018_Task2_Training_GroundTruth_v3/ISIC_0000000_attribute_globules.png``, one per
attribute). Paired by name alone, one mask of each image became a binary "foreground" and the others were reported
as masks without an image: the classes were merged and some lost, with a Dice on the rest.

The structures are the names after the image's (a word every one of them starts with, ISIC's ``attribute``,
dropped), value ``k`` the ``k``-th in alphabetical order; where two overlap the later name wins, as for
:mod:`.structure_masks` (whose cases and dataset these are). An image without a mask of its own is unlabelled.
Names after the image's that number annotators or objects (``_1``, ``_expert2``: SegPC's cells, MoNuSeg's
observers) are no structures: such folders are not read here.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Collection
from pathlib import Path

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts.common import file_stem, image_files_in, sub_folders
from medimg.data.layouts.image_mask_pairs import folder_role
from medimg.data.layouts.structure_masks import names_selected, structure_dataset
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

#: the most structures one folder of named masks holds (more: names of images or objects, not of structures)
MAX_STRUCTURES = 30
#: how many masks :func:`detect` looks at
DETECT_SAMPLE = 400
#: the most image files :func:`detect` lists to match names against
DETECT_IMAGES = 50_000
#: a name after the image's that numbers an annotator, an observer or an object, not a structure
_NUMBERED = re.compile(r"\d$|expert|annotator|rater|observer|reader|manual", re.IGNORECASE)
#: the separators between an image's name and its structure's
_SEPARATORS = "_-"


def _folders(path: Path) -> tuple[list[Path], Path] | None:
    """The image folders and the one folder of masks directly in ``path``, or ``None``."""
    if not path.is_dir():
        return None
    folders = sub_folders(path)
    masks = [d for d in folders if folder_role(d.name) == "mask"]
    images = [d for d in folders if folder_role(d.name) is None and image_files_in(d, 20)]
    return (images, masks[0]) if len(masks) == 1 and images else None


def _files(folder: Path, limit: int | None = None) -> list[Path]:
    return [p for p in image_files_in(folder, limit) if not p.name.startswith("._")]


def structure_of(mask_stem: str, image_stems: Collection[str]) -> tuple[str, str] | None:
    """``(image stem, structure)`` of a mask named ``<image>_<structure>`` (the longest image name that fits, a
    structure name after it)."""
    for end in range(len(mask_stem) - 2, 0, -1):
        if mask_stem[end] in _SEPARATORS and mask_stem[:end] in image_stems:
            return mask_stem[:end], mask_stem[end + 1 :]
    return None


def _common_word(structures: list[str]) -> str:
    """The word every structure name starts with (ISIC's ``attribute_``), to drop; empty when none."""
    first = {re.split(r"[_-]", s, maxsplit=1)[0] for s in structures}
    word = next(iter(first)) if len(first) == 1 else ""
    return f"{word}_" if word and all(s.startswith(f"{word}_") or s.startswith(f"{word}-") for s in structures) else ""


def _named(masks: list[Path], image_stems: set[str]) -> dict[Path, tuple[str, str]]:
    """Each mask named for an image and a structure, with both (the structure without a word all share)."""
    found = {m: s for m in masks if (s := structure_of(file_stem(m), image_stems)) is not None}
    drop = _common_word([structure for _, structure in found.values()])
    return {m: (stem, structure[len(drop) :]) for m, (stem, structure) in found.items()}


def _are_structures(named: dict[Path, tuple[str, str]], masks: int) -> bool:
    """Whether the names after the images' are a few structures, most masks named so, several images sharing them."""
    counts = Counter(structure.lower() for _, structure in named.values())
    shared = [name for name, count in counts.items() if count >= 2]
    return (
        len(named) >= 0.9 * masks
        and 2 <= len(counts) <= MAX_STRUCTURES
        and len(shared) >= 2
        and not any(_NUMBERED.search(name) for name in counts)
    )


def detect(path: Path) -> bool:
    """True for a folder holding image folders and one folder of masks named ``<image>_<structure>``, two or more
    structures among them (see the module doc)."""
    found = _folders(path)
    if found is None:
        return False
    images, mask_folder = found
    masks = _files(mask_folder, DETECT_SAMPLE)
    stems = {file_stem(p) for folder in images for p in _files(folder, DETECT_IMAGES)}
    return bool(masks) and _are_structures(_named(masks, stems), len(masks))


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """The images under ``path`` with their structures' masks; reads no pixels.

    Args:
        include: structure names or mask file-name patterns to keep (all when empty).
        exclude: structure names or mask file-name patterns to leave out.

    Raises:
        DatasetError: no folder of named masks, or no structure left by the patterns. The message names the fix.
    """
    found = _folders(path)
    if found is None:
        raise DatasetError(f"{path} holds no image folder beside one folder of masks named <image>_<structure>")
    image_folders, mask_folder = found
    image_of: dict[str, Path] = {}
    for folder in image_folders:
        for image in _files(folder):
            image_of.setdefault(file_stem(image), image)
    masks = _files(mask_folder)
    named = _named(masks, set(image_of))
    kept = {
        m: (stem, structure)
        for m, (stem, structure) in named.items()
        if names_selected((m.name, structure), include, exclude)
    }
    if not kept:
        raise DatasetError(f"no structure of {mask_folder} is left by --include/--exclude: check the patterns")
    names = sorted({structure for _, structure in kept.values()})
    value_of = {name: k + 1 for k, name in enumerate(names)}
    per_image: dict[str, list[Path]] = {}
    for mask, (stem, _) in sorted(kept.items()):
        per_image.setdefault(stem, []).append(mask)
    cases = [
        SegCase(
            image.relative_to(path).as_posix(),
            image,
            per_image[stem][0],
            structures=tuple((value_of[kept[m][1]], m) for m in per_image[stem]),
        )
        for stem, image in sorted(image_of.items())
        if stem in per_image
    ]
    unlabelled = [
        image.relative_to(path).as_posix() for stem, image in sorted(image_of.items()) if stem not in per_image
    ]
    unpaired = [m.relative_to(path).as_posix() for m in masks if m not in named]
    logger.info(
        "%s: one mask per structure in %s, named <image>_<structure>: %d image(s), %d structure(s) (%s) composed "
        "into label maps%s",
        path,
        mask_folder.name,
        len(cases),
        len(names),
        ", ".join(names),
        f"; {len(unlabelled)} image(s) without a mask are unlabelled (e.g. {unlabelled[0]})" if unlabelled else "",
    )
    return structure_dataset(path, cases, names, unlabelled, unpaired)
