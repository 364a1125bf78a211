"""DICOM annotation objects drawn into label maps on the series they annotate:

* RT Structure Sets (``RTSTRUCT``): the radiotherapy collections of TCIA (NSCLC-Radiomics, Head-Neck-PET-CT,
  HNSCC, Pancreas-CT...) ship each patient's CT series beside an RTSTRUCT file whose contours
  (``ROIContourSequence``: closed planar polygons in patient millimetres) outline structures of the series it names
  (``ReferencedFrameOfReferenceSequence`` -> ``RTReferencedSeriesSequence``);
* Segmentation objects (``SEG``): the masks of NCI's Imaging Data Commons and newer TCIA collections (one binary
  frame per segment and source slice, ``SegmentSequence`` naming the segments), read with highdicom.

Each annotation file makes one case: the image is its series folder (read as one volume, as a series folder always
is), the mask a label map on that volume's grid through its geometry, written as NIfTI in the cache of drawn masks
(:mod:`.drawn_masks`; nothing is written beside the data). A contour's points go from patient millimetres to
voxels by the series' affine and are filled on their slice (several contours of one structure on a slice combine
even-odd, so an inner contour is a hole); a SEG's voxels are taken, nearest neighbour, at each CT voxel's position
(its frames may cover only some slices, or lie on a grid of their own). The structures (``ROIName``, a segment's
``SegmentLabel``) are the classes, by name (the spelling most files use, one class per name whatever its case), in
name order; ``--include``/``--exclude`` choose them by name (``--include GTV-1``). Where structures overlap the
smaller one is drawn on top (a tumour inside its lung). Annotation files lie in folders of their own (TCIA writes
``<study>/<series>/1-1.dcm``), which is where they are looked for: a folder of at most :data:`MAX_FILES_BESIDE`
DICOM files; or, in a planning system's flat export, among the CT slices under a name that says so
(``RS.<uid>.dcm``: :data:`ANNOTATION_NAME`).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import name_selected, problems_error
from medimg.data.layouts.drawn_masks import cache_folder, label_map_of, mask_file, polygon_pixels
from medimg.errors import DatasetError, ImageReadError
from medimg.io.dicom import LPS_TO_RAS
from medimg.io.folder_walk import walk_folders
from medimg.io.formats import in_system_folder
from medimg.io.pseudonyms import dataset_key, pseudonym

logger = logging.getLogger(__name__)

#: an RTSTRUCT's folder holds at most this many DICOM files (TCIA: one)
MAX_FILES_BESIDE = 3
#: how many entries :func:`detect` looks at, and how many headers it reads
DETECT_ENTRIES = 3000
DETECT_HEADERS = 10
RTSTRUCT, SEG = "RTSTRUCT", "SEG"
#: the annotation objects read, by DICOM Modality
ANNOTATIONS = (RTSTRUCT, SEG)
_DICOM_SUFFIXES = ("", ".dcm", ".dicom", ".ima")


def _dicom_like(path: Path) -> bool:
    return path.suffix.lower() in _DICOM_SUFFIXES and not path.name.startswith(".") and path.name != "DICOMDIR"


#: names treatment planning systems give structure sets and SEG objects in a flat export folder beside the CT
#: slices (Eclipse's and RayStation's ``RS.<uid>.dcm``, ``RTSTRUCT_...``, ``RTSS.dcm``, ``..._SEG.dcm``)
ANNOTATION_NAME = re.compile(r"^(rs[._]|rtss)|rtstruct|struct|(^|[._-])seg([._-]|$)", re.IGNORECASE)


def _candidates(root: Path, limit: int | None = None) -> Iterator[Path]:
    """The files that may be annotation objects: every DICOM-like file of a folder holding at most
    :data:`MAX_FILES_BESIDE` of them (TCIA's and IDC's series folders), and in larger folders (a planning system's
    flat export of CT slices, structure set, plan and dose) those named like one (:data:`ANNOTATION_NAME`)."""
    walked = 0
    for folder, _, names in walk_folders(root):
        if in_system_folder(Path(folder), root):
            continue
        files = [Path(folder) / n for n in sorted(names) if _dicom_like(Path(n))]
        walked += len(names) + 1
        if 0 < len(files) <= MAX_FILES_BESIDE:
            yield from files
        else:
            yield from (f for f in files if ANNOTATION_NAME.search(f.name))
        if limit is not None and walked >= limit:
            return


def read_tags(path: Path, tags: Sequence[str] | None = None) -> Any:
    """A DICOM file's header (only ``tags`` when given; pixels never), ``None`` when it is not a readable DICOM."""
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(tags) if tags else None, force=True)
    except Exception:  # not DICOM, truncated: not an annotation object
        return None


