"""What DICOM files a folder holds, series by series, from their headers only (no pixels are decoded).

``medimg check`` prints this for any folder holding DICOM, so a study folder is seen as what it is (series of
one patient, their modality, size, spacing and orientation) and not only as "5 classes". Patients are grouped by
a hash of their PatientID: no identifier is printed or stored.

Example:
    >>> survey = survey_dicom("data/study")                          # doctest: +SKIP
    >>> print(survey.summary())                                       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medimg.io.dicom import ANNOTATION_MODALITIES, dicom_decimal, main_geometry, uneven_spacing, unique_instances
from medimg.io.folder_walk import walk_tree
from medimg.io.pseudonyms import dataset_key, pseudonym

logger = logging.getLogger(__name__)

__all__ = [
    "DicomSeries",
    "DicomSurvey",
    "SeriesHeaders",
    "group_series",
    "is_dicomdir",
    "looks_like_dicom",
    "projection_images",
    "slice_positions",
    "survey_dicom",
]

#: Header reads at most (a survey of a huge archive stops there and says so).
MAX_FILES = 20_000
#: series lines and mixed-size warnings ``check`` prints (a download of thousands of series stays readable; the JSON
#: report keeps them all)
LISTED_SERIES = 30
LISTED_WARNINGS = 5
LISTED_UNREADABLE = 5  # files with unreadable headers named in the summary
MIXED_SIZES = "series in "
UNEVEN_SERIES = "uneven slice spacing in "


#: SOP class of a DICOMDIR, the index of a DICOM media export (CD, PACS export): no image, no series
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


#: the patient folders of a DICOM media export (DICOM PS3.10 file IDs as pydicom's FileSet and PACS write them)
_MEDIA_PATIENT_FOLDER = re.compile(r"PT\d+|P\d{7}", re.IGNORECASE)


#: one PatientID over this many studies is a de-identified placeholder, not a patient (the split's rule:
#: :data:`medimg.data.dicom_patients.MIN_GROUPS`)
PLACEHOLDER_STUDIES = 10


@dataclass
class DicomSeries:
    """One series as its headers describe it.

    Attributes:
        series: a short hash of the SeriesInstanceUID (UIDs are not shown).
        patient: a short hash of the PatientID (``"none"`` without one).
        folder: the folder holding its files (relative to the surveyed root).
        modality: DICOM Modality (``"?"`` when absent).
        slices: files (slices or multi-frame files) in the series.
        size: ``[rows, columns]`` (the most common one).
        spacing_mm: ``[dy, dx]`` from PixelSpacing (or ImagerPixelSpacing), with the slice spacing first for
            series of several slices with positions.
        orientation: ``axial``, ``coronal``, ``sagittal``, ``oblique`` or ``unknown``.
        description: SeriesDescription, when present.
        study: a short hash of the StudyInstanceUID (``"none"`` without one).
    """

    series: str
    patient: str
    folder: str
    modality: str
    slices: int
    size: list[int] | None
    spacing_mm: list[float] | None
    orientation: str
    description: str = ""
    study: str = "none"


@dataclass
class DicomSurvey:
    """The DICOM series under a folder, and what a user should know about them."""

    root: str
    series: list[DicomSeries] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unreadable: int = 0
    unreadable_examples: list[str] = field(default_factory=list)  # the first few of them, relative to ``root``
    index_files: int = 0  # DICOMDIR indexes of media exports, skipped

    @property
    def placeholder_patient(self) -> bool:
        """Every series carries one PatientID over at least :data:`PLACEHOLDER_STUDIES` studies: a de-identified
        placeholder ("ANONYMIZED"), not a patient; patients are then told apart by study, as the split groups them
        (:mod:`medimg.data.dicom_patients`)."""
        studies = {s.study for s in self.series} - {"none"}
        return len({s.patient for s in self.series}) == 1 and len(studies) >= PLACEHOLDER_STUDIES

    @property
    def patients(self) -> int:
        if self.placeholder_patient:
            return len({s.study for s in self.series})
        return len({s.patient for s in self.series})

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "patients": self.patients,
            "series": [asdict(s) for s in self.series],
            "warnings": list(self.warnings),
            "unreadable_files": self.unreadable,
            "unreadable_examples": list(self.unreadable_examples),
            "index_files": self.index_files,
        }

    def summary(self) -> str:
        """A table of the series (one line each) and the warnings."""
        told = "by study: one placeholder PatientID on every file" if self.placeholder_patient else "hashed PatientID"
        lines = [f"DICOM: {len(self.series)} series, {self.patients} patient(s) ({told}) under {self.root}"]
        for s in self.series[:LISTED_SERIES]:
            size = "x".join(map(str, s.size)) if s.size else "?"
            spacing = " x ".join(f"{v:.3g}" for v in s.spacing_mm) + " mm" if s.spacing_mm else "spacing ?"
            described = f"  '{s.description}'" if s.description else ""
            lines.append(
                f"  {s.folder or '.'}: {s.modality:3s} {s.slices:4d} slice(s)  {size:>9s}  {spacing}  {s.orientation}"
                f"  patient {s.patient}{described}"
            )
        if len(self.series) > LISTED_SERIES:
            lines.append(f"  ... and {len(self.series) - LISTED_SERIES} more series (check --json FILE lists them all)")
        if self.index_files:
            lines.append(f"  {self.index_files} DICOMDIR index file(s) of a media export skipped (they hold no image)")
        if self.unreadable:
            named = ", ".join(self.unreadable_examples) + (
                ", ..." if self.unreadable > len(self.unreadable_examples) else ""
            )
            lines.append(f"  {self.unreadable} DICOM file(s) had unreadable headers: {named} (the check says why)")
        mixed = [w for w in self.warnings if w.startswith(MIXED_SIZES)]
        uneven = [w for w in self.warnings if w.startswith(UNEVEN_SERIES)]
        hidden = set(mixed[LISTED_WARNINGS:]) | set(uneven[LISTED_WARNINGS:])
        lines += [f"WARNING: {w}" for w in self.warnings if w not in hidden]
        if len(mixed) > LISTED_WARNINGS:
            lines.append(f"WARNING: ... and {len(mixed) - LISTED_WARNINGS} more series mix image sizes")
        if len(uneven) > LISTED_WARNINGS:
            lines.append(f"WARNING: ... and {len(uneven) - LISTED_WARNINGS} more series have unevenly spaced slices")
        return "\n".join(lines)


def _short_hash(value: Any, key: bytes) -> str:
    """An 8-digit pseudonym of an identifier (:mod:`medimg.io.pseudonyms`); ``"none"`` without one."""
    return pseudonym(value, key, length=8) if value else "none"


def _floats(value: Any) -> list[float] | None:
    try:
        return [dicom_decimal(v) for v in value] if value is not None else None
    except (TypeError, ValueError):
        return None


def _orientation(cosines: list[float] | None) -> str:
    if not cosines or len(cosines) != 6:
        return "unknown"
    normal = np.abs(np.cross(cosines[:3], cosines[3:]))
    if normal.max() < 0.8:
        return "oblique"
    return ("sagittal", "coronal", "axial")[int(normal.argmax())]


def looks_like_dicom(path: Path) -> bool:
    """A DICOM suffix (``.dcm``, ``.dicom``, ``.ima``), or no image suffix and the ``DICM`` magic."""
    from medimg.io.formats import IMAGE_SUFFIXES, file_suffix, has_dicom_magic

    suffix = file_suffix(path)
    return suffix in {".dcm", ".dicom", ".ima"} or (suffix not in IMAGE_SUFFIXES and has_dicom_magic(path))


#: modalities of projection radiographs: a folder of several holds separate images (views, repeats), never the
#: slices of one volume
PROJECTION_MODALITIES = frozenset({"CR", "DX", "MG", "RG", "IO", "PX"})


def projection_images(folder: Path) -> list[Path]:
    """The DICOM files of ``folder`` when it holds several and they are projection radiographs (CR, DX, MG... without a
    slice position: SIIM-FISABIO-RSNA's series of two chest films), each an image of its own; else ``[]`` (a
    folder of slices, one volume). Only the first file's header is read."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    files = [f for f in sorted(folder.iterdir()) if f.is_file() and not f.name.startswith(".") and looks_like_dicom(f)]
    if len(files) < 2:
        return []
    try:
        header = pydicom.dcmread(files[0], stop_before_pixels=True, specific_tags=["Modality", "ImagePositionPatient"])
    except (OSError, InvalidDicomError, ValueError):
        return []
    modality = str(header.get("Modality", "")).strip().upper()
    return files if modality in PROJECTION_MODALITIES and "ImagePositionPatient" not in header else []


