"""Folder per class: ``root/<class>/<images>``, optionally inside ``root/{train,val,test}/``.

Files in sub-sub-folders of a class folder belong to that class; hidden files and folders are ignored. Class
folders one level further down (``<patient>/<class>/``, ``<group>/<class>/``) and an archive's wrapper folder are
found by :mod:`.class_nesting`. With at
least :data:`MIN_FOLDER_GROUPS` sub-folders inside the class folders (``<class>/<patient>/<images>``), each
sub-folder is a patient for the split (``Case.patient_id``), so its images stay on one side. With
``unlabelled=True`` the images lying directly in ``root`` (not in a class folder) form the unlabelled pool
(``Dataset.unlabelled``), so a plain folder of images loads as a pool without classes.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

from medimg.data.case import Case, normalise_split, split_in_name
from medimg.data.dataset import Dataset
from medimg.data.dataset_names import dataset_name
from medimg.data.dicom_volumes import series_as_volumes
from medimg.data.identical_files import shown_under
from medimg.data.labels import keep_classes, same_text
from medimg.data.layouts.cases_as_classes import refuse_cases_named_by_annotations
from medimg.data.layouts.class_nesting import data_folder, folder_entries, nested_class_folders
from medimg.data.layouts.common import (
    CATEGORY_FOLDER,
    CONTAINER_WORDS,
    MIN_FOLDER_GROUPS,
    file_stem,
    json_labels_note,
    name_prefixes,
    named_split,
    order_classes,
    path_selected,
    read_manifest,
    tables_in,
    visible_dir,
    walk_files,
)
from medimg.data.layouts.image_mask_pairs import detect as holds_image_mask_pairs
from medimg.data.layouts.image_mask_pairs import folder_role, has_case_folders, named_as_masks, pairing_key
from medimg.data.layouts.label_tables_beside import say_tables_naming_cases
from medimg.data.layouts.table_labelled_splits import table_labelled_cases
from medimg.data.name_patients import named_by_convention
from medimg.errors import DatasetError
from medimg.io.dicom_survey import looks_like_dicom
from medimg.io.folder_walk import walk_tree
from medimg.io.formats import file_suffix, in_system_folder, is_image_file, point_files_note, unread_files_note
from medimg.io.inputs import shell_quoted

logger = logging.getLogger(__name__)


def detect(path: Path) -> bool:
    """A folder with at least one visible sub-folder (the generic layout: registered after specific ones), unless
    its sub-folders only hold the images of the label manifest beside them (:func:`.csv_manifest.folder_manifest`),
    or are split folders holding their images and label manifest (:func:`.csv_manifest.split_manifests`), or it is
    MIMIC-CXR-JPG's ``files/`` beside its tables (:mod:`.mimic_cxr`): those tables read it, or a folder holding
    PatchCamelyon's HDF5 files in a sub-folder (torchvision's ``root/pcam/``, :mod:`.hdf5_arrays`)."""
    from medimg.data.layouts import hdf5_arrays, mimic_cxr
    from medimg.data.layouts.csv_manifest import folder_manifest, split_manifests

    return (
        path.is_dir()
        and any(visible_dir(p) for p in path.iterdir())
        and folder_manifest(path) is None
        and not split_manifests(path)
        and not mimic_cxr.detect(path)
        and not hdf5_arrays.detect(path)
    )


def image_files(
    folder: Path,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    *,
    recursive: bool = True,
    non_images: list[tuple[Path, str]] | None = None,
    data_root: Path | None = None,
) -> list[Path]:
    """Image files under ``folder`` (sorted; hidden files and system folders such as ``__MACOSX`` skipped) that pass
    the ``include``/``exclude`` patterns.

    A file counts when its suffix is an image suffix, or, when ``include`` patterns are given, when it has any
    suffix and matches them. DICOM objects that hold no image (a structured report, presentation state or
    key-object selection a PACS export files beside the images: :func:`medimg.io.dicom.non_image_object`) are left
    out, and added to ``non_images`` as ``(path, what it is)`` for the caller to report once. With ``data_root``
    (the data folder the user named), a pattern holding a ``/`` matches the file's path inside it
    (``--exclude 'normal/pt07/*'``), as it does for every layout.
    """
    found = sorted(walk_tree(folder) if recursive else folder.iterdir())
    files = [
        p
        for p in found
        if p.is_file() and not in_system_folder(p, folder) and path_selected(p, include, exclude, data_root)
    ]
    broken = [p for p in found if p.is_symlink() and not p.exists() and not in_system_folder(p, folder)]
    if broken:  # a tree of links into PACS storage whose targets moved: files lost without a word otherwise
        logger.warning(
            "%d broken symbolic link(s) left out (e.g. %s -> %s): their targets do not exist, or they lead back to "
            "themselves",
            len(broken),
            broken[0],
            broken[0].readlink(),
        )
    images = [p for p in files if (include and p.suffix) or is_image_file(p)]
    return _without_non_image_dicom(images, non_images)


def _without_non_image_dicom(files: list[Path], non_images: list[tuple[Path, str]] | None) -> list[Path]:
    """``files`` less the DICOM objects without an image (their headers up to the image module are read), and
    less the secondary captures among acquired DICOM images (:func:`medimg.io.dicom.object_kind`: a viewer's
    screenshot of a CT, burned-in text and all, beside the CT slices of its class was a CT image of that class),
    those added to ``non_images`` as ``(path, SECONDARY_CAPTURE)``."""
    from medimg.io.dicom import object_kind

    kept: list[Path] = []
    captures: list[Path] = []
    acquired = False  # a DICOM image of the modality itself among the files
    for path in files:
        suffix = file_suffix(path)
        marked = looks_like_dicom(path)  # a DICOM file by its marker (a suffix alone may be no DICOM)
        what, capture = object_kind(path) if marked or suffix == "" or suffix[1:].isdigit() else (None, False)
        if capture:
            captures.append(path)
        elif what is None:
            kept.append(path)
            acquired = acquired or marked
        elif non_images is not None:
            non_images.append((path, what))
    if captures and acquired:
        if non_images is not None:
            non_images += [(path, SECONDARY_CAPTURE) for path in captures]
        return kept
    return sorted([*kept, *captures])


#: what a secondary capture left out is called (its images are left out beside the modality's own)
SECONDARY_CAPTURE = "a Secondary Capture image (a screenshot or scanned page, not an acquisition)"


def _report_non_images(root: Path, non_images: list[tuple[Path, str]]) -> None:
    captures = [path for path, what in non_images if what == SECONDARY_CAPTURE]
    if captures:
        logger.warning(
            "%s: left out %d DICOM Secondary Capture image(s) beside the acquired DICOM images of their class folder "
            "(e.g. %s): screenshots of a viewer or scanned pages, burned-in text and all, not images of the modality "
            "(to train on them, put them in class folders of their own)",
            root,
            len(captures),
            shown_under(captures[0], root),
        )
    non_images = [(path, what) for path, what in non_images if what != SECONDARY_CAPTURE]
    if non_images:
        path, what = non_images[0]
        logger.info(
            "%s: %d DICOM object(s) without an image (structured reports, presentation states, key-object "
            "selections...; e.g. %s, %s) are not images of their class and are left out",
            root,
            len(non_images),
            shown_under(path, root),
            what,
        )


def _class_folders_of(folder: Path, classes: Collection[str]) -> list[Path]:
    """The folders inside ``folder`` when it holds folders named as ``classes`` (case-folded) and nothing else of
    images; else ``[]``."""
    inner, has_image = folder_entries(folder)
    return inner if not has_image and all(d.name.casefold() in classes for d in inner) else []


def _held_out_class_folders(split_dirs: dict[Path, str | None], left_out: set[Path]) -> list[Path]:
    """The test or validation folders beside class folders that hold those classes' folders and nothing else (a
    ``test/benign/`` beside ``benign/``): that split's images, not a class."""
    classes = {d.name.casefold() for d, split in split_dirs.items() if not split and d not in left_out}
    return [
        d
        for d, split in split_dirs.items()
        if split in ("test", "val") and d not in left_out and len(classes) >= 2 and _class_folders_of(d, classes)
    ]


def _named_for_held_out(name: str) -> bool:
    """A folder beside the split folders whose name's first or last word is a test or validation split (kneeKL224's
    ``auto_test/``): no more training images, whatever it holds."""
    return any(split_in_name(name, word) in ("val", "test") for word in ("first", "last"))


