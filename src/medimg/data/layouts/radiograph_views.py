"""What a label table's view column says about a radiograph: lateral views (CheXpert's ``Frontal/Lateral``,
MIMIC-CXR's ``ViewPosition``) read as images of their own beside the frontal ones get one warning
(:func:`warn_lateral_views`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medimg.data.case import Case

logger = logging.getLogger(__name__)

#: a label table's column giving each radiograph's view (CheXpert's ``Frontal/Lateral``, MIMIC-CXR's metadata
#: ``ViewPosition``), as :func:`medimg.data.layouts.columns.column_key` spells it
VIEW_COLUMNS = (
    "frontal/lateral", "frontal_lateral", "viewposition", "view_position", "view",
    "projection", "viewposition_dicom",  # PadChest's Projection (PA, AP, L...) and ViewPosition_DICOM (LATERAL...)
)  # fmt: skip
#: a view column's values that name a lateral radiograph in that column only (PadChest's ``Projection`` ``L``)
COLUMN_LATERAL_VIEWS = {"projection": frozenset({"l"})}
#: the values of a view column that name a lateral radiograph (CheXpert's ``Lateral``; DICOM's ViewPosition ``LL``
#: left lateral, ``RL`` right lateral, ``LATERAL``, MIMIC-CXR's ``XTABLE LATERAL``)
LATERAL_VIEWS = frozenset({"lateral", "lat", "ll", "rl", "xtable lateral", "left lateral", "right lateral"})


def is_lateral(view: str, column_key: str = "") -> bool:
    """True for a view column's value naming a lateral radiograph (:data:`LATERAL_VIEWS`, and the column's own
    :data:`COLUMN_LATERAL_VIEWS` for a column of that :func:`~medimg.data.layouts.columns.column_key`)."""
    value = " ".join(view.split()).casefold()
    return value in LATERAL_VIEWS or value in COLUMN_LATERAL_VIEWS.get(column_key, frozenset())


def lateral_note(where: object, lateral: list[str], total: int, column: str, fix: str | None = None) -> str:
    """The warning for ``lateral`` images (their paths) among ``total`` read from a table whose ``column`` names
    the view: they are read as images of their own beside the frontal ones; ``fix`` says how to leave them out
    (default: ``--exclude '*lateral*'`` where their names say so, as CheXpert's ``view2_lateral.jpg`` do)."""
    names = [re.split(r"[/\\]", name)[-1] for name in lateral]
    if fix is None:
        fix = (
            "--exclude '*lateral*' leaves them out"
            if all("lateral" in name.lower() for name in names)
            else "leave their rows out of the table to train and score on frontal views only"
        )
    return (
        f"{where}: {len(lateral)} of the {total} images are lateral radiographs (column {column!r}, e.g. {names[0]}): "
        "they are read as images of their own beside the frontal views, so the model is trained and scored on both "
        f"(CheXpert and MIMIC-CXR results are usually on frontal views); {fix}"
    )


def warn_lateral_views(
    where: object, columns: Mapping[str, str], rows: Sequence[Mapping[str, str]], path_column: str, cases: list[Case]
) -> None:
    """One warning when the table's view column (:data:`VIEW_COLUMNS`; ``columns``: ``column_key`` -> column as
    written) calls some of the images read (``cases``, ids as the ``path_column`` writes them) lateral."""
    key = next((key for key in VIEW_COLUMNS if key in columns), None)
    if key is None or not cases:
        return
    column = columns[key]
    lateral_rows = {
        str(row.get(path_column) or "").strip() for row in rows if is_lateral(str(row.get(column) or ""), key)
    }
    lateral = [c.case_id for c in cases if c.case_id in lateral_rows]
    if lateral:
        logger.warning(lateral_note(where, lateral, len(cases), column))
