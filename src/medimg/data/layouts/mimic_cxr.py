"""MIMIC-CXR-JPG as PhysioNet ships it: labels per study, joined to the images through the split table.

The folder (``mimic-cxr-jpg/2.0.0/``) holds ``files/p10/p10000032/s50414267/<dicom_id>.jpg`` and gzipped tables:
``mimic-cxr-2.0.0-split.csv.gz`` (``dicom_id, study_id, subject_id, split``: train / validate / test) and
``mimic-cxr-2.0.0-chexpert.csv.gz`` (``subject_id, study_id`` and the 14 CheXpert findings: 1 present, 0 absent,
-1 uncertain, empty not mentioned; ``-negbio.csv.gz`` is read when the CheXpert table is absent). Each image gets its
study's findings (a multi-label set read like CheXpert's one-hot columns: uncertain as present, ``No Finding`` none),
its subject as the patient and the table's split. Images not downloaded (a partial download: ``p10/`` only) are left
out with one warning; a study without labels is an unlabelled image. With the metadata table
(``mimic-cxr-2.0.0-metadata.csv.gz``), lateral views (``ViewPosition`` LATERAL, LL) are counted in a warning and
``--include``/``--exclude`` patterns match the view as well as the file name (``--include PA --include AP``: frontal
views only).
"""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

from medimg.data.case import Case, normalise_split
from medimg.data.dataset import Dataset
from medimg.data.dataset_names import dataset_name
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

SPLIT_TABLE = "-split.csv"
LABEL_TABLES = ("-chexpert.csv", "-negbio.csv")
#: the table of each image's DICOM metadata (``dicom_id``, ``ViewPosition``: PA, AP, LATERAL, LL...), if downloaded
METADATA_TABLE = "-metadata.csv"


def _table(path: Path, ending: str) -> Path | None:
    """The table in ``path`` whose name ends with ``ending`` (``.csv`` or ``.csv.gz``), if exactly one."""
    found = [p for p in path.iterdir() if p.is_file() and p.name.lower().removesuffix(".gz").endswith(ending)]
    return found[0] if len(found) == 1 else None


def detect(path: Path) -> bool:
    """A folder with ``files/``, the split table and a label table (names only)."""
    if not path.is_dir() or not (path / "files").is_dir() or _table(path, SPLIT_TABLE) is None:
        return False
    return any(_table(path, ending) is not None for ending in LABEL_TABLES)


def _rows(path: Path) -> list[dict[str, str]]:
    """A table's rows (gzipped or not), columns as written.

    Raises:
        DatasetError: the file is unreadable (a truncated download).
    """
    try:
        with (
            gzip.open(path, "rt", newline="", encoding="utf-8") if path.suffix == ".gz" else path.open(newline="")
        ) as f:
            return list(csv.DictReader(f))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"cannot read {path} ({type(error).__name__}: {error}); download it again") from error


def _views(path: Path) -> tuple[Path | None, dict[str, str]]:
    """``dicom_id -> ViewPosition`` from the metadata table (empty without one, or without those columns)."""
    table = _table(path, METADATA_TABLE)
    if table is None:
        return None, {}
    rows = _rows(table)
    if not rows or "dicom_id" not in rows[0] or "ViewPosition" not in rows[0]:
        return table, {}
    return table, {row["dicom_id"]: str(row.get("ViewPosition") or "").strip() for row in rows}


def _selected(name: str, view: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Whether an image is kept: ``include``/``exclude`` patterns match its file name or its ViewPosition
    (``--include PA --include AP``: frontal views only)."""
    from medimg.io.inputs import name_selected

    names = [name, view] if view else [name]
    if include and not any(name_selected(n, include, ()) for n in names):
        return False
    return all(name_selected(n, (), exclude) for n in names)


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Dataset:
    """The images of ``files/`` that the split table lists, each with its study's findings; ``include`` and
    ``exclude`` patterns match an image's file name or its view (``ViewPosition`` of the metadata table:
    ``--exclude '*LATERAL' --exclude LL``). Lateral views left in are warned about.

    Raises:
        DatasetError: a table lacks its columns, or no listed image is on disk.
    """
    from medimg.data.layouts.csv_manifest import one_hot_findings
    from medimg.data.layouts.radiograph_views import is_lateral, lateral_note

    split_table = _table(path, SPLIT_TABLE)
    label_table = next(t for t in (_table(path, e) for e in LABEL_TABLES) if t is not None)
    assert split_table is not None
    splits, labels = _rows(split_table), _rows(label_table)
    for table, rows, needed in ((split_table, splits, ("dicom_id", "study_id", "subject_id", "split")),
                                (label_table, labels, ("subject_id", "study_id"))):  # fmt: skip
        missing = [c for c in needed if rows and c not in rows[0]]
        if not rows or missing:
            raise DatasetError(f"{table}: expected the columns {', '.join(needed)} (missing {', '.join(missing)})")
    findings_columns = [c for c in labels[0] if c not in ("subject_id", "study_id")]
    names, per_row = one_hot_findings(label_table, findings_columns, labels)
    index = {name: i for i, name in enumerate(names)}
    by_study = {row["study_id"]: found for row, found in zip(labels, per_row, strict=True)}
    metadata, views = _views(path)
    cases: list[Case] = []
    pool: list[Case] = []
    absent = 0
    lateral: list[str] = []
    for row in splits:
        subject, study = row["subject_id"], row["study_id"]
        file = path / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{row['dicom_id']}.jpg"
        view = views.get(row["dicom_id"], "")
        if not _selected(file.name, view, include, exclude):
            continue
        if not file.is_file():
            absent += 1
            continue
        found = by_study.get(study)
        case = Case(
            case_id=str(file.relative_to(path)),
            label=None,
            split=normalise_split(row["split"]),
            patient_id=subject,
            path=file,
            findings=tuple(sorted(index[n] for n in found)) if found is not None else None,
        )
        (cases if found is not None else pool).append(case)
        if found is not None and is_lateral(view):
            lateral.append(case.case_id)
    if not cases:
        raise DatasetError(f"{path}: none of the {len(splits)} images {split_table.name} lists is under files/")
    if absent:
        logger.warning(
            "%s: %d of the %d images %s lists are not under files/ (a partial download?): left out",
            path,
            absent,
            len(splits),
            split_table.name,
        )
    if lateral:
        fix = "--exclude '*LATERAL' --exclude LL leaves them out (patterns match an image's ViewPosition too)"
        logger.warning(lateral_note(metadata, lateral, len(cases), "ViewPosition", fix))
    return Dataset(
        name=dataset_name(path),
        root=path,
        source="mimic-cxr",
        class_names=names,
        cases=cases,
        unlabelled=pool,
        multi_label=True,
    )
