"""Class folders that are cases: folders named for the videos, slides or patients that annotation files name.

Cholec80 as its frames are usually extracted: ``frames/video01/video01_000001.png``... beside
``phase_annotations/video01-phase.txt`` (each frame's surgical phase) and ``tool_annotations/video01-tool.txt``;
MITOS-ATYPIA-14: ``A03/frames/x20/A03_00A.tiff`` beside ``A03/mitosis/A03_00Aa_mitosis.csv``. Read as class
folders, a model learnt to tell the videos (slides) apart, status OK. When most of at least :data:`MIN_FOLDERS` class
folders have annotation files (text, CSV, JSON, XML) named for them, the folders are refused as cases.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Sequence
from pathlib import Path

from medimg.data.layouts.common import tables_in
from medimg.errors import DatasetError
from medimg.io.folder_walk import walk_tree
from medimg.io.formats import in_system_folder

#: suffixes of annotation files
ANNOTATION_SUFFIXES = frozenset({".txt", ".csv", ".tsv", ".json", ".xml"})
#: class folders needed, and the share of them annotation files must name
MIN_FOLDERS = 3
SHARE = 0.8
#: how many files are looked at
WALK = 20_000
_SEPARATOR = re.compile(r"[-_. ]")


def _prefixes(stem: str) -> set[str]:
    """A file name and each beginning of it that ends before a separator (``video01-phase`` -> ``video01``)."""
    return {stem[: m.start()] for m in _SEPARATOR.finditer(stem)} | {stem}


def refuse_cases_named_by_annotations(class_dirs: Sequence[Path], root: Path) -> None:
    """Refuse class folders that are cases (see the module's docstring).

    Raises:
        DatasetError: naming the folders, an annotation file and how to give the labels.
    """
    names = {d.name.lower(): d for d in class_dirs}
    if len(names) < MIN_FOLDERS:
        return
    named = _annotations_naming(names.keys(), [root])
    if len(named) < SHARE * len(names):  # CholecT50's videos/VID01/ given, beside labels/VID01.json
        named = _annotations_naming(names.keys(), _sibling_folders(root))
    if len(named) < SHARE * len(names):
        return
    folders = sorted(names)
    shown = ", ".join(names[n].name for n in folders[:4]) + (", ..." if len(folders) > 4 else "")
    example = named[sorted(named)[0]]
    masks = _masks_in(names[folders[0]])
    fix = (
        f"they hold masks (e.g. {masks[0].name}): for segmentation, put each case's masks beside its image as "
        "<case>/<image> + <case>/segmentations/<structure>.<suffix> (one mask per structure) or name each mask "
        "<image>_seg.<suffix>, then medimg fit DATA --task segment"
        if masks
        else "medimg does not read these annotation files; give each image its label in a CSV manifest "
        "(path,label,patient_id, the folder's name as the patient) and run medimg fit MANIFEST"
    )
    tables = [t.name for t in tables_in(root)]
    if tables and not masks:  # a BIDS set's participants.tsv (its group column): the labels a manifest would take
        fix += f" (the labels may be in {', '.join(tables[:3])})"
    raise DatasetError(
        f"{root}: the {len(names)} folders that would be the classes ({shown}) are named like the cases that "
        f"annotation files name (e.g. {_shown(example, root)}): each folder is one video, slide or patient, not a "
        f"class, and a model would learn to tell them apart; {fix}"
    )


def _annotations_naming(names: Collection[str], folders: Sequence[Path]) -> dict[str, Path]:
    """Each of ``names`` (lower case) that an annotation file under ``folders`` is named for, with that file."""
    named: dict[str, Path] = {}
    wanted = set(names)
    files = ((file, folder) for folder in folders for file in walk_tree(folder))
    for file, folder in itertools.islice(files, WALK):
        if file.suffix.lower() not in ANNOTATION_SUFFIXES or in_system_folder(file, folder):
            continue
        for prefix in _prefixes(file.stem.lower()) & wanted:
            named.setdefault(prefix, file)
    return named


def _sibling_folders(root: Path) -> list[Path]:
    """The folders beside ``root`` named for annotations (CholecT50's ``labels/``, Cholec80's
    ``phase_annotations/``), where a set keeps the annotations of the frames in ``root``."""
    try:
        return sorted(
            d for d in root.parent.iterdir() if d.is_dir() and d != root and _ANNOTATION_FOLDER.search(d.name)
        )
    except OSError:
        return []


#: a folder named for annotations
_ANNOTATION_FOLDER = re.compile(r"label|annot|ground[-_ ]?truth|^gt$", re.IGNORECASE)


def _shown(file: Path, root: Path) -> str:
    """``file`` relative to ``root``, or to the folder above it for an annotation file beside it."""
    return str(file.relative_to(root if root in file.parents else root.parent))


def _masks_in(folder: Path) -> list[Path]:
    """The files of a case folder named as masks (HaN-Seg's ``case_01_OAR_Brainstem.seg.nrrd``, one per organ)."""
    from medimg.data.layouts.image_mask_pairs import file_role

    return [f for f in sorted(folder.iterdir()) if f.is_file() and file_role(folder.parent, f) == "mask"][:3]
