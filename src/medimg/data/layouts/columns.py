"""How a label table's columns are named and matched: :func:`column_key` and the names of its image column
(:data:`PATH_COLUMNS`). Below every table reader (CSV manifests, box tables, spreadsheets), which share them. Also
what an image's path and a view column say about it: its patient's folder (:func:`patient_in_path`), a lateral
radiograph (:func:`warn_lateral_views`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medimg.data.case import Case

logger = logging.getLogger(__name__)

#: the names of a label table's image column (:func:`column_key` of the header), in the order they are looked for
PATH_COLUMNS = (
    "path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path", "image_file",
    "image_index", "image_id", "imageid", "image_name", "img", "img_path", "img_id", "id_code",
    "image_data_id",  # LONI IDA (ADNI, PPMI): the folder named I12345 holding the scan
    "patientid",  # RSNA's patientId names <patientId>.dcm when no column names the file
    "id",  # Kaggle's bare id (histopathologic-cancer-detection's train_labels.csv: id,label -> train/<id>.tif)
    # last: a study's or series' folder of DICOM slices (Kaggle RSNA's uids, or named as a folder)
    "studyinstanceuid", "seriesinstanceuid", "folder", "directory", "study_folder", "series_folder", "study_path",
    "series_path",
)  # fmt: skip


def column_key(name: str) -> str:
    """How a manifest column is matched: lower case, spaces and hyphens as underscores (``Patient ID`` ->
    ``patient_id``, as spreadsheets and public sets such as NIH ChestX-ray14 write them)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


#: a folder of an image's path that names its patient: CheXpert's ``train/patient00001/study1/view1_frontal.jpg``,
#: MIMIC-CXR's ``p10/p10000032/s50414267/``, BIDS' ``sub-01``
_PATIENT_FOLDER = re.compile(r"(?:patient|subject|sub)[_-]?\d+|p\d{8}", re.IGNORECASE)


def patient_in_path(raw_path: str) -> str | None:
    """The patient an image's path names by a folder (``CheXpert-v1.0-small/train/patient00001/study1/
    view1_frontal.jpg`` -> ``patient00001``): the innermost folder named like one, never the file's own name;
    ``None`` for none."""
    folders = [part for part in re.split(r"[/\\]", raw_path.strip()) if part][:-1]
    named = [part for part in folders if _PATIENT_FOLDER.fullmatch(part)]
    return named[-1] if named else None


#: a label table's column giving each radiograph's view (CheXpert's ``Frontal/Lateral``, MIMIC-CXR's metadata
#: ``ViewPosition``), as :func:`column_key` spells it
VIEW_COLUMNS = ("frontal/lateral", "frontal_lateral", "viewposition", "view_position", "view")
#: the values of a view column that name a lateral radiograph (CheXpert's ``Lateral``; DICOM's ViewPosition ``LL``
#: left lateral, ``RL`` right lateral, ``LATERAL``, MIMIC-CXR's ``XTABLE LATERAL``)
LATERAL_VIEWS = frozenset({"lateral", "lat", "ll", "rl", "xtable lateral", "left lateral", "right lateral"})


def is_lateral(view: str) -> bool:
    """True for a view column's value naming a lateral radiograph (:data:`LATERAL_VIEWS`)."""
    return " ".join(view.split()).casefold() in LATERAL_VIEWS


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


def patients_from_folders(cases: list[Case], where: object) -> list[Case]:
    """``cases`` with the patient their paths name by a folder (:func:`patient_in_path`) when none has a patient
    and every path names one (CheXpert's ``patient00001/study1/``: its table has no patient column, and split image
    by image one patient's studies and views would straddle train/val/test); unchanged otherwise."""
    if not cases or any(c.patient_id for c in cases):
        return cases
    found = [patient_in_path(c.case_id) for c in cases]
    if not all(found):
        return cases
    logger.info(
        "%s: patients from the folders of the image paths (%d patients for %d images, e.g. %s -> %s): one patient's "
        "images never straddle train/val/test",
        where,
        len(set(found)),
        len(cases),
        cases[0].case_id,
        found[0],
    )
    return [replace(c, patient_id=patient) for c, patient in zip(cases, found, strict=True)]


def warn_lateral_views(
    where: object, columns: Mapping[str, str], rows: Sequence[Mapping[str, str]], path_column: str, cases: list[Case]
) -> None:
    """One warning when the table's view column (:data:`VIEW_COLUMNS`; ``columns``: :func:`column_key` -> column as
    written) calls some of the images read (``cases``, ids as the ``path_column`` writes them) lateral."""
    column = next((columns[key] for key in VIEW_COLUMNS if key in columns), None)
    if column is None or not cases:
        return
    lateral_rows = {str(row.get(path_column) or "").strip() for row in rows if is_lateral(str(row.get(column) or ""))}
    lateral = [c.case_id for c in cases if c.case_id in lateral_rows]
    if lateral:
        logger.warning(lateral_note(where, lateral, len(cases), column))