def _more_training_images(folders: Sequence[Path], train: Path) -> list[Path]:
    """The ``folders`` beside the split folders that hold more images of the training classes, not a copy of them
    (Intel & MobileODT's ``additional_Type_1_v2/Type_1/`` beside ``train/Type_1/``: three times as many images,
    ignored as a nested copy): class folders only, each named as one of ``train``'s, and most of its files not in
    that one (by name, or by size where a name is in both: numbered names coincide)."""
    classes = {d.name.casefold(): d for d in folder_entries(train)[0]}

    def sizes(folder: Path) -> dict[str, int]:
        return {p.name.casefold(): p.stat().st_size for p in folder.iterdir() if is_image_file(p)}

    def new_files(folder: Path, known: dict[str, int]) -> bool:
        found = sizes(folder)
        copies = sum(known.get(name) == size for name, size in found.items())
        return bool(found) and 2 * copies < len(found)

    def more_of(folder: Path) -> bool:
        inner = _class_folders_of(folder, classes)
        return bool(inner) and all(new_files(d, sizes(classes[d.name.casefold()])) for d in inner)

    return [folder for folder in folders if more_of(folder)]


def load(
    path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (), unlabelled: bool = False
) -> Dataset:
    """Read a folder-per-class layout (labels and paths only).

    Args:
        path: the dataset folder.
        include: file-name patterns an image must match (case-insensitive); default every image suffix.
        exclude: file-name patterns to skip (e.g. ``"*-d.bmp"``, the Herlev masks beside each cell image).
        unlabelled: also keep the images lying directly in ``path`` as unlabelled cases.

    Raises:
        DatasetError: the folder has no class sub-folders (and ``unlabelled`` is off).
    """
    root = path
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder: the class-folder layout needs {root}/<class name>/<image files>")
    base = data_folder(root)  # below an archive's wrapper folder
    _refuse_label_tables_beside(root)
    left_out = _nested_copies(base)  # folders that are no classes: nested copies, then images without labels
    subdirs = sorted(p for p in base.iterdir() if visible_dir(p) and p not in left_out)
    split_dirs = {p: normalise_split(p.name) for p in subdirs}
    named_splits = {s for s in split_dirs.values() if s}
    if subdirs and all(split_dirs.values()):
        groups = [(split_dirs[d], d) for d in subdirs]
    elif len(named_splits) >= 2 and "train" in named_splits:  # splits beside another folder: a zip's nested copy
        train = next(d for d, s in split_dirs.items() if s == "train")
        # kneeKL224's auto_test/ (the test knees once more, cropped by a detector): held out, never trained on
        held_out = [d for d, s in split_dirs.items() if not s and _named_for_held_out(d.name)]
        more = _more_training_images([d for d, s in split_dirs.items() if not (s or d in held_out)], train)
        others = [d.name for d, s in split_dirs.items() if not s and d not in more and d not in held_out]
        if held_out:
            logger.warning(
                "%s: %s beside the split folders %s named for a held-out set, not the split's: left out (never "
                "trained on); `medimg evaluate RUN %s` scores a model on it",
                root,
                ", ".join(f"{d.name}/" for d in held_out),
                "is" if len(held_out) == 1 else "are",
                shell_quoted(str(held_out[0])),
            )
        if others:
            logger.warning(
                "%s: split folders (%s) beside other folders (%s): the split folders are the data, the others are "
                "ignored (archives often hold a nested copy of the data); point medimg at the folder you mean",
                root,
                ", ".join(d.name for d, s in split_dirs.items() if s),
                ", ".join(others),
            )
        if more:
            logger.info(
                "%s: %s hold more images of %s/'s classes (not a copy of them): they train with %s/ (--exclude "
                "'%s/*' leaves them out)",
                root,
                ", ".join(d.name for d in more),
                train.name,
                train.name,
                more[0].name,
            )
        groups = [(s, d) for d, s in split_dirs.items() if s]
        groups += [("train", d) for d in more]
    else:
        _refuse_splits_named_by_a_suffix(root, subdirs)  # before nesting: each may wrap a folder of its name
        left_out |= _unlabelled_folders(base, split_dirs)
        held = _held_out_class_folders(split_dirs, left_out)
        left_out |= set(held)
        if any(s for d, s in split_dirs.items() if d not in left_out):
            named = [d.name for d, s in split_dirs.items() if s and d not in left_out]
            logger.warning(
                "%s mixes split folders (%s) with class folders; treating every sub-folder as a class",
                root,
                ", ".join(named),
            )
        groups = [(None, base)]
        if held:  # benign/, malignant/ beside test/benign/, test/malignant/: test/ was a third class, trained on
            logger.info(
                "%s: %s hold%s the class folders' classes: the %s split; the class folders beside train",
                root,
                ", ".join(f"{d.name}/" for d in held),
                "s" if len(held) == 1 else "",
                " and ".join(sorted({str(split_dirs[d]) for d in held})),
            )
            groups = [("train", base), *((str(split_dirs[d]), d) for d in held)]
    class_dirs: list[tuple[str | None, Path]] = []
    group_of_dir: dict[Path, str] = {}  # class folder -> the patient folder holding it (<patient>/<class>/)
    flat_splits: list[tuple[str, Path]] = []  # split folders of images without class folders (MobileODT's test/)
    for split, parent in groups:
        nested = nested_class_folders(parent)
        if nested is None:
            if split is None:
                _refuse_versions_of_the_data(root, subdirs)
                _refuse_sets_of_the_same_classes(root, subdirs)
            found = [c for c in sorted(parent.iterdir()) if visible_dir(c) and c not in left_out]
            if split is not None and not found and folder_entries(parent)[1]:
                flat_splits.append((split, parent))
            class_dirs += [(split, c) for c in found]
        else:
            class_dirs += [(split, c) for c in nested.class_dirs]
            group_of_dir.update(nested.group_of)
    _refuse_annotated_sets_as_classes([c for _, c in class_dirs], root)
    _refuse_a_pool_as_class([c for _, c in class_dirs], root)
    _refuse_role_folders_as_classes([c for _, c in class_dirs], root)
    _refuse_image_forms_as_classes([c for _, c in class_dirs], root)
    _refuse_a_split_copy_as_class([c for _, c in class_dirs], root)
    _refuse_scan_types_as_classes([c for _, c in class_dirs], root)
    _refuse_modalities_holding_categories([c for _, c in class_dirs], root)
    _refuse_bids_subjects_as_classes([c for _, c in class_dirs], root)
    refuse_cases_named_by_annotations([c for _, c in class_dirs], root)
    non_images: list[tuple[Path, str]] = []
    pool = _pool(root, include, exclude, non_images) if unlabelled else []
    class_of = _classes_across_splits(class_dirs, root)
    class_names = order_classes(set(class_of.values()))
    if not class_names and not pool:
        raise DatasetError(
            f"{root} has no class sub-folders: arrange images as {root}/<class name>/<image files> "
            "(or use a CSV manifest with path,label columns); images without labels are predicted by `medimg "
            "predict RUN FOLDER` and learnt from by `medimg fit DATA --unlabelled FOLDER` (Python: unlabelled=...)"
            + (
                json_labels_note(root)
                or _tables_beside_splits_note(root)
                or unread_files_note(root)
                or point_files_note(root)
                or _archives_note(root)
            )
        )
    index = {name: i for i, name in enumerate(class_names)}
    cases: list[Case] = []
    folder_of: dict[str, tuple[str, ...]] = {}  # case id -> its sub-folders inside the class folder (or its patient)
    in_mask_folders: list[str] = []
    for split, class_dir in class_dirs:
        for file in image_files(class_dir, include, exclude, non_images=non_images, data_root=root):
            rel = file.relative_to(root).as_posix()
            inside = file.relative_to(class_dir).parts
            if any(_is_mask_folder(part) for part in inside[:-1]):
                in_mask_folders.append(rel)
                continue
            cases.append(Case(case_id=rel, label=index[class_of[class_dir]], split=split, path=file))
            if class_dir in group_of_dir:
                folder_of[rel] = (group_of_dir[class_dir],)
            elif parts := tuple(part for part in inside[:-1] if folder_role(part) != "image"):  # images/: no patient
                folder_of[rel] = parts
    if class_names and len(flat_splits) < len(groups):
        for split, folder in flat_splits:
            images = image_files(folder, include, exclude, recursive=False, non_images=non_images, data_root=root)
            cases += table_labelled_cases(folder, split, images, class_names, root)
    _report_non_images(root, non_images)
    _refuse_pieces_beside_their_images(cases, root)
    if in_mask_folders:
        logger.warning(
            "%s: left out %d file(s) in mask folders inside the class folders (e.g. %s): masks, and maps drawn from "
            "them, are not images of their class (segmentation data: medimg fit DATA --task segment)",
            root,
            len(in_mask_folders),
            in_mask_folders[0],
        )
    cases = _group_pieces_by_their_image(cases, root)  # before the sub-folders: CROPPED/ is no patient
    pieces = {c.case_id for c in cases if c.patient_id}
    cases = _group_by_sub_folder(cases, {k: v for k, v in folder_of.items() if k not in pieces}, root)
    cases = series_as_volumes(cases, root, {class_dir for _, class_dir in class_dirs})
    class_names, cases = _drop_empty_classes(class_names, cases, root, class_of)
    _note_unread_files(root, [folder for folder, name in class_of.items() if name in class_names])
    _refuse_a_class_of_masks(class_names, cases, root)
    beside = [*tables_in(root), *(tables_in(root.parent) if root.parent != root else [])]
    say_tables_naming_cases(root, cases, class_names, beside, lambda table: read_manifest(table)[1])
    return Dataset(
        name=dataset_name(root),
        root=root,
        source="folder",
        class_names=class_names,
        cases=cases,
        unlabelled=pool,
        options={"unlabelled": True} if unlabelled else {},
    )


