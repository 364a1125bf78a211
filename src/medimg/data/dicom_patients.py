"""Patients of DICOM images from their headers, so a split never puts one patient's slices or views on both sides.

A folder per class of DICOM files (the slices of CT or MR series, several views of one patient) or a CSV manifest
of them without a ``patient_id`` column names no patients, and a split by image would put slices of one series
in training and test: the test score then measures recall of a patient already seen. The headers say who is who
(a series folder read as one volume, :mod:`medimg.data.dicom_volumes`: its first file's header).
:func:`group_by_dicom_patient` reads them (no pixels) and gives every DICOM case without a patient a group:

- ``PatientID`` when every file has one and they name at least :data:`MIN_GROUPS` patients;
- else ``StudyInstanceUID``, then ``SeriesInstanceUID``, under the same rule (de-identified sets often blank or
  unify PatientID but keep the UIDs);
- else the finest of them present on every file with at least two values (a small set: a series never spans two
  patients, so this is never looser than one group per image).

The group is a keyed hash of the value (``dicom-<field>-<10 hex digits>``, :mod:`medimg.io.pseudonyms`, keyed by
every identifier of the data): no identifier reaches a run folder, and none can be recovered from it by hashing
candidate record numbers.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from medimg.data.case import Case, CaseT, SegCase
from medimg.io.pseudonyms import dataset_key, pseudonym

logger = logging.getLogger(__name__)

#: header fields that group images, coarsest first
GROUP_FIELDS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID")
#: a field naming at least this many groups is taken as it is (fewer: a de-identified constant, or a tiny set)
MIN_GROUPS = 10


def group_by_dicom_patient(
    cases: Sequence[CaseT], root: Path | str = "", tables_note: Callable[[], str] | None = None
) -> list[CaseT]:
    """``cases`` with a ``patient_id`` from the DICOM headers for every DICOM case that has none (see the module
    doc); unchanged when fewer than two such cases, when no field is on every file, or when no two files share a
    group (then grouping changes nothing). Segmentation cases go by their image (CHAOS's slices listed with their
    masks in a CSV manifest, no patient column: each patient's slices were split apart). ``tables_note``: a
    sentence naming a label table beside the data, added to the warning that each class is one patient."""
    files = {c.case_id: _case_file(c) for c in cases if c.patient_id is None}
    header_of = {case_id: _header_file(file) for case_id, file in files.items() if file is not None}
    dicom = {case_id: path for case_id, path in header_of.items() if path is not None}
    if len(dicom) < 2:
        return list(cases)
    identities = {case_id: _identity(path) for case_id, path in dicom.items()}
    # patients taken for classes: grouped by patient however few, so the check refuses them (labels.classes_of_one)
    one_each = _one_patient_per_class(cases, identities, root, tables_note)
    field = "PatientID" if one_each else _choose_field(list(identities.values()))
    if field is None:
        return list(cases)
    column = GROUP_FIELDS.index(field)
    key = dataset_key(value for values in identities.values() for value in values)
    groups = {case_id: f"dicom-{field}-{pseudonym(values[column], key)}" for case_id, values in identities.items()}
    sizes = Counter(groups.values())
    if max(sizes.values()) < 2:
        return list(cases)
    logger.info(
        "%s: %d DICOM image(s) grouped by their %s into %d group(s) (largest %d images), so a split medimg makes keeps "
        "one patient's images on one side",
        root or "dataset",
        len(groups),
        field,
        len(sizes),
        max(sizes.values()),
    )
    return [replace(c, patient_id=groups[c.case_id]) if c.case_id in groups else c for c in cases]


def _case_file(case: Case | SegCase) -> Path | None:
    """A case's file: a classification or detection case's ``path``, a segmentation case's image (``None`` for a
    section of a stack)."""
    if isinstance(case, SegCase):
        return case.image if case.page is None else None
    return case.path


def _one_patient_per_class(
    cases: Sequence[Case | SegCase],
    identities: dict[str, tuple[str, ...]],
    root: Path | str,
    tables_note: Callable[[], str] | None = None,
) -> bool:
    """Whether every class's DICOM images are those of exactly one patient, each class another (the patient
    folders of a CD/PACS export, ``PT000000/``..., or OMI-DB's client folders, taken for class folders), with a
    warning: a model then learns to tell these patients apart, not the classes."""
    patients: dict[int, set[str]] = {}
    for case in cases:
        label = getattr(case, "label", None)
        if case.case_id in identities and isinstance(label, int):
            patients.setdefault(label, set()).add(identities[case.case_id][0])
    if len(patients) < 2 or not all(len(ids) == 1 and "" not in ids for ids in patients.values()):
        return False
    if len(set.union(*patients.values())) != len(patients):
        return False
    table = tables_note() if tables_note is not None else ""  # NSCLC's labels.csv beside its patient folders
    logger.warning(
        "%s: each of the %d classes holds the DICOM images of exactly one patient (PatientID): a model trained on "
        "them learns to tell these patients apart, not the classes. Were a CD/PACS export's patient folders "
        "(PT000000/...) taken for class folders? Each class needs the images of many patients%s",
        root or "dataset",
        len(patients),
        table,
    )
    return True


def _header_file(path: Path) -> Path | None:
    """The DICOM file whose header speaks for a case: the case's file, or a series folder's first DICOM file
    (:mod:`medimg.data.dicom_volumes`); ``None`` for anything else."""
    from medimg.io.dicom_survey import looks_like_dicom

    if not path.is_dir():
        return path if looks_like_dicom(path) else None
    return next((f for f in sorted(path.iterdir()) if f.is_file() and looks_like_dicom(f)), None)


def folders_joined_by_patient(cases: Sequence[CaseT], root: Path | str = "") -> list[CaseT]:
    """``cases`` whose patients are folders (a table's row folders: SIIM-FISABIO-RSNA's ``train/<study>/``, a
    study each) with the folders of one DICOM PatientID joined into one patient (the first folder's name), so one
    patient's studies never straddle the split; unchanged when the headers name one patient (de-identified to a
    constant) or none. One header is read per folder."""
    first: dict[str, Path] = {}
    for case in cases:
        file = _case_file(case)
        if case.patient_id and file is not None:
            first.setdefault(case.patient_id, file)
    folders_of: dict[str, set[str]] = {}
    for folder, file in first.items():
        patient = header_patient(file)
        if patient:
            folders_of.setdefault(patient, set()).add(folder)
    if len(folders_of) < 2:
        return list(cases)
    joined = {folder: min(folders) for folders in folders_of.values() if len(folders) > 1 for folder in folders}
    if not joined:
        return list(cases)
    logger.info(
        "%s: %d folders hold %d patients by their DICOM PatientID (e.g. %s with %s): each patient's folders stay on "
        "one side of the split",
        root or "dataset",
        len(joined),
        len(set(joined.values())),
        min(joined),
        ", ".join(sorted(f for f, p in joined.items() if p == joined[min(joined)] and f != min(joined))[:2]),
    )
    return [replace(c, patient_id=joined.get(str(c.patient_id), c.patient_id)) for c in cases]


def header_patient(path: Path) -> str | None:
    """The PatientID in the header of a DICOM case's file (``None`` for another file, or a header without one)."""
    file = _header_file(path)
    return (_identity(file)[0] or None) if file is not None else None


