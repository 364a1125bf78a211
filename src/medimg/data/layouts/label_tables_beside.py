"""A label table beside class folders that names their cases: the folders may not be the classes.

ABIDE's ``RawData/{Pitt,NYU,UM_1}/0050003/session_1/anat_1/mprage.nii.gz`` read as classes were the acquisition
sites, status OK, while ``Phenotypic_V1_0b_preprocessed1.csv`` beside ``RawData/`` names each subject (``SUB_ID``
50003) with the diagnosis (``DX_GROUP``). Class folders win (a folder-per-class set often ships a metadata table);
:func:`say_tables_naming_cases` warns when a table in the data folder, or the one above it, names most of the cases
by an identifier (a folder or file name with a digit), naming the table and how to fit it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from medimg.data.case import Case
from medimg.data.labels import class_key
from medimg.data.layouts.columns import LATERALITY_COLUMNS, PATIENT_COLUMNS, column_key
from medimg.errors import DatasetError
from medimg.io.formats import file_stem
from medimg.io.inputs import shell_quoted

logger = logging.getLogger(__name__)

__all__ = ["say_tables_naming_cases"]

#: a table names the cases when one of its columns holds an identifier of at least this share of them
NAMED_SHARE = 0.5
#: the rows of a table looked at
MAX_ROWS = 20_000


def _key(text: str) -> str:
    """An identifier as compared: case-folded, a number without its leading zeros (``0050003`` is ``50003``)."""
    text = text.strip().casefold()
    return str(int(text)) if text.isdigit() else text


def _case_keys(case: Case, root: Path) -> set[str]:
    """A case's identifiers: the names with a digit of its folders below its class folder, and its file's."""
    if case.path is None or root not in case.path.parents:
        return set()
    parts = case.path.relative_to(root).parts
    names = [*parts[1:-1], file_stem(case.path)]
    return {_key(name) for name in names if any(ch.isdigit() for ch in name)}


def say_tables_naming_cases(
    root: Path,
    cases: Sequence[Case],
    class_names: Sequence[str],
    tables: Sequence[Path],
    read_rows: Callable[[Path], list[dict[str, str]]],
) -> None:
    """Warn when one of ``tables`` (those in ``root`` and the folder above it; ``read_rows`` reads one's rows) names
    most of ``cases`` and has a column of a few values that are not the cases' folder classes (see the module
    doc)."""
    if not tables or not cases:
        return
    keys = [_case_keys(case, root) for case in cases]
    if sum(bool(k) for k in keys) < NAMED_SHARE * len(cases):
        return
    for table in tables:
        try:
            rows = read_rows(table)[:MAX_ROWS]
        except DatasetError:
            continue
        columns = list(rows[0]) if rows else []
        for column in columns:
            row_of = {_key(str(row.get(column) or "")): row for row in rows if str(row.get(column) or "").strip()}
            named = [
                (case, row_of[k]) for case, ks in zip(cases, keys, strict=True) for k in sorted(ks & row_of.keys())[:1]
            ]
            if len(named) < NAMED_SHARE * len(cases):
                continue
            label = _other_labels(named, [c for c in columns if c != column], class_names)
            if label is not None:
                logger.warning(
                    "%s: %s names %d of the %d images' cases in its column %r, and its column %r holds other classes "
                    "than the folders (%s): if those are the labels you mean, fit the table: medimg fit %s "
                    "--label-column %s",
                    root,
                    table.name,
                    len(named),
                    len(cases),
                    column,
                    label,
                    ", ".join(class_names[:4]) + (", ..." if len(class_names) > 4 else ""),
                    shell_quoted(str(table)),
                    shell_quoted(label),
                )
            return


#: a column of classes holds this many different values at most
MAX_CLASSES = 20
#: a column restates the folders' classes when it agrees with them for this share of the cases
SAME_CLASSES_SHARE = 0.8


def _other_labels(
    named: list[tuple[Case, dict[str, str]]], columns: list[str], class_names: Sequence[str]
) -> str | None:
    """The first of ``columns`` holding a few values (2 to :data:`MAX_CLASSES`) that are not the cases' folder
    classes (ABIDE's ``DX_GROUP`` beside site folders), else ``None``; a column restating the folders' classes
    (Kvasir-Capsule's ``finding_class``) means the folders are the classes, unless it names sites (ABIDE's
    ``SITE_ID``: the folders are the sites)."""

    candidates = []
    for column in columns:
        if column_key(column) in {*PATIENT_COLUMNS, *LATERALITY_COLUMNS, *DESCRIPTIVE_COLUMNS}:
            continue  # GRAZPEDWRI-DX's dataset.csv: its patient_id, laterality, projection, gender are no diagnosis
        values = [str(row.get(column) or "").strip() for _, row in named]
        distinct = {class_key(v) for v in values if v}
        if not column.strip() or not 2 <= len(distinct) <= min(MAX_CLASSES, len(named) / 2):
            continue  # an unnamed index, or an identifier: no classes
        same = sum(
            1
            for (case, _), value in zip(named, values, strict=True)
            if isinstance(case.label, int) and class_key(value) == class_key(class_names[case.label])
        )
        if same < SAME_CLASSES_SHARE * len(named):
            candidates.append(column)
        elif not SITE_COLUMN.search(column):
            return None  # the table restates the folders' classes: the folders are the classes
    return candidates[0] if candidates else None


#: columns describing the patient or the acquisition, never the labels a table beside the images is for
DESCRIPTIVE_COLUMNS = frozenset(
    {"projection", "view", "view_position", "viewposition", "gender", "sex", "patient_sex", "age", "patient_age",
     "modality", "side"}
)  # fmt: skip

#: a column naming where or on what an image was taken: folders restating it are sites, not classes
SITE_COLUMN = re.compile(r"site|cent(?:er|re)|hospital|institution|scanner|vendor|manufacturer|device", re.IGNORECASE)
