"""Prediction on image files and folders with a trained classifier.

Importing this module does not import torch (the :class:`Prediction` type is shared with the torch-free ONNX
predictor in :mod:`medimg.export.predictor`); the PyTorch path loads it on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.tasks.classify.stream import DecodePool, Reader, StreamStats, stream_predictions

if TYPE_CHECKING:
    from torch import nn

    from medimg.io.image import ImageData
    from medimg.planning.plan import Plan

logger = logging.getLogger(__name__)


@dataclass
class Prediction:
    """The model's answer for one image.

    Attributes:
        source: the file it was made from.
        label: the most probable class name (multi-label: the findings present joined by ``|``, or ``"no
            finding"``).
        label_index: its index in the model's class list (multi-label: the most probable finding's; -1 for
            ``"no finding"``, as a detection without boxes).
        probabilities: ``class name -> probability`` (sums to 1; multi-label: each finding's own probability,
            present at 0.5 or more).
        findings: a multi-label model's findings present (probability >= 0.5), most probable first; ``None`` for
            a single-label model.
        heatmap: with an explanation: float32 in 0..1 over the network's input, ``(*input_size)``: the image
            resized (stretched) to the network's input size and, for a volume, in the network's canonical (RAS+)
            axis order, not the file's; ``overlay_png`` is the map laid back onto the image as stored.
        explain_method: the method that made ``heatmap`` (``"gradcam"``...).
        explained_class: the class (multi-label: the finding) ``heatmap`` shows the evidence for: the predicted
            class (multi-label: the most probable finding).
        overlay_png: the heatmap over the image (PNG bytes, longest side at most 512 px).
        overlay_path: where ``overlay_png`` was saved, once it is.
        heatmap_grid: a volume's voxel grid as the network read it, ``(shape, affine)``, for
            :meth:`heatmap_nifti` (``None`` for 2D images and volumes without an affine).
        heatmap_path: where :meth:`heatmap_nifti` was saved, once it is (``predict --explain``: beside the overlay).
        domain: ``{"in_domain": bool, "reasons": [...]}``: the input compared with the training domain (see
            :mod:`medimg.planning.domain`), ``None`` when the run records no domain.
        series: the DICOM series of the input (see :mod:`medimg.tasks.series_prediction`): a slice's
            ``series_uid``, ``slice`` (1-based in slice order) and ``slices``; ``None`` for a plain file.
    """

    source: str
    label: str
    label_index: int
    probabilities: dict[str, float]
    heatmap: np.ndarray | None = field(default=None, repr=False)
    explain_method: str | None = None
    explained_class: str | None = None
    overlay_png: bytes | None = field(default=None, repr=False)
    overlay_path: str | None = None
    heatmap_grid: tuple[tuple[int, ...], np.ndarray] | None = field(default=None, repr=False)
    heatmap_path: str | None = None
    domain: dict[str, Any] | None = None
    series: dict[str, Any] | None = None
    findings: list[str] | None = None

    def heatmap_nifti(self) -> bytes | None:
        """A volume's heatmap as a gzipped NIfTI file on the input's own voxel grid and affine, to lay over the
        input in a 3D viewer (:func:`medimg.explain.overlay.heatmap_nifti`; made when asked: a CT's grid is large);
        ``None`` without a heatmap, for 2D images and for volumes without an affine."""
        if self.heatmap is None or self.heatmap_grid is None:
            return None
        from medimg.explain.overlay import heatmap_nifti

        return heatmap_nifti(self.heatmap, *self.heatmap_grid)

    @property
    def confidence(self) -> float:
        """The predicted class's probability (multi-label: the most probable finding's; for ``"no finding"``, one
        minus it: how sure the model is that even that finding is absent)."""
        if self.findings is not None:
            top = max(self.probabilities.values(), default=0.0)
            return top if self.findings else 1.0 - top
        return self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "source": self.source,
            "label": self.label,
            "label_index": self.label_index,
            "confidence": self.confidence,
            **({"findings": self.findings} if self.findings is not None else {}),
            "probabilities": self.probabilities,
        }
        if self.explain_method is not None:
            result["explanation"] = {
                "method": self.explain_method,
                "class": self.explained_class,
                "overlay": self.overlay_path,
                **({"heatmap_volume": self.heatmap_path} if self.heatmap_path else {}),
            }
        if self.domain is not None:
            result["domain"] = self.domain
        if self.series:
            result["series"] = self.series
        return result

    def csv_rows(self) -> list[dict[str, Any]]:
        """One CSV row: source, label, confidence, ``p_<class>`` per class (and the overlay when explained; the
        series columns for inputs among DICOM series)."""
        from medimg.tasks.prediction_table import domain_columns, series_columns

        row: dict[str, Any] = {"source": self.source, "label": self.label, "confidence": f"{self.confidence:.6f}"}
        row.update({f"p_{name}": f"{p:.6f}" for name, p in self.probabilities.items()})
        if self.explain_method is not None:
            row["overlay"] = self.overlay_path or ""
            row["explained_class"] = self.explained_class or ""
            if self.heatmap_path:
                row["heatmap_volume"] = self.heatmap_path
        return [{**row, **domain_columns(self.domain), **series_columns(self.series)}]


#: a multi-label prediction's label when no finding reaches its operating point
NO_FINDING = "no finding"


def make_prediction(source: str, row: np.ndarray, class_names: Sequence[str], *, multi_label: bool) -> Prediction:
    """The prediction for one image's probabilities ``row`` ``(K,)``: the most probable class, or for a
    multi-label model the findings at 0.5 or more (each finding's operating point, see
    :mod:`medimg.tasks.classify.operating_points`)."""
    index = int(row.argmax())
    probabilities = {name: float(p) for name, p in zip(class_names, row, strict=True)}
    if not multi_label:
        return Prediction(source=source, label=class_names[index], label_index=index, probabilities=probabilities)
    present = [class_names[j] for j in np.argsort(-row, kind="stable") if row[j] >= 0.5]
    return Prediction(
        source=source,
        label="|".join(present) or NO_FINDING,
        label_index=index if present else -1,
        probabilities=probabilities,
        findings=present,
    )


def refuse_non_finite(arrays: Sequence[np.ndarray], sources: Sequence[str]) -> None:
    """Images given to a network directly (``OnnxPredictor.predict_arrays``, :func:`predict_images`) are checked as
    read files are: one NaN pixel made every probability NaN, and the label the first class.

    Raises:
        ImageReadError: the first image holding NaN or infinite pixels, named.
    """
    from medimg.errors import ImageReadError
    from medimg.io.read import non_finite_reason

    for index, (array, source) in enumerate(zip(arrays, sources, strict=True)):
        if (reason := non_finite_reason(np.asarray(array), given="pass the array again")) is not None:
            raise ImageReadError(source or f"array[{index}]", reason)


def predict_files(
    network: nn.Module,
    plan: Plan,
    class_names: Sequence[str],
    paths: Sequence[Path],
    *,
    window: str | tuple[float, float] | None = None,
    explain: str | None = None,
    explain_class: int | None = None,
    read: Callable[[Path], ImageData] | None = None,
    reader: Reader | None = None,
) -> tuple[list[Prediction], list[tuple[str, str]]]:
    """Predict every readable file; unreadable ones are returned as ``(path, reason)`` instead.

    Files are read and predicted a chunk at a time (:func:`iter_predict_files` in this process), so only the
    predictions accumulate, not the images.

    Args:
        explain: also compute a heatmap and its overlay with this method (see
            :data:`medimg.explain.cam.EXPLAIN_METHODS`).
        read: how each file is read; default :func:`medimg.io.read_image` with ``window``.
        reader: instead of ``read``: an :class:`~medimg.planning.domain.InputReader` (reads and checks the
            training domain; each prediction's ``domain`` is set from its verdict).
    """
    stats = StreamStats()
    predictions = list(
        iter_predict_files(
            network,
            plan,
            class_names,
            paths,
            reader=reader or _CallableReader(read, window),
            explain=explain,
            explain_class=explain_class,
            decode_workers=0,
            stats=stats,
        )
    )
    return predictions, stats.failed


def iter_predict_files(
    network: nn.Module,
    plan: Plan,
    class_names: Sequence[str],
    paths: Sequence[Path],
    *,
    reader: Reader,
    explain: str | None = None,
    explain_class: int | None = None,
    chunk_size: int | None = None,
    decode_workers: int | None = None,
    decode_pool: DecodePool = "process",
    stats: StreamStats | None = None,
) -> Iterator[Prediction]:
    """Stream predictions for many files in file order, reading the next chunks in a decode pool while the
    network runs (:func:`medimg.tasks.classify.stream.stream_predictions`); memory stays bounded by a few
    chunks. Unusable files are listed in ``stats.failed``."""
    return stream_predictions(
        paths,
        reader,
        partial(predict_images, network, plan, class_names, explain=explain, explain_class=explain_class),
        chunk_size=chunk_size,
        decode_workers=decode_workers,
        decode_pool=decode_pool,
        stats=stats,
    )


@dataclass
class _CallableReader:
    """A reading function (or :func:`medimg.io.read_image` with a window) as a stream reader."""

    read_file: Callable[[Path], ImageData] | None = None
    window: str | tuple[float, float] | None = None

    def read(self, path: Path) -> ImageData:
        if self.read_file is not None:
            return self.read_file(path)
        from medimg.io import read_image

        return read_image(path, window=self.window)


def predict_images(
    network: nn.Module,
    plan: Plan,
    class_names: Sequence[str],
    images: Sequence[ImageData],
    *,
    explain: str | None = None,
    explain_class: int | None = None,
) -> list[Prediction]:
    """Predict images already read (``ImageData.source`` names each one).

    Args:
        explain: also compute a heatmap (``Prediction.heatmap``) and its overlay PNG with this method.
        explain_class: the class (index) every heatmap explains; default each image's predicted class.

    Raises:
        DatasetError: an image does not fit the model (2D vs 3D, channels).
    """
    from medimg.tasks.classify.inference import inference_step, predict_proba
    from medimg.transforms.preprocess import preprocess_arrays

    if not images:
        return []
    if explain is not None:
        from medimg.explain.cam import check_method

        explain = check_method(explain)
    sources = [image.source for image in images]
    refuse_non_finite([image.array for image in images], sources)
    x = preprocess_arrays([image.array for image in images], plan, sources, [image.meta for image in images])
    probabilities = predict_proba(network, x, plan)
    heatmaps: list[np.ndarray | None] = [None] * len(images)
    if explain is not None:
        from medimg.explain.cam import explain_batch

        step = inference_step(plan, most=64)
        for start in range(0, len(images), step):
            chunk = explain_batch(
                network,
                x[start : start + step],
                method=explain,
                class_index=[
                    int(row.argmax()) if explain_class is None else explain_class
                    for row in probabilities[start : start + step]
                ],
                multi_label=plan.multi_label,
            )
            heatmaps[start : start + len(chunk)] = list(chunk)
    predictions: list[Prediction] = []
    for image, row, heatmap in zip(images, probabilities, heatmaps, strict=True):
        prediction = make_prediction(image.source, row, class_names, multi_label=plan.multi_label)
        if heatmap is not None:
            from medimg.explain.overlay import overlay_png

            prediction.heatmap = heatmap
            prediction.explain_method = explain
            prediction.explained_class = class_names[int(row.argmax()) if explain_class is None else explain_class]
            if not heatmap.any():  # was silent: the overlay is the plain image, which reads as "no evidence"
                against = explain_class is not None and explain_class != int(row.argmax()) and explain != "occlusion"
                logger.warning(
                    "%s: the %s map for %r is empty%s: its overlay shows no heat, which is not evidence of absence",
                    image.source,
                    explain,
                    prediction.explained_class,
                    " (Grad-CAM keeps only the evidence for a class; this image argues against it: "
                    "--explain-method occlusion shows where)"
                    if against
                    else " (the network's score for it did not depend on any area)",
                )
            prediction.overlay_png = overlay_png(
                image.array, heatmap, image.meta, affine=image.affine, spacing=image.spacing_mm
            )
            if heatmap.ndim == 3 and image.array.ndim == 4 and image.affine is not None:
                # the grid the network read (a classifier reads in RAS+ order): its affine places it on the file
                grid = tuple(int(n) for n in image.array.shape[1:])
                prediction.heatmap_grid = (grid, np.asarray(image.affine, dtype=np.float64))
        predictions.append(prediction)
    return predictions
