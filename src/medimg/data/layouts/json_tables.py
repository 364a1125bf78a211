"""Label tables kept as JSON lists of records (Chaoyang's ``train.json``: ``[{"name": "train/539868-1-IMG...JPG",
"label": 0}, ...]``), read as a CSV manifest is: each record a row, its keys the columns, its values as text.

Only a list whose records hold plain values (text, numbers, booleans, null) is a table: COCO, LabelMe, Label Studio
and other annotation files (objects at the top, or records holding lists and objects) are read by their own layouts,
and a JSON mapping of file names to labels is not a table (its note says to write one).

Example:
    >>> columns, rows = read_json_table(Path("train.json"))                       # doctest: +SKIP
    >>> columns, rows[0]                                                           # doctest: +SKIP
    (['name', 'label'], {'name': 'train/539868-1-IMG006x019-3.JPG', 'label': '3'})
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from medimg.data.layouts.spreadsheets import cell_text
from medimg.errors import DatasetError

__all__ = ["is_json_table", "read_json_table"]

#: how many bytes of a file's start tell whether it may be a list of records
SNIFF_BYTES = 256
#: a JSON table larger than this is not read as one (an annotation export, not a label list)
MAX_TABLE_BYTES = 64 << 20


def _starts_as_records(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES).decode("utf-8-sig", errors="replace").lstrip()
    except OSError:
        return False
    return head.startswith("[") and head[1:].lstrip().startswith("{")


def _records(path: Path) -> list[dict[str, Any]] | None:
    """The file's records when it is a list of flat objects (see the module doc), else ``None``. Parsed once per
    version of the file: detection asks of a table several times (is it one, its header, its rows)."""
    if path.suffix.lower() != ".json" or not path.is_file() or not _starts_as_records(path):
        return None
    try:
        status = path.stat()
    except OSError:
        return None
    if status.st_size > MAX_TABLE_BYTES:
        return None
    return _parsed_records(str(path), status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=4)
def _parsed_records(path: str, mtime_ns: int, size: int) -> list[dict[str, Any]] | None:
    """:func:`_records` of the file at ``path`` as it was at ``mtime_ns`` and ``size`` (the cache's key)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, list) or not data or not all(isinstance(record, dict) for record in data):
        return None
    nested = any(isinstance(value, (dict, list)) for record in data for value in record.values())
    return None if nested else data  # records holding lists or objects: an annotation export


def is_json_table(path: Path) -> bool:
    """Whether ``path`` is a JSON list of flat records (a label table)."""
    return _records(path) is not None


def read_json_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The column names (every record's keys, in the order first met) and rows (values as text) of a JSON table.

    Raises:
        DatasetError: the file is not a JSON list of flat records.
    """
    records = _records(path)
    if records is None:
        raise DatasetError(
            f"{path} is not a table: a JSON label table is a list of records with plain values "
            '([{"path": "a.png", "label": "normal"}, ...])'
        )
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(str(key) for key in record))
    rows = [{column: cell_text(record.get(column)) for column in columns} for record in records]
    return list(columns), rows
