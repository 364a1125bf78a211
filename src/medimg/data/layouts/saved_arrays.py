"""Images saved with their label maps as arrays, one ``.npz`` or HDF5 file per slice or volume, as the segmentation
papers' preprocessing writes them:

- TransUNet's **Synapse** multi-organ CT (``train_npz/case0005_slice000.npz``: 2D slices, ``image`` + ``label``;
  ``test_vol_h5/case0001.npy.h5``: volumes; ``lists_Synapse/train.txt`` and ``test_vol.txt`` naming them), its
  eight organs named as the paper numbers them;
- SSL4MIS's **ACDC** (``data/slices/patient001_frame01_slice_1.h5`` for training, ``data/patient001_frame01.h5``
  volumes for validation and test, ``train_slices.list`` / ``val.list`` / ``test.list`` beside them), the right
  ventricle, myocardium and left ventricle named;
- the left atrium, pancreas and BraTS volumes of the semi-supervised papers (``<case>/mri_norm2.h5``...).

Each file holds an image array and a label array (:mod:`medimg.io.array_files` says which names are read). When a
set holds 2D slices and 3D volumes, the slices train and each volume is read section by section (2D cases, as
those papers evaluate; ``SegCase.page``), except a volume whose slices are there too (SSL4MIS keeps every volume
beside the training slices): it is left out, not read twice. Splits come from list files (``train*.txt``,
``test_vol.txt``, ``val.list``...; in the folder, its parent, or a ``lists*/`` folder in either) naming the files
without suffix, else from folder names (``train_npz/``, ``test_vol_h5/``), else medimg makes them. A slice's patient is
its volume (``case0005``), without ACDC's ``_frame01`` (both frames of a patient stay together).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from medimg.data.case import SegCase, normalise_split, split_in_name
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import problems_error, sub_folders, walk_files
from medimg.errors import DatasetError, ImageReadError
from medimg.io.formats import ARRAY_SUFFIXES

logger = logging.getLogger(__name__)

__all__ = ["detect", "load"]

DETECT_ENTRIES = 200
#: files whose arrays are looked at by :func:`detect`
DETECT_FILES = 3
LIST_SUFFIXES = (".txt", ".list")
SLICE_NAME = re.compile(r"^(?P<volume>.+?)[_-]?slice[_-]?(?P<index>\d+)$", re.IGNORECASE)
FRAME = re.compile(r"_frame\d+$", re.IGNORECASE)
#: TransUNet's Synapse labels (the eight organs it keeps of BTCV's thirteen)
SYNAPSE_ORGANS = ("aorta", "gallbladder", "left kidney", "right kidney", "liver", "pancreas", "spleen", "stomach")
#: ACDC's labels
ACDC_STRUCTURES = ("right ventricle", "myocardium", "left ventricle")


def _array_files(root: Path, limit: int | None = None) -> list[Path]:
    return [f for f in walk_files(root, limit) if f.suffix.lower() in ARRAY_SUFFIXES]


def _keys(file: Path) -> tuple[str, str | None] | None:
    """The file's image and label array names, ``None`` when it holds no image array or is unreadable."""
    from medimg.io.array_files import array_keys
    from medimg.io.formats import ARRAY_FILE_FORMATS, detect_format

    try:
        fmt = detect_format(file)
        return array_keys(file, fmt) if fmt in ARRAY_FILE_FORMATS else None
    except ImageReadError:
        return None


def detect(path: Path) -> bool:
    """A folder whose first array files (``.npz``, ``.h5``) each hold an image and a label array (their headers)."""
    if not path.is_dir():
        return False
    files = _array_files(path, DETECT_ENTRIES)[:DETECT_FILES]
    return bool(files) and all((keys := _keys(f)) is not None and keys[1] is not None for f in files)


@dataclass(frozen=True)
class _Entry:
    file: Path
    name: str  # the slice's or volume's name: the file name without suffixes (its folder's when names repeat)
    volume: str  # the volume a slice belongs to (a volume's own name)
    spatial: tuple[int, ...]


def _split_lists(root: Path) -> dict[str, str]:
    """``name -> split`` from the list files near ``root``: its own, its parent's, and those in a ``lists*`` folder
    (or one below it) of either, each named for a split by its first word (``test_vol.txt``, ``train_slices.list``)."""
    places = [root, root.parent]
    for place in list(places):
        for folder in sub_folders(place, DETECT_ENTRIES):
            if folder.name.lower().startswith("lists"):
                places += [folder, *sub_folders(folder, DETECT_ENTRIES)]
    splits: dict[str, str] = {}
    for place in places:
        try:
            lists = sorted(f for f in place.iterdir() if f.is_file() and f.suffix.lower() in LIST_SUFFIXES)
        except OSError:
            continue
        for file in lists:
            split = normalise_split(re.split(r"[\W_]+", file.stem)[0])
            if split is None:
                continue
            for line in file.read_text(errors="replace").splitlines():
                if line.strip():
                    splits.setdefault(Path(line.strip()).name.split(".")[0], split)
    return splits


