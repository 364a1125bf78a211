"""Data whose classes are unnamed integer labels (``class_0``, ``class_1``: a MedMNIST file renamed) evaluated by a
model with named classes: the numbers are the model's classes, said in a warning; other unknown names still fail."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from medimg.data.labels import label_map
from medimg.errors import DatasetError


def test_class_numbers_are_the_models_classes_of_those_numbers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="medimg.data.labels"):
        mapping = label_map(["class_0", "class_1"], ["normal", "pneumonia"])
    assert mapping.tolist() == [0, 1]
    assert "class_0 = normal, class_1 = pneumonia" in caplog.text
    assert label_map(["class_2"], ["a", "b", "c"]).tolist() == [2]  # a subset keeps its numbers


@pytest.mark.parametrize(
    "data_classes",
    [["class_0", "class_2"], ["class_0", "tumour"], ["cls_0", "cls_1"]],  # beyond the model's classes; mixed; others
)
def test_other_unknown_classes_are_still_refused(data_classes: list[str]) -> None:
    with pytest.raises(DatasetError, match="the data has classes the model does not know"):
        label_map(data_classes, ["normal", "pneumonia"])


def test_named_classes_match_by_name_not_number() -> None:
    assert label_map(["pneumonia", "NORMAL"], ["normal", "pneumonia"]).tolist() == [1, 0]
    assert np.array_equal(label_map(["class_1", "class_0"], ["class_0", "class_1"]), [1, 0])
