"""Label lists: one headerless text file per split, each line naming an image and its class, words apart.

COVIDx CXR (COVID-Net's chest X-rays) ships ``train/``, ``val/`` and ``test/`` folders of images and, beside them,
``train.txt``, ``val.txt`` and ``test.txt`` (older releases: ``train_COVIDx9A.txt``, ``test_COVIDx9A.txt``), a line
per image: ``<patient id> <file name> <class> <source>``. COVIDx CT writes ``<file name> <class> <box>`` into
``train_COVIDx_CT-3A.txt`` and keeps every image in one folder (``3A_images/``). Many teaching sets write
``<file name> <label>`` into ``train.txt``/``test.txt`` the same way. Read as class folders, such a set had no
classes: the split folders hold the images directly.

A list is a ``.txt`` file at the top of the folder whose name says its split (:func:`named_split`). In each line the
file name is the word (or words, when the name holds spaces) ending in an image suffix; the class is the word after
it; a word before it is the patient (so one patient's images stay in one split). Names are found under the split's
own folder first, then anywhere in the folder. The lists' splits are kept: the test list is the test split; without
a validation list, validation is carved from train (by patient). Words after the class (a source, a box) are not
read. Images that no list names are left out (with a warning): a list decides which images belong to the set.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.dataset_names import dataset_name
from medimg.data.labels import MEASUREMENT_CLASSES, as_numbers
from medimg.data.layouts.common import named_split, nothing_listed_error, order_classes, visible_dir, walk_files
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix, is_image_file
from medimg.io.inputs import name_selected

logger = logging.getLogger(__name__)

#: lines read to recognise a list (cheap: never the whole file, never pixels)
SNIFFED_LINES = 5


def _lists(path: Path) -> dict[str, list[Path]]:
    """The text files at the top of ``path`` named for a split, by split (several when a set ships two)."""
    found: dict[str, list[Path]] = {}
    for candidate in sorted(path.iterdir()):
        if candidate.suffix.lower() == ".txt" and candidate.is_file():
            split = named_split(candidate.stem)
            if split is not None:
                found.setdefault(split, []).append(candidate)
    return found


def _name_ends(word: str) -> bool:
    """Whether a word ends a file name medimg reads as an image (``.png``, ``.nii.gz``...)."""
    return file_suffix(word) in IMAGE_SUFFIXES


#: a list line: the words before the image's name (a patient), the name, the words after it (its class first)
Line = tuple[list[str], str, list[str]]


def _name_end(line: str) -> int | None:
    """The index of a line's first word ending in an image suffix, ``None`` for none."""
    return next((i for i, word in enumerate(line.split()) if _name_ends(word)), None)


def _lead(lines: list[str]) -> int:
    """How many words come before the image's name in a list's lines: the fewest before its suffix's word (a name
    holding spaces has more words before that one)."""
    ends = [end for end in map(_name_end, lines) if end is not None]
    return min(ends) if ends else 0


def _parse(line: str, lead: int) -> Line | None:
    """A line's words before its image's name, the name (words ``lead`` to the suffix's), the words after it;
    ``None`` for a line without such a name or with fewer words before it."""
    words, end = line.split(), _name_end(line)
    if end is None or end < lead:
        return None
    return words[:lead], " ".join(words[lead : end + 1]), words[end + 1 :]


def _sniff(table: Path) -> list[Line]:
    """The first lines of a list, parsed; empty when any of them is no list line (an image's name and a class)."""
    try:
        with table.open(encoding="utf-8-sig", errors="replace") as handle:
            lines = [line for line in (handle.readline() for _ in range(SNIFFED_LINES * 2)) if line.strip()]
    except OSError:
        return []
    lines = lines[:SNIFFED_LINES]
    lead = _lead(lines)
    parsed = [_parse(line, lead) for line in lines]
    if not parsed or not all(p and p[2] and not _name_ends(p[2][0]) for p in parsed):
        return []  # no class after a name, or an image's name after it (an image and its mask: a pair list)
    return [p for p in parsed if p is not None]


def detect(path: Path) -> bool:
    """A folder with a list named for a split at its top whose first lines each name an image (by its suffix)
    followed by a class, and the first named image is in the folder (names and a few lines only)."""
    if not path.is_dir():
        return False
    for tables in _lists(path).values():
        for table in tables:
            parsed = _sniff(table)
            searched = _searched(path, named_split(table.stem) or "")
            if parsed and _find(path, searched, parsed[0][1], index=None) is not None:
                return True
    return False


def _searched(root: Path, split: str) -> list[Path]:
    """Where a list's names are looked for, in order: the split's own folder, ``root``, its other top folders."""
    folders = [p for p in sorted(root.iterdir()) if visible_dir(p)]
    own = [f for f in folders if named_split(f.name) == split]
    return [*own, root, *(f for f in folders if f not in own)]


def _find(root: Path, searched: list[Path], name: str, index: dict[str, list[Path]] | None) -> Path | None:
    """The image a list names: ``<name>`` in the first of the ``searched`` folders (:func:`_searched`) holding it,
    or (with ``index``, every image under ``root`` by file name) the one image anywhere so named."""
    for folder in searched:
        candidate = Path(os.path.normpath(folder / name))
        if candidate.is_file() and candidate.is_relative_to(root):  # never a file outside the set (``../``)
            return candidate
    if index is not None:
        found = index.get(Path(name).name.lower(), [])
        return found[0] if len(found) == 1 else None
    return None