def _folder_split(root: Path, file: Path) -> str | None:
    """The split the nearest folder named for one says, by its name or its first word (``train_npz``)."""
    for part in reversed(file.relative_to(root).parts[:-1]):
        split = split_in_name(part, "first")
        if split:
            return split
    return None


def _value_names(root: Path) -> dict[int, str]:
    """The labels' names for the sets whose numbering is known, by a folder's name: Synapse and ACDC."""
    words = {part.lower() for part in Path(os.path.abspath(root)).parts}
    if "synapse" in words:
        return {0: "background", **{k + 1: name for k, name in enumerate(SYNAPSE_ORGANS)}}
    if "acdc" in words:
        return {0: "background", **{k + 1: name for k, name in enumerate(ACDC_STRUCTURES)}}
    return {}


def _entries(path: Path) -> tuple[list[_Entry], list[str], list[str]]:
    """The labelled array files (name, volume, spatial shape), the unlabelled ones, and the unreadable ones."""
    from medimg.io.read import read_header

    files = _array_files(path)
    first_names = [f.name.split(".")[0] for f in files]
    repeated = {n for n in first_names if first_names.count(n) > 1}
    entries, unlabelled, problems = [], [], []
    for file, first in zip(files, first_names, strict=True):
        keys = _keys(file)
        if keys is None:
            problems.append(f"{file.relative_to(path)}: no image array can be read (run medimg check on it)")
            continue
        if keys[1] is None:
            unlabelled.append(str(file.relative_to(path)))
            continue
        try:
            header = read_header(file)
        except ImageReadError as error:
            problems.append(str(error))
            continue
        name = file.parent.name if first in repeated else first
        match = SLICE_NAME.match(name)
        volume = match["volume"] if match and len(header.spatial_shape) == 2 else name
        entries.append(_Entry(file, name, volume, tuple(header.spatial_shape)))
    return entries, unlabelled, problems


def load(path: Path) -> SegmentationDataset:
    """The image/label array files under ``path`` as segmentation cases (see the module doc).

    Raises:
        DatasetError: no labelled array file, or a file that cannot be read.
    """
    entries, unlabelled, problems = _entries(path)
    if problems:
        raise problems_error(path, problems, "array file problem(s)")
    if not entries:
        raise DatasetError(
            f"{path}: no .npz or HDF5 file holds both an image and a label array "
            f"({len(unlabelled)} hold an image only); name them 'image' and 'label'"
        )
    listed = _split_lists(path)
    slices = [e for e in entries if len(e.spatial) == 2]
    sliced = {e.volume for e in slices}
    volumes = [e for e in entries if len(e.spatial) == 3]
    cases, duplicates, sectioned = [], [], 0
    for entry in entries:
        rel = str(entry.file.relative_to(path))
        split = listed.get(entry.name) or listed.get(entry.volume) or _folder_split(path, entry.file)
        patient = FRAME.sub("", entry.volume)
        if len(entry.spatial) == 3 and slices:
            if entry.name in sliced:
                duplicates.append(rel)
                continue
            sectioned += 1
            cases += [
                SegCase(f"{rel}#{k + 1}", entry.file, entry.file, patient_id=patient, split=split, page=k)
                for k in range(entry.spatial[0])
            ]
            continue
        cases.append(SegCase(rel, entry.file, entry.file, patient_id=patient, split=split))
    if duplicates:
        logger.info(
            "%s: %d volume(s) whose slices are here too are left out (e.g. %s): their slices are read instead",
            path,
            len(duplicates),
            duplicates[0],
        )
    if sectioned:
        logger.info(
            "%s: %d volume(s) read section by section beside %d 2D slices, as 2D cases (a 2D model is trained and "
            "evaluated; the Dice is per section, not per volume)",
            path,
            sectioned,
            len(slices),
        )
    logger.info(
        "%s: %d array file(s) of image + label (%d slices, %d volumes), splits from %s",
        path,
        len(entries) - len(duplicates),
        len(slices),
        len(volumes) - len(duplicates),
        "list files" if listed else "folder names or medimg",
    )
    return SegmentationDataset(
        name=dataset_name(path),
        root=path,
        source="saved_arrays",
        cases=cases,
        unlabelled=unlabelled,
        value_names=_value_names(path),
    )
