"""One item of a dataset: where its pixels are and what we know about it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}


def normalise_split(name: str | None) -> str | None:
    """Map a user's split name (``"Validation"``, ``"testing"``...) to ``train``/``val``/``test`` or ``None``."""
    if name is None:
        return None
    text = str(name).strip().lower()
    if not text or text in {"nan", "none"}:
        return None
    return SPLIT_ALIASES.get(text)


@dataclass(frozen=True)
class Case:
    """One image with its label.

    Attributes:
        case_id: unique, stable identifier (the file path relative to the dataset root, or ``"train/17"``).
        label: class index into ``Dataset.class_names``; ``None`` for unlabelled images.
        split: the dataset's own split (``"train"``, ``"val"``, ``"test"``) or ``None`` when it has none.
        patient_id: groups images of one patient so they never straddle splits; ``None`` when unknown.
        path: the image file, for file-backed datasets.
        index: the row in the in-memory array, for array-backed datasets (MedMNIST ``.npz``).
    """

    case_id: str
    label: int | None
    split: str | None = None
    patient_id: str | None = None
    path: Path | None = None
    index: int | None = None
