"""A split folder of images without class folders, beside the class folders of the other splits, labelled by a table.

Kaggle's MobileODT cervix screening set: ``train/Type_1/*.jpg``, ``train/Type_2/``, ``train/Type_3/``, and
``test/*.jpg`` whose labels were released after the challenge as ``solution_stg1_release.csv``
(``image_name,Type_1,Type_2,Type_3``, one-hot). The test folder was left out without a word, and the test split made
from the training images. A table beside the split folder (or at the top of the data) labels its images when one of
its columns names at least :data:`COVERAGE` of them (by file name, with or without the suffix) and either a column
holds the class names of the class folders or one-hot columns are named for them (one set per row). Submission
templates (``sample_submission.csv``) never label. Without such a table the folder is left out with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from medimg.data.case import Case
from medimg.data.labels import find_class
from medimg.data.layouts.common import read_manifest, tables_in
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

#: the share of a split folder's images a table's name column must name
COVERAGE = 0.8
#: words of a table's name that make it a submission template, not labels
TEMPLATE_WORDS = ("sample", "submission")
#: one-hot cells that set a class
SET_CELLS = frozenset({"1", "1.0", "true", "yes"})
UNSET_CELLS = frozenset({"0", "0.0", "false", "no", ""})


def table_labelled_cases(
    folder: Path, split: str, images: Sequence[Path], class_names: Sequence[str], root: Path
) -> list[Case]:
    """The ``images`` lying directly in the split ``folder`` with the labels a table beside it (or at the top of
    ``root``) gives them (see the module's docstring); none, with a warning, when no table does."""
    where = (folder.parent, root, folder)
    tables = [t for t in dict.fromkeys(t for place in where for t in tables_in(place)) if not _template(t)]
    for table in tables:
        labels = _labels_from(table, images, class_names)
        if labels is None:
            continue
        cases = [
            Case(case_id=image.relative_to(root).as_posix(), label=label, split=split, path=image)
            for image, label in zip(images, labels, strict=True)
            if label is not None
        ]
        missing = len(images) - len(cases)
        logger.info(
            "%s: the %d image(s) of %s/ are its %s split, labelled by %s%s",
            root,
            len(cases),
            folder.name,
            split,
            table.name,
            f" ({missing} it does not name left out)" if missing else "",
        )
        return cases
    looked = f" ({', '.join(t.name for t in tables)} name none of their labels)" if tables else ""
    logger.warning(
        "%s: %s/ holds %d image(s) without class folders beside the class folders of the other split(s): left out "
        "of %s, no table beside them gives their classes%s; to use them, add a table (file name, label) beside "
        "them or list every image in one CSV manifest (path,label,split)",
        root,
        folder.name,
        len(images),
        split,
        looked,
    )
    return []


def _template(table: Path) -> bool:
    return any(word in table.stem.lower() for word in TEMPLATE_WORDS)


def _labels_from(table: Path, images: Sequence[Path], class_names: Sequence[str]) -> list[int | None] | None:
    """Each image's class by ``table``, ``None`` for one it does not name; ``None`` when the table names too few of
    the images, or gives no class of ``class_names`` (an unreadable table is no label table here)."""
    try:
        columns, rows = read_manifest(table)
    except DatasetError:
        return None
    if not rows:
        return None
    names = list(columns.values())
    name_column = _name_column(names, rows, images)
    if name_column is None:
        return None
    label_of = _row_labels(names, rows, class_names, name_column)
    if label_of is None:
        return None
    return [label_of.get(image.name.lower(), label_of.get(_stem(image.name))) for image in images]


def _stem(name: str) -> str:
    return name.lower().rsplit(".", 1)[0]


def _file_key(cell: object) -> str:
    """A table cell naming a file, as the file's name is compared: its path's last part, lower case."""
    return str(cell or "").strip().replace("\\", "/").rsplit("/", 1)[-1].lower()


def _name_column(names: list[str], rows: list[dict[str, str]], images: Sequence[Path]) -> str | None:
    """The column naming at least :data:`COVERAGE` of the ``images`` (by file name, with or without its suffix,
    a path's last part)."""
    wanted = {image.name.lower() for image in images} | {_stem(image.name) for image in images}
    for column in names:
        values = {_file_key(row.get(column)) for row in rows}
        named = sum(image.name.lower() in values or _stem(image.name) in values for image in images)
        if named >= COVERAGE * len(images) and values & wanted:
            return column
    return None


def _row_labels(
    names: list[str], rows: list[dict[str, str]], class_names: Sequence[str], name_column: str
) -> dict[str, int] | None:
    """``{file name or stem (lower case): class}`` from a column of class names or from one-hot columns named for
    the classes; ``None`` for neither."""
    keys = [_file_key(row.get(name_column)) for row in rows]
    one_hot = {find_class(column.strip(), class_names): column for column in names if column != name_column}
    one_hot.pop(None, None)
    if len(one_hot) == len(class_names) >= 2:
        labels: list[int | None] = []
        for row in rows:
            cells = {index: str(row.get(column) or "").strip().lower() for index, column in one_hot.items()}
            if not all(cell in SET_CELLS | UNSET_CELLS for cell in cells.values()):
                return None
            chosen = [index for index, cell in cells.items() if cell in SET_CELLS]
            labels.append(chosen[0] if len(chosen) == 1 else None)
        return _keyed(keys, labels)
    for column in names:
        if column == name_column:
            continue
        found = [find_class(str(row.get(column) or "").strip(), class_names) for row in rows]
        if all(index is not None for index in found) and len(set(found)) >= min(2, len(rows)):
            return _keyed(keys, found)
    return None


def _keyed(keys: list[str], labels: Sequence[int | None]) -> dict[str, int]:
    """Labels by file name and by stem; rows without one (no class set) are left out."""
    out: dict[str, int] = {}
    for key, label in zip(keys, labels, strict=True):
        if label is not None:
            out[key] = label
            out.setdefault(_stem(key), label)
    return out
