"""The service's headline of a detection: the label and the confidence shown beside it are of one class."""

from __future__ import annotations

import numpy as np

from medimg.serve.detection import detection_fields
from medimg.tasks.detect.predict import DetectionPrediction


def test_confidence_is_the_reported_labels_own_score() -> None:
    """'a' (3 boxes, best 0.57) was reported with 'b''s 0.60: a history view read 'a 60.0%'."""
    labels = ["a", "a", "a", "b", "b", "c"]
    prediction = DetectionPrediction(
        source="x.png",
        boxes=np.zeros((6, 4), np.float32),
        scores=np.asarray([0.57, 0.4, 0.3, 0.6, 0.2, 0.5], np.float32),
        labels=labels,
        label_indices=["abc".index(n) for n in labels],
        class_names=["a", "b", "c"],
        score_threshold=0.1,
        image_size=(20, 30),
    )
    fields = detection_fields(prediction, 0.5)
    assert fields["label"] == "a" and fields["confidence"] == fields["probabilities"]["a"] == 0.57
