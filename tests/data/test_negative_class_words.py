"""`sick` / `well` made "well" the positive class (sensitivity was the recall of the well): a class named "well" is
the negative one, as "healthy" and "normal" are; "well_differentiated" (a tumour grade) is not taken for it."""

from __future__ import annotations

import pytest

from medimg.data.layouts.common import order_classes


@pytest.mark.parametrize(
    ("names", "negative"),
    [
        (["sick", "well"], "well"),
        (["Sick", "Well"], "Well"),
        (["ill", "well"], "well"),
        (["healthy", "sick"], "healthy"),
        (["Healthy_Control", "Patient"], "Healthy_Control"),
        (["normal", "abnormal"], "normal"),
        (["CT_COVID", "CT_NonCOVID"], "CT_NonCOVID"),  # COVID-CT: the shared CT_ hid the negation (COVID negative)
        (["x_ray_tb", "x_ray_no_tb"], "x_ray_no_tb"),
        (["Monkey Pox", "Others"], "Others"),  # MSLD: sensitivity was the recall of "Others"
        (["Monkeypox", "Other"], "Other"),
        # other languages': sensitivity was the recall of 正常 (normal), of 良性 (benign), of sain, of Nein
        (["正常", "异常"], "正常"),
        (["良性", "恶性"], "良性"),
        (["sain", "malade"], "sain"),
        (["Nein", "Ja"], "Nein"),
        (["정상", "비정상"], "정상"),
        (["Be\u0301nin", "Malin"], "Be\u0301nin"),  # as a macOS folder name is stored: decomposed
        (["negativo", "positivo"], "negativo"),
    ],
)
def test_the_negative_class_goes_first(names: list[str], negative: str) -> None:
    assert order_classes(names)[0] == negative
    assert order_classes(list(reversed(names)))[0] == negative


def test_a_grade_named_well_is_not_a_negative_class() -> None:
    assert order_classes(["well_differentiated", "poorly_differentiated"]) == [
        "poorly_differentiated",
        "well_differentiated",
    ]
