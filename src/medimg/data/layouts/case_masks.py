"""Case folders each holding one mask at the top and the case's scans in a sub-folder (MICCAI WMH 2017), or the
mask as the consensus of a mask folder (MSSEG-2016's ``Patient_01/Masks/Consensus.nii.gz`` beside each reader's
``ManualSegmentation_N`` and ``Brain_Mask``, its scans in ``Preprocessed_Data/`` and ``Raw_Data/``).

WMH 2017 ships ``training/Utrecht/0/wmh.nii.gz`` (the mask: 1 white matter hyperintensity, 2 other pathology)
beside ``pre/FLAIR.nii.gz`` and ``pre/T1.nii.gz`` (registered to the FLAIR) and ``orig/`` (the scans as acquired,
some on other grids). A case folder here is one whose only NIfTI file at the top is the mask, with sub-folders of
NIfTI scans; the mask's name is the same in every case folder (two at least). The case's image is the scan of one
sub-folder on the mask's grid (the shape in its header), and that sub-folder's other scans on the grid are further
channels, in name order: the sub-folder with the most scans on the grid, ``pre``/``preprocessed`` on a tie. Only
the kinds of scan every case has are kept, so every case has the same channels. The case folder is the patient; a
split comes from ``training``/``test`` folders above it. Read as class folders, the sites were the classes.

TotalSegmentator's ``s0000/ct.nii.gz`` + ``segmentations/`` is the other way round (its sub-folder is a mask role):
it is not a case folder here, and ``structure_masks`` reads it.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from pathlib import Path

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.cine_frames import NIFTI_SUFFIXES, nifti_grid
from medimg.data.layouts.common import path_selected, split_of, sub_folders
from medimg.data.layouts.image_mask_pairs import folder_role
from medimg.errors import DatasetError
from medimg.io.formats import file_suffix

logger = logging.getLogger(__name__)

#: folders looked into when detecting (breadth first), and how deep below the path a case folder may be
DETECT_FOLDERS = 120
DETECT_DEPTH = 4
#: a case folder's entries at its top (its mask, a few sub-folders and documents) are at most this many
CASE_ENTRIES = 32
#: sub-folder names preferred on a tie (a word of the name: MSSEG-2016's ``Preprocessed_Data/``)
PREPROCESSED = ("pre", "preprocessed", "processed", "registered")
#: the file in a case's mask folder that is its reference, beside each reader's (MSSEG-2016's ``Masks/Consensus``)
CONSENSUS_NAMES = ("consensus", "reference", "ground_truth", "groundtruth")


def _niftis(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if file_suffix(p) in NIFTI_SUFFIXES and p.is_file())
    except OSError:
        return []


def _case_mask(folder: Path) -> Path | None:
    """The mask of a case folder: its one NIfTI file at the top, with sub-folders of NIfTI scans none of which is
    named for masks; ``None`` for any other folder (one of more than :data:`CASE_ENTRIES` entries at once: a class
    folder of thousands of images costs one short listing, not a look at each file)."""
    try:
        entries = list(itertools.islice(folder.iterdir(), CASE_ENTRIES + 1))
    except OSError:
        return None
    top = [p for p in entries if file_suffix(p) in NIFTI_SUFFIXES]
    if len(entries) > CASE_ENTRIES:
        return None
    masks = [d for d in sub_folders(folder, 20) if folder_role(d.name) == "mask"]
    if not top and len(masks) == 1:  # MSSEG-2016's Patient_01/Masks/Consensus.nii.gz beside its readers' masks
        top = [p for p in _niftis(masks[0]) if p.name.split(".")[0].lower() in CONSENSUS_NAMES]
    if len(top) != 1 or not top[0].is_file():
        return None
    scans = [d for d in sub_folders(folder, 20) if _niftis(d) and d not in masks]
    if not scans or any(folder_role(d.name) is not None for d in scans):
        return None
    return top[0]


def _case_folders(root: Path, limit: int | None = None) -> list[tuple[Path, Path]]:
    """(case folder, mask) under ``root``, breadth first, at most ``limit`` folders looked into."""
    found: list[tuple[Path, Path]] = []
    level, seen = [root], 0
    for _ in range(DETECT_DEPTH + 1):
        below: list[Path] = []
        for folder in level:
            seen += 1
            if limit is not None and seen > limit:
                return found
            mask = _case_mask(folder) if folder != root else None
            if mask is not None:
                found.append((folder, mask))
            else:
                below.extend(sub_folders(folder))
        level = below
    return found


def detect(path: Path) -> bool:
    """A folder with two case folders at least, each holding one NIfTI file of the same name at the top and NIfTI
    scans in a sub-folder (names and listings only)."""
    if not path.is_dir():
        return False
    cases = _case_folders(path, DETECT_FOLDERS)
    return len(cases) >= 2 and len({mask.name.lower() for _, mask in cases}) == 1


def _scans_on_grid(folder: Path, mask: Path) -> dict[str, list[Path]]:
    """The case's scans on the mask's grid, by sub-folder name."""
    grid = nifti_grid(mask)
    scans = [d for d in sub_folders(folder) if folder_role(d.name) != "mask"]  # not the readers' masks beside it
    on_grid = {d.name: [f for f in _niftis(d) if nifti_grid(f) == grid] for d in scans}
    return {name: files for name, files in on_grid.items() if files}


def _chosen_folder(counts: Counter[str]) -> str:
    """The sub-folder with the most scans on the grid; a preprocessed one on a tie, else the first by name."""
    best = max(counts.values())
    tied = sorted(name for name, n in counts.items() if n == best)
    return next((name for name in tied if set(re.split(r"[^a-z]+", name.lower())) & set(PREPROCESSED)), tied[0])


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """One case per case folder: its mask, the scans of one sub-folder on the mask's grid as image and channels
    (see the module docstring).

    Raises:
        DatasetError: no case folder has a scan on its mask's grid, or the cases have no kind of scan in common.
    """
    root = path
    found = [
        (folder, mask, _scans_on_grid(folder, mask))
        for folder, mask in _case_folders(root)
        if path_selected(mask, include, exclude, root)
    ]
    found = [(folder, mask, scans) for folder, mask, scans in found if scans]
    if not found:
        raise DatasetError(
            f"{root}: no case folder has a scan on its mask's grid (the same shape as the one NIfTI file at its "
            "top): unpack the scans beside the masks, or list image,mask pairs in a CSV manifest"
        )
    counts: Counter[str] = Counter()
    for _, _, scans in found:
        counts.update({name: len(files) for name, files in scans.items()})
    chosen = _chosen_folder(counts)
    kinds = sorted(set.intersection(*({f.name for f in scans.get(chosen, [])} for _, _, scans in found)), key=str.lower)
    if not kinds:
        raise DatasetError(
            f"{root}: no scan in {chosen}/ is on the mask's grid in every case folder (e.g. {found[0][0]}): every "
            "case needs the same channels; leave the odd cases out with --exclude, or list image,mask pairs in a CSV "
            "manifest"
        )
    cases = []
    for folder, mask, _ in found:
        files = [folder / chosen / kind for kind in kinds]  # found on the grid in every case: there
        case_id = folder.relative_to(root).as_posix()
        split = split_of(root, folder)
        cases.append(SegCase(case_id, files[0], mask, patient_id=case_id, split=split, channels=tuple(files[1:])))
    left_out = sorted({name for _, _, scans in found for name in scans} - {chosen})
    logger.info(
        "%s: %d case folders, each with its %s mask on the %s scan%s in %s/%s",
        root,
        len(cases),
        found[0][1].name,
        " + ".join(k.split(".")[0] for k in kinds),
        "s (one channel each)" if len(kinds) > 1 else "",
        chosen,
        f"; the scans on its grid in {', '.join(f'{n}/' for n in left_out)} left out" if left_out else "",
    )
    return SegmentationDataset(name=dataset_name(root), root=root, source="case_masks", cases=cases)
