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


def test_binary_masks_saved_two_ways_are_read_as_training_reads_them() -> None:
    """An external set of binary masks, some 0/1 and some 0/255, which check and fit read as one foreground: evaluate
    refused it as 3 classes and offered --mask-labels '0=background,1=foreground,255=ignore', which scored every
    0/255 mask's lesion as left out (Dice 0.26 for 0.58)."""
    classes = np.zeros((1, 16, 16), np.int64)
    classes[0, 4:12, 4:12] = 1
    survey = MaskSurvey()
    survey.add((classes * 1).astype(np.float32), "masks/a.png")
    survey.add((classes * 255).astype(np.float32), "masks/b.png")
    survey.add(np.zeros((1, 16, 16), np.float32), "masks/empty.png")
    two = LabelEncoding(kind="identity", num_classes=2)
    encoding = external_label_encoding(survey, two, ["background", "lesion"], dataset_name="mixed")
    for raw in (classes * 1, classes * 255):
        assert np.array_equal(np.asarray(encode_mask(raw.astype(np.float32), encoding)), classes[0])
    assert "255 -> lesion" in (encoding.note or "")