#: a sub-folder holds pieces cut from the images beside it when at least this share of its images are named after
#: one of them (``CROPPED/001_02.bmp`` for ``001.bmp``), and at least :data:`MIN_PIECES` are
PIECES_SHARE = 0.8
MIN_PIECES = 3


#: a folder of images to predict beside the class folders (Br35H's ``yes/``, ``no/`` and ``pred/``)
PREDICT_FOLDER = re.compile(r"^(pred|preds|predict|prediction|predictions|inference|to[\s_-]?predict)$", re.IGNORECASE)


def _unlabelled_folders(base: Path, split_dirs: dict[Path, str | None]) -> set[Path]:
    """The split folders and folders of images to predict (:data:`PREDICT_FOLDER`) beside class folders that hold
    images and no folder (TBX11K's ``imgs/test/`` beside ``health/``, ``sick/``, ``tb/``; Br35H's ``pred/`` beside
    ``yes/`` and ``no/``): images without labels, not a class. Left out, saying how to predict them; two class
    folders at least must remain."""
    unlabelled = {d for d, split in split_dirs.items() if split is not None or PREDICT_FOLDER.match(d.name)}
    if len(split_dirs) - len(unlabelled) < 2:
        return set()
    found = set()
    for folder in unlabelled:
        subdirs, has_image = folder_entries(folder)
        if has_image and not subdirs:
            found.add(folder)
    for folder in sorted(found):
        logger.warning(
            "%s: %s/ holds images without class folders beside the class folders: images without labels (to "
            "predict, or a challenge's test set), left out; predict them with medimg predict RUN %s",
            base,
            folder.name,
            folder,
        )
    return found


def _refuse_pieces_beside_their_images(cases: list[Case], root: Path) -> None:
    """Raise when a folder of a class holds images and a sub-folder of images named after them: pieces cut from them
    (SIPaKMeD's ``im_Parabasal/im_Parabasal/001.bmp`` fields beside ``CROPPED/001_02.bmp`` cells) or copies made of
    them (``augmented/001_flip.png``): trained together, the two kinds of image mix, and a piece lands on one side of
    the split while the image it comes from is on the other.

    Raises:
        DatasetError: naming the folders, an example and the two ``--include`` / ``--exclude`` choices.
    """
    by_folder: dict[Path, list[Path]] = {}
    for case in cases:
        if case.path is not None:
            by_folder.setdefault(case.path.parent, []).append(case.path)
    for folder, files in sorted(by_folder.items()):
        stems = {file_stem(f).lower() for f in by_folder.get(folder.parent, [])}
        if not stems or len(files) < MIN_PIECES:
            continue
        cut = [f for f in files if _whole_of(file_stem(f).lower(), stems) is not None]
        if len(cut) < PIECES_SHARE * len(files):
            continue
        piece = cut[0]
        beside = by_folder[folder.parent]
        whole = next(f for f in beside if file_stem(f).lower() == _whole_of(file_stem(piece).lower(), stems))
        pattern = f"*/{folder.name}/*"
        raise DatasetError(
            f"{root}: {folder.parent.relative_to(root).as_posix()}/ holds {len(beside)} image(s) "
            f"and {folder.name}/ {len(files)} named after them ({piece.name} after {whole.name}: pieces cut from "
            "them, or copies made of them). Trained together, two kinds of image mix, and a piece lands on one side "
            f"of the split while the image it comes from is on the other. Choose one: --include '{pattern}' for "
            f"the pieces, or --exclude '{pattern}' for the whole images (Python: include=/exclude=)"
        )


def _group_pieces_by_their_image(cases: list[Case], root: Path) -> list[Case]:
    """Pieces read without the images they were cut from (SIPaKMeD with ``--include '*/CROPPED/*'``: each cell
    ``CROPPED/001_02.bmp`` of the field ``001.bmp`` in the folder above) grouped by that image (``patient_id``: its
    path), so a split keeps one field's cells on one side; said in an INFO line. Was: one field's cells in training
    and test. Cases already grouped by a patient, and folders that are not mostly pieces, are left as they are."""
    by_folder: dict[Path, list[Case]] = {}
    for case in cases:
        if case.path is not None and not case.patient_id:
            by_folder.setdefault(case.path.parent, []).append(case)
    group_of: dict[str, str] = {}
    wholes_in: dict[Path, dict[str, Path]] = {}  # the images of each folder above, listed once
    for folder, members in by_folder.items():
        if len(members) < MIN_PIECES or folder.parent == root or root not in folder.parents:
            continue
        if folder.parent not in wholes_in:
            files = (f for f in folder.parent.iterdir() if f.is_file() and is_image_file(f))
            wholes_in[folder.parent] = {file_stem(f).lower(): f for f in files}
        wholes = wholes_in[folder.parent]
        found = {}
        for case in members:
            whole = _whole_of(file_stem(case.path).lower(), wholes) if case.path is not None else None
            if whole is not None:
                found[case.case_id] = wholes[whole].relative_to(root).with_suffix("").as_posix()
        if len(found) >= PIECES_SHARE * len(members) and len(set(found.values())) < len(found):
            group_of.update(found)
    if not group_of:
        return cases
    example = next(iter(group_of.items()))
    logger.info(
        "%s: %d piece(s) cut from the images in the folders above them grouped by that image (e.g. %s -> %s): a "
        "split medimg makes keeps one image's pieces on one side",
        root,
        len(group_of),
        example[0],
        example[1],
    )
    return [replace(c, patient_id=group_of[c.case_id]) if c.case_id in group_of else c for c in cases]


def _whole_of(stem: str, stems: Collection[str]) -> str | None:
    """The one of ``stems`` a file named ``stem`` is named after, a separator following (``001`` of ``001_02``), the
    shortest when several are; ``None`` for none."""
    return next((prefix for prefix in name_prefixes(stem) if prefix in stems), None)


