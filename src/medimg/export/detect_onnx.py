"""ONNX export of a detector (the ``detect`` preparer of :func:`medimg.export.onnx_export.export_onnx`).

The graph is the detector's backbone, FPN and head (:class:`DetectionGraph`): normalised, padded images in, raw
per-anchor outputs out. Anchors, decoding and NMS run in numpy in the torch-free predictor
(:mod:`medimg.export.detect`); the parity check compares the graph's outputs with PyTorch's, then whole
detections (boxes, scores, labels) of the ONNX predictor's numpy path with the PyTorch detector's, on the run's
test images.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medimg.export.parity import PreparedExport, first_split, parity_images

PARITY_IMAGES = 4
"""Images a detection parity check runs through both whole pipelines."""
SCORE_MARGIN = 0.01
"""Detections scoring less than this above the score threshold may cross it by float rounding: not compared."""


class DetectionGraph(nn.Module):
    """``normalised padded images (N, C, H, W) -> cls_logits (N, A, K), bbox_regression (N, A, 4)[,
    bbox_ctrness (N, A, 1)]``: the detector between its transform and its post-processing."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        from torchvision.models.detection import FCOS

        self.backbone: Any = detector.backbone
        self.head: Any = detector.head
        self.fcos = isinstance(detector, FCOS)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.head(list(self.backbone(image).values()))
        if self.fcos:
            return out["cls_logits"], out["bbox_regression"], out["bbox_ctrness"]
        return out["cls_logits"], out["bbox_regression"]


def _split_images(model: Any, run: Any, limit: int) -> tuple[list[Any], str]:
    from medimg.bundle import dataset_options
    from medimg.data.splits import Splits, cases_for
    from medimg.tasks.detect.task import DETECT

    options = {k: v for k, v in dataset_options(run.path).items() if v is not None}
    dataset = DETECT.load_dataset(run.trained_data(), **options)
    splits = Splits.from_dict(run.read_json("splits.json"))
    images, split = first_split(lambda name: cases_for(dataset, splits, name), dataset.read, limit)
    return images, f"{len(images)} image(s) of the run's {split} split of {dataset.name}"


def prepare_detect_export(
    model: Any, network: nn.Module, parity_inputs: Sequence[str | Path] | None, limit: int
) -> PreparedExport:
    """The ``detect`` preparer: the graph, its parity inputs, the numpy spec and the whole-pipeline check."""
    from medimg.export import detect as numpy_detect
    from medimg.tasks.detect.data import prepare_image
    from medimg.tasks.detect.inference import detect_prepared

    plan = model.plan_
    if getattr(plan, "spatial_dims", 2) == 3:
        from medimg.errors import ConfigError

        raise ConfigError(
            "ONNX export of 3D detectors (retinanet3d) is not available yet: predict with the PyTorch engine "
            "(`medimg predict RUN volume.nii.gz`)"
        )
    spec = numpy_detect.detect_spec(plan.model_dump())
    images, source = parity_images(model, parity_inputs, PARITY_IMAGES, _split_images)
    detector: Any = getattr(network, "module", network)
    graph = DetectionGraph(detector).eval()
    torch_ready = [prepare_image(image.array, plan)[0] for image in images]
    numpy_ready = [numpy_detect.prepare_image(image.array, spec)[0] for image in images]
    preprocessing_diff = (
        max(float(np.abs(t.numpy() - n).max()) for t, n in zip(torch_ready, numpy_ready, strict=True))
        if images
        else None
    )
    if images:
        batch = detector.transform(list(torch_ready[:limit]))[0].tensors
        inputs = torch.cat([batch, batch]) if len(batch) < 2 else batch
    else:
        height, width = (int(np.ceil(v / 32) * 32) for v in plan.input_size)
        inputs = torch.randn((2, plan.in_channels, height, width), generator=torch.Generator().manual_seed(0))
        source = "random inputs"
    names = ("cls_logits", "bbox_regression", "bbox_ctrness") if graph.fcos else ("cls_logits", "bbox_regression")

    def pipeline_check(session: Any) -> float:
        """Whole detections at the score threshold: PyTorch (torch preprocessing) vs the ONNX predictor's
        numpy path."""

        def run(batch: np.ndarray) -> dict[str, np.ndarray]:
            return dict(zip(names, session.run(list(names), {"image": batch}), strict=True))

        worst = 0.0
        reference = detect_prepared(network, torch_ready, plan)
        ours = numpy_detect.run_graph(run, numpy_ready, spec)
        floor = max(plan.candidate_threshold, plan.score_threshold) + SCORE_MARGIN
        scale = float(max(plan.input_size))
        for ref, (boxes, scores, labels) in zip(reference, ours, strict=True):
            keep_ref, keep_ours = ref.scores >= floor, scores >= floor
            ref_order = np.argsort(-ref.scores[keep_ref], kind="stable")
            our_order = np.argsort(-scores[keep_ours], kind="stable")
            if keep_ref.sum() != keep_ours.sum() or not np.array_equal(
                ref.labels[keep_ref][ref_order], labels[keep_ours][our_order]
            ):
                return float("inf")
            if not keep_ref.any():
                continue
            worst = max(
                worst,
                float(np.abs(ref.scores[keep_ref][ref_order] - scores[keep_ours][our_order]).max()),
                float(np.abs(ref.boxes[keep_ref][ref_order] - boxes[keep_ours][our_order]).max()) / scale,
            )
        return worst

    return PreparedExport(
        network=network,
        inputs=inputs.float(),
        source=source,
        preprocessing=spec,
        extra_metadata={
            "medimg.preprocessing_steps": json.dumps(
                numpy_detect.detect_preprocessing_steps(spec, window=(model.metadata_.get("input") or {}).get("window"))
            )
        },
        doc=f"medimg {plan.network} detector (input {plan.input_size}): {', '.join(plan.class_names)}",
        preprocessing_diff=preprocessing_diff,
        pipeline_check=pipeline_check if images else None,
        graph=graph,
        output_names=names,
        notes=["pipeline difference: max over scores and box corners / the input's long side"],
    )
