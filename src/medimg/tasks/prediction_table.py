"""Predictions of any task as one CSV table.

Every prediction record (classification, segmentation, detection) gives its rows with ``csv_rows()``; the table's
columns are the union of the rows' keys in order of first appearance, so a detection table has one row per box
and a classification table one row per image with a probability column per class.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Protocol


class TabularPrediction(Protocol):
    def csv_rows(self) -> list[dict[str, Any]]: ...


def prediction_csv(predictions: Sequence[TabularPrediction]) -> str:
    """The CSV text of ``predictions`` (header first; a missing field is an empty cell)."""
    rows = [row for prediction in predictions for row in prediction.csv_rows()]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns) or ["source"], restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def domain_columns(domain: dict[str, Any] | None) -> dict[str, Any]:
    """The CSV columns of a prediction's domain check (:mod:`medimg.planning.domain`): ``in_domain`` (``yes`` /
    ``no``) and ``domain_reasons`` (``; ``-joined), so a CSV reader sees what the JSON's ``domain`` says; none when
    the input was not checked."""
    if domain is None:
        return {}
    reasons = "; ".join(str(r) for r in domain.get("reasons") or [])
    return {"in_domain": "yes" if domain.get("in_domain", True) else "no", "domain_reasons": reasons}


def series_columns(series: dict[str, Any] | None) -> dict[str, Any]:
    """The CSV columns of a prediction's DICOM series (see :mod:`medimg.tasks.series_prediction`): ``series_uid``
    and ``slice`` (its 1-based place in slice order, or ``volume (N slices)``); none when ``series`` is ``None``,
    empty ones for ``{}`` (a plain file among series, so every row has the same columns)."""
    if series is None:
        return {}
    place = series.get("slice", f"volume ({series['slices']} slices)" if "slices" in series else "")
    return {"series_uid": series.get("series_uid") or "", "slice": place}