def _classes_across_splits(class_dirs: list[tuple[str | None, Path]], root: Path) -> dict[Path, str]:
    """The class of each class folder. Split folders may spell a class differently: in case only (``Normal`` and
    ``normal``), or with details after the name in one split (Kaggle's Chest CT-Scan images:
    ``train/adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib`` and ``test/adenocarcinoma``): such folders are one class,
    the shorter name (a warning lists the mapping). A class that is evaluated (val/test) but has no training folder
    is refused: its images could never be predicted right.

    Raises:
        DatasetError: a val/test class has no training images under any spelling (naming the folders).
    """
    name_of = {c: same_text(c.name) for _, c in class_dirs}  # one Unicode form: macOS zips decompose "ü"
    names = sorted(set(name_of.values()), key=lambda name: (len(name), name))
    splits_of: dict[str, set[str | None]] = {}
    for split, c in class_dirs:
        splits_of.setdefault(name_of[c], set()).add(split)

    def spelling_of(name: str, shorter: str) -> bool:  # never side by side in one split, and the same or extended
        low, short = name.lower(), shorter.lower()
        extends = low == short or (low.startswith(short) and low[len(short)] in "._- ")
        return extends and not splits_of[name] & splits_of[shorter]

    canonical: dict[str, str] = {}
    for name in names:  # shortest first: a longer name maps to the shortest one it extends
        canonical[name] = next((canonical[m] for m in canonical if spelling_of(name, m)), name)
    renamed = {n: c for n, c in canonical.items() if n != c}
    if renamed:
        logger.warning(
            "%s: class folders spelled differently across splits are one class: %s",
            root,
            "; ".join(f"{n!r} -> {c!r}" for n, c in sorted(renamed.items())),
        )
    splits = {split for split, _ in class_dirs}
    trained = {canonical[name_of[c]] for split, c in class_dirs if split == "train"}
    if "train" in splits:
        unseen = sorted(
            {(canonical[name_of[c]], split) for split, c in class_dirs if canonical[name_of[c]] not in trained}
        )
        if unseen:
            listing = ", ".join(f"{split}/{name}" for name, split in unseen)
            raise DatasetError(
                f"{root}: class folder(s) {listing} have no training folder of the same class (training classes: "
                f"{', '.join(sorted(trained))}): name each class the same in every split folder"
            )
    return {c: canonical[name_of[c]] for _, c in class_dirs}


#: words of a folder name that make it a copy, version or part of a dataset, not a class (with CONTAINER_WORDS)
VERSION_WORDS = frozenset({
    "master", "main", "fold", "folds", "augmented", "original", "version", "copy", "raw", "processed",
    "preprocessed", "resized",
    "disc", "disk",  # OASIS-1's disc1/ ... disc12/: the parts of a download, not classes
    "partitioned", "partition", "partitions",  # RIM-ONE DL's partitioned_by_hospital/, partitioned_randomly/
    "versions", "latest", "previous",  # BRACS_RoI's latest_version/ beside previous_versions/
})  # fmt: skip


def _nested_copies(base: Path) -> set[Path]:
    """Sub-folders of ``base`` named like it that hold the same class folders as their siblings: the nested copy of
    the data Kaggle's archives carry (the malaria set's ``cell_images/cell_images/Parasitized/`` beside
    ``cell_images/Parasitized/``); read as a class, every image would be in two classes. Left out, with a warning."""
    from medimg.io.inputs import nested_copies

    subdirs = [p for p in base.iterdir() if visible_dir(p)]
    named_like = [folder for folder in subdirs if folder.name.lower() == base.name.lower()]
    inside = [p for folder in named_like for p in folder.iterdir() if visible_dir(p)]
    copies = {folder for folder in nested_copies([*subdirs, *inside]) if folder.parent == base}
    copies |= {folder for folder in subdirs if _copy_of_its_siblings(folder, subdirs)}
    if copies:
        logger.warning(
            "%s: %s holds the same class folders as its siblings (a nested copy of the data, as Kaggle's archives "
            "carry): left out",
            base,
            ", ".join(f"{p.name}/" for p in sorted(copies)),
        )
    return copies


#: files of a would-be copy compared with its siblings' by name and size, per class folder
COPY_SAMPLE = 3


def _copy_of_its_siblings(folder: Path, subdirs: list[Path]) -> bool:
    """Whether ``folder`` (of another name) holds only folders, two at least, each named as a sibling of ``folder``,
    and its first files lie in that sibling too, of the same size: the Kaggle brain MRI archive's
    ``brain_tumor_dataset/{yes,no}/`` beside ``yes/`` and ``no/`` (a third class, its every image in two classes and
    a label conflict)."""
    siblings = {d.name.casefold(): d for d in subdirs if d != folder}
    inner = _class_folders_of(folder, siblings)
    if len(inner) < 2:
        return False
    sample = [f for p in inner for f in sorted(x for x in p.iterdir() if x.is_file())[:COPY_SAMPLE]]
    twins = [siblings[f.parent.name.casefold()] / f.name for f in sample]
    return bool(sample) and all(
        t.is_file() and t.stat().st_size == f.stat().st_size for f, t in zip(sample, twins, strict=True)
    )


def _refuse_versions_of_the_data(root: Path, subdirs: list[Path]) -> None:
    """Raise when the would-be classes are versions or parts of the dataset (the Monkeypox set's ``Original
    Images/``, ``Augmented Images/``, ``Fold1/``; Kaggle's blood cells' ``dataset-master/``, ``dataset2-master/``):
    every name has a container or version word, none holds images itself, and each holds folders. Read as class
    folders they were classes "Original Images" and "Fold1"; the message names a folder of class folders inside."""
    if len(subdirs) < 2 or not _named_as_parts(subdirs):
        return
    for folder in subdirs:
        entries = list(folder.iterdir())
        if any(p.is_file() and is_image_file(p) for p in entries) or not any(visible_dir(p) for p in entries):
            return
    # the original images first: augmented copies of test images would leak into training
    originals = sorted(subdirs, key=lambda d: not re.search(r"orig", d.name, re.IGNORECASE))
    inside = next((found for folder in originals if (found := class_folders_inside(folder)) is not None), None)
    example = f": e.g. medimg fit '{inside}'" if inside is not None else ""
    tables = [p.name for p in tables_in(root)]
    labels = (
        f"the labels may be in a table beside them ({', '.join(tables[:3])}): give a CSV manifest "
        "(path,label,patient_id) naming each image's class; or "
        if tables
        else ""
    )
    raise DatasetError(
        f"{root}: its folders ({', '.join(d.name for d in subdirs)}) look like versions or parts of the dataset "
        f"(original, augmented, folds, archives, download discs), not classes; {labels}point medimg at the folder "
        f"that holds the class folders{example}"
    )


def _refuse_splits_named_by_a_suffix(root: Path, subdirs: list[Path]) -> None:
    """Raise when every would-be class has a split word after the dataset's name, two splits at least (DFUC 2021's
    ``DFUC2021_train/`` and ``DFUC2021_test/``; RSNA Bone Age's ``boneage-training-dataset/`` and
    ``boneage-test-dataset/``, each wrapping a folder of its name): read as class folders they were classes
    "DFUC2021_train" and "DFUC2021_test", status OK, and a model told the splits apart (the test images trained on).
    The message names the tables inside, else the training split's table beside them."""
    splits = {d: split_in_name(d.name, "last") or named_split(d.name) for d in subdirs}
    if len(subdirs) < 2 or not all(splits.values()) or len(set(splits.values())) < 2:
        return
    training_first = sorted(subdirs, key=lambda d: splits[d] != "train")
    tables = [table.relative_to(root).as_posix() for d in training_first for table in tables_in(d)]
    tables = tables or [t.relative_to(root).as_posix() for t in tables_in(root) if named_split(t.stem) == "train"]
    labels = (
        f"give the training split's label table (e.g. medimg fit '{root / tables[0]}')"
        if tables
        else "point medimg at the training split's folder when it holds class folders"
    )
    # MM-WHS' ct_train/ct_train_1001_image.nii.gz beside ct_train_1001_label.nii.gz, mr_train/, ct_test/
    paired = next((d for d in training_first if holds_image_mask_pairs(d)), None)
    masks = f"; {paired.name}/ holds images with their masks: --task segment reads them" if paired else ""
    raise DatasetError(
        f"{root}: its folders ({', '.join(d.name for d in subdirs)}) are named for splits "
        f"({', '.join(sorted({str(s) for s in splits.values()}))}), not classes; {labels}{masks}"
    )


def _named_as_parts(folders: list[Path]) -> bool:
    """Whether every folder's name has a container or version word (``data_C1/``, ``Original Images/``, ``Fold1/``)."""
    words = CONTAINER_WORDS | VERSION_WORDS
    return all(set(re.split(r"[^a-z]+", folder.name.lower())) & words for folder in folders)


