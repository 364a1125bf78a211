"""Detection's CSV carries the training-domain columns the classification and segmentation CSVs carry (its JSON
had the domain, the CSV did not: a blank image's boxes read as trusted in a spreadsheet)."""

from __future__ import annotations

import numpy as np

from medimg.tasks.detect.predict import DetectionPrediction
from medimg.tasks.detect.predict3d import VolumeDetectionPrediction


def _prediction(domain: dict | None) -> DetectionPrediction:
    return DetectionPrediction(
        source="blank.png",
        boxes=np.array([[1, 2, 10, 12]], dtype=np.float32),
        scores=np.array([0.9], dtype=np.float32),
        labels=["cell"],
        label_indices=[1],
        class_names=["background", "cell"],
        score_threshold=0.5,
        image_size=(32, 32),
        domain=domain,
    )


def test_each_box_row_and_an_empty_images_row_carry_the_domain_check() -> None:
    blank = {"in_domain": False, "reasons": ["a blank image", "a 16-bit image"]}
    rows = _prediction(blank).csv_rows()
    assert rows[0]["in_domain"] == "no" and rows[0]["domain_reasons"] == "a blank image; a 16-bit image"
    empty = _prediction(blank)
    empty.boxes, empty.scores, empty.labels, empty.label_indices = np.zeros((0, 4), np.float32), np.zeros(0), [], []
    assert empty.csv_rows()[0]["in_domain"] == "no" and empty.csv_rows()[0]["x1"] == ""
    assert "in_domain" not in _prediction(None).csv_rows()[0]  # not checked: no columns, as for the other tasks


def test_a_volumes_rows_carry_it_too() -> None:
    volume = VolumeDetectionPrediction(
        source="ct.nii.gz",
        boxes=np.array([[1, 2, 3, 5, 6, 7]], dtype=np.float32),
        scores=np.array([0.8], dtype=np.float32),
        labels=["nodule"],
        label_indices=[1],
        class_names=["background", "nodule"],
        score_threshold=0.5,
        image_size=(16, 16, 16),
        domain={"in_domain": True, "reasons": []},
    )
    row = volume.csv_rows()[0]
    assert row["in_domain"] == "yes" and row["domain_reasons"] == "" and row["label"] == "nodule"
