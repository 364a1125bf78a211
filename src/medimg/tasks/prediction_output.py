"""Predictions of any task written as they come: a JSON array, JSON Lines or a CSV table.

``medimg predict`` over 100,000 images must not build the whole text in memory: :func:`write_predictions` takes
an iterator and writes each record as soon as it is yielded. ``json`` writes the same text as
``json.dumps([p.to_dict() ...], indent=2)`` (a valid JSON array; ``Pneumonia – viral`` as written where the
target encodes it, as ``\\u2013`` on a Latin-1 or ASCII console), ``jsonl`` one compact object per line,
``csv`` the table of :func:`medimg.tasks.prediction_table.prediction_csv`: a list gets the union of its rows'
columns (detection rows differ), a stream the first row's columns (a classifier's rows all have the same keys).

A file is written atomically (:func:`medimg.fileio.atomic_text_file`): a run that fails half-way leaves the old
file or none, never half a table.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

from medimg.errors import ConfigError

#: Output formats of :func:`write_predictions`.
PREDICTION_FORMATS = ("json", "jsonl", "csv")


class WritablePrediction(Protocol):
    def to_dict(self) -> dict[str, Any]: ...

    def csv_rows(self) -> list[dict[str, Any]]: ...


def write_predictions(
    predictions: Iterable[WritablePrediction], target: str | Path | TextIO, output_format: str
) -> int:
    """Write ``predictions`` to a file (atomically) or an open text stream, one record at a time.

    Args:
        predictions: a list or an iterator (consumed once).
        target: a file path, or a text stream such as ``sys.stdout``.
        output_format: ``json`` (an indented array), ``jsonl`` (one object per line) or ``csv``.

    Returns:
        The number of predictions written.

    Raises:
        ConfigError: an unknown format.
    """
    if output_format not in PREDICTION_FORMATS:
        raise ConfigError(f"--format {output_format!r}: use {', '.join(PREDICTION_FORMATS)}")
    if isinstance(target, (str, Path)):
        from medimg.fileio import atomic_text_file

        with atomic_text_file(target) as handle:
            return write_predictions(predictions, handle, output_format)
    if output_format == "csv":
        return _write_csv(predictions, target)
    count = 0
    ascii_only = not _writes_unicode(target)
    if output_format == "jsonl":
        for prediction in predictions:
            target.write(json.dumps(prediction.to_dict(), ensure_ascii=ascii_only) + "\n")
            count += 1
        return count
    for prediction in predictions:  # the text of json.dumps(list, indent=2), element by element
        element = json.dumps(prediction.to_dict(), indent=2, ensure_ascii=ascii_only).replace("\n", "\n  ")
        target.write(("[\n  " if count == 0 else ",\n  ") + element)
        count += 1
    target.write("\n]\n" if count else "[]\n")
    return count


def _writes_unicode(target: TextIO) -> bool:
    """Whether ``target`` encodes any character (UTF-8, or a text stream with no encoding of its own): JSON keeps
    ``é`` as it is there, and escapes it as ``\\u00e9`` for a Latin-1 or ASCII console."""
    encoding = getattr(target, "encoding", None)
    try:
        return not encoding or codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def _write_csv(predictions: Iterable[WritablePrediction], target: TextIO) -> int:
    if isinstance(predictions, Sequence):
        from medimg.tasks.prediction_table import prediction_csv

        target.write(prediction_csv(predictions))
        return len(predictions)
    writer: csv.DictWriter[str] | None = None
    count = 0
    for prediction in predictions:
        rows = prediction.csv_rows()
        if writer is None and rows:
            writer = csv.DictWriter(target, fieldnames=list(rows[0]), restval="", lineterminator="\n")
            writer.writeheader()
        if writer is not None:
            writer.writerows(rows)
        count += 1
    if writer is None:
        target.write("source\n")
    return count
