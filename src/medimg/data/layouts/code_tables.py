"""The class names of a segmentation set's mask values from a table of codes beside its folders: BCSS'
``gtruth_codes.tsv`` (``label<TAB>GT_code``: ``tumor 1``, ``stroma 2``...), a ``classes.csv`` of ``name,value``.

A ``dataset.json`` naming the labels wins (:func:`medimg.data.layouts.dataset_json.read_dataset_json`); without either,
classes keep generic names (``class_1``...).
"""

from __future__ import annotations

import logging
from pathlib import Path

from medimg.data.layouts.common import is_manifest, manifest_header, read_manifest
from medimg.data.layouts.dataset_json import read_dataset_json
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

#: columns of a code table holding the mask value, and the class name
CODE_COLUMNS = ("gt_code", "code", "pixel_value", "label_value", "mask_value", "value")
NAME_COLUMNS = ("label", "name", "class", "class_name", "structure")
#: a code table lists at most this many values (a mask's values are 0..255)
MAX_CODES = 256


def code_table_names(root: Path) -> dict[int, str]:
    """``{value: name}`` from the first table at the top of ``root`` with a code column and a name column whose
    codes are distinct whole numbers 0..255 (:data:`CODE_COLUMNS`, :data:`NAME_COLUMNS`); empty without one, or
    with a ``dataset.json`` naming the labels (said in the log when found)."""
    found = read_dataset_json(root)
    if not root.is_dir() or (found is not None and found.labels):
        return {}
    for table in sorted(p for p in root.iterdir() if p.is_file() and is_manifest(p)):
        header = set(manifest_header(table))  # one line: a large table of other columns is not read
        if not (header & set(CODE_COLUMNS) and header & set(NAME_COLUMNS)):
            continue
        try:
            columns, rows = read_manifest(table)
        except DatasetError:
            continue
        code = next((columns[c] for c in CODE_COLUMNS if c in columns), None)
        name = next((columns[c] for c in NAME_COLUMNS if c in columns), None)
        if code is None or name is None or not 0 < len(rows) <= MAX_CODES:
            continue
        cells = [(str(row.get(code) or "").strip(), str(row.get(name) or "").strip()) for row in rows]
        if not all(value.isdigit() and int(value) < MAX_CODES and label for value, label in cells):
            continue
        names = {int(value): label for value, label in cells}
        if len(names) != len(cells):
            continue
        logger.info("%s: the masks' classes are named by %s (%d codes)", root, table.name, len(names))
        return names
    return {}
