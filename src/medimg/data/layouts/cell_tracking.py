"""The Cell Tracking Challenge's training sets (celltrackingchallenge.net: ``Fluo-N2DH-GOWT1``, ``Fluo-C2DL-MSC``,
``DIC-C2DH-HeLa``, ``PhC-C2DH-U373``...): each time-lapse sequence ``01/``, ``02/`` holds its frames
``t000.tif``, ``t001.tif``..., its gold segmentation ``01_GT/SEG/man_seg002.tif`` (some frames only: frame 2's), its
tracking markers ``01_GT/TRA/man_track000.tif`` (a dot per cell, no outline) and, in later releases, a silver
segmentation of every frame ``01_ST/SEG/man_seg000.tif`` (made by the best methods, not drawn by hand).

A mask pairs with the frame of its number in the sequence of its folder's name: ``01_GT/SEG/man_seg002.tif`` is
``01/t002.tif`` (by name alone, no mask had "a matching name"). The gold masks are read; the silver ones only where
the set has no gold mask at all. Each mask labels every cell with its own value (its track's id), so the masks are
instance maps: read as cell and background (:func:`medimg.tasks.segment.labels.named_for_instances`), never as one
class per id. The sequence is each frame's "patient": a sequence's frames are one time-lapse, never on both sides
of a split. 3D sets' slice masks (``man_seg_002_015.tif``, slice 15 of frame 2) are left out, with a word.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import path_selected
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

#: a sequence's folder of frames (``01``, ``02``)
_SEQUENCE = re.compile(r"\d{2}")
#: a sequence's gold (``_GT``) or silver (``_ST``) truth folder
_TRUTH = re.compile(r"(\d{2})_(GT|ST)")
#: a frame, ``t000.tif`` (``t0000.tif`` in long sequences)
_FRAME = re.compile(r"t(\d{3,4})\.tiff?", re.IGNORECASE)
#: a set's truth file by its name without suffix (case-folded): a segmentation (``man_seg002``, a 3D frame's slice
#: ``man_seg_002_015``) or a tracking marker (``man_track002``); group 1 says which
TRUTH_NAME = re.compile(r"man_(seg|track)_?\d+(?:_\d+)?")
#: a whole frame's segmentation, ``man_seg002.tif``
_FRAME_MASK = re.compile(r"man_seg(\d{3,4})\.tiff?", re.IGNORECASE)
#: a 3D frame's slice segmentation, ``man_seg_002_015.tif``
_SLICE_MASK = re.compile(r"man_seg_(\d{3,4})_(\d{3,4})\.tiff?", re.IGNORECASE)


def _sequences(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and _SEQUENCE.fullmatch(p.name))


def detect(path: Path) -> bool:
    """A folder of sequences ``01/`` (frames ``t000.tif``) beside ``01_GT/SEG/`` or ``01_ST/SEG/`` of
    ``man_seg*.tif``."""
    if not path.is_dir():
        return False
    for sequence in _sequences(path):
        truth = [path / f"{sequence.name}_{kind}" / "SEG" for kind in ("GT", "ST")]
        if any(_FRAME.fullmatch(p.name) for p in sequence.iterdir()) and any(
            folder.is_dir() and any(f.name.startswith("man_seg") for f in folder.iterdir()) for folder in truth
        ):
            return True
    return False


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """Each frame with a gold segmentation (else, where the set has none, a silver one), its sequence as its
    patient; the frames without are unlabelled.

    Raises:
        DatasetError: no frame has a segmentation.
    """
    frames: dict[tuple[str, int], Path] = {}
    for sequence in _sequences(path):
        for file in sequence.iterdir():
            found = _FRAME.fullmatch(file.name)
            if found and path_selected(file, include, exclude, path):
                frames[(sequence.name, int(found.group(1)))] = file
    masks: dict[str, dict[tuple[str, int], Path]] = {"GT": {}, "ST": {}}
    slices: list[Path] = []
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        truth = _TRUTH.fullmatch(folder.name)
        seg = folder / "SEG"
        for file in sorted(seg.iterdir()) if truth and seg.is_dir() else []:
            found = _FRAME_MASK.fullmatch(file.name)
            if truth and found and path_selected(file, include, exclude, path):
                masks[truth.group(2)][(truth.group(1), int(found.group(1)))] = file
            elif _SLICE_MASK.fullmatch(file.name):
                slices.append(file)
    kind = "GT" if masks["GT"] else "ST"
    chosen = {key: mask for key, mask in masks[kind].items() if key in frames}
    if slices:
        logger.info(
            "%s: %d slice segmentation(s) of 3D frames left out (e.g. %s): medimg pairs a whole frame's mask "
            "(man_seg002.tif) with its frame",
            path,
            len(slices),
            slices[0].relative_to(path),
        )
    if not chosen:
        raise DatasetError(
            f"{path}: no frame (01/t000.tif...) has a whole-frame segmentation (01_GT/SEG/man_seg000.tif); the "
            "tracking markers (_GT/TRA/) are dots, not outlines"
        )
    if kind == "ST":
        logger.warning(
            "%s: no gold segmentation (*_GT/SEG/): the silver truth (*_ST/SEG/, made by algorithms, not drawn by "
            "hand) is read",
            path,
        )
    elif masks["ST"]:
        logger.info(
            "%s: the gold segmentations (*_GT/SEG/, %d frames) are read; the silver truth (*_ST/SEG/) is left out",
            path,
            len(chosen),
        )
    cases = [
        SegCase(frames[key].relative_to(path).as_posix(), frames[key], mask, patient_id=f"sequence-{key[0]}")
        for key, mask in sorted(chosen.items())
    ]
    return SegmentationDataset(
        name=dataset_name(path),
        root=path,
        source="cell_tracking",
        cases=cases,
        unlabelled=[frames[key].relative_to(path).as_posix() for key in sorted(frames) if key not in chosen],
    )
