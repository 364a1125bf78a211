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

from medimg.data.case import SegCase, normalise_split
from medimg.io.formats import file_suffix

logger = logging.getLogger(__name__)

__all__ = ["mark_format_copies"]


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
