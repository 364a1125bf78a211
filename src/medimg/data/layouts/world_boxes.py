"""Findings given as points in scanner coordinates (millimetres) with a diameter, one row per finding: LUNA16's
``annotations.csv`` (``seriesuid,coordX,coordY,coordZ,diameter_mm``) beside ``subset0/``...``subset9/`` of
``<seriesuid>.mhd`` scans, read as 3D detection data (one class, ``nodule``).

Each row's centre goes from world coordinates (ITK's LPS millimetres, as the challenge gives them) to the scan's
voxel indices through its header (origin, spacing, direction: :func:`medimg.io.itk.itk_geometry`), and becomes a
cube of the diameter on every axis, clipped to the scan (:class:`~medimg.data.case.Box`'s axes: ``z`` along the
array's first spatial axis). Every scan under the folder is annotated: a scan without a row has no nodule (LUNA16's
888 scans, 601 with nodules). Lung masks beside the scans (``seg-lungs-LUNA16/<seriesuid>.mhd``: a folder named
for masks or segmentations) are not scans. ``subsetN`` folders are the challenge's ten folds, not classes; the
split is medimg's, by scan.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from medimg.data.case import Box, Case
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import DetectionDataset
from medimg.data.layouts.common import (
    MANIFEST_SUFFIXES,
    file_stem,
    manifest_delimiter,
    path_selected,
    problems_error,
    text_encoding,
)
from medimg.errors import DatasetError, ImageReadError
from medimg.io.folder_walk import walk_tree
from medimg.io.formats import file_suffix, in_system_folder

logger = logging.getLogger(__name__)

ID_COLUMN = "seriesuid"
CENTRE_COLUMNS = ("coordx", "coordy", "coordz")
DIAMETER_COLUMN = "diameter_mm"
#: the files a scan may be: MetaImage (LUNA16) and NRRD, whose headers give the world geometry
SCAN_SUFFIXES = (".mhd", ".mha", ".nrrd", ".nhdr")
#: words of a folder holding masks beside the scans (LUNA16's ``seg-lungs-LUNA16``)
MASK_FOLDER_WORDS = ("seg", "mask", "label")
CLASS_NAME = "nodule"


def _header(table: Path) -> dict[str, str]:
    with table.open(encoding=text_encoding(table), errors="replace", newline="") as handle:
        names = next(csv.reader(handle, delimiter=manifest_delimiter(table)), [])
    return {name.strip().lower(): name for name in names}


def _tables(path: Path) -> list[Path]:
    """The finding tables in ``path``: CSVs whose header names the series and the centre (and a diameter)."""
    if not path.is_dir():
        return []
    tables = []
    for table in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES):
        columns = _header(table)
        if ID_COLUMN in columns and all(c in columns for c in CENTRE_COLUMNS) and DIAMETER_COLUMN in columns:
            tables.append(table)
    return tables


def detect(path: Path) -> bool:
    """True for a folder holding a finding table (``seriesuid``, ``coordX/Y/Z``, ``diameter_mm``; names only)."""
    return bool(_tables(path))


def _scans(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> dict[str, Path]:
    scans: dict[str, Path] = {}
    for path in sorted(walk_tree(root)):
        suffix = file_suffix(path)
        if suffix not in SCAN_SUFFIXES or not path.is_file() or in_system_folder(path, root):
            continue
        folders = [part.lower() for part in path.relative_to(root).parts[:-1]]
        if any(word in folder for folder in folders for word in MASK_FOLDER_WORDS):
            continue
        if path_selected(path, include, exclude, root):
            scans.setdefault(file_stem(path), path)
    return scans


def _boxes(found: list[tuple[np.ndarray, float]], scan: Path) -> tuple[list[Box], int]:
    """Each finding's cube in the scan's array axes, clipped (its header read once), and how many lie outside.

    Raises:
        DatasetError: the scan's header cannot be read.
    """
    from medimg.io.itk import itk_geometry

    try:
        origin, spacing, direction, size = itk_geometry(scan)
    except ImageReadError as error:
        raise DatasetError(f"{scan}: its header cannot be read ({error.reason})") from error
    boxes, outside = [], 0
    for centre_mm, diameter in found:
        index = np.linalg.solve(direction, centre_mm - origin) / spacing  # continuous, voxel centres at integers
        half = diameter / 2 / spacing
        low = np.clip(index + 0.5 - half, 0, size)
        high = np.clip(index + 0.5 + half, 0, size)
        if np.any(high - low <= 0):
            outside += 1
            continue
        (i1, j1, k1), (i2, j2, k2) = low.tolist(), high.tolist()
        boxes.append(Box(k1, j1, k2, j2, 0, z1=i1, z2=i2))  # array (C, i, j, k) = (C, D, H, W): x along k, z along i
    return boxes, outside


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> DetectionDataset:
    """The scans under ``path`` with their findings as 3D boxes (headers read, no pixels).

    Args:
        include, exclude: file-name patterns a scan must match / must not match.

    Raises:
        DatasetError: no finding table or no scan; a row with a value that is not a number; a scan header that
            cannot be read. The message names the file and line.
    """
    root = path
    tables = _tables(root)
    if not tables:
        raise DatasetError(f"{root}: no table with the columns seriesuid, coordX, coordY, coordZ, diameter_mm")
    table = next((t for t in tables if t.stem.lower() == "annotations"), tables[0])
    scans = _scans(root, include, exclude)
    if not scans:
        raise DatasetError(
            f"{root}: {table.name} names scans, but no MetaImage or NRRD scan (<seriesuid>.mhd) is under it; "
            "unpack the subset folders there (or check --include/--exclude)"
        )
    columns = _header(table)
    findings: dict[str, list[tuple[np.ndarray, float]]] = {}
    problems: list[str] = []
    with table.open(encoding=text_encoding(table), errors="replace", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle, delimiter=manifest_delimiter(table)), start=2):
            try:
                centre = np.array([float(row[columns[c]]) for c in CENTRE_COLUMNS])
                diameter = float(row[columns[DIAMETER_COLUMN]])
            except (TypeError, ValueError):
                problems.append(f"{table.name} line {line}: a centre or diameter that is not a number")
                continue
            findings.setdefault((row[columns[ID_COLUMN]] or "").strip(), []).append((centre, diameter))
    if problems:
        raise problems_error(table, problems, "row problem(s)")
    cases: list[Case] = []
    outside = 0
    for uid, scan in sorted(scans.items()):
        boxes, left = _boxes(findings[uid], scan) if uid in findings else ([], 0)
        outside += left
        cases.append(Case(case_id=scan.relative_to(root).as_posix(), label=None, path=scan, boxes=tuple(boxes)))
    missing = len(set(findings) - set(scans))
    if missing:
        logger.warning("%s: %d series named in %s have no scan under %s (left out)", root, missing, table.name, root)
    if outside:
        logger.warning("%s: %d finding(s) lie outside their scan (left out)", root, outside)
    logger.info(
        "%s: %d scan(s), %d finding(s) of %s in world coordinates",
        root,
        len(cases),
        sum(len(c.boxes or ()) for c in cases),
        table.name,
    )
    return DetectionDataset(
        name=dataset_name(root),
        root=root,
        source="csv",
        class_names=[CLASS_NAME],
        cases=cases,
        spatial_dims=3,
    )
