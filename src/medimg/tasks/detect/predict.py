"""Detection on image files: boxes, labels and scores in the file's pixels, counts per class, overlay PNGs.

:class:`DetectionPrediction` is shared with the torch-free ONNX predictor: importing this module loads no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.errors import ImageReadError, MedimgError
from medimg.io.formats import output_stem, safe_file_name, unclaimed_path

if TYPE_CHECKING:
    from torch import nn

    from medimg.io.image import ImageData
    from medimg.tasks.detect.plan import DetectPlan


@dataclass
class DetectionPrediction:
    """The detector's answer for one image.

    Attributes:
        source: the file it was made from.
        boxes: ``(N, 4)`` float32 ``x1, y1, x2, y2`` in the file's pixels (score at least the plan's threshold).
        scores: ``(N,)`` float32.
        labels: ``(N,)`` class names.
        label_indices: ``(N,)`` class indices.
        class_names: every class of the model (for the counts).
        score_threshold: the threshold applied.
        image_size: the file's ``(height, width)``.
        overlay_png: the image with the boxes drawn (PNG bytes).
        overlay_path: where ``overlay_png`` was saved, once it is.
        domain: ``{"in_domain": bool, "reasons": [...]}``: the input compared with the training domain (see
            :mod:`medimg.planning.domain`), ``None`` when not checked.
        series: the DICOM series of the input (see :mod:`medimg.tasks.series_prediction`): a slice's
            ``series_uid``, ``slice`` (1-based in slice order) and ``slices``; ``None`` for a plain file.
    """

    source: str
    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str]
    label_indices: list[int]
    class_names: list[str]
    score_threshold: float
    image_size: tuple[int, int]
    overlay_png: bytes | None = field(default=None, repr=False)
    overlay_path: str | None = None
    domain: dict[str, Any] | None = None
    series: dict[str, Any] | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Detections per class (every class listed, zeros included)."""
        return {name: self.labels.count(name) for name in self.class_names}

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``source``, ``boxes`` (one object each: corners, ``label``, ``score``), ``counts``..."""
        return {
            "source": self.source,
            "image_size": list(self.image_size),
            "score_threshold": self.score_threshold,
            "boxes": [
                {
                    "x1": round(float(b[0]), 2),
                    "y1": round(float(b[1]), 2),
                    "x2": round(float(b[2]), 2),
                    "y2": round(float(b[3]), 2),
                    "label": label,
                    "label_index": index,
                    "score": round(float(score), 5),
                }
                for b, score, label, index in zip(self.boxes, self.scores, self.labels, self.label_indices, strict=True)
            ],
            "counts": self.counts,
            "overlay": self.overlay_path,
            **({"domain": self.domain} if self.domain is not None else {}),
            **({"series": self.series} if self.series else {}),
        }

    def csv_rows(self) -> list[dict[str, Any]]:
        """One CSV row per box (``source, x1, y1, x2, y2, label, score`` in the file's pixels); an image without
        detections gets one row with empty box fields, so every input is listed (``in_domain`` and
        ``domain_reasons`` follow when the input was checked against the training domain, then the series columns
        for inputs among DICOM series)."""
        from medimg.tasks.prediction_table import domain_columns, series_columns

        rows: list[dict[str, Any]] = [
            {
                "source": self.source,
                "x1": f"{b[0]:.2f}",
                "y1": f"{b[1]:.2f}",
                "x2": f"{b[2]:.2f}",
                "y2": f"{b[3]:.2f}",
                "label": label,
                "score": f"{score:.5f}",
            }
            for b, score, label in zip(self.boxes, self.scores, self.labels, strict=True)
        ]
        empty = {"source": self.source, "x1": "", "y1": "", "x2": "", "y2": "", "label": "", "score": ""}
        extra = {**domain_columns(self.domain), **series_columns(self.series)}
        return [{**row, **extra} for row in rows or [empty]]


def overlay_path_for(source: str | Path, folder: Path, taken: set[Path] | None = None) -> Path:
    """``<folder>/<name>_boxes.png``: where the overlay of ``source`` is written (:func:`~medimg.io.formats.
    output_stem`: a DICOM file named by its UID keeps its whole name); ``<name>_2_boxes.png``... when ``taken``
    (the overlays of this call) holds it already: ``x.png`` beside ``x.jpg`` (before, the first was replaced, as
    was every UID-named slice but the last)."""
    return unclaimed_path(folder, safe_file_name(output_stem(source)), "_boxes.png", taken)


OVERLAY_MAX_SIDE = 4096
"""Longest side of a prediction overlay: images up to it are drawn at their own size, larger ones scaled down."""


def predict_image(network: nn.Module, plan: DetectPlan, image: ImageData) -> DetectionPrediction:
    """Detect objects in one read image (the CLI, the Python API and the service share this): boxes in the
    image's pixels above the plan's score threshold, and the overlay PNG: the image at its own size (longest side
    at most :data:`OVERLAY_MAX_SIDE`) with the boxes drawn, so it lies over the original as the JSON boxes do.

    Raises:
        DatasetError: the image does not fit a 2D detector (a volume...).
    """
    from medimg.tasks.detect.data import prepare_image, scale_boxes, to_unit
    from medimg.tasks.detect.inference import detect_prepared
    from medimg.tasks.detect.report import draw_boxes

    prepared, scale = prepare_image(image.array, plan)
    found = detect_prepared(network, [prepared], plan)[0].above(plan.score_threshold)
    boxes = scale_boxes(found.boxes, scale, inverse=True)
    height, width = image.spatial_shape[-2:]
    prediction = DetectionPrediction(
        source=str(image.source),
        boxes=boxes,
        scores=found.scores,
        labels=[plan.class_names[int(k)] for k in found.labels],
        label_indices=[int(k) for k in found.labels],
        class_names=list(plan.class_names),
        score_threshold=plan.score_threshold,
        image_size=(int(height), int(width)),
    )
    prediction.overlay_png = draw_boxes(
        to_unit(image.array, plan),  # the file's pixels, as the network's intensity mapping shows them
        plan.class_names,
        predicted=found.__class__(boxes, found.scores, found.labels),
        max_side=OVERLAY_MAX_SIDE,
    )
    return prediction


def predict_files(
    network: nn.Module,
    plan: DetectPlan,
    files: Sequence[Path],
    *,
    out_dir: Path | None = None,
    window: str | tuple[float, float] | None = None,
    read: Callable[[Path], ImageData] | None = None,
    detect: Callable[[nn.Module, DetectPlan, ImageData], Any] = predict_image,
) -> tuple[list[Any], list[tuple[str, str]]]:
    """Detect objects in ``files``; overlays are written to ``out_dir`` when given, mirroring the inputs' folder
    tree (same-named inputs from different folders never share an overlay).

    Args:
        read: how each file is read (e.g. :meth:`medimg.planning.domain.InputReader.read`, which also checks the
            training domain); default :func:`medimg.io.read_image` with ``window``.
        detect: one read image -> its prediction (with ``overlay_png`` / ``overlay_path``): :func:`predict_image`
            for 2D detectors, :func:`medimg.tasks.detect.predict3d.predict_volume` for volumes.

    Returns:
        The predictions of the readable files and the unreadable ones as ``(path, reason)``.
    """
    from medimg.io import read_image
    from medimg.io.inputs import common_root

    predictions: list[Any] = []
    failed: list[tuple[str, str]] = []
    root = common_root(files)
    written: set[Path] = set()
    for path in files:
        try:
            image = read(path) if read is not None else read_image(path, window=window)
            image.source = str(path)
            prediction = detect(network, plan, image)
        except ImageReadError as error:
            failed.append((str(path), error.reason))
            continue
        except MedimgError as error:  # an image the detector cannot take (a volume, a 2D image...): reported
            failed.append((str(path), str(error)))
            continue
        if out_dir is not None:
            save_overlay(prediction, path, root, out_dir, written)
        predictions.append(prediction)
    return predictions, failed


def save_overlay(prediction: Any, path: str | Path, root: Path, out_dir: Path, written: set[Path]) -> None:
    """Write ``prediction.overlay_png`` of the input ``path`` under ``out_dir``, mirroring its folder below
    ``root`` (:func:`overlay_path_for`; ``written`` holds this call's overlays), and set ``overlay_path``."""
    from medimg.fileio import atomic_write_bytes
    from medimg.io.inputs import mirrored_folder

    target = overlay_path_for(path, mirrored_folder(path, root, out_dir), written)
    atomic_write_bytes(target, prediction.overlay_png or b"")
    prediction.overlay_path = str(target)
