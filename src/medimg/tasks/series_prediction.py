"""Prediction on DICOM series: one volume prediction for a 3D model, per-slice predictions and a series summary
for a 2D model.

A folder handed to ``predict`` may hold DICOM series (:mod:`medimg.io.series_inputs` finds them). This module
turns them into what each model reads and what the user gets back; it is the same for every task and both
engines (PyTorch, ONNX Runtime), and works on a list or a stream of predictions:

* :func:`series_files`: the paths to predict, in order: plain files as they are; for a 3D model each series'
  :attr:`~medimg.io.series_inputs.SeriesInput.key` (read as one volume with its spacing and orientation, see
  :meth:`medimg.planning.domain.InputReader.read`); for a 2D model each series' slices in slice order.
* :func:`with_series`: the predictions with their series: a volume's ``source`` becomes the series folder and its
  ``series`` holds the SeriesInstanceUID, slice count, modality...; each slice's ``series`` holds the UID and its
  place (``slice``, 1-based in slice order); after a series' slices comes one :class:`SeriesSummary`.

The summary of a 2D model's slices (:func:`summarise_series`):

* classify: slices per label (``label_counts``; a multi-label model's: slices showing each finding), the most
  frequent label, mean probabilities, and per class the
  slice with the highest probability;
* segment: voxels per class over the series, the volume in mL from the series' spacing (slice distance x pixel
  spacing), and the slices where each class is found;
* detect: boxes per class, the slices holding them, and per class the highest-scoring box's slice.

Example:
    >>> inputs = expand_prediction_inputs(["study/"])                             # doctest: +SKIP
    >>> files = series_files(inputs, volumetric=False)                           # doctest: +SKIP
    >>> records = list(with_series(predict(files), inputs, volumetric=False))    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medimg.io.series_inputs import PredictionInputs, SeriesInput

if TYPE_CHECKING:
    from medimg.planning.domain import InputReader

__all__ = ["SeriesSummary", "series_files", "summarise_series", "with_series"]


@dataclass
class SeriesSummary:
    """What a 2D model found over the slices of one series (written after the slices' own predictions).

    Attributes:
        source: the series folder.
        task: ``"classify"``, ``"segment"`` or ``"detect"``.
        series: the series (see :meth:`medimg.io.series_inputs.SeriesInput.to_dict`).
        slices_predicted: slices with a prediction (the others are listed as unusable files).
        summary: the task's summary (see the module docstring).
        domain: ``{"in_domain": bool, "out_of_domain_slices": n}`` when the slices were checked against the
            training domain.
    """

    source: str
    task: str
    series: dict[str, Any]
    slices_predicted: int
    summary: dict[str, Any] = field(default_factory=dict)
    domain: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "source": self.source,
            "record": "series_summary",
            "series": self.series,
            "slices_predicted": self.slices_predicted,
            **self.summary,
        }
        if self.domain is not None:
            result["domain"] = self.domain
        return result

    def _domain_columns(self) -> dict[str, Any]:
        """``in_domain`` (``no`` when any slice is outside the training domain) and ``domain_reasons`` (how many
        slices; each slice's own row says why), as the slices' rows have them (none when unchecked)."""
        from medimg.tasks.prediction_table import domain_columns

        if self.domain is None:
            return {}
        outside = int(self.domain["out_of_domain_slices"])
        why = [f"{outside} of {self.slices_predicted} slices outside the model's training domain"] if outside else []
        return domain_columns({"in_domain": outside == 0, "reasons": why})

    def csv_rows(self) -> list[dict[str, Any]]:
        """One row, ``slice`` = ``series summary (N slices)``; ``in_domain`` / ``domain_reasons`` over its slices.
        A classification summary uses the slice rows' columns (label: the most frequent slice label; confidence and
        ``p_<class>``: mean probabilities), so a streamed table keeps one header; segmentation and detection
        summaries add their per-class columns."""
        marker = {
            **self._domain_columns(),
            "series_uid": self.series.get("series_uid") or "",
            "slice": f"series summary ({self.slices_predicted} slices)",
        }
        summary = self.summary
        if self.task == "classify":
            label = summary["majority_label"]
            row = {"source": self.source, "label": label, "confidence": f"{summary['mean_probabilities'][label]:.6f}"}
            row.update({f"p_{name}": f"{p:.6f}" for name, p in summary["mean_probabilities"].items()})
            return [{**row, **marker}]
        row = {"source": self.source, **marker}
        if self.task == "segment":
            for name, voxels in summary["voxels"].items():
                row[f"voxels_{name}"] = voxels
                if summary["volume_ml"] is not None:
                    row[f"volume_ml_{name}"] = f"{summary['volume_ml'][name]:.4f}"
                row[f"slices_with_{name}"] = len(summary["slices_with"][name])
        else:
            for name, count in summary["counts"].items():
                row[f"count_{name}"] = count
                row[f"slices_with_{name}"] = len(summary["slices_with"][name])
        return [row]


def series_files(inputs: PredictionInputs, *, volumetric: bool, reader: InputReader | None = None) -> list[Path]:
    """The paths to predict, in input order (see the module docstring). For a 3D model each series' key is
    registered with ``reader`` (:attr:`~medimg.planning.domain.InputReader.series`), which then reads it as one
    volume. For a 2D model with a ``reader``, a multi-frame DICOM file (an ultrasound cine, an angiography run)
    becomes the series of its frames in ``inputs`` (:func:`~medimg.io.series_inputs.frame_series`), each frame
    registered with the reader (:attr:`~medimg.planning.domain.InputReader.frames`) and predicted on its own."""
    if not volumetric and reader is not None:
        inputs.items = [
            _frames_of(item, reader) if isinstance(item, Path) and inputs.frame_counts.get(item, 2) > 1 else item
            for item in inputs.items
        ]  # a file whose header said one frame is not read again
    files: list[Path] = []
    for item in inputs.items:
        if not isinstance(item, SeriesInput):
            files.append(item)
        elif volumetric:
            files.append(item.key)
            if reader is not None:
                reader.series[str(item.key)] = item
        else:
            files.extend(item.files)
    return files


def _frames_of(path: Path, reader: InputReader) -> Path | SeriesInput:
    from medimg.io.series_inputs import frame_series

    frames = frame_series(path)
    if frames is None:
        return path
    for index, name in enumerate(frames.files):
        reader.frames[str(name)] = (frames, index)
    return frames


def with_series(predictions: Iterable[Any], inputs: PredictionInputs, *, volumetric: bool) -> Iterator[Any]:
    """``predictions`` (of :func:`series_files`' paths, in that order; unusable files left out) with their series
    set, and a :class:`SeriesSummary` after each series' slices for a 2D model. Lazy: a stream stays a stream
    (only the slices of the series in hand are kept for its summary)."""
    if not inputs.series:
        yield from predictions
        return
    volumes = {str(s.key): s for s in inputs.series} if volumetric else {}
    slices: dict[str, tuple[SeriesInput, int]] = {}
    if not volumetric:
        for s in inputs.series:
            slices.update({str(path): (s, number) for number, path in enumerate(s.files, start=1)})
    current: SeriesInput | None = None
    gathered: list[Any] = []
    for prediction in predictions:
        source = str(getattr(prediction, "source", ""))
        owner = slices.get(source)
        if current is not None and (owner is None or owner[0] is not current):
            yield summarise_series(current, gathered)
            current, gathered = None, []
        if source in volumes:
            series = volumes[source]
            prediction.source = str(series.folder)
            prediction.series = series.to_dict()
        elif owner is not None:
            current = owner[0]
            gathered.append(prediction)
            prediction.series = {"series_uid": current.series_uid or None, "slice": owner[1], "slices": current.slices}
        elif hasattr(prediction, "series"):
            prediction.series = {}  # a plain file among series: empty series columns keep one CSV header
        yield prediction
    if current is not None:
        yield summarise_series(current, gathered)


def summarise_series(series: SeriesInput, predictions: Sequence[Any]) -> SeriesSummary:
    """The summary of a 2D model's slice predictions of ``series`` (records of one task, in slice order).

    Raises:
        TypeError: the records are of no known task.
    """
    from medimg.tasks.classify.predict import Prediction
    from medimg.tasks.detect.predict import DetectionPrediction
    from medimg.tasks.segment.masks import SegmentationPrediction

    numbered = [(int((p.series or {}).get("slice", i + 1)), p) for i, p in enumerate(predictions)]
    first = predictions[0] if predictions else None
    if first is None or isinstance(first, Prediction):
        task, summary = "classify", classification_summary(numbered)
    elif isinstance(first, SegmentationPrediction):
        task, summary = "segment", _segmentation_summary(numbered, series)
    elif isinstance(first, DetectionPrediction):
        task, summary = "detect", _detection_summary(numbered)
    else:
        raise TypeError(f"no series summary for {type(first).__name__} records")
    domains = [p.domain for p in predictions if getattr(p, "domain", None) is not None]
    outside = sum(1 for d in domains if not d.get("in_domain", True))
    return SeriesSummary(
        source=str(series.source),
        task=task,
        series=series.to_dict(),
        slices_predicted=len(predictions),
        summary=summary,
        domain={"in_domain": outside == 0, "out_of_domain_slices": outside} if domains else None,
    )


def _shows(prediction: Any, name: str) -> bool:
    """Whether a slice's prediction is ``name`` (a multi-label model's: lists it among its findings)."""
    findings = getattr(prediction, "findings", None)
    return name in findings if findings is not None else bool(prediction.label == name)


def classification_summary(numbered: Sequence[tuple[int, Any]]) -> dict[str, Any]:
    """Slices per label (multi-label: showing each finding), the most frequent label, mean probabilities, and per
    class the slice with the highest probability, of ``(slice number, classifier prediction)`` pairs."""
    if not numbered:
        return {"label_counts": {}, "majority_label": None, "mean_probabilities": {}, "max_probability": {}}
    names = list(numbered[0][1].probabilities)
    counts = {name: sum(1 for _, p in numbered if _shows(p, name)) for name in names}
    means = {name: sum(p.probabilities[name] for _, p in numbered) / len(numbered) for name in names}
    peaks = {}
    for name in names:
        number, best = max(numbered, key=lambda item: item[1].probabilities[name])
        peaks[name] = {"probability": best.probabilities[name], "slice": number, "source": best.source}
    return {
        "label_counts": counts,
        "majority_label": max(names, key=lambda name: (counts[name], means[name])),
        "mean_probabilities": means,
        "max_probability": peaks,
    }


def _segmentation_summary(numbered: Sequence[tuple[int, Any]], series: SeriesInput) -> dict[str, Any]:
    names = list(numbered[0][1].class_names)
    voxels = {name: sum(int(p.voxels[name]) for _, p in numbered) for name in names}
    voxel_ml = series.spacing_mm[0] * series.spacing_mm[1] * series.spacing_mm[2] / 1000 if series.spacing_mm else None
    return {
        "voxels": voxels,
        "volume_ml": {name: voxels[name] * voxel_ml for name in names} if voxel_ml is not None else None,
        "spacing_mm": list(series.spacing_mm) if series.spacing_mm else None,
        "slices_with": {name: [n for n, p in numbered if p.voxels[name] > 0] for name in names},
    }


def _detection_summary(numbered: Sequence[tuple[int, Any]]) -> dict[str, Any]:
    names = list(numbered[0][1].class_names)
    counts = {name: sum(p.labels.count(name) for _, p in numbered) for name in names}
    best: dict[str, dict[str, Any]] = {}
    for number, p in numbered:
        for label, score in zip(p.labels, p.scores, strict=True):
            if label not in best or float(score) > best[label]["score"]:
                best[label] = {"score": round(float(score), 5), "slice": number, "source": p.source}
    return {
        "counts": counts,
        "slices_with": {name: [n for n, p in numbered if name in p.labels] for name in names},
        "max_score": best,
    }
