"""Detections as a user in the wild sees them: a box the detector places beyond the image's border is clipped to
it (torchvision and the ONNX predictor alike) and ends up as a line or a point there; it is no lesion to report,
count or score, in PyTorch (predict, evaluate) and in the torch-free ONNX path."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medimg.io.image import ImageData
from medimg.tasks.detect.plan import DetectPlan


class _Oracle(nn.Module):
    """A 'detector' answering what a trained one can: the bright square of the input, and a box clipped to the
    left border (zero width) with a high score."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.score_thresh, self.nms_thresh, self.detections_per_img, self.topk_candidates = 0.05, 0.5, 100, 1000

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        out = []
        for x in images:
            ys, xs = torch.nonzero(x.mean(0) > 0.5, as_tuple=True)
            square = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
            out.append(
                {
                    "boxes": torch.tensor([square, [0.0, 10.0, 0.0, 30.0]]),
                    "scores": torch.tensor([0.9, 0.8]),
                    "labels": torch.tensor([0, 0]),
                }
            )
        return out


def _plan() -> DetectPlan:
    return DetectPlan(
        in_channels=1, num_classes=1, class_names=["lesion"], input_size=[64, 96], norm_mean=[0.5], norm_std=[0.25]
    )


def test_a_box_clipped_to_the_border_is_not_reported_by_predict() -> None:
    from medimg.tasks.detect.predict import predict_image

    array = np.zeros((1, 128, 192), np.float32)
    array[:, 40:80, 100:140] = 255
    prediction = predict_image(_Oracle(), _plan(), ImageData(array, source="x.png"))
    assert prediction.counts == {"lesion": 1}  # was 2: the zero-width box at x = 0 counted as a lesion
    assert np.allclose(prediction.boxes, [[100, 40, 140, 80]], atol=1.0)  # in the file's pixels (2x the input)


def test_the_onnx_postprocessing_drops_a_box_clipped_to_the_border() -> None:
    from medimg.export import detect as numpy_detect

    plan = _plan().model_copy(update={"network": "fcos", "candidate_threshold": 0.05})
    spec = numpy_detect.detect_spec(plan.model_dump())
    anchors = sum(len(level) for level in numpy_detect.level_anchors(spec, 32, 32))  # 16 + 4 + 1
    logits = np.full((anchors, 1), -10.0, np.float32)
    regression = np.zeros((anchors, 4), np.float32)
    logits[0] = logits[5] = 10.0
    regression[0] = [2.0, 0.0, -1.0, 1.0]  # anchor (0, 0), size 8: x from -16 to -8, left of the image
    regression[5] = [0.5, 0.5, 0.5, 0.5]  # anchor (8, 8): the box 4..12
    outputs = {"cls_logits": logits, "bbox_regression": regression, "bbox_ctrness": np.full((anchors, 1), 10.0)}
    boxes, _scores, labels = numpy_detect.postprocess(outputs, spec, (32, 32), (32, 32))
    assert boxes.tolist() == [[4.0, 4.0, 12.0, 12.0]] and labels.tolist() == [0]  # was also [0, 0, 0, 8]
