"""Helpers shared by the layout readers: file-name patterns, class order, manifest headers."""

from __future__ import annotations

import csv
import re
from pathlib import Path

# file-name patterns are the io layer's (the CLI's --include/--exclude): one implementation
from medimg.io.inputs import name_selected as name_selected
from medimg.io.inputs import parse_patterns as parse_patterns

MANIFEST_SUFFIXES = (".csv", ".tsv")
NEGATIVE_CLASS_WORDS = ("normal", "negative", "benign", "healthy", "control", "no_", "no-", "none", "absent")


def order_classes(names: set[str] | list[str]) -> list[str]:
    """Class names in a stable order; for two classes, a "normal"-like class first.

    Binary metrics treat class index 1 as the positive class (sensitivity = recall of the disease), so a class
    named like normal / negative / benign / healthy / control goes first; the rest stay in numeric order when
    every name is a number, else alphabetical (MedMNIST-style integer labels keep their meaning).
    """
    try:
        return sorted(names, key=float)
    except ValueError:
        ordered = sorted(names)
    if len(ordered) != 2:
        return ordered
    negative = [n for n in ordered if n.lower().startswith(NEGATIVE_CLASS_WORDS)]
    return negative[:1] + [n for n in ordered if n not in negative[:1]]


def is_manifest(path: Path) -> bool:
    """True for an existing ``.csv``/``.tsv`` file."""
    return path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file()


#: what separates a manifest's columns: comma, semicolon (spreadsheets in locales with a decimal comma), tab, bar
DELIMITERS = (",", ";", "\t", "|")


def manifest_delimiter(path: Path) -> str:
    """Tab for ``.tsv``; otherwise the delimiter the header row uses most (comma when it has none: one column)."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            header = handle.readline(65536)
    except OSError:
        return ","
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def column_key(name: str) -> str:
    """How a manifest column is matched: lower case, spaces and hyphens as underscores (``Patient ID`` ->
    ``patient_id``, as spreadsheets and public sets such as NIH ChestX-ray14 write them)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def manifest_header(path: Path) -> list[str]:
    """The column names (:func:`column_key`) of a manifest's first row (empty when unreadable); reads one line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = next(csv.reader(handle, delimiter=manifest_delimiter(path)), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return [column_key(c) for c in first]


def read_manifest(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A manifest's columns (:func:`column_key` -> column as written) and rows, read as UTF-8 (BOM allowed).

    Raises:
        DatasetError: the file is not UTF-8 text or not valid CSV (the message names the file and the fix).
    """
    from medimg.errors import DatasetError

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=manifest_delimiter(path))
            columns = {column_key(c): c for c in (reader.fieldnames or [])}
            rows = list(reader)
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{path} is not UTF-8 text (byte {error.start} cannot be decoded): save the manifest as UTF-8 "
            "(spreadsheets: 'CSV UTF-8')"
        ) from error
    except (OSError, csv.Error) as error:
        raise DatasetError(f"cannot read manifest {path}: {error}") from error
    return columns, rows
