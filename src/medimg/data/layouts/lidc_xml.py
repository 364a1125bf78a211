"""LIDC-IDRI as TCIA ships it: chest CT series with their radiologists' nodule outlines in an XML file beside them.

Each CT series folder (``LIDC-IDRI/LIDC-IDRI-0001/<study>/<series>/*.dcm``) holds one ``LidcReadMessage`` XML: up to
four ``readingSession``s (one per radiologist), each with ``unblindedReadNodule``s whose ``roi``s outline a nodule on
one slice (``imageSOP_UID``; ``edgeMap`` points in that slice's pixel columns and rows, the outline's own pixels part
of the nodule; ``inclusion`` FALSE for a hole). Nodules of 3 mm or more are outlined and carry ``characteristics``;
smaller ones (a single centre point) and ``nonNodule``s are not outlines and are left out, as the LIDC
segmentation literature does (pylidc, LUNA16). Every reader's nodules are drawn on the series' grid through each
slice's geometry; a voxel is nodule where at least half of the readers (:data:`AGREEMENT`, at least one) drew it,
pylidc's 50% consensus. One class, ``nodule``; the mask is cached as NIfTI (:mod:`.drawn_masks`), nothing is written
beside the data. With ``--task detect`` each connected nodule is a 3D box. The chest radiographs' XML
(``IdriReadMessage``) annotates no CT and is not read.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import DetectionDataset
from medimg.data.layouts.common import problems_error
from medimg.data.layouts.drawn_masks import cache_folder, mask_file, polygon_pixels
from medimg.errors import DatasetError
from medimg.io.dicom import LPS_TO_RAS
from medimg.io.folder_walk import walk_folders
from medimg.io.formats import in_system_folder

logger = logging.getLogger(__name__)

ROOT_TAG = "LidcReadMessage"
#: share of a series' readers who must draw a voxel for it to be nodule (pylidc's consensus level)
AGREEMENT = 0.5
#: how many folder entries :func:`detect` walks looking for the first XML
DETECT_ENTRIES = 3000
CLASS_NAME = "nodule"


def _is_lidc_xml(path: Path) -> bool:
    """An XML file whose root element is ``LidcReadMessage`` (its first bytes only)."""
    try:
        with path.open("rb") as handle:
            return ROOT_TAG.encode() in handle.read(4096)
    except OSError:
        return False


def _xml_files(root: Path, limit: int | None = None) -> list[Path]:
    """The LIDC XML files under ``root``; with ``limit``, the first one found within that many folder entries."""
    found: list[Path] = []
    walked = 0
    for folder, _, names in sorted_walk(root):
        if in_system_folder(Path(folder), root):
            continue
        found += [
            Path(folder) / n for n in sorted(names) if n.lower().endswith(".xml") and _is_lidc_xml(Path(folder) / n)
        ]
        walked += len(names) + 1
        if limit is not None and (walked >= limit or found):
            break
    return found


def sorted_walk(root: Path) -> Any:
    """``os.walk`` in name order (the cases' order must not depend on the file system's)."""
    for folder, folders, names in walk_folders(root):
        folders.sort()
        yield folder, folders, sorted(names)


def detect(path: Path) -> bool:
    """A folder with an LIDC XML among its first entries (the first XML found decides)."""
    return path.is_dir() and bool(_xml_files(path, DETECT_ENTRIES))


@dataclass(frozen=True)
class Outline:
    """One reader's outline of a nodule on one slice: the slice's SOP Instance UID, its points (column, row) and
    whether it adds to the nodule or cuts a hole."""

    sop_uid: str
    points: tuple[tuple[float, float], ...]
    inclusion: bool


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: ElementTree.Element, name: str) -> str:
    return next((str(c.text or "").strip() for c in element if _local(c.tag) == name), "")


def read_outlines(file: Path) -> tuple[str, list[list[Outline]]]:
    """The series UID an LIDC XML annotates and, per reader, the outlines of its nodules of 3 mm or more.

    Raises:
        DatasetError: the file is not well-formed XML.
    """
    try:
        root = ElementTree.parse(file).getroot()
    except (ElementTree.ParseError, OSError) as error:
        raise DatasetError(f"{file}: not a readable LIDC XML file ({error}); download it again") from error
    header = next(iter(_children(root, "ResponseHeader")), None)
    series = _text(header, "SeriesInstanceUid") if header is not None else ""
    readers: list[list[Outline]] = []
    for session in _children(root, "readingSession"):
        outlines: list[Outline] = []
        for nodule in _children(session, "unblindedReadNodule"):
            if not _children(nodule, "characteristics"):
                continue  # under 3 mm: a centre point, not an outline
            for roi in _children(nodule, "roi"):
                points = tuple(
                    (float(_text(edge, "xCoord")), float(_text(edge, "yCoord"))) for edge in _children(roi, "edgeMap")
                )
                if points:
                    inclusion = _text(roi, "inclusion").upper() != "FALSE"
                    outlines.append(Outline(_text(roi, "imageSOP_UID"), points, inclusion))
        readers.append(outlines)
    return series, readers


def _slice_geometry(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """``SOPInstanceUID -> (position, row direction, column direction, (row spacing, column spacing))`` of every
    slice in ``folder`` (headers only)."""
    from medimg.data.layouts.dicom_masks import read_tags

    tags = ["SOPInstanceUID", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"]
    geometry = {}
    for file in sorted(folder.iterdir()):
        if not file.is_file() or file.suffix.lower() == ".xml":
            continue
        ds = read_tags(file, tags)
        try:
            cosines = np.array([float(v) for v in ds.ImageOrientationPatient])
            geometry[str(ds.SOPInstanceUID)] = (
                np.array([float(v) for v in ds.ImagePositionPatient]),
                cosines[:3],
                cosines[3:],
                np.array([float(v) for v in ds.PixelSpacing]),
            )
        except (AttributeError, ValueError, TypeError):  # not an image slice with geometry (or not DICOM: None)
            continue
    return geometry


def draw_consensus(
    readers: list[list[Outline]], geometry: dict[str, Any], shape: tuple[int, int, int], affine: np.ndarray
) -> tuple[np.ndarray, int]:
    """The ``(D, H, W)`` uint8 mask (1 nodule) of the voxels at least :data:`AGREEMENT` of the ``readers`` drew, on
    the volume whose voxel -> RAS ``affine`` is given; and how many outlines named no slice of it."""
    to_voxels = np.linalg.inv(affine) @ LPS_TO_RAS
    votes = np.zeros(shape, np.uint8)
    missed = 0
    for outlines in readers:
        drawn = np.zeros(shape, bool)
        for outline in sorted(outlines, key=lambda o: not o.inclusion):  # holes after the outlines they cut
            if outline.sop_uid not in geometry:
                missed += 1
                continue
            position, rows_dir, columns_dir, (row_spacing, column_spacing) = geometry[outline.sop_uid]
            xy = np.array(outline.points)
            mm = position + xy[:, :1] * column_spacing * rows_dir + xy[:, 1:] * row_spacing * columns_dir
            voxels = (to_voxels @ np.c_[mm, np.ones(len(mm))].T).T[:, :3]  # (slice, row, column)
            index = round(float(voxels[:, 0].mean()))
            if not 0 <= index < shape[0]:
                missed += 1
                continue
            region = (
                np.array(polygon_pixels((shape[1], shape[2]), voxels[:, 2], voxels[:, 1]))
                if len(xy) >= 3
                else np.zeros(shape[1:], bool)
            )
            rows = np.clip(np.rint(voxels[:, 1]).astype(int), 0, shape[1] - 1)
            columns = np.clip(np.rint(voxels[:, 2]).astype(int), 0, shape[2] - 1)
            if outline.inclusion:
                region[rows, columns] = True  # the outline's own pixels are nodule (LIDC's convention)
                drawn[index] |= region
            else:
                drawn[index] &= ~region
        votes += drawn
    needed = max(1, math.ceil(AGREEMENT * len(readers)))
    return (votes >= needed).astype(np.uint8), missed


def load(path: Path) -> SegmentationDataset:
    """One case per CT series with an LIDC XML beside it: the series, and its readers' consensus nodule mask.

    Raises:
        DatasetError: no LIDC XML, or series that cannot be read or drawn on (listed).
    """
    from medimg.data.layouts.dicom_masks import series_volume
    from medimg.io.image import ImageData
    from medimg.io.nifti import write_nifti

    files = _xml_files(path)
    if not files:
        raise DatasetError(f"no LIDC XML (LidcReadMessage) under {path}: it lies in its CT series' folder")
    cache = cache_folder(files)
    cases: list[SegCase] = []
    problems: list[str] = []
    seen: set[Path] = set()
    for file in files:
        folder = file.parent
        if folder in seen:
            logger.warning("%s: another LIDC XML of %s was read first; this one is left out", file, folder)
            continue
        seen.add(folder)
        case_id = folder.relative_to(path).as_posix()
        target = mask_file(cache, case_id, ".nii.gz")
        if not target.is_file():
            _, readers = read_outlines(file)
            try:
                image, grid = series_volume(folder)
            except DatasetError as error:
                problems.append(str(error))
                continue
            labels, missed = draw_consensus(readers, _slice_geometry(folder), grid, image.affine)
            if missed:
                logger.warning("%s: %d outline(s) name no slice of %s and are left out", file, missed, folder)
            drawn = ImageData(labels[None], spacing_mm=image.spacing_mm, affine=image.affine)
            write_nifti(drawn, target, dtype=np.uint8)
        patient = next((p for p in folder.relative_to(path).parts if p.upper().startswith("LIDC-IDRI-")), None)
        cases.append(SegCase(case_id=case_id, image=folder, mask=target, patient_id=patient or case_id))
    if problems:
        raise problems_error(path, problems, "LIDC series problem(s)")
    logger.info(
        "%s: %d LIDC-IDRI series; nodules of 3 mm or more where at least half of the readers outlined them (masks "
        "drawn or reused in %s)",
        path,
        len(cases),
        cache,
    )
    return SegmentationDataset(
        name=dataset_name(path),
        root=path,
        source="lidc-idri",
        cases=cases,
        value_names={0: "background", 1: CLASS_NAME},
    )


def load_boxes(path: Path, *, label_names: dict[str, str] | None = None, min_size: int = 1) -> DetectionDataset:
    """The series of :func:`load` with a 3D box around each connected consensus nodule (``--task detect``).

    Raises:
        DatasetError: as :func:`load`.
    """
    from medimg.data.layouts.mask_boxes import boxes_of

    return boxes_of(load(path), path, label_names or {"1": CLASS_NAME}, min_size=min_size, source="lidc-idri")
