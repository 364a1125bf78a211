"""Labels as models see them: aligning a dataset's class names with a model's, multi-label findings as text and
as multi-hot targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medimg.data.case import Case
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


#: label values that name the absence of every finding in a multi-label set (NIH ChestX-ray14's "No Finding",
#: CheXpert's "No Finding" column): an image without findings, not a finding of its own
NO_FINDING_NAMES = frozenset({"no finding", "no findings", "no_finding", "nofinding", "none", "normal", "no disease"})


def is_no_finding(name: str) -> bool:
    """True for a label naming the absence of findings (``"No Finding"``, ``"normal"``...)."""
    return name.strip().casefold() in NO_FINDING_NAMES


def label_text(case: Case, class_names: Sequence[str]) -> str:
    """A case's label as text: its class, a multi-label case's findings joined by ``|`` (``"no finding"`` for
    none), ``"?"`` for an unlabelled case."""
    if case.label is not None:
        return class_names[case.label]
    if case.findings is not None:
        return "|".join(class_names[i] for i in case.findings) or "no finding"
    return "?"


def findings_matrix(cases: Sequence[Case], num_findings: int, remap: np.ndarray | None = None) -> np.ndarray:
    """The multi-hot targets ``(N, K)`` float32 of multi-label cases (a case without findings is a row of zeros);
    ``remap`` maps the data's finding indices to the model's (:func:`label_map`).

    Raises:
        DatasetError: a case is not multi-label (no ``findings``).
    """
    matrix = np.zeros((len(cases), num_findings), dtype=np.float32)
    for row, case in enumerate(cases):
        if case.findings is None:
            raise DatasetError(f"{case.case_id} has no findings: a multi-label model needs multi-label data")
        for index in case.findings:
            matrix[row, int(remap[index]) if remap is not None else index] = 1.0
    return matrix
