"""Prediction on image files and folders with a trained classifier."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from medimg.errors import DatasetError, ImageReadError
from medimg.planning.plan import Plan
from medimg.tasks.classify import predict_proba
from medimg.transforms.preprocess import preprocess_arrays

logger = logging.getLogger(__name__)


@dataclass
class Prediction:
    """The model's answer for one image.

    Attributes:
        source: the file it was made from.
        label: the most probable class name.
        label_index: its index in the model's class list.
        probabilities: ``class name -> probability`` (sums to 1).
    """

    source: str
    label: str
    label_index: int
    probabilities: dict[str, float]

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "label": self.label,
            "label_index": self.label_index,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and every image file inside given folders (recursively, sorted).

    Raises:
        DatasetError: a path does not exist, or a folder holds no image files.
    """
    from medimg.io.formats import is_image_file

    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if p.is_file() and is_image_file(p)]
            if not found:
                raise DatasetError(f"{path} holds no image files (PNG, JPEG, BMP, TIFF, DICOM, NIfTI)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DatasetError(f"{path} does not exist")
    return files


def predict_files(
    network: nn.Module,
    plan: Plan,
    class_names: Sequence[str],
    paths: Sequence[Path],
    *,
    window: str | tuple[float, float] | None = None,
) -> tuple[list[Prediction], list[tuple[str, str]]]:
    """Predict every readable file; unreadable ones are returned as ``(path, reason)`` instead."""
    from medimg.io import read_image

    arrays, sources, failed = [], [], []
    for path in paths:
        try:
            arrays.append(read_image(path, window=window).array)
            sources.append(str(path))
        except ImageReadError as error:
            failed.append((str(path), error.reason))
    predictions: list[Prediction] = []
    if arrays:
        x = preprocess_arrays(arrays, plan, sources)
        probabilities = predict_proba(network, x, plan)
        for source, row in zip(sources, probabilities, strict=True):
            index = int(row.argmax())
            predictions.append(
                Prediction(
                    source=source,
                    label=class_names[index],
                    label_index=index,
                    probabilities={name: float(p) for name, p in zip(class_names, row, strict=True)},
                )
            )
    return predictions, failed
