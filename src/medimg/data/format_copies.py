"""One image stored in several formats in twin folder trees (Kaggle's CVC-ClinicDB: ``PNG/Original/1.png`` beside
``TIF/Original/1.tif``, each with its mask): :func:`mark_format_copies` gives the copies one patient key by their
names alone (no pixels read), so a split medimg makes keeps them on one side. Split at random, most test images had
their copy in training, and the test Dice measured images already seen."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medimg.data.case import SegCase, normalise_split
from medimg.io.formats import file_stem, file_suffix

logger = logging.getLogger(__name__)

__all__ = ["converted_copies_among", "mark_format_copies"]

#: pairs of same-named images in different formats whose pixels are compared (each read once)
MAX_COMPARED = 200
#: how alike two decoded images must be to be one image converted: correlation of their grey values, and their
#: mean difference as a share of the reference's range (a JPEG saved from a PNG differs by a few grey levels)
SAME_CORRELATION = 0.99
SAME_DIFFERENCE = 0.03


def mark_format_copies(cases: Sequence[SegCase], root: Path) -> list[SegCase]:
    """``cases`` with a shared ``patient_id`` on the images whose path below ``root``, without its top folder and
    its suffix, is the same in two or more top folders in different formats (``PNG/Original/1.png``,
    ``TIF/Original/1.tif``), when none has a patient yet; split folders (``train/1.png``, ``test/1.png``: two
    images) are never twins. A warning names an example and the ``--include`` that trains on one format."""
    groups: dict[str, list[tuple[str, SegCase]]] = defaultdict(list)  # the name below the top folder: (top, case)
    for case in cases:
        if case.patient_id or not case.image.is_relative_to(root):
            continue
        top, *below = case.image.relative_to(root).parts
        if below and not normalise_split(top):
            rest = Path(*below).as_posix()
            groups[rest[: len(rest) - len(file_suffix(rest))].lower()].append((top, case))
    key_of: dict[str, str] = {}
    examples: list[SegCase] = []
    for key, members in groups.items():
        if len({top for top, _ in members}) > 1 and len({file_suffix(m.image) for _, m in members}) > 1:
            key_of.update({m.case_id: f"copies:{key}" for _, m in members})
            examples = examples or [m for _, m in members]
    if not key_of:
        return list(cases)
    logger.warning(
        "%s: %d image(s) are one image in several formats in twin folders (e.g. %s and %s): each kept in one split; "
        "train on one format with --include '*%s'",
        root,
        len(key_of),
        examples[0].case_id,
        examples[1].case_id,
        file_suffix(examples[0].image),
    )
    return [dataclasses.replace(c, patient_id=key_of[c.case_id]) if c.case_id in key_of else c for c in cases]


def converted_copies_among(
    candidates: Sequence[Path], reference: Sequence[Path], most: int = MAX_COMPARED
) -> list[tuple[Path, Path]]:
    """``(candidate, reference file)`` for each of ``candidates`` that is a ``reference`` image saved in another
    format (``ext/NORMAL/x.png`` converted from ``train/NORMAL/x.tif``): the same name without its suffix, another
    suffix, and the same picture once decoded (grey values correlated at :data:`SAME_CORRELATION`, differing by
    under :data:`SAME_DIFFERENCE` of the range). At most ``most`` same-named pairs are read; a file that cannot be
    read matches nothing."""
    by_stem: dict[str, list[Path]] = defaultdict(list)
    for path in reference:
        by_stem[file_stem(path).casefold()].append(path)
    pairs: list[tuple[Path, Path]] = []
    compared = 0
    for path in candidates:
        for original in by_stem.get(file_stem(path).casefold(), []):
            if file_suffix(original) == file_suffix(path):
                continue
            if compared >= most:
                return pairs
            compared += 1
            if _same_picture(path, original):
                pairs.append((path, original))
                break
    return pairs


def _grey(path: Path) -> np.ndarray | None:
    from medimg.io import read_image

    try:
        array = np.asarray(read_image(path).array, dtype=np.float64)
    except Exception:  # unreadable: the reader names it where it matters
        return None
    return array.mean(axis=0) if array.ndim > 2 else array


def _same_picture(a: Path, b: Path) -> bool:
    first, second = _grey(a), _grey(b)
    if first is None or second is None or first.shape != second.shape:
        return False
    spreads = float(np.ptp(first)), float(np.ptp(second))
    if 0 in spreads:
        return spreads[0] == spreads[1] and bool(np.allclose(first, second))
    # compared after scaling each to 0..1: a 16-bit TIFF saved as an 8-bit PNG is the same picture
    x = (first - first.min()) / spreads[0]
    y = (second - second.min()) / spreads[1]
    correlation = float(np.corrcoef(x.ravel(), y.ravel())[0, 1])
    return correlation >= SAME_CORRELATION and float(np.abs(x - y).mean()) < SAME_DIFFERENCE