#: sets of the same classes: each holds at least this many class folders of the same names
SAME_CLASSES_MIN = 4
#: a folder named for a microscope's magnification (BreakHis's ``40X``...): a part of each class, not a class
_MAGNIFICATION = re.compile(r"^\d+\s*x$", re.IGNORECASE)
#: a folder named for an image size or a magnification (GasHisSDB's ``160/``, ``120/``, ``80/``; ``224x224``,
#: ``64px``, ``40X``): sets of one dataset's classes when each holds the same class folders, however few
_SIZE_OR_MAGNIFICATION = re.compile(r"^\d+\s*(?:x|px|x\d+|x\d+px)?$", re.IGNORECASE)


def _named_for_a_size(name: str) -> bool:
    """A folder name of an image size or a magnification; a bare number only from 16 (grades 0-4 are classes)."""
    return bool(_SIZE_OR_MAGNIFICATION.match(name)) and not (name.isdigit() and int(name) < 16)


#: a class named by its grade's number and word (Mendeley's knee X-rays: ``0Normal``, ``1Doubtful``, ``2 Mild``): no
#: patient's number
_GRADE_NAMED = re.compile(r"^\d{1,2}[\s_.-]*[a-z]{3,}$")


def _refuse_sets_of_the_same_classes(root: Path, subdirs: list[Path]) -> None:
    """Raise when the would-be classes are two or more sets of the same classes (Kather's ``NCT-CRC-HE-100K/`` and
    ``CRC-VAL-HE-7K/``, each holding ``ADI/``, ``BACK/``... ``TUM/``): none holds images itself, each holds the same
    :data:`SAME_CLASSES_MIN` or more folders of images, more than there are sets (two or more when the sets are
    named for image sizes or magnifications: GasHisSDB's ``160/``, ``120/``, ``80/`` of ``Normal/``, ``Abnormal/``),
    named neither as splits nor as magnifications, mostly without digits (numbered folders are patients). Read as
    class folders, a model learnt which archive an image came from (``status OK``)."""
    if len(subdirs) < 2:
        return
    names: set[frozenset[str]] = set()
    for folder in subdirs:
        entries = list(folder.iterdir())
        if any(p.is_file() and is_image_file(p) for p in entries):
            return
        names.add(frozenset(p.name.lower() for p in entries if visible_dir(p)))
    (inner,) = names if len(names) == 1 else (frozenset(),)
    sizes = all(_named_for_a_size(folder.name) for folder in subdirs)
    if len(inner) < (2 if sizes else max(SAME_CLASSES_MIN, len(subdirs) + 1)):
        return
    if any(normalise_split(n) or _MAGNIFICATION.match(n) or _is_mask_folder(n) for n in inner):
        return  # splits, magnifications, or classes holding their images and masks (NuInsSeg's organs)
    if sum(any(ch.isdigit() for ch in n) and not _GRADE_NAMED.match(n) for n in inner) * 2 > len(inner):
        return  # numbered folders: patients or cases inside each class (benign/P001, malignant/P001)
    first = next(p for p in sorted(subdirs[0].iterdir()) if visible_dir(p))
    if not any(f.is_file() and is_image_file(f) for f in first.iterdir()):
        return
    shown = ", ".join(sorted(p.name for p in subdirs[0].iterdir() if visible_dir(p))[:6])
    largest = sorted(subdirs, key=lambda d: -sum(len(os.listdir(c)) for c in d.iterdir() if visible_dir(c)))
    raise DatasetError(
        f"{root}: its folders ({', '.join(d.name for d in subdirs)}) each hold the same {len(inner)} class folders "
        f"({shown}...): sets of one dataset's classes, not classes; fit one set (medimg fit '{largest[0]}') and "
        f"evaluate on another (medimg evaluate RUN '{largest[1]}'), or put them in train/ and test/ folders to "
        "use them as a split"
    )


def class_folders_inside(folder: Path, depth: int = 4) -> Path | None:
    """The first folder at most ``depth`` levels below ``folder`` (breadth first) holding two or more folders of
    images, or split folders."""
    level = [folder]
    for _ in range(depth):
        below: list[Path] = []
        for parent in level:
            subs = [d for d in sorted(parent.iterdir()) if visible_dir(d)]
            with_images = [d for d in subs if any(f.is_file() and is_image_file(f) for f in d.iterdir())]
            if len(with_images) >= 2 or (subs and all(normalise_split(d.name) for d in subs)):
                return parent.parent if normalise_split(parent.name) else parent  # above a split folder
            below += subs
        level = below
    return None


def _refuse_label_tables_beside(root: Path) -> None:
    """Several label tables at the top of ``root`` that each could label its image folders (Kaggle's resized
    diabetic retinopathy set: ``trainLabels.csv`` and ``trainLabels_cropped.csv`` beside ``resized_train/`` and
    ``resized_train_cropped/``): the folders read as classes trained "cropped or not", exit 0.

    Raises:
        DatasetError: naming the tables and how to give one.
    """
    from medimg.data.layouts.csv_manifest import folder_manifest_candidates

    tables = folder_manifest_candidates(root)
    if len(tables) > 1:
        folders = sorted(p.name for p in root.iterdir() if visible_dir(p))
        raise DatasetError(
            f"{root} holds {len(tables)} label tables ({', '.join(t.name for t in tables)}), each naming images, "
            f"beside folders that would otherwise be read as classes ({', '.join(folders)}); "
            "medimg cannot tell which table labels the images: give the one you mean (medimg fit "
            f"{shell_quoted(tables[0])})"
        )


def _group_by_sub_folder(cases: list[Case], folder_of: dict[str, tuple[str, ...]], root: Path) -> list[Case]:
    """Images in sub-folders of a class folder (``<class>/<patient>/<images>``: the slices, views or patches of one
    patient) get their patient folder as their group (``patient_id``), so a split never puts one patient's images
    on both sides. The patient level is the first depth with at least :data:`MIN_FOLDER_GROUPS` distinct folders
    (BreakHis: ``benign/SOB/adenosis/SOB_B_A_14-22549AB/40X/``, the patients three levels down, below the tumour
    types and above the magnifications); with fewer at every depth they are not groups of a split (``batch1/``,
    ``batch2/``) and a warning says how to give patients. DICOM files are left to their headers
    (:mod:`medimg.data.dicom_patients`)."""
    if not folder_of:
        return cases
    if all(looks_like_dicom(root / case_id) for case_id in folder_of):
        return cases  # DICOM files: their headers name the patients (medimg.data.dicom_patients), not folder names
    depth = next(
        (
            d
            for d in range(1, max(len(parts) for parts in folder_of.values()) + 1)
            if len({parts[:d] for parts in folder_of.values() if len(parts) >= d}) >= MIN_FOLDER_GROUPS
        ),
        None,
    )
    if depth is None and all(named_by_convention(Path(case_id).name) for case_id in folder_of):
        return cases  # BIDS' sub-OAS30001_ses-d0129_T1w.nii.gz: the names give the patients (group_by_name_patient)
    if depth is None:
        example = next(iter(folder_of))
        logger.warning(
            "%s: %d image(s) lie in sub-folders of their class folder (e.g. %s), too few sub-folders (%d) to keep "
            "each one within a split; if several images belong to one patient, give a CSV manifest with a "
            "patient_id column so the split keeps each patient on one side",
            root,
            len(folder_of),
            example,
            len({parts[:1] for parts in folder_of.values()}),
        )
        return cases
    # each class's folders by their names: OCTA-500's OCT/10001/ and OCTA/10001/ are eyes, beside its
    # Projection Maps/OCT(FULL)/ of every eye's map
    label_of = {case.case_id: case.label for case in cases}
    names_of: dict[int | None, set[str]] = {}
    for case_id, parts in folder_of.items():
        if len(parts) >= depth:
            names_of.setdefault(label_of.get(case_id), set()).add(parts[depth - 1])
    by_ids = {
        label
        for label, names in names_of.items()
        if sum(any(ch.isdigit() for ch in name) and not CATEGORY_FOLDER.fullmatch(name) for name in names)
        >= ID_FOLDER_SHARE * len(names)
    }
    if len(by_ids) < len(names_of):
        _say_category_folders(root, {k: v for k, v in folder_of.items() if label_of.get(k) not in by_ids}, depth)
    if not by_ids:
        return cases
    group_of = {
        case_id: "/".join(parts[:depth]) for case_id, parts in folder_of.items() if label_of.get(case_id) in by_ids
    }
    groups = sorted(set(group_of.values()))
    logger.info(
        "%s: images grouped by their patient folder (%d folders, e.g. %s): a split medimg makes keeps each "
        "folder's images on one side (a split the data gives is checked for them)",
        root,
        len(groups),
        groups[0],
    )
    return [replace(c, patient_id=group_of[c.case_id]) if c.case_id in group_of else c for c in cases]


