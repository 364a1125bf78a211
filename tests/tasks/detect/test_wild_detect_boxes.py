"""Detections as a user in the wild sees them: a box the detector places beyond the image's border is clipped to
it (torchvision and the ONNX predictor alike) and ends up as a line or a point there; it is no lesion to report,
count or score, in PyTorch (predict, evaluate) and in the torch-free ONNX path. Evaluation of a set with several
images per patient (slices, views) counts patients, not images, in its intervals."""

from __future__ import annotations

from pathlib import Path

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
            if not len(xs):
                out.append({"boxes": torch.zeros((0, 4)), "scores": torch.zeros(0), "labels": torch.zeros(0).long()})
                continue
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


class _Images:
    """A dataset of in-memory images: each case's bright square drawn at ``(x1, y1)``, 12 px wide."""

    name = "slices"

    def __init__(self, squares: dict[str, tuple[int, int]]) -> None:
        self.squares = squares

    def read(self, case: object) -> ImageData:
        array = np.zeros((1, 64, 96), np.float32)
        x, y = self.squares[case.case_id]  # type: ignore[attr-defined]
        array[:, y : y + 12, x : x + 12] = 255
        return ImageData(array, source=case.case_id)  # type: ignore[attr-defined]


def test_intervals_count_patients_when_they_have_several_images(tmp_path: Path) -> None:
    """Six patients, two slices each, the same outcome on both (found, or a false positive and a miss): the
    bootstrap draws patients; drawing the 12 images as independent gave a narrower mAP interval."""
    from medimg.data.case import Box, Case
    from medimg.tasks.detect.evaluate import evaluate_cases

    squares, cases = {}, []
    for patient in range(6):
        for slice_ in range(2):
            case_id = f"p{patient}/s{slice_}.png"
            found = patient < 3
            squares[case_id] = (20, 20) if found else (60, 30)  # the square the oracle finds
            truth = Box(20.0, 20.0, 32.0, 32.0, 0) if found else Box(5.0, 40.0, 17.0, 52.0, 0)
            cases.append(Case(case_id, None, patient_id=f"P{patient}", boxes=(truth,)))
    dataset = _Images(squares)

    def evaluate(items: list[Case], folder: str) -> dict:
        report = evaluate_cases(_Oracle(), _plan(), dataset, items, split="test", out_dir=tmp_path / folder)
        return report.to_dict()

    by_patient = evaluate(cases, "patients")
    by_image = evaluate([Case(c.case_id, None, boxes=c.boxes) for c in cases], "images")
    assert by_patient["metrics"]["map50"] == by_image["metrics"]["map50"]  # the estimate itself is the same
    assert by_patient["metrics"]["n_patients"] == 6 and "n_patients" not in by_image["metrics"]
    interval = by_patient["confidence_intervals"]["map50"]
    assert interval["unit"] == "patient" and interval["n_units"] == 6
    narrow = by_image["confidence_intervals"]["map50"]
    assert interval["high"] - interval["low"] > narrow["high"] - narrow["low"]
    page = (tmp_path / "patients" / "report.html").read_text()
    assert "12 images from 6 patients" in page
