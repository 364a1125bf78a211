"""Detections of one image do not depend on the images batched with it (evaluation, validation and the choice of
decoding batch images; predict, the service and ONNX take them one at a time)."""

from __future__ import annotations

import numpy as np
import torch

from medimg.tasks.detect.inference import detect_prepared, same_shape_batches
from medimg.tasks.detect.networks import build_detector
from medimg.tasks.detect.plan import DetectPlan


def test_an_image_gets_the_same_detections_in_a_batch_as_alone() -> None:
    """Mixed sizes were padded to the batch's largest image and the GroupNorm layers saw the padding: evaluate
    reported mAP (and validation chose the score threshold) on scores predict never returns."""
    torch.manual_seed(0)
    plan = DetectPlan(
        input_size=[96, 128],
        backbone_widths=[8, 8, 16, 16],
        backbone_depths=[1, 1, 1, 1],
        fpn_channels=16,
        head_convs=1,
        candidate_threshold=0.0,
        detections_per_image=20,
    )
    network = build_detector(plan)
    generator = torch.Generator().manual_seed(1)
    shapes = [(96, 128), (128, 96), (64, 128), (96, 128), (100, 100), (96, 120)]
    images = [torch.rand((3, *shape), generator=generator) for shape in shapes]
    batched = detect_prepared(network, images, plan, batch_size=8)
    for image, found in zip(images, batched, strict=True):
        (alone,) = detect_prepared(network, [image], plan)
        assert len(found.scores) == len(alone.scores) > 0
        np.testing.assert_allclose(found.scores, alone.scores, atol=1e-5)
        np.testing.assert_allclose(found.boxes, alone.boxes, atol=1e-3)


def test_batches_hold_images_of_one_padded_shape_in_order() -> None:
    images = [torch.zeros(1, h, w) for h, w in [(96, 128), (128, 96), (90, 120), (96, 128), (96, 128)]]
    assert same_shape_batches(images, 2) == [[0, 2], [3, 4], [1]]