def _annotation(path: Path) -> str | None:
    """The file's Modality when it is an annotation object this layout reads (:data:`ANNOTATIONS`), else None."""
    header = read_tags(path, ["Modality"])
    modality = str(getattr(header, "Modality", "") or "").upper() if header is not None else ""
    return modality if modality in ANNOTATIONS else None


def detect(path: Path) -> bool:
    """True for a folder holding an RTSTRUCT or SEG file (among the first entries, at most :data:`DETECT_HEADERS`
    headers read)."""
    if not path.is_dir():
        return False
    candidates = itertools.islice(_candidates(path, DETECT_ENTRIES), DETECT_HEADERS)
    return any(_annotation(p) is not None for p in candidates)


def _referenced_series(ds: Any) -> str | None:
    """The series an RTSTRUCT outlines, or a SEG segments (its ``ReferencedSeriesSequence``)."""
    for series in getattr(ds, "ReferencedSeriesSequence", []) or []:
        uid = str(getattr(series, "SeriesInstanceUID", "") or "")
        if uid:
            return uid
    for frame in getattr(ds, "ReferencedFrameOfReferenceSequence", []) or []:
        for study in getattr(frame, "RTReferencedStudySequence", []) or []:
            for series in getattr(study, "RTReferencedSeriesSequence", []) or []:
                uid = str(getattr(series, "SeriesInstanceUID", "") or "")
                if uid:
                    return uid
    return None


def _structures(ds: Any) -> dict[str, list[np.ndarray]]:
    """``ROIName -> [contour points (N, 3) in patient mm (LPS)]`` of one RTSTRUCT (closed planar contours)."""
    names = {
        int(roi.ROINumber): str(getattr(roi, "ROIName", "") or f"roi_{roi.ROINumber}").strip()
        for roi in getattr(ds, "StructureSetROISequence", []) or []
    }
    found: dict[str, list[np.ndarray]] = {}
    for roi in getattr(ds, "ROIContourSequence", []) or []:
        name = names.get(int(getattr(roi, "ReferencedROINumber", -1)), f"roi_{getattr(roi, 'ReferencedROINumber', '')}")
        for contour in getattr(roi, "ContourSequence", []) or []:
            kind = str(getattr(contour, "ContourGeometricType", "CLOSED_PLANAR")).upper()
            data = [float(v) for v in getattr(contour, "ContourData", []) or []]
            if kind == "CLOSED_PLANAR" and len(data) >= 9:
                found.setdefault(name, []).append(np.asarray(data).reshape(-1, 3))
    return found


def _segments(ds: Any) -> dict[str, list[int]]:
    """``SegmentLabel -> [segment numbers]`` of a SEG's header."""
    found: dict[str, list[int]] = {}
    for segment in getattr(ds, "SegmentSequence", []) or []:
        number = int(getattr(segment, "SegmentNumber", 0) or 0)
        name = str(getattr(segment, "SegmentLabel", "") or f"segment_{number}").strip()
        found.setdefault(name, []).append(number)
    return found


def segment_labels(
    path: Path, shape: tuple[int, int, int], affine: np.ndarray, values: dict[int, int]
) -> tuple[np.ndarray, int]:
    """A ``(D, H, W)`` uint8 label map of a SEG file's segments on a volume's grid (voxel -> RAS ``affine``):
    ``segment number -> value``; each voxel takes the segments at its position (nearest SEG voxel), smaller
    structures over larger ones where they overlap. Returns the map and how many of the volume's slices the SEG
    does not reach.

    Raises:
        DatasetError: highdicom is missing, or the SEG cannot be read as a volume.
    """
    try:
        import highdicom
    except ImportError as error:
        raise DatasetError(f"{path} is a DICOM SEG: reading it needs highdicom (pip install highdicom)") from error
    numbers = sorted(values)
    try:
        volume = highdicom.seg.segread(path).get_volume(segment_numbers=numbers, dtype=np.uint8)
    except Exception as error:  # highdicom's many reasons: not a volume, inconsistent frames...
        raise DatasetError(f"{path}: the DICOM SEG cannot be read as a volume ({error})") from error
    frames = np.asarray(volume.array)
    frames = frames.reshape(*frames.shape[:3], -1)  # (i, j, k, segments in ``numbers`` order)
    to_seg = np.asarray(volume.inverse_affine) @ LPS_TO_RAS @ affine  # RAS -> LPS: the same matrix
    rows, columns = np.mgrid[0 : shape[1], 0 : shape[2]]
    regions = {value: np.zeros(shape, bool) for value in set(values.values())}
    missed = 0
    for index in range(shape[0]):
        points = np.stack([np.full(rows.size, index), rows.ravel(), columns.ravel(), np.ones(rows.size)])
        at = np.rint(to_seg @ points)[:3].astype(np.int64)
        inside = np.all((at >= 0) & (at < np.array(frames.shape[:3])[:, None]), axis=0)
        if not inside.any():
            missed += 1
            continue
        found = frames[at[0, inside], at[1, inside], at[2, inside]]  # (points inside, segments)
        for channel, number in enumerate(numbers):
            plane = regions[values[number]][index].reshape(-1)
            plane[inside] |= found[:, channel] > 0
    return label_map_of(shape, regions), missed