def _identity(path: Path) -> tuple[str, ...]:
    """The :data:`GROUP_FIELDS` of one file's header (``""`` where absent or unreadable: the reader reports bad
    files later, with their pixels)."""
    import pydicom

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(GROUP_FIELDS), force=True)
    except Exception:  # any unreadable header is "no identity"; reading the image later names the error
        return ("",) * len(GROUP_FIELDS)
    return tuple(str(header.get(name, "") or "").strip() for name in GROUP_FIELDS)


def _choose_field(identities: list[tuple[str, ...]]) -> str | None:
    """The grouping field: the coarsest on every file with :data:`MIN_GROUPS` values that holds each study and
    series whole, else the finest on every file with two or more, else ``None``. A field that splits a series
    cannot name patients (an anonymiser that gave every file its own PatientID: grouping by it put the slices of
    19 of 24 series on both sides of the split)."""
    present = []
    for column, name in enumerate(GROUP_FIELDS):
        values = [identity[column] for identity in identities]
        if all(values) and len(set(values)) >= 2:
            present.append((column, name, len(set(values))))
    for column, name, distinct in present:
        if distinct >= MIN_GROUPS and _holds_whole(identities, column):
            return name
    return present[-1][1] if present else None


def _holds_whole(identities: list[tuple[str, ...]], column: int) -> bool:
    """Whether every value of each finer field (a study's, a series' UID) lies within one value of ``column``."""
    for finer in range(column + 1, len(GROUP_FIELDS)):
        owner: dict[str, str] = {}
        for identity in identities:
            value = identity[finer]
            if value and owner.setdefault(value, identity[column]) != identity[column]:
                return False
    return True
