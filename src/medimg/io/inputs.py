"""What the user named on the command line: files as given, and the image files inside folders; and where the
outputs for them go (mirroring the input tree, so two inputs of the same name never share an output).

File names that are not valid UTF-8 (Latin-1 bytes from a Windows share or an old zip: ``r\xf6ntgen.png``) are
refused here and by :meth:`medimg.data.dataset.Dataset.load`, before anything is written
(:func:`refuse_undecodable_names`): Python gives such a name a lone surrogate (``'r\udcf6ntgen.png'``) that
opens the file but has no UTF-8 form, so every JSON and CSV file that records it (``splits.json``, predictions,
reports) could only hold a wrong name. The message names the files and the one-command fix (``convmv``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from medimg.errors import DatasetError
from medimg.io.folder_walk import walk_tree

logger = logging.getLogger(__name__)


def parse_patterns(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"*.png, *.bmp"``, ``["*.png"]`` or ``["*.png,*.bmp", "*.dcm"]`` (a CLI option given twice) -> a tuple of
    shell patterns (empty for ``None``)."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    return tuple(p.strip() for item in items for p in item.split(",") if p.strip())


def name_selected(
    name: str, include: tuple[str, ...], exclude: tuple[str, ...], *, relative: str | None = None
) -> bool:
    """True when ``name`` matches an ``include`` pattern (or there are none) and no ``exclude`` pattern.

    Matching is case-insensitive. With ``relative`` (the file's path inside the data folder, ``/``-separated), a
    pattern holding a ``/`` is matched against that path instead of the name (``--exclude 'Lung_Mask/*'``), and
    one without matches the name or a folder of that path (``--include '*40X*'``: BreakHis's magnification folders).
    """
    lower, path = name.lower(), (relative or name).lower()
    folders = path.split("/")[:-1] if relative else []

    def matches(pattern: str) -> bool:
        pattern = pattern.lower()
        if "/" in pattern:
            return fnmatch.fnmatch(path, pattern)
        return fnmatch.fnmatch(lower, pattern) or any(fnmatch.fnmatch(folder, pattern) for folder in folders)

    if include and not any(matches(p) for p in include):
        return False
    return not any(matches(p) for p in exclude)


def path_selected(path: Path, include: tuple[str, ...], exclude: tuple[str, ...], root: Path | None) -> bool:
    """:func:`name_selected` for a file: a pattern holding a ``/`` matches its path inside ``root`` (the data
    folder the user named: ``--exclude 'normal/pt07/*'``); without ``root``, or for a file outside it, the name
    alone."""
    relative = path.relative_to(root).as_posix() if root is not None and path.is_relative_to(root) else None
    return name_selected(path.name, include, exclude, relative=relative)


def expand_inputs(
    inputs: Iterable[str | Path],
    *,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
) -> list[Path]:
    """Files as given, every image file inside given folders (recursively, sorted), and what a shell pattern
    names (``"scans/*.dcm"``, ``"**/*.png"``: quoted, or from Python) when no such file exists. A folder's
    Medical Segmentation Decathlon / nnU-Net datasets give their images, not the masks in their ``labelsTr/`` and
    ``labelsTs/`` (:func:`dataset_mask_folders`).

    Args:
        include, exclude: file-name patterns (``"*.png,*.dcm"``) selecting the files found inside folders
            (files named explicitly are always kept).

    Raises:
        DatasetError: a path does not exist, or a folder holds no (selected) image files.
    """
    from medimg.io.formats import ARRAY_SUFFIXES, file_suffix, in_system_folder, is_image_file

    includes, excludes = parse_patterns(include), parse_patterns(exclude)
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if not path.exists() and any(c in str(path) for c in "*?["):  # a quoted pattern ('scans/*.dcm', '**/*.png')
            matches = [m for m in sorted(glob.glob(str(path), recursive=True)) if Path(m).is_dir() or is_image_file(m)]
            if not matches:
                raise DatasetError(f"{path} matches no file: check the pattern (relative to {Path.cwd()})")
            files.extend(expand_inputs(matches, include=include, exclude=exclude))
            continue
        if path.is_dir():
            visible = [p for p in sorted(walk_tree(path)) if p.is_file() and not in_system_folder(p, path)]
            # a folder of images saved as arrays (TransUNet's test_vol_h5/): read when it holds no other images
            found = [p for p in visible if is_image_file(p)] or [p for p in visible if file_suffix(p) in ARRAY_SUFFIXES]
            if not found:
                raise DatasetError(
                    f"{path} holds no image files (PNG, JPEG, BMP, TIFF, DICOM, NIfTI, MetaImage, NRRD, .npy, or "
                    ".npz / .h5 arrays)"
                )
            found = _without_nested_copies(_without_dataset_masks(found, path), path)
            # a pattern holding a '/' matches the path inside the folder given (--exclude 'masks/*')
            selected = [p for p in found if path_selected(p, includes, excludes, path)]
            if not selected:
                raise DatasetError(
                    f"{path}: none of its {len(found)} image files matches --include {include or '-'} / "
                    f"--exclude {exclude or '-'}"
                )
            refuse_undecodable_names(selected, path)
            files.extend(selected)
        elif path.is_file():
            refuse_undecodable_names([path], path.parent)
            files.append(path)
        else:
            raise DatasetError(f"{path} does not exist: check the path (a typo, or a folder not mounted?)")
    return files


def nested_copies(folders: Iterable[Path]) -> set[Path]:
    """Among ``folders`` (the folders of a tree), each named like its parent whose own sub-folders all have a
    sibling of that name beside it: the nested copy of the data Kaggle's archives carry (``chest_xray/chest_xray/``
    holding ``train/``, ``test/``, ``val/`` beside ``chest_xray/train/``...; the malaria set's
    ``cell_images/cell_images/Parasitized/`` beside ``cell_images/Parasitized/``). Names compare case-folded."""
    children: dict[Path, set[str]] = {}
    given = set(folders)
    for folder in given:
        children.setdefault(folder.parent, set()).add(folder.name.casefold())
    return {
        folder
        for folder in given
        if folder.name.casefold() == folder.parent.name.casefold()
        and children.get(folder)
        and children[folder] <= children[folder.parent] - {folder.name.casefold()}
    }


def _without_nested_copies(files: list[Path], root: Path) -> list[Path]:
    """``files`` found in ``root`` without those of a nested copy of the data (:func:`nested_copies`): predicted
    twice before, once under each path (a warning names the copy)."""
    folders = {root}
    for folder in {f.parent for f in files}:  # each folder below root once, not once per file
        while folder not in folders and folder.is_relative_to(root):
            folders.add(folder)
            folder = folder.parent
    copies = nested_copies(folders)
    if not copies:
        return files
    logger.warning(
        "%s: %s holds the same folders as its siblings (a nested copy of the data, as Kaggle's archives carry): its "
        "images are left out, not predicted twice; name the folder to predict it",
        root,
        ", ".join(f"{_relative_folder(c, root)}/" for c in sorted(copies)),
    )
    return [f for f in files if not any(f.is_relative_to(c) for c in copies)]


#: the mask folders of a Medical Segmentation Decathlon / nnU-Net dataset -> the image folders found beside them
DATASET_MASK_FOLDERS = {"labelstr": ("imagestr", "imagests"), "labelsts": ("imagests", "imagestr")}


def dataset_mask_folders(files: Iterable[Path], root: Path) -> list[Path]:
    """The mask folders (``labelsTr/``, ``labelsTs/``) of the Medical Segmentation Decathlon / nnU-Net datasets that
    hold some of ``files`` (found in the folder ``root``), each beside an image folder (``imagesTr/``,
    ``imagesTs/``). ``root`` itself is not one: a ``labelsTr/`` given on its own is a folder of inputs."""
    candidates: set[Path] = set()
    for parent in {f.parent for f in files}:
        candidates.update(
            folder
            for folder in (parent, *parent.parents)
            if folder != root and root in folder.parents and folder.name.lower() in DATASET_MASK_FOLDERS
        )
    found = []
    for folder in sorted(candidates):
        siblings = {p.name.lower() for p in folder.parent.iterdir() if p.is_dir()}
        if any(name in siblings for name in DATASET_MASK_FOLDERS[folder.name.lower()]):
            found.append(folder)
    return found


def _without_dataset_masks(files: list[Path], root: Path) -> list[Path]:
    """``files`` (found in the folder ``root``) without those in an MSD / nnU-Net dataset's ``labelsTr/`` and
    ``labelsTs/``: the masks of the images beside them, no inputs (each was predicted as an image, or failed as one
    without its channel files). Says on one line how many were left out and which folders are predicted.

    Raises:
        DatasetError: the folder holds masks only (its image folders are empty).
    """
    masks = dataset_mask_folders(files, root)
    if not masks:
        return files
    kept = [f for f in files if not any(folder in f.parents for folder in masks)]
    shown_masks = ", ".join(f"{_relative_folder(m, root)}/" for m in masks)
    if not kept:
        raise DatasetError(
            f"{root} is a segmentation dataset (Medical Segmentation Decathlon / nnU-Net) whose image folders hold no "
            f"image files, only the masks in {shown_masks}: put the images in imagesTr/ or imagesTs/, or name the "
            "files to predict"
        )
    images = sorted({_relative_folder(f.parent, root) for f in kept})
    only_test = (root / "imagesTs").is_dir() and len(images) > 1
    logger.info(
        "%s is a segmentation dataset (Medical Segmentation Decathlon / nnU-Net): its %d mask(s) in %s are not "
        "inputs; predicting the images in %s%s",
        root,
        len(files) - len(kept),
        shown_masks,
        ", ".join(f"{name}/" for name in images[:4]) + (f" and {len(images) - 4} more" if len(images) > 4 else ""),
        f" (give {root / 'imagesTs'} to predict only its test images)" if only_test else "",
    )
    return kept


def _relative_folder(folder: Path, root: Path) -> str:
    relative = folder.relative_to(root).as_posix()
    return relative if relative != "." else str(root)


def is_undecodable(name: str | os.PathLike[str]) -> bool:
    """True for a file name that is not valid UTF-8 (Python holds its bytes as lone surrogates)."""
    try:
        os.fspath(name).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def shown_name(name: str | os.PathLike[str]) -> str:
    """A file name as text that names its bytes: ``r\\xf6ntgen.png`` for the Latin-1 bytes of ``röntgen.png``."""
    return os.fsencode(os.fspath(name)).decode("utf-8", "backslashreplace")


UTF8_FIX = "rename them in UTF-8, e.g. `convmv -f latin1 -t utf-8 -r --notest {folder}` (without --notest to preview)"
"""How to rename files whose names are Latin-1/Windows-1252 bytes (the usual source of names that are not UTF-8)."""


def refuse_undecodable_names(paths: Iterable[str | os.PathLike[str]], folder: str | os.PathLike[str]) -> None:
    """Refuse file names that are not valid UTF-8, naming up to three of them and the rename that fixes them.

    Args:
        paths: the files (or names) about to be used.
        folder: where they were found (the data folder), named in the fix.

    Raises:
        DatasetError: a name is not valid UTF-8.
    """
    bad = [Path(p) for p in paths if is_undecodable(p)]
    if not bad:
        return
    root = Path(folder)
    while is_undecodable(root.name) and root.parent != root:  # the folder's own name: rename from above it
        root = root.parent

    def relative(path: Path) -> str:
        try:
            return shown_name(path.relative_to(root))
        except ValueError:
            return shown_name(path)

    examples = ", ".join(relative(p) for p in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    latin1 = os.fsencode(bad[0].name).decode("latin-1")
    raise DatasetError(
        f"{len(bad)} file name{'s' if len(bad) > 1 else ''} in {shown_name(root)} "
        f"{'are' if len(bad) > 1 else 'is'} not valid UTF-8 ({examples}; read as Latin-1 the first is "
        f"{latin1!r}): medimg could not record {'them' if len(bad) > 1 else 'it'} in its JSON and CSV files; "
        + UTF8_FIX.format(folder=shell_quoted(shown_name(root)))
    )


def refuse_undecodable_dataset(dataset: Any) -> None:
    """:func:`refuse_undecodable_names` for a loaded dataset: its cases' files (images, masks, ROIs, channel
    files) and IDs, its unlabelled images and its class names (a class folder's name).

    Raises:
        DatasetError: a file or class name is not valid UTF-8.
    """
    root = Path(getattr(dataset, "root", None) or ".")
    bad: list[str | os.PathLike[str]] = []
    for case in [*getattr(dataset, "cases", ()), *getattr(dataset, "unlabelled", ())]:
        undecodable = [name for name in _names_in(case) if is_undecodable(name)]
        if undecodable:  # the case's file rather than its ID (the same name)
            bad.append(next((n for n in undecodable if isinstance(n, os.PathLike)), undecodable[0]))
    bad += [root / name for name in getattr(dataset, "class_names", ()) if is_undecodable(str(name))]
    refuse_undecodable_names(bad, root)


def _names_in(value: Any) -> Iterator[str | os.PathLike[str]]:
    """Every path and text of a case (a dataclass), through tuples of them."""
    if isinstance(value, (str, os.PathLike)):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _names_in(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _names_in(getattr(value, field.name))


def shell_quoted(path: str | Path) -> str:
    """``path`` as a shell word a user can copy into a command: quoted when it holds spaces or other characters a
    shell splits on (``'FIVES A Fundus Image Dataset/Quality Assessment.xlsx'``), else as it is."""
    import shlex

    return shlex.quote(str(path))


def common_root(files: Sequence[str | Path]) -> Path:
    """The deepest folder holding every file (its own folder for a single file)."""
    if not files:
        return Path(".")
    parents = [str(Path(f).resolve().parent) for f in files]
    try:
        return Path(os.path.commonpath(parents))
    except ValueError:  # different drives (Windows): no common folder
        return Path(parents[0])


def mirrored_folder(source: str | Path, root: Path, folder: Path) -> Path:
    """The folder under ``folder`` for the outputs of ``source``: its path relative to ``root`` (see
    :func:`common_root`), so that ``a/x.png`` and ``b/x.png`` get ``folder/a/`` and ``folder/b/``."""
    parent = Path(source).resolve().parent
    try:
        return folder / parent.relative_to(root)
    except ValueError:
        return folder