#: patient folders have ids: at least this share of the folders taken for patients hold a digit (BreakHis's
#: SOB_B_A_14-22549AB, CheXpert's patient00001) and are not numbered categories (CATEGORY_FOLDER: ``cate1``); words
#: (HyperKvasir's cecum, polyps) name categories, graded ones too (its lower-gi-tract's bbps-0-1,
#: ulcerative-colitis-grade-2-3: half of its findings had a digit, and were taken for patients)
ID_FOLDER_SHARE = 0.8


def _say_category_folders(root: Path, folder_of: dict[str, tuple[str, ...]], depth: int) -> None:
    """Warn that the sub-folders of the class folders are named as categories, not patients (HyperKvasir's
    ``lower-gi-tract/pathological-findings/polyps/``): grouped as patients, whole findings sat in the test split,
    never trained on. They stay ungrouped; the warning names a label table beside them, if any."""
    example = "/".join(next(parts for parts in folder_of.values() if len(parts) >= depth)[:depth])
    tables = tables_in(root)
    table = f"; a table beside them may label them: medimg fit {shell_quoted(tables[0])}" if tables else ""
    logger.warning(
        "%s: %d image(s) lie in sub-folders of their class folders named as categories, not patients (e.g. %s): "
        "the classes are the top folders and the sub-folders are not patient groups; if the sub-folders are the "
        "classes you mean, point medimg at a folder that holds them as its class folders%s",
        root,
        len(folder_of),
        example,
        table,
    )


def masks_inside_classes(path: Path) -> bool:
    """Whether every class folder of ``path`` (at least two; inside split folders when those are all there is)
    holds a mask folder beside its images: classification data that ships its masks (COVID-19 Radiography
    Database), not image/mask pairs; folders named as parts of the data (PolypGen's ``data_C1/``) or numbered as
    cases (AROI's ``patient1/raw/labeled/`` + ``patient1/mask/number/``) or a split beside another folder (KiPA22's
    ``train/`` beside ``open/``, each with ``image/`` + ``label/``) are not classes.
    Case folders whose mask lies beside their image are not class folders (KiTS21's
    ``case_00000/aggregated_MAJ_seg.nii.gz`` beside ``imaging.nii.gz``, its annotators' in ``segmentations/``)."""
    if not path.is_dir():
        return False
    top = [p for p in data_folder(path, announce=False).iterdir() if visible_dir(p)]
    classes = (
        [c for s in top for c in s.iterdir() if visible_dir(c)]
        if top and all(normalise_split(p.name) for p in top)
        else top
    )
    return (
        len(classes) >= 2
        and all(any(visible_dir(d) and _is_mask_folder(d.name) for d in c.iterdir()) for c in classes)
        and not has_case_folders(path)
        and not _named_as_parts(classes)  # PolypGen's data_C1/ ... data_C6/: centres, each with images and masks
        and not all(any(ch.isdigit() for ch in c.name) for c in classes)  # AROI's patient1/: cases, not classes
        and not any(normalise_split(c.name) for c in classes)  # KiPA22's train/ beside open/: splits, not classes
    )


def _is_mask_folder(name: str) -> bool:
    """A folder of masks by its name (``masks``, ``labels``, ``ground_truth``, ``lung masks``...), as the
    image/mask layout reads folder names: inside a class folder (the COVID-19 Radiography Database's
    ``COVID/images`` + ``COVID/masks``) its files are not images of the class; nor are the maps derived from masks
    and the regions left out of scoring beside them (NuInsSeg's ``<organ>/distance maps/``, ``vague areas/``)."""
    return folder_role(name) in ("roi", "ignore") or named_as_masks(name)


def _pool(
    root: Path, include: tuple[str, ...], exclude: tuple[str, ...], non_images: list[tuple[Path, str]] | None = None
) -> list[Case]:
    files = image_files(root, include, exclude, recursive=False, non_images=non_images, data_root=root)
    return [Case(case_id=f.relative_to(root).as_posix(), label=None, path=f) for f in files]


#: two class folders sharing at least this share of their file names are suspects of image/mask folders
SHARED_NAMES = 0.8
#: a mask holds at most this many values (0 among them) in one channel
MASK_VALUES = 4
MASK_SAMPLES = 3


#: a folder of images without labels (``unlabeled/``, ``unlabelled_images/``, ``no_label/``, ``unannotated/``)
POOL_FOLDER = re.compile(r"^(un|no)[\s_-]?(label|annotat)", re.IGNORECASE)


def _archives_note(root: Path) -> str:
    """``"; it holds .npz archives ..."`` when ``root`` holds array archives (TissueNet's
    ``tissuenet_v1.1_train.npz``...), each a dataset to give on its own; else ``""``."""
    archives = sorted(p.name for p in root.glob("*.npz") if p.is_file())
    if not archives:
        return ""
    listed = ", ".join(archives[:3])
    return f"; it holds .npz archive(s) ({listed}), each a dataset: give one, e.g. {root / archives[0]}"


def _tables_beside_splits_note(root: Path) -> str:
    """Where the labels of split folders without classes may be: the tables in a folder beside them (VinDr-CXR's
    ``annotations/annotations_train.csv``, ``image_labels_train.csv`` beside ``train/`` and ``test/`` of DICOM
    files), with the command that reads them; empty when there is none."""
    folders = [d for d in sorted(root.iterdir()) if visible_dir(d)]
    if not any(named_split(d.name) for d in folders):
        return ""
    for folder in folders:
        tables = tables_in(folder) if named_split(folder.name) is None else []
        if tables:
            listing = ", ".join(t.name for t in tables[:4])
            return f". The tables in {folder.name}/ ({listing}) may label the images: medimg fit '{folder}'"
    return ""


def _refuse_annotated_sets_as_classes(class_dirs: list[Path], root: Path) -> None:
    """Raise when two or more would-be classes each hold their own COCO annotation file (DENTEX's
    ``training_data/quadrant/`` and ``quadrant_enumeration_disease/``, each ``xrays/`` beside its JSON): sets of
    boxes, not classes. Read as classes (once ``unlabelled/`` was moved out, as its refusal advised), a model told
    the annotation sets apart, status OK. The message names a set to give."""
    from medimg.data.layouts import coco

    annotated = [d for d in class_dirs if coco.detect(d)]
    if len(annotated) < 2:
        return
    raise DatasetError(
        f"{root}: {', '.join(d.name + '/' for d in annotated)} each hold their own COCO annotation file: sets of "
        f"annotated images (boxes, outlines), not classes. Give one set, e.g. medimg fit '{annotated[-1]}' "
        "(--task detect for its boxes)"
    )


def _refuse_a_pool_as_class(class_dirs: list[Path], root: Path) -> None:
    """A semi-supervised set's ``labeled/<class>/`` + ``unlabeled/`` read from its top folder would train a classifier
    of labelled against unlabelled images (status OK, silently wrong).

    Raises:
        DatasetError: naming the pool folder and the command that uses it as a pool.
    """
    pools = [d for d in class_dirs if POOL_FOLDER.match(d.name)]
    if not pools or len(pools) == len(class_dirs):
        return
    others = [d for d in class_dirs if d not in pools]
    data = others[0] if len(others) == 1 else root
    pool = pools[0]
    raise DatasetError(
        f"{root}: {pool.name}/ holds images without labels, not a class ({len(class_dirs)} folders would be the "
        f"classes: {', '.join(d.name for d in class_dirs)}); train on the labelled classes and learn from the pool: "
        f"medimg fit {shell_quoted(data)} --unlabelled {shell_quoted(pool)}"
        + ("" if data != root else f" (move {pool.name}/ out of {root} first)")
    )