def draw_structures(
    shape: tuple[int, int, int], affine: np.ndarray, structures: dict[int, list[np.ndarray]]
) -> tuple[np.ndarray, int]:
    """A ``(D, H, W)`` uint8 label map of contours given in patient millimetres (DICOM's LPS), through the volume's
    voxel -> RAS ``affine``: ``value -> contours``; smaller structures drawn over larger ones. Returns the map and
    how many contours lay off the volume's slices."""
    to_voxels = np.linalg.inv(affine) @ LPS_TO_RAS
    regions: dict[int, np.ndarray] = {}
    outside = 0
    for value, contours in structures.items():
        region = np.zeros(shape, bool)
        for points in contours:
            voxels = (to_voxels @ np.c_[points, np.ones(len(points))].T).T[:, :3]  # (slice, row, column)
            index = round(float(voxels[:, 0].mean()))
            if not 0 <= index < shape[0]:
                outside += 1
                continue
            # voxel indices are voxel centres; the polygon fill's coordinates are pixel corners (pixel i spans i..i+1)
            region[index] ^= polygon_pixels((shape[1], shape[2]), voxels[:, 2] + 0.5, voxels[:, 1] + 0.5)
        regions[value] = region
    return label_map_of(shape, regions), outside


def series_volume(folder: Path) -> tuple[Any, tuple[int, int, int]]:
    """The volume of a DICOM series folder (:func:`medimg.io.read_image`) and its ``(D, H, W)`` grid, for drawing
    annotations on it through its geometry.

    Raises:
        DatasetError: the series is unreadable, or not a volume with patient geometry (the message names it).
    """
    from medimg.io import read_image

    try:
        image = read_image(folder)
    except ImageReadError as error:
        raise DatasetError(f"{folder}: {error.reason}") from error
    if image.affine is None or image.array.ndim != 4:
        raise DatasetError(f"{folder}: not a volume with patient geometry; its annotations cannot be placed")
    return image, (int(image.array.shape[1]), int(image.array.shape[2]), int(image.array.shape[3]))


def _series_folders(root: Path, annotations: set[Path] | dict[Path, str]) -> dict[str, Path]:
    """``SeriesInstanceUID -> folder`` of every folder under ``root`` holding DICOM images (one header each), the
    folders of the ``annotations`` found (:func:`_candidates`) left out."""
    found: dict[str, Path] = {}
    for folder, _, names in walk_folders(root):
        if in_system_folder(Path(folder), root):
            continue
        files = [Path(folder) / n for n in sorted(names) if _dicom_like(Path(n))]
        if len(files) <= MAX_FILES_BESIDE and all(f in annotations for f in files[:1]):
            continue  # no files, or an annotation object's folder
        header = next((h for f in files[:3] if (h := read_tags(f, ["SeriesInstanceUID"])) is not None), None)
        uid = str(getattr(header, "SeriesInstanceUID", "") or "") if header is not None else ""
        if uid:
            found.setdefault(uid, Path(folder))
    return found


