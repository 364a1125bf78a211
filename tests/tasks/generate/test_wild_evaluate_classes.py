"""Evaluating a generator on another dataset matches its classes by name: the test images of a class condition
samples of that class (they were taken by position: another order, or other classes, scored the wrong class or
crashed with an IndexError)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from medimg.errors import DatasetError
from medimg.tasks.generate.evaluate import generator_labels
from medimg.tasks.generate.plan import GeneratePlan

PLAN = GeneratePlan(class_names=["no finding", "пневмония"], num_classes=2)


def test_classes_in_another_order_are_matched_by_name() -> None:
    data = SimpleNamespace(name="other", class_names=["Пневмония", "No Finding"])  # another order and case
    labels = generator_labels(data, torch.tensor([0, 0, 1]), PLAN)
    assert labels.tolist() == [1, 1, 0]


def test_the_same_classes_keep_their_labels() -> None:
    labels = torch.tensor([1, 0, 1])
    assert generator_labels(SimpleNamespace(name="d", class_names=list(PLAN.class_names)), labels, PLAN) is labels


def test_classes_the_generator_was_not_trained_on_are_refused() -> None:
    data = SimpleNamespace(name="other", class_names=["a", "b", "c"])
    with pytest.raises(DatasetError, match=r"other holds images of class\(es\) \['a', 'c'\] that the generator"):
        generator_labels(data, torch.tensor([0, 2, 0]), PLAN)
    data = SimpleNamespace(name="sub", class_names=["zzz", "пневмония"])
    assert generator_labels(data, torch.tensor([1, 1]), PLAN).tolist() == [1, 1]  # only known classes present
    with pytest.raises(DatasetError, match=r"\['zzz'\]"):
        generator_labels(data, torch.tensor([0, 1]), PLAN)
