"""Aligning a dataset's class names with a model's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medimg.errors import DatasetError


def label_map(data_classes: Sequence[str], model_classes: Sequence[str]) -> np.ndarray:
    """Index of each of the data's classes in the model's class list.

    Raises:
        DatasetError: the data has classes the model does not know.
    """
    known = {c.casefold(): i for i, c in enumerate(model_classes)}  # "NORMAL" in the data is the model's "normal"
    unknown = [c for c in data_classes if c.casefold() not in known]
    if unknown:
        raise DatasetError(
            f"the data has classes the model does not know: {', '.join(unknown)} "
            f"(model classes: {', '.join(model_classes)}); rename the folders or labels to the model's classes"
        )
    return np.array([known[c.casefold()] for c in data_classes], dtype=np.int64)
