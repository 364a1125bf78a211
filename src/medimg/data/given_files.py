"""Image files and their labels given as lists: ``Model("resnet18").fit(paths, labels)``, the pair a script builds
from its own table or glob.

The lists become a CSV manifest (``path,label[,split]``, absolute paths; :mod:`medimg.data.layouts.csv_manifest`)
written into the run folder (``RUN/training_labels.csv``), so the run reads, evaluates and resumes exactly as one
fitted on a CSV file.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.given_arrays import MODEL_CLASSES, label_array, model_classes_hint, named_pairs, naming
from medimg.data.labels import MULTI_LABEL_SEPARATOR
from medimg.errors import ConfigError
from medimg.fileio import atomic_text_file
from medimg.run_folder import FILES_COPY

__all__ = ["FILES_TABLE", "LabelsTable", "is_file_list", "labels_table"]

#: the run folder's table of training files given as lists
FILES_TABLE = FILES_COPY


def is_file_list(data: Any) -> bool:
    """True for a non-empty list/tuple of paths (``str`` or ``os.PathLike``)."""
    return isinstance(data, list | tuple) and bool(data) and all(isinstance(p, str | os.PathLike) for p in data)


@dataclass(frozen=True)
class LabelsTable:
    """The rows of a CSV manifest: absolute path, label text, split (empty when medimg is to make the split)."""

    rows: list[tuple[str, str, str]]

    def digest(self) -> str:
        """SHA-256 of the rows (paths, labels, splits): the same files with the same labels give the same digest."""
        return hashlib.sha256("\n".join("\t".join(row) for row in self.rows).encode()).hexdigest()

    def save(self, path: Path) -> Path:
        """Write the manifest at ``path`` (atomically)."""
        with atomic_text_file(path) as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label", "split"])
            writer.writerows(self.rows)
        return path


def labels_table(
    files: Sequence[str | os.PathLike[str]],
    labels: Any,
    *,
    validation_data: tuple[Any, Any] | None = None,
    test_data: tuple[Any, Any] | None = None,
    class_names: Sequence[str] | None = None,
    names_from: str = "class_names",
) -> LabelsTable:
    """The manifest of files and their labels, and of the validation / test pairs when given.

    Labels are as :func:`medimg.data.given_arrays.label_array` takes them: a class per file (integers named by
    ``class_names``, or text) or ``(N, K)`` 0/1 findings (written as names joined by ``|``). Classes are ordered
    as for a folder per class (a "normal"-like class first of two, else alphabetically). ``names_from`` says where
    ``class_names`` come from in messages (``evaluate``: the model's classes).

    Raises:
        ConfigError: a file that does not exist, labels of another count, or labels that are not classes.
    """
    given = named_pairs(
        files, labels, validation_data, test_data, first="the files", noun="files", pair="paths, labels"
    )
    own_splits = len(given) > 1  # else medimg makes the split
    rows: list[tuple[str, str, str]] = []
    for split, (what, split_files, split_labels) in given.items():
        if not is_file_list(split_files):
            raise ConfigError(f"{what}: give the files and their labels as a pair (paths, labels)")
        found = [Path(p).expanduser().resolve() for p in split_files]
        missing = [str(p) for p in found if not p.exists()]
        if missing:
            raise ConfigError(
                f"{len(missing)} of {what} do not exist (e.g. {missing[0]}); relative paths are read from the "
                f"current folder, {Path.cwd()}"
            )
        names = [
            _class_text(label, class_names, what, names_from) for label in label_array(split_labels, len(found), what)
        ]
        rows += [(str(p), name, split if own_splits else "") for p, name in zip(found, names, strict=True)]
    return LabelsTable(rows)


def _class_text(label: Any, class_names: Sequence[str] | None, what: str, names_from: str = "class_names") -> str:
    """One label as the manifest's text: a name, or a multi-label row's names joined by ``|``."""
    if isinstance(label, np.ndarray):  # a row of (N, K) findings; none is "No Finding", as NIH's table says it
        found = [_name(int(i), class_names, what, names_from) for i in np.flatnonzero(label)]
        return MULTI_LABEL_SEPARATOR.join(found) or "No Finding"
    if isinstance(label, str | np.str_):
        if class_names is not None and str(label) not in class_names:
            raise ConfigError(f"{what}: label {str(label)!r} is not among {names_from} ({', '.join(class_names)})")
        return str(label)
    return _name(int(label), class_names, what, names_from)


def _name(index: int, class_names: Sequence[str] | None, what: str, names_from: str = "class_names") -> str:
    if class_names is None:
        return str(index)
    if index >= len(class_names):
        raise ConfigError(
            f"{what}: label {index} but {naming(names_from)} {len(class_names)} classes ({', '.join(class_names)})"
            + (f": {model_classes_hint(len(class_names))}" if names_from == MODEL_CLASSES else "")
        )
    return class_names[index]