def _chosen_lists(root: Path) -> dict[str, Path]:
    """One list per split; two for one split (``train.txt`` beside ``train_COVIDx9A.txt``) is an error naming them."""
    chosen: dict[str, Path] = {}
    for split, tables in _lists(root).items():
        readable = [t for t in tables if _sniff(t)]
        if len(readable) > 1:
            names = ", ".join(t.name for t in readable)
            raise DatasetError(
                f"{root}: {len(readable)} label lists name the {split} split ({names}): move all but one out of the "
                "folder (or write one CSV manifest with path,label,split columns)"
            )
        if readable:
            chosen[split] = readable[0]
    return chosen


#: one listed image: its split, file, class as written and patient (``None`` when the list names none)
Listed = tuple[str, Path, str, str | None]


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Dataset:
    """The images the lists name, with their classes, patients and splits (see the module docstring).

    Raises:
        DatasetError: a line names no image or gives no class, two lists name one split, an image is listed twice
            with two classes, the classes are numbers of a measurement, or no listed image is in the folder.
    """
    root = path
    index: dict[str, list[Path]] = {}
    for image in walk_files(root):
        if is_image_file(image):
            index.setdefault(image.name.lower(), []).append(image)
    listed: list[Listed] = []
    absent: list[str] = []
    for split, table in _chosen_lists(root).items():
        lines = [
            (number, line)
            for number, line in enumerate(table.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1)
            if line.strip()
        ]
        lead, searched = _lead([line for _, line in lines]), _searched(root, split)
        for number, line in lines:
            parsed = _parse(line, lead)
            if parsed is None or not parsed[2]:
                raise DatasetError(
                    f"{table}, line {number}: {line.strip()!r} is not '[patient] <image file> <class> ...' as the "
                    "other lines are: correct or delete the line"
                )
            before, name, after = parsed
            found = _find(root, searched, name, index)
            if found is None:
                absent.append(name)
            else:
                listed.append((split, found, after[0], before[-1] if before else None))
    _refuse_measurements(root, [label for _, _, label, _ in listed])
    kept = _selected(root, _once(root, listed), include, exclude)
    if not kept:
        fix = "unpack the images beside the lists (in folders named for their splits, or any folder)"
        raise nothing_listed_error(
            root, "no image its label lists name is in the folder", absent, include + exclude, fix
        )
    named = {image for _, image, _, _ in listed}  # built once (it was built again for every image: quadratic)
    _say_left_out(root, absent, [i for images in index.values() for i in images if i not in named])
    classes = order_classes({label for _, _, label, _ in kept})
    cases = [
        Case(image.relative_to(root).as_posix(), classes.index(label), split=split, patient_id=patient, path=image)
        for split, image, label, patient in kept
    ]
    logger.info(
        "%s: %d images read from its label lists (%s); the lists' splits are kept",
        root,
        len(cases),
        ", ".join(f"{split} {count}" for split, count in sorted(Counter(c.split for c in cases).items())),
    )
    return Dataset(name=dataset_name(root), root=root, source="label_lists", class_names=classes, cases=cases)


def _say_left_out(root: Path, absent: list[str], unlisted: list[Path]) -> None:
    """Warn about the images the lists name that are not there, and those they do not name."""
    if absent:
        logger.warning(
            "%s: %d image(s) the lists name are not in the folder (e.g. %s): left out", root, len(absent), absent[0]
        )
    if unlisted:
        logger.warning(
            "%s: %d image(s) are in no label list (e.g. %s): left out (the lists name the images of the set)",
            root,
            len(unlisted),
            unlisted[0].relative_to(root).as_posix(),
        )


def _refuse_measurements(root: Path, labels: list[str]) -> None:
    """A class word that is a number with many distinct values is a measurement (or a box corner), not a class."""
    numbers = as_numbers(labels)
    if numbers is not None and len(set(numbers)) >= MEASUREMENT_CLASSES:
        raise DatasetError(
            f"{root}: the word after each image name in its label lists holds {len(set(numbers))} distinct numbers: "
            "a measurement, not classes; write a CSV manifest with path,label columns naming the classes"
        )


def _once(root: Path, listed: list[Listed]) -> list[Listed]:
    """Each image once: listed twice with one class, its first line; with two classes, an error."""
    first: dict[Path, Listed] = {}
    for row in listed:
        earlier = first.setdefault(row[1], row)
        if earlier[2] != row[2]:
            raise DatasetError(
                f"{root}: {row[1].relative_to(root).as_posix()} is listed as {earlier[2]!r} ({earlier[0]}) and as "
                f"{row[2]!r} ({row[0]}): keep one line for it"
            )
    return list(first.values())


def _selected(root: Path, listed: list[Listed], include: tuple[str, ...], exclude: tuple[str, ...]) -> list[Listed]:
    """The rows whose class (or path, for a pattern with a ``/``) ``--include``/``--exclude`` keep."""
    return [r for r in listed if name_selected(r[2], include, exclude, relative=r[1].relative_to(root).as_posix())]
