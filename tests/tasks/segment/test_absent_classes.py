"""Classes no training mask held (BraTS's 3, between its labels 0, 1, 2 and 4) are kept so that masks keep their
values, but never predicted: an undertrained network wrote a few voxels of 3, a label BraTS does not have, in the
PyTorch engine and the ONNX predictor alike."""

from __future__ import annotations

import numpy as np

from medimg.export.segment import segment_spec
from medimg.tasks.segment.labels import LabelEncoding
from medimg.tasks.segment.masks import predicted_labels


def test_an_absent_class_is_never_the_prediction() -> None:
    probabilities = np.zeros((5, 2, 3), np.float32)
    probabilities[0] = 0.2
    probabilities[3] = 0.5  # the network's favourite: a class no mask held
    probabilities[4, 0] = 0.3
    labels = predicted_labels(probabilities, [3])
    np.testing.assert_array_equal(labels, [[4, 4, 4], [0, 0, 0]])
    assert predicted_labels(probabilities).max() == 3  # without absent classes: the plain argmax
    assert probabilities[3].max() == 0.5  # the probabilities reported stay as the network gave them


def test_the_export_carries_the_absent_classes() -> None:
    from medimg.tasks.segment.planning import SegPlan

    brats = LabelEncoding(kind="identity", num_classes=5, unused=[3], note="label map with values 0, 1, 2, 4: ...")
    plan = SegPlan(patch_size=[32, 32], in_channels=1, num_classes=5, label_encoding=brats)
    assert segment_spec(plan.model_dump())["absent_classes"] == [3]
    plain = SegPlan(patch_size=[32, 32], in_channels=1, num_classes=3)
    assert "absent_classes" not in segment_spec(plain.model_dump())
