"""Names of mask values from the label tables that annotation tools save beside their label maps.

============================  ======================================================  ===============================
tool                          a line                                                  file
============================  ======================================================  ===============================
ITK-SNAP label descriptions   ``1  255 0 0  1 1 1  "Hippocampus"`` (IDX R G B A VIS    ``labels.txt``, "Export label
                              MSH "LABEL")                                            descriptions"
3D Slicer colour table        ``1 hippocampus 220 216 20 255`` (value name R G B A)    ``*.ctbl``, ``*.txt``
FreeSurfer lookup table       ``17  Left-Hippocampus  220 216 20 0``                   ``FreeSurferColorLUT.txt``
============================  ======================================================  ===============================

A file is a label table when every line that is not blank or a ``#`` comment is one of these forms and it names at
least two values. The value 0, named "Clear Label" (ITK-SNAP), "Unknown" (FreeSurfer) or "Background", is named
``background``. A ``dataset.json`` beside the data wins over a table
(:func:`medimg.tasks.segment.class_names.value_names_of`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

#: suffixes of the files looked at
SUFFIXES = (".txt", ".ctbl", ".lut", ".label", ".labels")
#: larger files are not label tables (FreeSurfer's full lookup table is about 60 KB)
MAX_BYTES = 1 << 20
#: names of the value 0 that mean no structure (compared case-folded)
NOTHING = frozenset({"clear label", "unknown", "background", "bg", "none", "unlabelled", "unlabeled"})

_ITK_SNAP = re.compile(r'^\s*(\d+)\s+\d+\s+\d+\s+\d+\s+[\d.]+\s+\d+\s+\d+\s+"(.*)"\s*$')
_COLOUR_TABLE = re.compile(r"^\s*(\d+)\s+(\S+)\s+\d+\s+\d+\s+\d+(?:\s+\d+)?\s*$")


def parse_label_table(text: str) -> dict[int, str] | None:
    """``{value: name}`` of a label table's text (see the module's docstring); ``None`` when it is not one."""
    names: dict[int, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ITK_SNAP.match(line) or _COLOUR_TABLE.match(line)
        if match is None:
            return None
        names[int(match.group(1))] = match.group(2).strip()
    if len(names) < 2:
        return None
    if 0 in names and names[0].casefold() in NOTHING:
        names[0] = "background"
    return names


def label_table_names(folders: Iterable[Path]) -> dict[int, str]:
    """``{value: name}`` from the first label table found in ``folders`` (each looked at once, its files in name
    order, not its sub-folders); ``{}`` when none holds one."""
    for folder in dict.fromkeys(folders):
        try:
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
        except OSError:
            continue
        for file in files:
            try:
                if file.stat().st_size > MAX_BYTES:
                    continue
                parsed = parse_label_table(file.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
            if parsed:
                shown = ", ".join(f"{value} = {name}" for value, name in sorted(parsed.items())[:8])
                logger.info(
                    "class names from the label table %s: %s%s", file, shown, ", ..." if len(parsed) > 8 else ""
                )
                return parsed
    return {}