#: words naming a form the images come in (whole slides, patches cut from them, tiles, crops, thumbnails): folders so
#: named side by side hold the same cases in several forms, not classes
IMAGE_FORM_WORDS = frozenset({
    "wsi", "wsis", "slide", "slides", "patch", "patches", "tile", "tiles", "crop", "crops", "cropped", "thumbnail",
    "thumbnails", "thumbs", "roi", "rois", "region", "regions", "overview", "overviews", "fullsize", "full",
    "video", "videos", "clip", "clips",
})  # fmt: skip
#: forms of the images beside video clips only (POCUS' pocus_images/ beside pocus_videos/, GIF clips); otherwise an
#: images/ folder is the images' (Open Kidney's images/ beside regions/, its masks)
STILL_IMAGE_WORDS = frozenset({"image", "images", "still", "stills", "frame", "frames"})
VIDEO_WORDS = frozenset({"video", "videos", "clip", "clips"})


def _refuse_image_forms_as_classes(class_dirs: list[Path], root: Path) -> None:
    """Raise when every would-be class is named for a form of the images, each another (:data:`IMAGE_FORM_WORDS`:
    BCNB's ``WSIs/``, the whole slides, beside ``paper_patches/``, the patches cut from them): read as classes, a
    model told slides from patches (status OK, the patients' own labels in ``patient-clinical-data.xlsx`` unread),
    and one patient's slide and patches sat on both sides of the split. The message names the tables beside them."""
    words = {d: set(re.split(r"[^a-z]+", d.name.lower())) for d in class_dirs}
    form_words = IMAGE_FORM_WORDS | (STILL_IMAGE_WORDS if any(w & VIDEO_WORDS for w in words.values()) else set())
    form_of = {d: frozenset(w.rstrip("s") for w in words[d] if w in form_words) for d in class_dirs}
    if sum(1 for form in form_of.values() if form) < 2:
        return  # by the names alone, before any folder is looked into

    def holds_images(folder: Path) -> bool:  # not BCNB's dataset-splitting/ of split lists
        return any(is_image_file(f) for f in walk_files(folder, 200))

    if any(not form and holds_images(d) for d, form in form_of.items()):
        return
    class_dirs = [d for d, form in form_of.items() if form and holds_images(d)]
    forms = [form_of[d] for d in class_dirs]
    # each its own form: tumor_patches/ beside normal_patches/ are classes of patches
    if len(class_dirs) < 2 or len(set(forms)) < len(forms):
        return
    labels = _labels_in_tables(
        root,
        "give a CSV manifest (path,label,patient_id) naming each image's class and patient, then medimg fit MANIFEST",
        "arrange one form's images in class folders (<class name>/<image files>), or list them in a CSV manifest "
        "(path,label,patient_id)",
        beside=[folder.parent for folder in class_dirs],
    )
    raise DatasetError(
        f"{root}: its folders ({', '.join(d.name for d in class_dirs)}) are named for forms of the images (whole "
        f"slides, patches, tiles, crops, still images and video clips), which hold the same cases, not classes; "
        f"{labels}"
    )


def _labels_in_tables(root: Path, fix: str, otherwise: str, beside: Sequence[Path] = ()) -> str:
    """Where the labels of folders refused as classes may be: the tables at the top of ``root`` (and in the folders
    ``beside``), then ``fix`` (``{table}`` is the first one's path); ``otherwise`` when there is none."""
    found = [t for folder in dict.fromkeys([root, *beside]) for t in tables_in(folder)]
    tables = list(dict.fromkeys(t.relative_to(root).as_posix() for t in found))
    if not tables:
        return otherwise
    return f"the labels may be in {', '.join(tables[:3])}: {fix.format(table=shell_quoted(str(root / tables[0])))}"


#: how deep inside a would-be class folder its own split folders are looked for (ODIR-5K/ODIR-5K/Training Images/)
SPLIT_COPY_DEPTH = 3


def _split_folders_inside(folder: Path) -> set[str]:
    """The splits the folders inside ``folder`` (down to :data:`SPLIT_COPY_DEPTH`) are named for."""
    found: set[str] = set()
    level = [folder]
    for _ in range(SPLIT_COPY_DEPTH):
        level = [d for parent in level for d in folder_entries(parent)[0]][:50]  # one listing, no stat a file
        found |= {split for d in level if (split := named_split(d.name)) is not None}
    return found


def _refuse_a_split_copy_as_class(class_dirs: list[Path], root: Path) -> None:
    """Raise when some would-be classes hold a training and another split folder of their own and the others do not:
    a copy of the data set beside another form of its images (Kaggle's ODIR: ``ODIR-5K/ODIR-5K/Training Images/`` +
    ``Testing Images/`` beside ``preprocessed_images/`` and ``full_df.csv``), not classes. Read as classes, a model
    told the copies apart (status OK, the table's labels unread). Class folders that each hold the splits
    (``COVID/train/``, ``Normal/train/``) are classes. The message names the tables beside them."""
    if len(class_dirs) < 2:
        return
    copies = [d for d in class_dirs if {"train"} < _split_folders_inside(d)]
    if not copies or len(copies) == len(class_dirs):
        return
    labels = _labels_in_tables(
        root,
        "medimg fit {table} (with --label-column if needed)",
        "point medimg at the folder of one copy, or list the images in a CSV manifest (path,label)",
    )
    raise DatasetError(
        f"{root}: {', '.join(d.name + '/' for d in copies)} holds split folders of its own (training and others) "
        f"beside {', '.join(d.name + '/' for d in class_dirs if d not in copies)}: a copy of the data set beside "
        f"another form of its images, not classes; {labels}"
    )


#: words naming a kind of scan (an MR sequence, a modality): folders so named hold the same subjects' other scans
SCAN_TYPE_WORDS = frozenset(
    [
        "t1",
        "t2",
        "t1w",
        "t2w",
        "t1ce",
        "t1c",
        "t1gd",
        "pd",
        "pdw",
        "flair",
        "mra",
        "dti",
        "dwi",
        "adc",
        "swi",
        "ct",
        "pet",
        "cta",
        "energy",  # contrast-enhanced mammography (CDD-CESM): the low energy image, and the subtracted one
        "subtracted",
        "subtraction",
        "recombined",
    ]
)


#: the fix of scan folders refused as classes when no table beside them holds the labels
SCANS_MANIFEST = "give a CSV manifest (path,label,patient_id) naming each scan's label and subject"


def _refuse_scan_types_as_classes(class_dirs: list[Path], root: Path) -> None:
    """Raise when every would-be class is named for another kind of scan of the same subjects (IXI's ``IXI-T1/``,
    ``IXI-T2/``, ``IXI-PD/`` of ``IXI002-Guys-0828-T1.nii.gz``...: one subject in each): read as classes, a model
    told T1 from T2 (status OK, ``IXI.xls``'s sex and age unread). The message names the tables beside them."""
    from medimg.data.name_patients import name_key

    kind_of = {
        d: frozenset(w for w in re.split(r"[^a-z0-9]+", d.name.lower()) if w in SCAN_TYPE_WORDS) for d in class_dirs
    }
    kinds = list(kind_of.values())
    if len(class_dirs) < 2 or not all(len(k) == 1 for k in kinds) or len(set(kinds)) < len(kinds):
        return
    subjects = [{name_key(f.name) for f in walk_files(d, 100)} - {None} for d in class_dirs]
    if not all(subjects):
        return  # the names give no subjects (a study's ct_head/ and mr_t1/ of 0.dcm, 1.dcm...): nothing to compare
    shared = set.intersection(*subjects)
    if 2 * len(shared) < min(len(s) for s in subjects):
        return  # each folder its own subjects: the kinds of scan may well be the classes
    fit = f"medimg fit {{table}} reads the labels from it (--label-column picks the column), or {SCANS_MANIFEST}"
    labels = _labels_in_tables(root, fit, SCANS_MANIFEST)
    raise DatasetError(
        f"{root}: its folders ({', '.join(d.name for d in class_dirs)}) are named for kinds of scan of the same "
        f"subjects ({len(shared)} in each), not classes: a model would tell the kinds of scan apart; {labels}"
    )


#: a folder named for an imaging modality (RadImageNet's ``CT/``, ``MR/``, ``US/``)
MODALITY_FOLDER_NAMES = frozenset(
    ["ct", "mr", "mri", "us", "ultrasound", "xr", "xray", "cr", "dx", "pet", "mg", "mammography", "spect", "nm"]
)


