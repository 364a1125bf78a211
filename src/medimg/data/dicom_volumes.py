"""DICOM series in a folder per class read as volumes: ``<class>/<patient>/<slices>.dcm`` is one 3D image of its
class, not a pile of slices each labelled with the patient's class.

A class folder's label belongs to what it holds: the CT or MR series of a patient filed under ``tumour`` says that
the patient's volume shows a tumour, not that every slice does (most do not). :func:`series_as_volumes` replaces
the slices of each series that is a whole volume by one case, its folder, which the readers take as one volume
(:func:`medimg.io.read_image` on a folder: slices ordered along the normal, spacing and orientation from the
headers) and the planner gives a 3D network. A series is a whole volume when

- it lies in a folder of its own below the class folder (the folder is the case),
- it has at least :data:`MIN_VOLUME_SLICES` slices, and
- its slice positions step evenly (slices picked from a volume leave gaps).

A folder holding several such series (a PACS export of a study: axial, coronal reformat...) gives the one with the
most slices (``Case.series_uid`` says which; an INFO line names the others); its other files are left out.

Volumes are read when such series hold most of the DICOM slices; the other DICOM files, and other images inside a
series' folder (a viewer's preview), are then left out with a warning (a 3D classifier takes no 2D images).
Otherwise nothing changes: each slice is a 2D image of its folder's class, its patient from the headers
(:mod:`medimg.data.dicom_patients`).

Example:
    >>> ds = Dataset.load("ct_by_class/")       # ct_by_class/<class>/<patient>/<series slices>  # doctest: +SKIP
    >>> ds.cases[0].path                                                                        # doctest: +SKIP
    PosixPath('ct_by_class/covid/patient_0001')
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from medimg.data.case import Case

if TYPE_CHECKING:
    from medimg.io.series_inputs import SeriesInput

logger = logging.getLogger(__name__)

__all__ = ["MIN_VOLUME_SLICES", "largest_series", "series_as_volumes"]

#: a series with fewer slices is not taken for a volume (a scout, a few picked slices)
MIN_VOLUME_SLICES = 8


def series_as_volumes(cases: Sequence[Case], root: Path, class_folders: Collection[Path]) -> list[Case]:
    """``cases`` with the slices of every whole-volume DICOM series replaced by one case for the series folder (see
    the module doc); unchanged when such series hold at most half of the DICOM slices, or without pydicom.

    Args:
        cases: the class folders' images, ``case_id`` relative to ``root``.
        root: the dataset folder.
        class_folders: the folders that hold a class's images (never a case themselves).
    """
    from medimg.io.dicom_survey import looks_like_dicom
    from medimg.io.series_inputs import SeriesInput, find_series

    dicom = [c for c in cases if c.path is not None and looks_like_dicom(c.path)]
    containers = set(class_folders)
    below = [c.path for c in dicom if c.path is not None and c.path.parent not in containers]
    if not below:
        return list(cases)
    found = [item for item in find_series(below) if isinstance(item, SeriesInput) and item.slices >= MIN_VOLUME_SLICES]
    whole = [item for item in found if item.evenly_spaced]
    uneven = [item for item in found if item.uneven]  # a missing slice: named when its files are left out
    largest = _largest_per_folder(whole)  # one volume per folder: its largest whole series
    volumes = list(largest.values())
    in_volumes = {path: series for series in volumes for path in series.files}
    volume_folders = {series.folder for series in volumes}
    dicom_ids = {c.case_id for c in dicom}
    dicom_paths = [c.path for c in dicom if c.path is not None]
    # every whole series counts, not only each folder's largest: a multi-echo MR folder of three echoes' series at the
    # same positions (a third of its slices in the one read) was called "the rest do not form whole series", and
    # every echo of every slice became a 2D image of the patient's class
    if 2 * sum(item.slices for item in whole) <= len(dicom):
        if volumes:
            logger.info(
                "%s: %d of %d DICOM slices form whole series (e.g. %s); the rest do not, so every slice is "
                "classified as a 2D image of its folder's class",
                root,
                len(in_volumes),
                len(dicom),
                volumes[0].folder,
            )
        return list(cases)
    result: list[Case] = []
    placed: set[Path] = set()
    left_out: list[str] = []
    for case in cases:
        series = in_volumes.get(case.path) if case.path is not None else None
        if series is None:
            beside = case.path is not None and case.path.parent in volume_folders  # a viewer's preview.jpg
            if case.case_id in dicom_ids or beside:
                left_out.append(case.case_id)
            else:
                result.append(case)
        elif series.folder not in placed:
            placed.add(series.folder)
            case_id = series.folder.relative_to(root).as_posix()
            uid = series.series_uid if _holds_others(series, dicom_paths) else None
            result.append(Case(case_id=case_id, label=case.label, split=case.split, path=series.folder, series_uid=uid))
    logger.info(
        "%s: %d DICOM series read as 3D volumes, one case each (e.g. %s: %d slices); the class folder labels "
        "the series, not each slice",
        root,
        len(volumes),
        volumes[0].folder.relative_to(root),
        volumes[0].slices,
    )
    if len(whole) > len(volumes):
        chosen = next(s for s in volumes if s.key != s.folder)  # a folder's largest among several
        logger.info(
            "%s: %d folder(s) hold several whole series; each gives its largest (of equals, the lowest series "
            "number; e.g. %s: %d slices); the other %d series are left out",
            root,
            len({s.folder for s in whole if s is not largest[s.folder]}),
            chosen.folder.relative_to(root),
            chosen.slices,
            len(whole) - len(volumes),
        )
    left_uneven = [item for item in uneven if item.folder not in volume_folders]
    if left_out and left_uneven:
        logger.warning(
            "%s: left out %d series whose slices are unevenly spaced, e.g. %s: %s. To train on it, re-export the "
            "series with its missing slices (or put a copy resampled onto a uniform grid, e.g. NIfTI, in its place)",
            root,
            len(left_uneven),
            left_uneven[0].folder.relative_to(root),
            left_uneven[0].uneven,
        )
    if left_out:
        logger.warning(
            "%s: left out %d file(s) outside the series read as volumes (e.g. %s: slices of no whole series, a "
            "study folder's other series, other images); the data is read one volume per folder: put each series "
            "in its own folder (at least %d evenly spaced slices) to use it",
            root,
            len(left_out),
            left_out[0],
            MIN_VOLUME_SLICES,
        )
    return result


def _holds_others(series: SeriesInput, dicom_files: Collection[Path]) -> bool:
    """Whether the series' folder holds DICOM files besides its slices (another series, even one of a single
    file such as a scout, which the folder's reader would otherwise refuse as a second series)."""
    members = set(series.files)
    return series.key != series.folder or any(f.parent == series.folder and f not in members for f in dicom_files)


