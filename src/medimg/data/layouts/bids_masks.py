"""BIDS data with its lesion masks: the scans in ``rawdata/`` (or ``sub-*`` folders at the top), each mask a BIDS file
of its subject (and session), in ``derivatives/`` or beside the scans.

ISLES 2022 ships ``rawdata/sub-strokecase0001/ses-0001/dwi/sub-strokecase0001_ses-0001_dwi.nii.gz`` (and ``_adc``),
``anat/..._FLAIR.nii.gz``, and ``derivatives/sub-strokecase0001/ses-0001/sub-strokecase0001_ses-0001_msk.nii.gz``;
ATLAS 2.0 keeps ``..._label-L_desc-T1lesion_mask.nii.gz`` beside its ``..._T1w.nii.gz``, its subjects in
``Training/<site>/`` and ``Testing/<site>/`` (the test scans without masks). A mask is a file whose
BIDS suffix (the last ``_`` part of its name) is ``msk``, ``mask``, ``dseg`` or ``seg``. Its image is the subject's
scan on the mask's grid (the same shape in its header), and the subject's other scans on that grid are further
channels, in name order (ISLES: ``adc``, then ``dwi``); scans on another grid (ISLES' FLAIR) are left out with one
note. Only the kinds of scan every case has are kept, so every case has the same channels. The subject is the
patient. Read as class folders, ``rawdata`` and ``derivatives`` were the classes.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.cine_frames import NIFTI_SUFFIXES, nifti_grid
from medimg.data.layouts.common import path_selected, sub_folders, walk_files
from medimg.errors import DatasetError
from medimg.io.formats import file_suffix

logger = logging.getLogger(__name__)

#: a BIDS file name's entities (``sub-01``, ``ses-1``) and suffix: ``sub-01_ses-1_dwi``
_ENTITY = re.compile(r"^([a-zA-Z]+)-([a-zA-Z0-9]+)$")
#: the BIDS suffixes of a mask
MASK_SUFFIXES = frozenset({"msk", "mask", "dseg", "seg"})
#: BIDS suffixes of maps a pipeline derived from the scans, neither scans nor masks to learn (fMRIPrep's
#: ``_label-GM_probseg``: as an input channel beside the T1w it gave the answer away)
DERIVED_SUFFIXES = frozenset({"probseg", "boldref", "xfm"})
#: the ``desc``/``label`` entities of a preprocessing pipeline's masks of the whole brain or head (fMRIPrep's
#: ``_desc-brain_mask``): a skull-stripping by-product, no lesion or structure a data set annotates
PIPELINE_MASKS = frozenset({"brain", "head", "aseg", "aparcaseg"})
DETECT_FILES = 400


def _parts(path: Path) -> tuple[dict[str, str], str] | None:
    """A BIDS file name's entities and suffix (``sub-01_ses-1_dwi.nii.gz`` -> ``{"sub": "01", "ses": "1"}``,
    ``"dwi"``); ``None`` for a NIfTI file not so named (or any other file)."""
    suffix = file_suffix(path)
    if suffix not in NIFTI_SUFFIXES:
        return None
    words = path.name[: -len(suffix)].split("_")
    entities: dict[str, str] = {m.group(1): m.group(2) for w in words[:-1] if (m := _ENTITY.match(w))}
    if "sub" not in entities or len(words) < 2 or _ENTITY.match(words[-1]):
        return None
    return {k.lower(): v for k, v in entities.items()}, words[-1].lower()


def _is_mask(path: Path) -> bool:
    parts = _parts(path)
    return parts is not None and parts[1] in MASK_SUFFIXES and not _pipeline_mask(parts[0])


def _pipeline_mask(entities: dict[str, str]) -> bool:
    """Whether a mask's entities name a pipeline's brain or head mask (``desc-brain``), not an annotation."""
    return bool({entities.get("desc", "").lower(), entities.get("label", "").lower()} & PIPELINE_MASKS)


#: how deep ``sub-*`` folders are looked for below the top: ATLAS 2.0's ``Training/R001/sub-r001s001/`` (a split,
#: then a site)
SUBJECT_DEPTH = 3


def _scan_folders(root: Path) -> list[Path]:
    """Where the scans are: ``rawdata/``, else the ``sub-*`` folders at the top, else the first level below it that
    holds some (ATLAS 2.0's ``Training/R001/sub-r001s001/``, by split and site)."""
    raw = root / "rawdata"
    if raw.is_dir():
        return [raw]
    level = [root]
    for _ in range(SUBJECT_DEPTH):
        folders = [p for parent in level for p in sub_folders(parent)]  # one listing of each folder
        subjects = [p for p in folders if p.name.startswith("sub-")]
        if subjects:
            return subjects
        level = folders[:100]
        if any(p.name == "derivatives" for p in level):  # its sub-* folders hold masks, not scans
            return []
    return []


def detect(path: Path) -> bool:
    """A folder with scan folders (``rawdata/`` or ``sub-*``) and a BIDS mask file among the first files of its
    ``derivatives/`` (or of its scan folders)."""
    if not path.is_dir():
        return False
    scans = _scan_folders(path)
    if not scans:
        return False
    derivatives = path / "derivatives"
    where = [derivatives] if derivatives.is_dir() else scans
    return any(_is_mask(f) for folder in where for f in walk_files(folder, DETECT_FILES))


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """One case per mask: the subject's scan on its grid, the other scans on that grid as channels (see the module
    docstring).

    Raises:
        DatasetError: no mask has a scan of its subject on its grid.
    """
    root = path
    scans: dict[tuple[str, str | None], list[tuple[str, Path]]] = defaultdict(list)
    masks: list[tuple[dict[str, str], Path]] = []
    folders = [*_scan_folders(root), *([root / "derivatives"] if (root / "derivatives").is_dir() else [])]
    for file in (f for folder in dict.fromkeys(folders) for f in walk_files(folder)):
        parts = _parts(file)
        if parts is None or not path_selected(file, include, exclude, root):
            continue
        entities, suffix = parts
        if suffix in MASK_SUFFIXES:
            if not _pipeline_mask(entities):
                masks.append((entities, file))
        elif suffix not in DERIVED_SUFFIXES:
            scans[(entities["sub"], entities.get("ses"))].append((suffix, file))
    found: list[tuple[str, Path, dict[str, Path]]] = []  # (subject, mask, scans on its grid by kind)
    other_grid: set[str] = set()
    for entities, mask in sorted(masks, key=lambda m: str(m[1])):
        grid = nifti_grid(mask)
        own = scans.get((entities["sub"], entities.get("ses")), []) or [
            s for (sub, _), kinds in scans.items() if sub == entities["sub"] for s in kinds
        ]
        same = {kind: file for kind, file in sorted(own, key=lambda s: str(s[1])) if nifti_grid(file) == grid}
        other_grid |= {kind for kind, _ in own if kind not in same}
        if same:
            found.append((entities["sub"], mask, same))
    if not found:
        raise DatasetError(
            f"{root}: none of its {len(masks)} BIDS mask(s) has a scan of its subject on its grid (the same shape) "
            "in rawdata/ or sub-*/: unpack the scans beside the masks, or list image,mask pairs in a CSV manifest"
        )
    kinds = sorted(set.intersection(*(set(scans_of) for _, _, scans_of in found)))
    if not kinds:
        shown = "; ".join(f"{mask.name}: {', '.join(scans_of)}" for _, mask, scans_of in found[:3])
        raise DatasetError(
            f"{root}: no kind of scan is on the grid of every BIDS mask ({shown}): every case needs the same "
            "channels; leave the masks of the odd cases out with --exclude, or list image,mask pairs in a CSV manifest"
        )
    dropped = sorted({k for _, _, scans_of in found for k in scans_of} - set(kinds))
    cases = []
    for subject, mask, scans_of in found:
        files = [scans_of[k] for k in kinds]
        case_id = files[0].relative_to(root).as_posix()
        cases.append(SegCase(case_id, files[0], mask, patient_id=f"sub-{subject}", channels=tuple(files[1:])))
    logger.info(
        "%s: %d BIDS masks, each on its subject's %s scan%s%s%s",
        root,
        len(cases),
        " + ".join(kinds),
        " (one channel each)" if len(kinds) > 1 else "",
        f"; {', '.join(sorted(other_grid - set(kinds)))} on another grid left out" if other_grid - set(kinds) else "",
        f"; {', '.join(dropped)} left out (not in every case)" if dropped else "",
    )
    for kind in dropped:  # a whole modality lost for every subject because some lack it: said loudly
        without = sorted(f"sub-{subject}" for subject, _, scans_of in found if kind not in scans_of)
        logger.warning(
            "%s: the %s scan is left out of every case because %d subject(s) lack it (e.g. %s): to train with it, "
            "leave those subjects out (--exclude 'sub-XX*' on their masks) or add their scans",
            root,
            kind,
            len(without),
            ", ".join(without[:3]),
        )
    return SegmentationDataset(name=dataset_name(root), root=root, source="bids", cases=cases)
