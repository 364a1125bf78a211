"""Where the class folders of a folder-per-class set sit when they are not its sub-folders.

Public sets nest them in four ways the class-folder layout (:mod:`.class_folders`) reads:

* **a wrapper folder** (an archive's only folder: ``lc25000/lung_colon_image_set/...``): :func:`data_folder` goes
  down to the first folder that holds images or several sub-folders;
* **patient folders holding the same few class folders** (Kaggle's Breast Histopathology Images, IDC:
  ``<patient>/0/*.png`` and ``<patient>/1/*.png`` in 279 patient folders): the repeated names are the classes and
  each patient folder is a group of the split;
* **fold folders holding the same class folders** (C-NMC 2019's ``fold_0/{all,hem}``, ``fold_1/``...): the folds
  are parts of one set, their class folders read together;
* **group folders of distinct classes** (LC25000: ``lung_image_sets/{lung_aca,lung_n,lung_scc}`` and
  ``colon_image_sets/{colon_aca,colon_n}``): the inner folders are the classes, when the outer names read as
  groups of them (a word in common, or ``sets``/``images``); ``benign/{adenosis,fibroadenoma}`` stays two classes
  with sub-types.

These nestings look like ``<class>/<patient>/<images>``, the layout's own reading, so each needs strong evidence
(:func:`nested_class_folders`); anything else keeps the top folders as classes. Only directory entries are read.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from medimg.data.case import normalise_split
from medimg.data.layouts.common import CONTAINER_WORDS, MIN_FOLDER_GROUPS, is_split_list_folder
from medimg.data.layouts.image_mask_pairs import folder_role
from medimg.io.folder_walk import entry_is, walk_tree
from medimg.io.formats import IMAGE_SUFFIXES, in_system_folder

logger = logging.getLogger(__name__)

MAX_NESTED_CLASSES = 40
"""At most this many classes are read from group folders of distinct classes (Kaggle's Multi Cancer set: 26 in 8
groups); more are patients or cases."""


#: a cross-validation fold's folder (C-NMC 2019's ``fold_0/``, ``fold_1/``, ``fold_2/``, each holding ``all/`` and
#: ``hem/``)
_FOLD = re.compile(r"^fold[-_ ]?\d+$", re.IGNORECASE)


@dataclass
class NestedClasses:
    """Class folders found one level down, and the group (patient) of each when the folders above are patients."""

    class_dirs: list[Path]
    group_of: dict[Path, str] = field(default_factory=dict)


def folder_entries(folder: Path) -> tuple[list[Path], bool]:
    """``(visible sub-folders, whether an image file lies directly in folder)`` from one directory listing."""
    subdirs: list[Path] = []
    has_image = False
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry_is(entry, "dir"):
                path = Path(entry.path)
                if not entry.name.startswith(".") and not in_system_folder(path, folder):
                    subdirs.append(path)
            elif not has_image and _is_image_name(entry.name):
                has_image = True
    return sorted(subdirs), has_image


def _is_image_name(name: str) -> bool:
    low = name.lower()
    return not low.startswith(".") and any(low.endswith(suffix) for suffix in IMAGE_SUFFIXES)


#: files that may lie beside a wrapper's one folder without being data: an archive's read-me, licence, credits note
DOCUMENT_SUFFIXES = (".txt", ".md", ".pdf", ".html", ".htm", ".rtf", ".docx")
_SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini"})


def wrapped_folder(root: Path) -> Path | None:
    """The folder a chain of wrapper folders at ``root`` leads to (Kaggle's ``archive/<set>/``, a ``data/<set>/``
    the set was unpacked into): while a folder's only visible entry is one sub-folder, not a split folder, beside at
    most documents (:data:`DOCUMENT_SUFFIXES`) and folders of split lists, the data is inside; ``None`` when ``root``
    is no wrapper."""
    folder = root
    seen = {os.path.realpath(root)}
    while folder.is_dir():
        subdirs: list[Path] = []
        other = False
        with os.scandir(folder) as listing:
            for entry in listing:
                name = entry.name.lower()
                if name.startswith(".") or name in _SYSTEM_FILES or in_system_folder(Path(entry.path), folder):
                    continue
                if entry_is(entry, "dir"):
                    if not is_split_list_folder(Path(entry.path)):  # CAMUS' database_split/ beside database_nifti/
                        subdirs.append(Path(entry.path))
                elif not name.endswith(DOCUMENT_SUFFIXES):
                    other = True
        if other or len(subdirs) != 1 or normalise_split(subdirs[0].name) or os.path.realpath(subdirs[0]) in seen:
            break  # the data, a split, or a link back to a folder above (a loop)
        folder = subdirs[0]
        seen.add(os.path.realpath(folder))
    return None if folder == root else folder


def data_folder(root: Path, *, announce: bool = True) -> Path:
    """``root``, or the folder a chain of wrapper folders leads to: while a folder holds no image and exactly one
    sub-folder (not a split folder) holding two or more folders that can be classes (:func:`_class_like`) or
    patient folders of the same class folders (:func:`nested_class_folders`), the data is inside it.
    ``announce``: log where the data was found (off for a layout test, which loading repeats)."""
    folder = root
    seen = {os.path.realpath(root)}
    beside: list[Path] = []  # the folders of annotations or documents set aside on the way
    while True:
        subdirs, has_image = folder_entries(folder)
        if len(subdirs) > 1 and not has_image:  # REFUGE's Training400/ beside Annotation-Training400/, TBX11K's
            # imgs/ beside lists/, Shenzhen's CXR_png/ beside ClinicalReadings/, BACH's Photos/ beside WSI/
            data = [d for d in subdirs if not _annotation_folder(d.name) and not _documents_only(d)]
            if len(data) == 1:
                beside += [d for d in subdirs if d not in data]
            subdirs = data or subdirs
        if has_image or len(subdirs) != 1 or normalise_split(subdirs[0].name):
            break
        if os.path.realpath(subdirs[0]) in seen:  # a link back to a folder above: a loop, no data inside
            break
        seen.add(os.path.realpath(subdirs[0]))
        inner, inner_image = folder_entries(subdirs[0])
        if len(inner) == 1 and not inner_image:  # a wrapper of a wrapper (Kaggle's "X/X/" archives)
            folder = subdirs[0]
            continue
        if len(inner) < 2:  # one class, refused later
            break
        # classes inside, or patient folders each holding the same class folders (the IDC breast set's
        # IDC_regular_ps50_idx5/<patient>/{0,1}/); not a PACS export's patient/study/series folders
        if not _class_like([p.name for p in inner]) and nested_class_folders(subdirs[0], announce=False) is None:
            break
        folder = subdirs[0]
    if folder != root and announce:
        _say_data_folder(root, folder, [d for d in beside if d not in folder.parents])
    return folder


def _say_data_folder(root: Path, folder: Path, beside: list[Path]) -> None:
    """Log where the data was found, and the folders of annotations or documents beside it, which that reading
    leaves out; a warning when they hold point coordinates (TUPAC16's ``mitoses_ground_truth/`` beside
    ``mitoses_image_data/``: read as case folders of classes, status OK, the annotations unsaid)."""
    from medimg.io.formats import point_files_note

    where = folder.relative_to(root)
    if not beside:
        logger.info("%s: the data is in %s (the only folder, with no images beside it)", root, where)
        return
    names = ", ".join(d.name for d in beside)
    notes = [note for d in beside if (note := point_files_note(d, lead=": "))]
    lists = [d for d in beside if is_split_list_folder(d)]
    if lists:  # SD-198's 8_2_split/train_0.txt, val_0.txt... beside images/<class>/: a split made anew, not said
        shown = sorted(f.name for f in lists[0].iterdir() if f.is_file())
        logger.warning(
            "%s: the data is in %s; beside it %s/ holds split lists (%s), which this reading does not use: medimg "
            "makes its own split; to keep the set's, give a CSV manifest (path,label,split) with each image's split "
            "from one of the lists",
            root,
            where,
            lists[0].name,
            ", ".join(shown[:4]) + (", ..." if len(shown) > 4 else ""),
        )
    if notes:
        logger.warning(
            "%s: the data is in %s, read without %s beside it, which holds annotations%s",
            root,
            where,
            names,
            notes[0],
        )
    else:
        logger.info("%s: the data is in %s (beside it %s: annotations or documents, not images)", root, where, names)


#: words of a folder holding a set's annotations or its split lists (TBX11K's ``lists/``, Pascal VOC's ``ImageSets/``),
#: never its images of a class
ANNOTATION_WORDS = frozenset(
    {"annotation", "annotations", "groundtruth", "gt", "mask", "masks", "lists", "imagesets", "splits"}
)


#: suffixes of what a folder beside the images holds instead of images: split lists, clinical readings, tables,
#: annotations, documents, and whole-slide scans (which medimg does not read)
NO_DATA_SUFFIXES = frozenset(DOCUMENT_SUFFIXES) | {
    ".csv", ".tsv", ".xml", ".json", ".xls", ".xlsx", ".doc", ".yaml", ".yml",
    ".svs", ".ndpi", ".mrxs", ".scn", ".vms", ".bif",
}  # fmt: skip
#: files looked at, at most, to tell a folder of documents
DOCUMENTS_LOOK = 200


def _documents_only(folder: Path) -> bool:
    """Whether ``folder`` holds files and all of them (the first :data:`DOCUMENTS_LOOK`) are documents, tables,
    annotations or whole-slide scans (:data:`NO_DATA_SUFFIXES`), no image: no data to classify."""
    files = [path for path in itertools.islice(walk_tree(folder), DOCUMENTS_LOOK) if path.is_file()]
    return bool(files) and all(path.suffix.lower() in NO_DATA_SUFFIXES for path in files)


def _annotation_folder(name: str) -> bool:
    """A folder named for annotations or split lists (``Annotation-Training400``, ``GroundTruth``, ``masks``,
    ``lists``)."""
    words = set(
        re.split(r"[^a-z]+", name.lower().replace("ground truth", "groundtruth").replace("ground_truth", "groundtruth"))
    )
    return bool(words & ANNOTATION_WORDS)


def _groups(outer: str, inner: list[str]) -> bool:
    """Whether ``outer`` is a group of the classes ``inner`` rather than a class with sub-types: a container word
    in its name, or every inner name sharing a word with it (``Brain Cancer/brain_glioma``, ``Lymphoma/lymph_cll``:
    words compared by their first four letters). ``benign/adenosis`` is a class with a sub-type."""
    words = _words(outer)
    return bool(words & CONTAINER_WORDS) or all(
        {w[:4] for w in _words(name)} & {w[:4] for w in words} for name in inner
    )


def _words(name: str) -> set[str]:
    return {word for word in re.split(r"[^a-z]+", name.lower()) if len(word) >= 3}


def _class_like(names: list[str]) -> bool:
    """Whether folder names can be classes: not all numbered like patients, studies and series (three digits or
    more in a row, ``P001``, ``LIDC-IDRI-0001``, or a UID ``1.2.840...``); ``normal``, grades ``0``..``4`` and
    MosMedData's ``CT-0``..``CT-4`` can."""
    return not all(re.search(r"\d{3,}", name) or (re.fullmatch(r"[\d.]+", name) and "." in name) for name in names)