def _series_beside(file: Path, uid: str | None, sample: int = 5) -> Path | None:
    """The annotation's own folder when it also holds the series it annotates (a flat export: ``CT.*.dcm`` beside
    ``RS.*.dcm``), judged by the headers of a few of the other files; else None."""
    if not uid:
        return None
    others = [f for f in sorted(file.parent.iterdir()) if f != file and f.is_file() and _dicom_like(f)]
    step = max(1, len(others) // sample)
    for other in others[::step][:sample]:
        header = read_tags(other, ["SeriesInstanceUID"])
        if header is not None and str(getattr(header, "SeriesInstanceUID", "") or "") == uid:
            return file.parent
    return None


def _class_names(per_file: Sequence[dict[str, Any]]) -> dict[str, str]:
    """``lower-case name -> the spelling most files use``."""
    spellings = Counter(name for structures in per_file for name in structures)
    chosen: dict[str, str] = {}
    for name, _ in spellings.most_common():
        chosen.setdefault(name.lower(), name)
    return chosen


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """One case per RTSTRUCT or SEG file: its series folder, and its structures as a label map (cached).

    Args:
        include, exclude: structure-name patterns (``ROIName``, ``SegmentLabel``) to keep / leave out.

    Raises:
        DatasetError: no annotation file, one naming no series or a series not under ``path``, no structure left
            after ``include``/``exclude``, or a SEG that cannot be read (the message names the files).
    """
    from medimg.io.image import ImageData
    from medimg.io.nifti import write_nifti

    root = path
    kinds = {p: kind for p in _candidates(root) if (kind := _annotation(p)) is not None}
    files = list(kinds)
    if not files:
        raise DatasetError(
            f"no RTSTRUCT or SEG file under {root}: a DICOM annotation object lies in a series folder of its own"
        )
    headers = {file: read_tags(file) for file in files}
    per_file: dict[Path, dict[str, Any]] = {
        file: _structures(ds) if kinds[file] == RTSTRUCT else _segments(ds) for file, ds in headers.items()
    }
    spelling = _class_names(list(per_file.values()))
    names = sorted(n for n in set(spelling.values()) if name_selected(n, include, exclude))
    if not names:
        raise DatasetError(
            f"no structure of {root} is left by --include/--exclude (the structures: "
            f"{', '.join(sorted(spelling.values()))})"
        )
    value_of = {name.lower(): k + 1 for k, name in enumerate(names)}
    series = _series_folders(root, kinds)
    selection = hashlib.sha1("|".join(names).encode()).hexdigest()[:8]
    cache = cache_folder(files)
    cases: list[SegCase] = []
    problems: list[str] = []
    seen: set[Path] = set()
    for file, ds in headers.items():
        uid = _referenced_series(ds)
        folder = series.get(uid or "") or _series_beside(file, uid)
        if folder is None:
            problems.append(
                f"{file}: annotates series {uid or '(none named)'}, which is not under {root}: download the image "
                "series with it"
            )
            continue
        if folder in seen:
            logger.warning("%s: another annotation of %s was read first; this one is left out", file, folder)
            continue
        seen.add(folder)
        case_id = folder.relative_to(root).as_posix()
        target = mask_file(cache, f"{case_id}-{selection}", ".nii.gz")
        if not target.is_file():
            try:
                image, grid = series_volume(folder)
            except DatasetError as error:
                problems.append(str(error))
                continue
            chosen = {name: found for name, found in per_file[file].items() if name.lower() in value_of}
            if kinds[file] == RTSTRUCT:
                structures = {value_of[name.lower()]: contours for name, contours in chosen.items()}
                labels, outside = draw_structures(grid, image.affine, structures)
                if outside:
                    logger.warning("%s: %d contour(s) lie off the slices of %s and are left out", file, outside, folder)
            else:
                values = {number: value_of[name.lower()] for name, numbers in chosen.items() for number in numbers}
                try:  # a SEG without any chosen segment: all background, as a structure set without them
                    labels = segment_labels(file, grid, image.affine, values)[0] if values else np.zeros(grid, np.uint8)
                except DatasetError as error:
                    problems.append(str(error))
                    continue
            drawn = ImageData(labels[None], spacing_mm=image.spacing_mm, affine=image.affine)
            write_nifti(drawn, target, dtype=np.uint8)
        patient = str(getattr(ds, "PatientID", "") or "") or None
        cases.append(SegCase(case_id=case_id, image=folder, mask=target, patient_id=patient))
    if problems:
        raise problems_error(root, problems, "annotation problem(s)")
    cases = pseudonymous_patients(cases)
    logger.info("%s: %d DICOM annotation object(s) drawn or reused in %s", root, len(cases), cache)
    return SegmentationDataset(
        name=dataset_name(root),
        root=root,
        source="dicom annotations",
        cases=cases,
        value_names={0: "background", **{value_of[n.lower()]: n for n in names}},
    )


def pseudonymous_patients(cases: Sequence[SegCase]) -> list[SegCase]:
    """``cases`` with each DICOM PatientID replaced by its keyed pseudonym (``dicom-PatientID-<hmac>``, as
    :mod:`medimg.data.dicom_patients` names classification cases' patients): one patient's cases still share one id
    for the split and the intervals, and the real ID never reaches ``splits.json``, reports or ``per_case.csv``."""
    key = dataset_key(c.patient_id for c in cases)
    return [
        c if c.patient_id is None else replace(c, patient_id=f"dicom-PatientID-{pseudonym(c.patient_id, key)}")
        for c in cases
    ]
