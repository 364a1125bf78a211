"""Prediction with an exported ``.onnx`` file and ONNX Runtime. This module never imports torch.

A workstation needs only ``pip install 'medimg[onnx]'``: the file carries its preprocessing and labels (see
:mod:`medimg.export.onnx_export`), images are read by :mod:`medimg.io` (numpy, pydicom, nibabel, Pillow)
and preprocessed by :mod:`medimg.export.preprocess` (numpy).

Example:
    >>> predictor = OnnxPredictor("runs/demo/run/model.onnx")           # doctest: +SKIP
    >>> [p.label for p in predictor.predict(["a.png", "b.dcm"])]         # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import ConfigError, ExportError, ImageReadError, MissingDependencyError
from medimg.export.preprocess import PREPROCESSING_KEYS, preprocess
from medimg.tasks.classify.predict import Prediction
from medimg.io.inputs import expand_inputs

logger = logging.getLogger(__name__)


def resolve_onnx_path(run_or_file: str | Path) -> Path:
    """A ``.onnx`` file, or a run folder holding ``model.onnx``.

    Raises:
        ConfigError: neither exists (the message says how to export).
    """
    path = Path(run_or_file)
    if path.is_dir():
        candidate = path / "model.onnx"
        if not candidate.is_file():
            raise ConfigError(f"{path} has no model.onnx; export it first: medimg export {path} --format onnx")
        return candidate
    if not path.is_file():
        raise ConfigError(f"{path} does not exist (expected a .onnx file or a run folder with model.onnx)")
    return path


class OnnxPredictor:
    """Classify image files with an ONNX model exported by medimg.

    Args:
        path: the ``.onnx`` file or a run folder holding ``model.onnx``.
        threads: ONNX Runtime intra-op threads (default: its own choice).
        batch_size: images per ``session.run`` call.

    Attributes:
        class_names: labels, index-aligned with the probabilities.
        preprocessing: the embedded preprocessing spec.
        input_spec: the run's input spec (``window`` for CT...).
        failed_: ``(path, reason)`` of the files the last :meth:`predict` could not read.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None, batch_size: int = 64) -> None:
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise MissingDependencyError("onnxruntime", "onnx") from error
        self.path = resolve_onnx_path(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for corrupt files
            raise ExportError(f"{self.path} is not a loadable ONNX model: {error}") from error
        props: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        missing = [k for k in ("medimg.class_names", "medimg.preprocessing") if k not in props]
        if missing:
            raise ExportError(
                f"{self.path} lacks medimg metadata ({', '.join(missing)}); export it with `medimg export`"
            )
        self.class_names: list[str] = list(json.loads(props["medimg.class_names"]))
        self.preprocessing: dict[str, Any] = json.loads(props["medimg.preprocessing"])
        absent = [k for k in PREPROCESSING_KEYS if k not in self.preprocessing]
        if absent:
            raise ExportError(f"{self.path}: preprocessing metadata lacks {', '.join(absent)}")
        self.input_spec: dict[str, Any] = json.loads(props.get("medimg.input", "{}"))
        self.network_name = props.get("medimg.network", "")
        self.metadata = props
        self.batch_size = max(1, int(batch_size))
        self.failed_: list[tuple[str, str]] = []

    def __repr__(self) -> str:
        return f"OnnxPredictor({str(self.path)!r}, network={self.network_name!r}, classes={self.class_names})"

    @property
    def window(self) -> str | tuple[float, float] | None:
        """The intensity window the model was trained with (applied when reading DICOM/NIfTI)."""
        value = self.input_spec.get("window")
        return (float(value[0]), float(value[1])) if isinstance(value, list) else value

    def preprocess(self, arrays: Sequence[np.ndarray], sources: Sequence[str] | None = None) -> np.ndarray:
        """Raw ``(C, *spatial)`` images -> ``(N, C, *input_size)`` float32 network input."""
        return preprocess(arrays, self.preprocessing, sources)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, K)`` float64 for preprocessed inputs (batched; flip TTA as the plan says)."""
        flips = [int(a) for a in self.preprocessing.get("tta_flip_axes", [])]
        out = []
        for start in range(0, len(x), self.batch_size):
            xb = np.ascontiguousarray(x[start : start + self.batch_size], dtype=np.float32)
            logits = self.session.run(["logits"], {"image": xb})[0].astype(np.float64)
            for axis in flips:
                flipped = np.ascontiguousarray(np.flip(xb, axis=2 + axis))
                logits = logits + self.session.run(["logits"], {"image": flipped})[0]
            out.append(logits / (1 + len(flips)))
        if not out:
            return np.zeros((0, len(self.class_names)))
        logits = np.concatenate(out)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict_arrays(self, arrays: Sequence[np.ndarray], sources: Sequence[str] | None = None) -> list[Prediction]:
        """Predict images already read (``(C, *spatial)`` float arrays)."""
        names = list(sources) if sources is not None else [""] * len(arrays)
        probabilities = self.run(self.preprocess(arrays, names))
        predictions = []
        for source, row in zip(names, probabilities, strict=True):
            index = int(row.argmax())
            predictions.append(
                Prediction(
                    source=source,
                    label=self.class_names[index],
                    label_index=index,
                    probabilities={n: float(p) for n, p in zip(self.class_names, row, strict=True)},
                )
            )
        return predictions

    def predict(self, inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Prediction]:
        """Predict files and/or folders (PNG, JPEG, BMP, TIFF, DICOM, NIfTI); unreadable files go to ``failed_``."""
        from medimg.io import read_image

        items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        files = expand_inputs([Path(p) for p in items])
        arrays, sources, failed = [], [], []
        for path in files:
            try:
                arrays.append(read_image(path, window=self.window).array)
                sources.append(str(path))
            except ImageReadError as error:
                failed.append((str(path), error.reason))
                logger.warning("skipped %s: %s", path, error.reason)
        self.failed_ = failed
        return self.predict_arrays(arrays, sources) if arrays else []