def nested_class_folders(parent: Path, *, announce: bool = True) -> NestedClasses | None:
    """The class folders one level below ``parent``'s sub-folders, or ``None`` when its sub-folders are the classes.
    ``announce``: warn how they are read (off for a look that loading repeats).

    Every sub-folder must hold folders only, each of those images only (no deeper folders, no image/mask role
    names). Then, with ``n`` sub-folders holding ``k`` distinct inner names:

    * patient folders of classes: ``n >= MIN_FOLDER_GROUPS`` numbered folders (patient IDs), ``2 <= k <= n / 3``
      and every name under at least two of them; the classes are the names, each sub-folder is the group of its
      images (twelve class folders each holding ``CC/`` and ``MLO/`` views stay twelve classes);
    * group folders of classes: every inner name appears once, at most :data:`MAX_NESTED_CLASSES` of them, none
      with a digit (patient and case folders are numbered: ``P001``, ``1.2.840...``, ``LIDC-IDRI-0001``).
    """
    tops, _ = folder_entries(parent)
    if len(tops) < 2:
        return None
    inner: dict[Path, list[Path]] = {}
    for top in tops:
        subdirs, has_image = folder_entries(top)
        if has_image or not subdirs:
            return None
        inner[top] = subdirs
    leaves = [leaf for subdirs in inner.values() for leaf in subdirs]
    if any(folder_role(leaf.name) is not None or normalise_split(leaf.name) for leaf in leaves):
        return None  # <class>/images + <class>/masks, <class>/train: the top folders are the classes
    for leaf in leaves:
        subdirs, has_image = folder_entries(leaf)
        if subdirs or not has_image:
            return None
    names = Counter(leaf.name.lower() for leaf in leaves)
    warn = logger.warning if announce else logger.debug
    if all(_FOLD.match(top.name) for top in tops) and len(names) >= 2 and set(names.values()) == {len(tops)}:
        warn(
            "%s: the folds %s each hold the class folders %s: read as one set of %d classes (the folds' images "
            "together; medimg makes its own split, patients kept together by their names or a patient_id column)",
            parent,
            ", ".join(top.name for top in tops),
            ", ".join(sorted(names)),
            len(names),
        )
        return NestedClasses(leaves)
    patients = sum(any(ch.isdigit() for ch in top.name) for top in tops) >= 0.8 * len(tops)  # numbered, as IDs are
    if patients and len(tops) >= MIN_FOLDER_GROUPS and 2 <= len(names) <= len(tops) // 3 and min(names.values()) >= 2:
        warn(
            "%s: %d folders each hold class folders of the same names (%s): read as <patient>/<class>/ folders, "
            "classes %s, each of the %d folders a patient kept on one side of the split; if the outer folders "
            "are the classes, give a CSV manifest (path,label)",
            parent,
            len(tops),
            ", ".join(sorted(names)),
            ", ".join(sorted(names)),
            len(tops),
        )
        return NestedClasses(leaves, {leaf: top.name for top, subdirs in inner.items() for leaf in subdirs})
    numbered = any(any(ch.isdigit() for ch in leaf.name) for leaf in leaves)  # patients, cases, series
    grouped = all(_groups(top.name, [leaf.name for leaf in subdirs]) for top, subdirs in inner.items())
    if max(names.values()) == 1 and len(leaves) <= MAX_NESTED_CLASSES and not numbered and grouped:
        warn(
            "%s: the folders %s hold class folders: read as %d classes (%s); to classify the outer folders instead, "
            "give a CSV manifest (path,label)",
            parent,
            ", ".join(top.name for top in tops),
            len(leaves),
            ", ".join(leaf.name for leaf in leaves),
        )
        return NestedClasses(leaves)
    return None