def image_laterality(path: Path) -> str | None:
    """A DICOM film's side, ``"L"`` or ``"R"``, from its ``ImageLaterality`` (else ``Laterality``); ``None`` when it
    has none or cannot be read."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["ImageLaterality", "Laterality"])
    except (OSError, InvalidDicomError, ValueError):
        return None
    for tag in ("ImageLaterality", "Laterality"):
        side = str(header.get(tag, "") or "").strip().upper()
        if side in ("L", "R"):
            return side
    return None


def _dicom_files(root: Path) -> Iterable[Path]:
    for path in sorted(walk_tree(root)):
        if path.is_file() and not path.name.startswith(".") and looks_like_dicom(path):
            yield path


@dataclass
class SeriesHeaders:
    """DICOM headers grouped by series (see :func:`group_series`).

    Attributes:
        groups: ``SeriesInstanceUID`` (else the file's folder) -> ``(path, header)`` of its files, in the order read.
        unreadable: files whose header pydicom cannot parse, or that hold no image and no series.
        index_files: DICOMDIR files (the index of a CD or PACS export: no image), skipped.
        stopped: ``max_files`` was reached before every file was read.
    """

    groups: dict[str, list[tuple[Path, Any]]] = field(default_factory=dict)
    unreadable: list[Path] = field(default_factory=list)
    index_files: list[Path] = field(default_factory=list)
    stopped: bool = False


def is_dicomdir(path: Path, ds: Any = None) -> bool:
    """Whether ``path`` is a DICOMDIR, the index of a DICOM media export: by its name, or by its header's SOP class
    (Media Storage Directory Storage) or directory records."""
    if path.name.upper() == "DICOMDIR":
        return True
    if ds is None:
        return False
    sop_classes = {
        str(ds.get("SOPClassUID") or ""),
        str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID") or ""),
    }
    return MEDIA_STORAGE_DIRECTORY in sop_classes or "DirectoryRecordSequence" in ds


def group_series(paths: Iterable[Path], *, max_files: int | None = MAX_FILES) -> SeriesHeaders:
    """Read the headers of ``paths`` (pydicom, pixels not read) and group them by SeriesInstanceUID; files
    without one are grouped by their folder. Needs pydicom."""
    import pydicom

    found = SeriesHeaders()
    for count, path in enumerate(paths):
        if max_files is not None and count >= max_files:
            found.stopped = True
            break
        if is_dicomdir(path):
            found.index_files.append(path)
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception:  # a header pydicom cannot parse: listed, the pixel readers say why
            found.unreadable.append(path)
            continue
        if "Rows" not in ds and is_dicomdir(path, ds):
            found.index_files.append(path)
            continue
        if "Rows" not in ds and "SeriesInstanceUID" not in ds:
            found.unreadable.append(path)
            continue
        found.groups.setdefault(str(ds.get("SeriesInstanceUID") or path.parent), []).append((path, ds))
    return found


def slice_positions(headers: Sequence[Any]) -> list[float] | None:
    """Each header's position along the slice normal (mm, from ImagePositionPatient and the first header's
    ImageOrientationPatient), or ``None`` when a header lacks them."""
    cosines = _floats(headers[0].get("ImageOrientationPatient")) if headers else None
    positions = [_floats(d.get("ImagePositionPatient")) for d in headers]
    if not cosines or len(cosines) != 6 or not all(p and len(p) == 3 for p in positions):
        return None
    normal = np.cross(cosines[:3], cosines[3:])
    return [float(np.dot(p, normal)) for p in positions if p]


def survey_dicom(root: str | Path, *, max_files: int = MAX_FILES) -> DicomSurvey:
    """Group the DICOM files under ``root`` by series, from their headers (pydicom, pixels not read).

    Warns when the series mix modalities, when one patient's series are spread over several top-level folders
    (class folders that are series of one patient?), when every top-level folder of a media export (a DICOMDIR,
    ``PT000000/``... folders) holds exactly one patient (taken for class folders?), when a series mixes image
    sizes and when its slices are unevenly spaced (naming the gaps of missing slices).

    Returns:
        A :class:`DicomSurvey` (empty when the folder holds no DICOM or pydicom is not installed).
    """
    base = Path(root)
    survey = DicomSurvey(root=str(base))
    if not base.is_dir():
        return survey
    try:
        import pydicom  # noqa: F401  (group_series reads the headers with it)
    except ImportError:
        return survey
    headers = group_series(_dicom_files(base), max_files=max_files)
    if headers.stopped:
        survey.warnings.append(f"stopped after {max_files} files: the survey covers only part of the folder")
    survey.unreadable = len(headers.unreadable)
    survey.index_files = len(headers.index_files)
    survey.unreadable_examples = [path.relative_to(base).as_posix() for path in headers.unreadable[:LISTED_UNREADABLE]]
    folders = {
        key: str(items[0][0].parent.relative_to(base)) if items[0][0].parent != base else ""
        for key, items in headers.groups.items()
    }
    groups = {key: [ds for _, ds in items] for key, items in headers.groups.items()}
    identifiers = dataset_key(
        value
        for key, datasets in groups.items()
        for value in (key, datasets[0].get("PatientID"), datasets[0].get("StudyInstanceUID"))
    )
    for key, datasets in groups.items():
        first = datasets[0]
        sizes = Counter((int(d.get("Rows") or 0), int(d.get("Columns") or 0)) for d in datasets)
        spacing = _floats(first.get("PixelSpacing") or first.get("ImagerPixelSpacing"))
        cosines = _floats(first.get("ImageOrientationPatient"))
        unique = [datasets[i] for i in unique_instances(datasets)]  # a copy of a file is no second slice
        slices = [unique[i] for i in main_geometry(unique)]  # without a localizer filed in the series
        positions = slice_positions(slices)
        if spacing and positions and len(slices) > 1:
            steps = np.diff(np.sort(positions))
            if steps.size and float(np.median(steps)) > 0:
                spacing = [round(float(np.median(steps)), 4), *spacing]
        if positions and len(slices) > 2 and min(np.diff(np.sort(positions))) >= 1e-3:
            uneven = uneven_spacing(positions)
            if uneven:
                survey.warnings.append(
                    f"{UNEVEN_SERIES}{folders[key] or '.'}: {uneven}. Read as a volume it is resampled onto a uniform "
                    "grid; class-folder training leaves it out of the volumes"
                )
        survey.series.append(
            DicomSeries(
                series=_short_hash(key, identifiers),
                patient=_short_hash(first.get("PatientID"), identifiers),
                study=_short_hash(first.get("StudyInstanceUID"), identifiers),
                folder=folders[key],
                modality=str(first.get("Modality") or "?"),
                slices=len(datasets),
                size=list(sizes.most_common(1)[0][0]) if sizes else None,
                spacing_mm=spacing,
                orientation=_orientation(cosines),
                description=str(first.get("SeriesDescription") or "")[:40],
            )
        )
        if len(sizes) > 1:
            survey.warnings.append(
                f"{MIXED_SIZES}{folders[key] or '.'} mixes image sizes {', '.join(f'{r}x{c}' for r, c in sizes)}"
            )
    survey.series.sort(key=lambda s: (s.folder, s.series))
    modalities = Counter(s.modality for s in survey.series if s.modality.upper() not in ANNOTATION_MODALITIES)
    if len(modalities) > 1:
        mixed = ", ".join(f"{m} ({n} series)" for m, n in modalities.most_common())
        survey.warnings.append(
            f"mixed modalities: {mixed}. A model sees their intensities on different scales (CT in HU, others "
            "mapped to 0..255); train one model per modality, or make sure this mix is intended"
        )
    tops = {s.folder.split("/")[0] for s in survey.series if s.folder}
    if len(tops) > 1 and survey.patients == 1:
        survey.warnings.append(
            f"the {len(tops)} top-level folders hold series of ONE patient: if they are used as classes, the model "
            "learns series (scanner settings), not a diagnosis; class folders should hold many patients"
        )
    patients_per_top: dict[str, set[str]] = {}
    for s in survey.series:
        if s.folder and s.modality.upper() not in ANNOTATION_MODALITIES:
            patients_per_top.setdefault(s.folder.split("/")[0], set()).add(s.patient)
    names = sorted(patients_per_top)
    if (
        len(names) > 1
        and survey.patients > 1
        and all(len(p) == 1 and "none" not in p for p in patients_per_top.values())
        # a media export (a collection's patient folders, as TCIA's, are a layout of their own)
        and (survey.index_files or all(_MEDIA_PATIENT_FOLDER.fullmatch(name) for name in names))
    ):
        export = " (a CD/PACS export with a DICOMDIR?)" if survey.index_files else " (a CD/PACS export?)"
        survey.warnings.append(
            f"each of the {len(names)} top-level folders ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}) "
            f"holds the series of exactly one patient{export}: if they are used as classes, the model learns to "
            "tell these patients apart, not a diagnosis; class folders should hold many patients (a label table "
            "naming the patient folders is fine)"
        )
    return survey