def _refuse_modalities_holding_categories(class_dirs: list[Path], root: Path) -> None:
    """Raise when every would-be class is named for a modality and holds its images only in folders named as
    categories, not patients (RadImageNet's ``CT/abd/pancreatitis/``, ``MR/knee/acl_pathology/``,
    ``US/thyroid/thyroid_nodule/``): read as classes, a model told CT from MR from US (status OK) and every finding
    was dropped. Modality folders holding their images directly (a CT-versus-MR set) stay classes."""
    if len(class_dirs) < 2 or not all(
        re.sub(r"[^a-z]", "", d.name.lower()) in MODALITY_FOLDER_NAMES for d in class_dirs
    ):
        return
    leaves: set[Path] = set()
    for folder in class_dirs:
        images = [f for f in walk_files(folder, 200) if is_image_file(f)]
        if not images or any(f.parent == folder for f in images):
            return
        leaves |= {f.parent for f in images}
    if sum(any(ch.isdigit() for ch in leaf.name) for leaf in leaves) > (1 - ID_FOLDER_SHARE) * len(leaves):
        return  # patient or study folders (CT/LIDC-0001/): the modalities may be the classes
    shown = sorted(leaf.relative_to(root).as_posix() for leaf in leaves)
    example = next((leaf for leaf in sorted(leaves) if len(leaf.relative_to(root).parts) > 1), min(leaves)).parent
    raise DatasetError(
        f"{root}: its folders ({', '.join(d.name for d in class_dirs)}) name imaging modalities and hold their "
        f"images in folders of categories ({', '.join(shown[:4])}{', ...' if len(shown) > 4 else ''}): read as "
        "classes, a model would tell the modalities apart and every finding below them would be dropped; to "
        "classify the innermost folders, point medimg at a folder holding them as its class folders (medimg fit "
        f"{shell_quoted(str(example))}) or give a CSV manifest (path,label) naming each image's category"
    )


#: a BIDS subject's folder (``sub-01``, ``sub-strokecase0001``)
BIDS_SUBJECT = re.compile(r"sub-[a-z0-9]+", re.IGNORECASE)


def _refuse_bids_subjects_as_classes(class_dirs: list[Path], root: Path) -> None:
    """Raise when most would-be classes are BIDS subject folders (``sub-01/ses-pre/anat/...``): one person each,
    whose labels BIDS keeps in ``participants.tsv``; read as classes, a model told the subjects apart (status OK
    when each held several scans). The message names the tables beside them."""
    subjects = [d for d in class_dirs if BIDS_SUBJECT.fullmatch(d.name)]
    if len(subjects) < 2 or 2 * len(subjects) <= len(class_dirs):
        return
    labels = _labels_in_tables(root, f"{SCANS_MANIFEST} (from {{table}}), then medimg fit MANIFEST", SCANS_MANIFEST)
    raise DatasetError(
        f"{root}: its folders ({', '.join(d.name for d in subjects[:3])}{', ...' if len(subjects) > 3 else ''}) are "
        f"BIDS subjects, one person each, not classes; {labels}"
    )


def _refuse_role_folders_as_classes(class_dirs: list[Path], root: Path) -> None:
    """An images folder beside a ground-truth folder taken for two classes (Drishti-GS1's ``Training/Images/`` +
    ``Training/GT/<image>/SoftMap/*_ODsegSoftmap.png``, masks named otherwise than their images, so no reader paired
    them): a classifier of images against masks, its one-class test split scored accuracy 1.0.

    Raises:
        DatasetError: naming both folders and how to give the pairs.
    """
    images = [d for d in class_dirs if folder_role(d.name) == "image"]
    masks = [d for d in class_dirs if folder_role(d.name) == "mask"]
    if not images or not masks:
        return

    def keys(folder: Path) -> set[str]:
        return {pairing_key(f) for f in walk_files(folder, 2000) if is_image_file(f)}

    mask_keys = keys(masks[0])  # none: tables or lists, no masks (LLD-MMRI's labels/labels_train.txt)
    if not mask_keys or keys(images[0]) & mask_keys:  # named alike: pairs the user chose to read as classes
        return
    raise DatasetError(
        f"{root}: {images[0].name}/ and {masks[0].name}/ would be classes, but they are images and their masks (or "
        "ground truth): no mask is named like its image, so none was paired. Name each mask <image>_mask.<ext> in a "
        "masks/ folder beside images/, or list the pairs in a CSV manifest with image,mask columns, then: medimg fit "
        "<that folder or CSV> --task segment"
    )


def _refuse_a_class_of_masks(class_names: list[str], cases: list[Case], root: Path) -> None:
    """Two class folders holding the same file names, one of them masks (one channel, a few values with 0; the
    other not), are an image folder and its mask folder under names medimg does not know (``Original/`` +
    ``Binary/``, ``x/`` + ``y/``): a classifier would learn to tell masks from images.

    Raises:
        DatasetError: naming both folders and the fix.
    """
    if len(class_names) != 2:
        return
    files: list[dict[str, Path]] = [{}, {}]
    for case in cases:
        if case.label in (0, 1) and case.path is not None:
            files[case.label][case.path.stem.lower()] = case.path
    shared = sorted(set(files[0]) & set(files[1]))
    if not shared or len(shared) < SHARED_NAMES * min(len(files[0]), len(files[1])):
        return
    masks = [all(_mask_like(files[k][name]) for name in shared[:MASK_SAMPLES]) for k in (0, 1)]
    if masks[0] == masks[1]:
        return
    mask_folder, image_folder = (files[k][shared[0]].parent for k in ((0, 1) if masks[0] else (1, 0)))
    renames = [  # not "images/ to images/" (Open Kidney's images/ beside labels/reviewer1/regions/)
        f"{folder.name}/ to {name}/"
        for folder, name in ((mask_folder, "masks"), (image_folder, "images"))
        if folder.name.lower() != name
    ]
    raise DatasetError(
        f"{root}: the class folders {image_folder.name}/ and {mask_folder.name}/ hold the same file names "
        f"({len(shared)} of them), and {mask_folder.name}/'s files are masks (one channel, a few values): this is "
        f"segmentation data with its masks in {mask_folder.name}/, not two classes: "
        + (f"rename {' and '.join(renames)}, then run " if renames else "run ")
        + f"medimg fit {shell_quoted(root)} --task segment"
    )


def _mask_like(path: Path) -> bool:
    """One channel (or three equal ones) holding at most :data:`MASK_VALUES` values, 0 among them."""
    import numpy as np

    from medimg.errors import MedimgError
    from medimg.io.read import read_image

    try:
        array = read_image(path, dicom_display=False).array
    except MedimgError:
        return False
    if array.shape[0] == 3 and not (np.array_equal(array[0], array[1]) and np.array_equal(array[1], array[2])):
        return False
    values = np.unique(array[0])
    return len(values) <= MASK_VALUES and values[0] == 0


def _note_unread_files(root: Path, folders: list[Path]) -> None:
    """Warn once when class folders that hold images also hold files of a format medimg does not read (whole-slide
    ``.svs``/``.ndpi`` slides beside their exported tiles, HDF5...): they are left out, not images of the class."""
    notes = [(folder, note) for folder in folders if (note := unread_files_note(folder))]
    if notes:
        folder, note = notes[0]
        others = f" and {len(notes) - 1} other class folder(s)" if len(notes) > 1 else ""
        logger.warning(
            "%s: files in %s%s are left out of their class%s",
            root,
            shown_under(folder, root),
            others,
            note,
        )


def _drop_empty_classes(
    class_names: list[str], cases: list[Case], root: Path, class_of: dict[Path, str] | None = None
) -> tuple[list[str], list[Case]]:
    """Remove class folders that hold no images and renumber labels so they stay contiguous. The warning names
    the files of a format medimg does not read in them (``class_of``: class folder -> class), such as a class of
    whole-slide ``.svs`` files beside classes of exported tiles."""
    used = sorted({c.label for c in cases if c.label is not None})
    if len(used) == len(class_names):
        return class_names, cases
    empty = [n for i, n in enumerate(class_names) if i not in used]
    notes = ""
    for folder, name in (class_of or {}).items():
        if name in empty and (note := unread_files_note(folder)):
            notes += f" ({shown_under(folder, root)}: {note[2:]})"
    logger.warning("%s: class folders without images are ignored: %s%s", root, ", ".join(empty), notes)
    return keep_classes(class_names, cases, used)
