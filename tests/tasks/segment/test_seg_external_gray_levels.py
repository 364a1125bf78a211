"""An external set of gray-level coded masks whose top level surrounds every mask (REFUGE's 255 background, 128 disc,
0 cup) is mapped onto a run's classes counting down, as training reads such masks: counted up, `evaluate` scored the
background as the run's last class (a tester's 0/1/2 run on such masks: Dice 0.47 instead of 0.92)."""

from __future__ import annotations

import numpy as np

from medimg.tasks.segment.external import MaskSurvey, external_label_encoding
from medimg.tasks.segment.labels import LabelEncoding, encode_mask

NAMES = ["background", "disc", "cup"]
RUN = LabelEncoding(kind="identity", num_classes=3)  # a run trained on 0/1/2 label maps


def _refuge_mask() -> np.ndarray:
    classes = np.zeros((32, 32), np.int64)
    classes[8:24, 8:24] = 1
    classes[12:20, 12:20] = 2
    return np.array([255, 128, 0], np.float32)[classes][None], classes


def test_top_level_background_is_the_runs_background() -> None:
    raw, classes = _refuge_mask()
    survey = MaskSurvey()
    survey.add(raw, "masks/a.png")
    encoding = external_label_encoding(survey, RUN, NAMES, dataset_name="refuge")
    assert np.array_equal(np.asarray(encode_mask(raw, encoding)), classes)
    assert "255 -> background, 128 -> disc, 0 -> cup" in (encoding.note or "")


def test_gray_levels_on_a_zero_background_still_count_up() -> None:
    raw, classes = _refuge_mask()
    raw = np.array([0, 128, 255], np.float32)[classes][None]
    survey = MaskSurvey()
    survey.add(raw, "masks/a.png")
    encoding = external_label_encoding(survey, RUN, NAMES, dataset_name="other")
    assert np.array_equal(np.asarray(encode_mask(raw, encoding)), classes)
