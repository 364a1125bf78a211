"""Cardiac cine MRI as 4D NIfTI files with a 4D ground truth labelled at a few frames: M&Ms (the Multi-Centre,
Multi-Vendor & Multi-Disease challenge) ships each subject as ``Training/Labeled/A0S9V9/A0S9V9_sa.nii.gz``
(``X x Y x Z x T``, the short-axis stack over the cardiac cycle) and ``A0S9V9_sa_gt.nii.gz`` (the same shape,
labelled at the end-diastolic and end-systolic frames only, the others empty).

Read as image/mask pairs, each file was a 3D image of ``T`` channels with a ``T``-channel mask ("colour-coded"),
and ``Labeled/`` a folder of masks. Here each labelled frame (a frame of the ground truth holding any label) is a 3D
case: its image and mask frames are written once into the cache as 3D NIfTI files with the file's geometry
(:mod:`.drawn_masks`; an edited file writes new ones), case id ``<image>#frame<t>`` (1-based), the subject (the
image's name without ``_sa``/``_la``) its patient, so both frames of a subject stay in one split. ``Training``,
``Validation`` and ``Testing`` folders are the splits; a cine without ground truth (``Training/Unlabeled/``) is
counted and left out. M&Ms' labels are named (left ventricle 1, myocardium 2, right ventricle 3) when its
information table (``*M&Ms*.csv``) is in the folder.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import file_stem, problems_error, split_of, walk_files
from medimg.data.layouts.drawn_masks import cache_folder, mask_file
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

__all__ = ["detect", "load"]

DETECT_ENTRIES = 200
#: pairs whose headers :func:`detect` reads
DETECT_PAIRS = 2
GT_SUFFIX = re.compile(r"_gt$", re.IGNORECASE)
VIEW_SUFFIX = re.compile(r"_(sa|la|4d|cine)$", re.IGNORECASE)
MNMS_STRUCTURES = ("left ventricle", "myocardium", "right ventricle")


#: the suffixes of a NIfTI file
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def _nifti_files(root: Path, limit: int | None = None) -> list[Path]:
    return [f for f in walk_files(root, limit) if f.name.lower().endswith(NIFTI_SUFFIXES)]


def _pairs(files: list[Path]) -> list[tuple[Path, Path]]:
    """``(image, ground truth)``: each ``<name>_gt.nii[.gz]`` with its ``<name>.nii[.gz]`` beside it."""
    by_stem = {(f.parent, file_stem(f)): f for f in files}
    pairs = []
    for gt in files:
        stem = file_stem(gt)
        if GT_SUFFIX.search(stem) and (image := by_stem.get((gt.parent, GT_SUFFIX.sub("", stem)))) is not None:
            pairs.append((image, gt))
    return pairs


def _open(file: Path) -> Any:
    """A NIfTI file, its header read (nibabel's image; the pixels on access)."""
    import nibabel as nib

    return nib.load(file)


def nifti_shape(file: Path) -> tuple[int, ...] | None:
    """A NIfTI file's shape from its header, ``None`` when it is unreadable."""
    try:
        return tuple(int(n) for n in _open(file).shape)
    except Exception:  # not NIfTI, damaged: not this layout's
        return None


def nifti_grid(file: Path) -> tuple[int, ...] | None:
    """A NIfTI file's spatial shape from its header, ``None`` when it is unreadable (the reader names it later)."""
    shape = nifti_shape(file)
    return shape[:3] if shape is not None else None


def _is_cine_pair(image: Path, gt: Path) -> bool:
    shape = nifti_shape(image)
    return shape is not None and len(shape) == 4 and shape[3] > 1 and nifti_shape(gt) == shape


def detect(path: Path) -> bool:
    """A folder whose first ``<name>_gt`` NIfTI files and their images are 4D of one shape (headers only)."""
    if not path.is_dir():
        return False
    pairs = _pairs(_nifti_files(path, DETECT_ENTRIES))[:DETECT_PAIRS]
    return bool(pairs) and all(_is_cine_pair(image, gt) for image, gt in pairs)


def _write_frame(source: Any, frame: np.ndarray, target: Path) -> None:
    """``frame`` as a 3D NIfTI file with ``source``'s geometry, written atomically."""
    import nibabel as nib

    partial = target.with_name(f".partial-{target.name}")  # the suffix kept: nibabel writes by it
    nib.save(nib.Nifti1Image(frame, source.affine, source.header), partial)
    os.replace(partial, target)


def _frames(image: Path, gt: Path, cache: Path, case_id: str) -> list[tuple[int, Path, Path]]:
    """``(frame, image file, mask file)`` of each frame ``gt`` labels, written into ``cache`` unless there."""
    labels_file = _open(gt)
    labels = np.asanyarray(labels_file.dataobj)
    labelled = [int(t) for t in np.flatnonzero(labels.reshape(-1, labels.shape[3]).any(axis=0))]
    cine = None
    frames = []
    for t in labelled:
        image_target = mask_file(cache, f"{case_id}_frame{t + 1:02d}", ".nii.gz")
        mask_target = mask_file(cache, f"{case_id}_frame{t + 1:02d}_gt", ".nii.gz")
        if not (image_target.is_file() and mask_target.is_file()):
            cine = cine if cine is not None else _open(image)
            proxy = cine.dataobj
            scaled = getattr(proxy, "slope", 1) != 1 or getattr(proxy, "inter", 0) != 0
            dtype = np.float32 if scaled else cine.get_data_dtype()
            _write_frame(cine, np.asarray(proxy[..., t]).astype(dtype), image_target)
            _write_frame(labels_file, labels[..., t].astype(np.uint8), mask_target)
        frames.append((t, image_target, mask_target))
    return frames


def load(path: Path) -> SegmentationDataset:
    """Each labelled frame of the 4D cines under ``path`` as a 3D case (see the module doc).

    Raises:
        DatasetError: no 4D image with a 4D ground truth, or a ground truth without any label.
    """
    files = _nifti_files(path)
    pairs = [(image, gt) for image, gt in _pairs(files) if _is_cine_pair(image, gt)]
    if not pairs:
        raise DatasetError(f"{path}: no 4D NIfTI image with a 4D <name>_gt ground truth of its shape")
    paired = {f for pair in pairs for f in pair}
    unlabelled = [f for f in files if f not in paired and len(nifti_shape(f) or ()) == 4]
    cache = cache_folder([gt for _, gt in pairs])
    cases, empty, problems = [], [], []
    for image, gt in pairs:
        case_id = str(image.relative_to(path))
        try:
            frames = _frames(image, gt, cache, str(image.relative_to(path).with_name(file_stem(image))))
        except (OSError, ValueError, EOFError) as error:  # damaged or cut-short gzip, an unreadable header
            problems.append(f"{case_id} / {gt.name}: cannot be read ({type(error).__name__}: {error})")
            continue
        if not frames:
            empty.append(str(gt.relative_to(path)))
        patient = VIEW_SUFFIX.sub("", file_stem(image))
        split = split_of(path, image)
        cases += [
            SegCase(f"{case_id}#frame{t + 1}", frame, mask, patient_id=patient, split=split)
            for t, frame, mask in frames
        ]
    if problems:
        raise problems_error(path, problems, "cine file problem(s)")
    if empty:
        raise DatasetError(
            f"{path}: {len(empty)} ground truth file(s) label no frame, e.g. {empty[0]}; remove them or their labels"
        )
    logger.info(
        "%s: %d 4D cine(s) with ground truth -> %d labelled frames as 3D cases (written once in %s)%s",
        path,
        len(pairs),
        len(cases),
        cache,
        f"; {len(unlabelled)} cine(s) without ground truth left out" if unlabelled else "",
    )
    mnms = any("m&ms" in f.name.lower() or "mnms" in f.name.lower() for f in path.glob("*.csv"))
    return SegmentationDataset(
        name=dataset_name(path),
        root=path,
        source="cine_frames",
        cases=cases,
        value_names={0: "background", **{k + 1: n for k, n in enumerate(MNMS_STRUCTURES)}} if mnms else {},
    )