def _largest_per_folder(series: Sequence[SeriesInput]) -> dict[Path, SeriesInput]:
    """``folder -> its series with the most slices``; of equals, the lowest SeriesNumber, then description (a
    multi-echo MR folder's echoes tie: the first met was echo 1 of one patient, echo 3 of the next, files named by
    UID), then UID."""
    largest: dict[Path, SeriesInput] = {}
    for item in sorted(series, key=_series_order):
        largest.setdefault(item.folder, item)
    return largest


def _series_order(item: SeriesInput) -> tuple[int, float, str, str]:
    return (-item.slices, item.number if item.number is not None else float("inf"), item.description, item.series_uid)


def largest_series(folders: Collection[Path]) -> dict[Path, SeriesInput]:
    """``folder -> the series with the most slices`` for each of ``folders`` that holds several DICOM series (a study
    folder of a PACS export: axial, reformats, a scout); a folder of one series is absent. Reads the headers only.
    A label table's row naming such a folder is that series, as a class folder's study folder is
    (:func:`series_as_volumes`)."""
    from medimg.io.dicom_survey import looks_like_dicom
    from medimg.io.series_inputs import SeriesInput, find_series

    files = [f for folder in sorted(set(folders)) for f in sorted(folder.iterdir()) if f.is_file()]
    found = [item for item in find_series(files) if isinstance(item, SeriesInput)]
    several = {folder for folder, n in Counter(item.folder for item in found).items() if n > 1}
    dicom = [f for f in files if looks_like_dicom(f)]
    return {
        folder: item
        for folder, item in _largest_per_folder(found).items()
        if folder in several or _holds_others(item, dicom)
    }
