"""Choosing the post-processing on validation cases with an empty mask prints no numpy warning."""

from __future__ import annotations

import math
import warnings

import numpy as np


def test_an_empty_validation_case_gives_no_runtime_warning() -> None:
    """A validation case empty in both prediction and reference (Dice undefined for every class) leaked
    'inference.py:121: RuntimeWarning: Mean of empty slice' into the fit's output; it is left out quietly."""
    from medimg.tasks.segment.inference import select_postprocessing

    empty = np.zeros((16, 16), np.int64)
    blob = empty.copy()
    blob[4:10, 4:10] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        best, scores = select_postprocessing([empty, blob], [empty, blob], 2, min_object_fraction=0.1)
        _, none_scored = select_postprocessing([empty], [empty], 2, min_object_fraction=0.1)
    assert best == "none" and scores["none"] == 1.0  # the empty case is left out of the mean
    assert all(math.isnan(v) for v in none_scored.values())
