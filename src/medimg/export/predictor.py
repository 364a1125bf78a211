"""Prediction with an exported ``.onnx`` file and ONNX Runtime. This module never imports torch.

A workstation needs only ``pip install 'medimg[onnx]'``: the file carries its task, preprocessing and labels
(see :mod:`medimg.export.onnx_export`), images are read by :mod:`medimg.io` (numpy, pydicom, nibabel, Pillow)
and preprocessed in numpy: :mod:`medimg.export.preprocess` for classifiers, :mod:`medimg.export.segment` for
segmentation (normalisation, resampling, Gaussian-blended sliding windows of the exported patch size,
test-time mirrors and turns, post-processing, masks written as PNG or NIfTI in the input's geometry).

Example:
    >>> predictor = OnnxPredictor("runs/demo/run/model.onnx")           # doctest: +SKIP
    >>> [p.label for p in predictor.predict(["a.png", "b.dcm"])]         # doctest: +SKIP
    >>> seg = OnnxPredictor("runs/discs/exp1")                           # a segmentation export  # doctest: +SKIP
    >>> seg.predict("case.png")[0].volume_mm3                            # per-class area/volume  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.data.tiff_stacks import goes_by_sections
from medimg.errors import ConfigError, ExportError, ImageReadError, MissingDependencyError
from medimg.export.detect import DETECT_PREPROCESSING_KEYS
from medimg.export.preprocess import PREPROCESSING_KEYS, preprocess
from medimg.export.segment import SEGMENT_REQUIRED_KEYS, SegmentationPrediction
from medimg.interrupts import raise_if_interrupted
from medimg.io.inputs import common_root, mirrored_folder, shell_quoted
from medimg.io.orientation import reorients_inputs
from medimg.io.series_inputs import expand_prediction_inputs
from medimg.planning.domain import InputReader, TrainingDomain, load_training_domain
from medimg.tasks.classify.predict import Prediction, make_prediction, refuse_non_finite
from medimg.tasks.classify.stream import StreamStats, stream_predictions
from medimg.tasks.detect.predict import DetectionPrediction
from medimg.tasks.series_prediction import series_files, with_series

if TYPE_CHECKING:
    from medimg.io.image import ImageData
    from medimg.tasks.segment.field_of_view import FieldOfViewRule

logger = logging.getLogger(__name__)


def resolve_onnx_path(run_or_file: str | Path) -> Path:
    """A ``.onnx`` file, a run folder holding ``model.onnx``, or an export's sidecar (``NAME.export.json``: the
    ``.onnx`` file its ``"path"`` names, beside it).

    Raises:
        ConfigError: neither exists (the message says how to export, or names the ``.onnx`` files the folder
            holds under other names: ``export --out DIR/grey.onnx``; a classical run has none to export), or a
            sidecar whose file is missing.
    """
    path = Path(run_or_file)
    if path.is_dir():
        candidate = path / "model.onnx"
        if not candidate.is_file():
            others = sorted(p.name for p in path.glob("*.onnx") if p.is_file())
            if others:  # was: "export it first", beside the export itself
                shown = " or ".join(str(path / name) for name in others[:3])
                raise ConfigError(
                    f"{path} has no model.onnx but holds {', '.join(others)}: give the file, {shown} (or, for a "
                    f"run folder, export it: medimg export {path})"
                )
            if (path / "model.joblib").is_file() and not (path / "model.pt").is_file():  # export would refuse it
                raise ConfigError(
                    f"{path} is a classical model (scikit-learn on image features), which has no ONNX export: "
                    f"predict without --engine onnx (medimg predict {shell_quoted(path)} IMAGES)"
                )
            raise ConfigError(f"{path} has no model.onnx; export it first: medimg export {path} --format onnx")
        return candidate
    if not path.is_file():
        raise ConfigError(f"{path} does not exist (expected a .onnx file or a run folder with model.onnx)")
    if path.name.lower().endswith(".export.json"):  # the sidecar was read as an ONNX file: INVALID_PROTOBUF
        return _sidecar_model(path)
    return path


def _sidecar_model(sidecar: Path) -> Path:
    """The ``.onnx`` file an export's sidecar names (relative to it; older sidecars hold an absolute path), else the
    one of the same name beside it.

    Raises:
        ConfigError: the sidecar is unreadable or its file is not there (copied without it).
    """
    try:
        named = json.loads(sidecar.read_text(encoding="utf-8")).get("path")
    except (OSError, ValueError, AttributeError):
        named = None
    beside = sidecar.with_name(sidecar.name[: -len(".export.json")] + ".onnx")
    candidates = [sidecar.parent / Path(named).name, sidecar.parent / named] if isinstance(named, str) else []
    for candidate in [*candidates, beside]:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"{sidecar} describes an exported model, but its file {candidates[0] if candidates else beside} is not "
        "beside it: copy the .onnx file with it (or export again: medimg export RUN --out FOLDER)"
    )


def _check_same_model_as_run(given: Path, props: dict[str, str]) -> None:
    """A run folder's ``model.onnx`` must be that run's export: one copied or exported from another run answered
    ``predict RUN --engine onnx`` with the other model's classes while the torch engine used the run's own.

    Raises:
        ExportError: the file's weights digest (or, for files exported before it was recorded, its class names)
            differs from the run's ``metadata.json``.
    """
    if not given.is_dir() or not (given / "metadata.json").is_file():
        return
    try:
        run = json.loads((given / "metadata.json").read_text())
    except (OSError, ValueError):
        return
    exported = props.get("medimg.weights_sha256")
    trained = (run.get("weights_sha256") or {}).get("model.pt")
    if exported and trained:
        same = exported == trained
    else:
        same = json.loads(props.get("medimg.class_names", "[]")) == list(run.get("class_names") or [])
    if not same:
        raise ExportError(
            f"{given / 'model.onnx'} was not exported from the model of {given} (another run's file?): export this "
            f"run again: medimg export {given}"
        )


def _metadata_json(path: Path, props: dict[str, str], key: str, kind: Any, default: str | None = None) -> Any:
    """The JSON value of the metadata entry ``key`` (``default`` when absent), of type ``kind``.

    Raises:
        ExportError: the entry is not JSON of that type (a file edited by hand or by another tool): a
            traceback from the JSON parser before.
    """
    text = props.get(key, default)
    try:
        value = json.loads(text) if text is not None else None
    except ValueError as error:
        value, problem = None, f"not valid JSON ({error})"
    else:
        problem = "" if isinstance(value, kind) else f"a JSON {type(value).__name__}, not the expected kind"
    if problem:
        raise ExportError(
            f"{path}: its metadata entry {key} is {problem}; the file was altered after `medimg export`: export the "
            "run again (medimg export RUN)"
        )
    return value


def _check_class_count(path: Path, session: Any, task: str, class_names: list[str]) -> None:
    """The class names must match the graph's class axis: a file whose names were edited (or another model's) gave
    a traceback from ``zip`` at the first prediction, or (segment) masks labelled with the wrong names.

    Raises:
        ExportError: the graph's ``probabilities`` output has a fixed class axis of another length.
    """
    if task not in ("classify", "segment"):
        return
    shapes = {output.name: output.shape for output in session.get_outputs()}
    shape = shapes.get("probabilities")
    classes = shape[1] if shape is not None and len(shape) > 1 else None
    if isinstance(classes, int) and classes != len(class_names):
        raise ExportError(
            f"{path} names {len(class_names)} classes ({', '.join(map(str, class_names))}) but its network outputs "
            f"{classes}: the file was altered after `medimg export`; export the run again (medimg export RUN)"
        )


class OnnxPredictor:
    """Classify or segment image files with an ONNX model exported by medimg (the task is in the file).

    Args:
        path: the ``.onnx`` file or a run folder holding ``model.onnx``.
        threads: ONNX Runtime intra-op threads (default: its own choice).
        batch_size: images (classify) or sliding windows (segment) per ``session.run`` call.
        mask_dir: segment: folder for the predicted masks (default ``predictions/`` beside the ``.onnx`` file,
            i.e. ``RUN/predictions`` as for the PyTorch engine, or ``predictions2/``... for a call after one that
            wrote masks there).
        window: intensity window instead of the exported input spec's (see :func:`medimg.io.read_image`).
        strict: refuse inputs outside the training domain (listed in ``failed_``) instead of warning.

    Attributes:
        task: ``"classify"`` or ``"segment"``.
        multi_label: a multi-label classifier (one sigmoid per finding; ``Prediction.findings``).
        class_names: labels, index-aligned with the probabilities.
        preprocessing: the embedded preprocessing spec.
        input_spec: the run's input spec (``window`` for CT...).
        mask_colours: segment: ``class -> (R, G, B)`` of colour-coded PNG masks, or ``None``.
        operating_point: a two-class classifier's operating point folded into its bias (``{"rule", "class",
            "thresholds"}``: the class is called at probability 0.5 or more, i.e. its raw probability at a
            threshold), or ``None`` (argmax, or an export made before it was recorded).
        classes_: ``class_names`` under :class:`~medimg.model.Model`'s (scikit-learn's) name.
        failed_: ``(path, reason)`` of the files the last :meth:`predict` could not read.
        reader: reads each input and checks it against the training domain (embedded at export as
            ``medimg.domain``, else ``fingerprint.json`` beside the ``.onnx`` file; see
            :mod:`medimg.planning.domain`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        batch_size: int = 64,
        mask_dir: str | Path | None = None,
        window: str | tuple[float, float] | None = None,
        strict: bool = False,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise MissingDependencyError("onnxruntime", "onnx") from error
        self.path = resolve_onnx_path(path)
        options = ort.SessionOptions()
        # idle threads sleep instead of spinning: spinning ones take the cores the decode workers of a streamed
        # prediction need (medimg predict on 5,000 PNGs, 2 cores: 189 images/s spinning, 453 not)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
        self.task = props.get("medimg.task", "classify")
        self.multi_label = props.get("medimg.multi_label") == "true"
        required = {
            "classify": PREPROCESSING_KEYS,
            "segment": SEGMENT_REQUIRED_KEYS,
            "detect": DETECT_PREPROCESSING_KEYS,
        }.get(self.task)
        if required is None:
            raise ExportError(
                f"{self.path} holds a {self.task!r} model; this medimg predicts classify, segment and detect"
            )
        self.class_names: list[str] = list(_metadata_json(self.path, props, "medimg.class_names", list))
        self.preprocessing: dict[str, Any] = _metadata_json(self.path, props, "medimg.preprocessing", dict)
        absent = [k for k in required if k not in self.preprocessing]
        if absent:
            raise ExportError(f"{self.path}: preprocessing metadata lacks {', '.join(absent)}")
        _check_class_count(self.path, self.session, self.task, self.class_names)
        self.input_spec: dict[str, Any] = _metadata_json(self.path, props, "medimg.input", dict, "{}")
        colours = _metadata_json(self.path, props, "medimg.mask_colours", (dict, type(None)), "null")
        self.mask_colours: dict[int, tuple[int, ...]] | None = (
            {int(k): tuple(int(c) for c in v) for k, v in colours.items()} if colours else None
        )
        self.operating_point: dict[str, Any] | None = _metadata_json(
            self.path, props, "medimg.operating_point", (dict, type(None)), "null"
        )
        self.network_name = props.get("medimg.network", "")
        self.metadata = props
        _check_same_model_as_run(Path(path), props)
        self.batch_size = max(1, int(batch_size))
        self.mask_dir = Path(mask_dir) if mask_dir is not None else self.path.parent / "predictions"
        self._own_mask_dir = mask_dir is not None  # else each predict call takes a fresh predictions folder
        self.failed_: list[tuple[str, str]] = []
        resized = self.task == "classify" and "input_size" in self.preprocessing
        oriented = bool(self.preprocessing.get("canonical_orientation"))
        self.reader = InputReader(
            window=window if window is not None else self.window,
            domain=self._training_domain(),
            strict=strict,
            # a classifier resizes whole images: read as training read them (reduced only where the budget says)
            target_size=[int(n) for n in self.preprocessing["input_size"]] if resized else None,
            sections=goes_by_sections(self.task, self.spatial_dims),
            canonical_orientation=oriented,
            reorient_inputs=reorients_inputs(self.task, oriented),
            pictures=self.task == "classify",
        )

    def _training_domain(self) -> TrainingDomain | None:
        """The embedded training domain, else the one of ``fingerprint.json`` beside the file, else ``None``."""
        embedded = self.metadata.get("medimg.domain")
        if embedded:
            return TrainingDomain.model_validate_json(embedded)
        return load_training_domain(self.path.parent)

    def __repr__(self) -> str:
        return (
            f"OnnxPredictor({str(self.path)!r}, task={self.task!r}, network={self.network_name!r}, "
            f"classes={self.class_names})"
        )

    @property
    def classes_(self) -> list[str]:
        """``class_names``, under the name :class:`~medimg.model.Model` gives them (code moved from ``Model`` to
        the ONNX predictor met an AttributeError)."""
        return self.class_names

    @property
    def spatial_dims(self) -> int:
        """2 for an image model, 3 for a volume model (from the exported input size or patch size)."""
        spec = self.preprocessing
        if "spatial_dims" in spec:
            return int(spec["spatial_dims"])
        return len(spec.get("patch_size") or spec.get("input_size") or (0, 0))

    @property
    def field_of_view(self) -> FieldOfViewRule | None:
        """How a segmentation model finds an image's field of view (its training masks had one), or ``None``:
        :mod:`medimg.tasks.segment.field_of_view`."""
        from medimg.tasks.segment.field_of_view import FieldOfViewRule

        rule = self.preprocessing.get("field_of_view")
        return FieldOfViewRule.model_validate(rule) if rule else None

    @property
    def window(self) -> str | tuple[float, float] | None:
        """The intensity window the model was trained with (applied when reading DICOM/NIfTI)."""
        from medimg.io.windowing import window_from_json

        return window_from_json(self.input_spec.get("window"))

    # ------------------------------------------------------------------ classify
    def preprocess(
        self,
        arrays: Sequence[np.ndarray],
        sources: Sequence[str] | None = None,
        metas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> np.ndarray:
        """Raw ``(C, *spatial)`` images -> ``(N, C, *input_size)`` float32 network input (classify; ``metas``: the
        images' own, which say whether their channels are colours or a 4D file's frames)."""
        return preprocess(arrays, self.preprocessing, sources, metas)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, K)`` float64 for preprocessed inputs (batched; flip TTA as the plan says)."""
        flips = [int(a) for a in self.preprocessing.get("tta_flip_axes", [])]
        out = []
        for start in range(0, len(x), self.batch_size):
            raise_if_interrupted()  # a Ctrl-C Python dropped (see medimg.interrupts)
            xb = np.ascontiguousarray(x[start : start + self.batch_size], dtype=np.float32)
            logits = self.session.run(["logits"], {"image": xb})[0].astype(np.float64)
            for axis in flips:
                flipped = np.ascontiguousarray(np.flip(xb, axis=2 + axis))
                logits = logits + self.session.run(["logits"], {"image": flipped})[0]
            out.append(logits / (1 + len(flips)))
        if not out:
            return np.zeros((0, len(self.class_names)))
        logits = np.concatenate(out)
        if self.multi_label:  # one sigmoid per finding
            return 1.0 / (1.0 + np.exp(-logits))
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict_arrays(
        self,
        arrays: Sequence[np.ndarray],
        sources: Sequence[str] | None = None,
        metas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[Prediction]:
        """Classify images already read (``(C, *spatial)`` float arrays; ``metas``: as for :meth:`preprocess`).

        Raises:
            ImageReadError: an image holding NaN or infinite pixels (its probabilities were NaN, its label the
                first class).
        """
        self._require_task("classify", "predict_arrays")
        names = list(sources) if sources is not None else [""] * len(arrays)
        refuse_non_finite(arrays, names)
        probabilities = self.run(self.preprocess(arrays, names, metas))
        return [
            make_prediction(source, row, self.class_names, multi_label=self.multi_label)
            for source, row in zip(names, probabilities, strict=True)
        ]

    def _masks_folder(self, out_dir: str | Path | None) -> Path:
        """Where one :meth:`predict` call writes its masks: ``out_dir``, the ``mask_dir`` given, else
        ``predictions`` beside the model, or ``predictions2``... when an earlier call's masks are there (as the
        PyTorch engine does: a second call never replaces the first one's)."""
        from medimg.run_folder import predictions_dir

        if out_dir is not None:
            return Path(out_dir)
        return self.mask_dir if self._own_mask_dir else predictions_dir(self.path.parent)

    def _predict_given_arrays(self, inputs: Any) -> list[Prediction]:
        """:meth:`predict` of images given as arrays (``Model.predict``'s layouts, :mod:`medimg.io.arrays`;
        sources ``array[i]``), checked against the training domain as files are."""
        from medimg.io.arrays import refuse_arrays_unless_classifier

        refuse_arrays_unless_classifier(self.task)
        channels = int(self.preprocessing["in_channels"])
        images, self.failed_ = self.reader.read_arrays(inputs, self.spatial_dims, channels)
        predictions = self.predict_arrays(
            [image.array for image in images], [image.source for image in images], [image.meta for image in images]
        )
        self.reader.annotate(predictions)
        return predictions

    # ------------------------------------------------------------------ segment
    def run_windows(self, windows: np.ndarray) -> np.ndarray:
        """Softmax probabilities ``(n, K, *patch_size)`` of preprocessed windows ``(n, C, *patch_size)``."""
        out = []
        for i in range(0, len(windows), self.batch_size):
            raise_if_interrupted()  # a Ctrl-C Python dropped (see medimg.interrupts)
            batch = np.ascontiguousarray(windows[i : i + self.batch_size])
            out.append(self.session.run(["probabilities"], {"image": batch})[0])
        return np.concatenate(out)

    def segment_image(self, image: ImageData) -> tuple[np.ndarray, np.ndarray]:
        """Segment one read image/volume at its own size, as the PyTorch path does (a 2D model's stack of sections
        section by section).

        Returns:
            ``(labels (*spatial) uint8, probabilities (K, *spatial) float32)`` in the file's geometry; labels are
            post-processed with the exported method, and 0 outside the image's field of view where the training
            masks had one (:attr:`field_of_view`).

        Raises:
            DatasetError: the image has the wrong dimensionality or channel count for the model.
        """
        from medimg.data.tiff_stacks import by_sections, is_stack
        from medimg.export import segment
        from medimg.io.orientation import in_canonical_orientation
        from medimg.tasks.segment.field_of_view import field_of_view_of

        self._require_task("segment", "segment_image")
        if self.spatial_dims == 2 and is_stack(image):  # a 2D model's stack (a multi-page TIFF): section by section
            return by_sections(image, self.segment_image)
        spec = self.preprocessing

        def run(one: ImageData) -> tuple[np.ndarray, np.ndarray]:
            x = segment.prepare_image(one.array, one.spacing_mm, spec, one.source, one.meta)
            probs = segment.sliding_window_probabilities(self.run_windows, x, spec, batch_size=self.batch_size)
            probs = segment.probabilities_at(probs, one.array.shape[1:])
            labels = segment.predicted_labels(probs, spec.get("absent_classes") or ())
            labels = segment.postprocess(
                labels,
                str(spec["postprocessing"]),
                int(spec["num_classes"]),
                min_object_fraction=float(spec["min_object_fraction"]),
            )
            return labels, probs

        labels, probs = in_canonical_orientation(image, run) if spec.get("canonical_orientation") else run(image)
        if (region := field_of_view_of(self.field_of_view, image.array, image.source)) is not None:
            labels = np.where(region, labels, 0).astype(np.uint8)
        return labels, probs

    def segment_images(
        self, images: Sequence[ImageData], out_dir: str | Path | None = None, *, write_masks: bool = True
    ) -> list[SegmentationPrediction]:
        """Segment images already read; write ``<out_dir>/<name>_mask.png|.nii.gz`` per image with a source.

        Args:
            images: read images (:func:`medimg.io.read_image`); ``source`` names the mask file.
            out_dir: mask folder (default :attr:`mask_dir`).
            write_masks: False keeps the masks in memory only (``prediction.mask``).
        """
        from medimg.export import segment

        folder = Path(out_dir) if out_dir is not None else self.mask_dir
        predictions = []
        written: set[Path] = set()
        for image in images:
            labels, probs = self.segment_image(image)
            mask_path = None
            if write_masks and image.source:
                mask_path = str(
                    segment.write_mask(
                        labels,
                        segment.mask_path_for(
                            image.source,
                            folder,
                            volume=labels.ndim == 3,
                            case=image.meta.get("case_name"),
                            taken=written,
                        ),
                        affine=image.affine,
                        spacing_mm=image.spacing_mm,
                        colours=self.mask_colours,
                        num_classes=len(self.class_names),
                        squeezed_z=bool(image.meta.get("squeezed_z")),
                        nifti_geometry=image.meta.get("nifti_geometry"),
                        values=self.preprocessing.get("mask_values"),
                        class_names=self.class_names,
                    )
                )
            predictions.append(
                segment.summarise(labels, probs, self.class_names, image.spacing_mm, image.source, mask_path)
            )
        return predictions

    # ------------------------------------------------------------------ files
    def predict(
        self,
        inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        out_dir: str | Path | None = None,
        write_masks: bool = True,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
    ) -> list[Prediction] | list[SegmentationPrediction]:
        """Predict files and/or folders (PNG, JPEG, BMP, TIFF, DICOM, NIfTI...), file contents as ``bytes`` (one
        or a list; ``source`` ``bytes[i]``) or (classifiers) images as arrays, as ``Model.predict`` takes them
        (``source`` ``array[i]``); unreadable files go to ``failed_``.

        Each input is checked against the training domain (a warning, ``prediction.domain``; refused when the
        predictor is ``strict``). Masks are written mirroring the inputs' folder tree. ``include``/``exclude``
        select files inside folders by name pattern.

        Returns:
            classify: one :class:`~medimg.tasks.classify.predict.Prediction` per readable image; segment: one
            :class:`~medimg.export.segment.SegmentationPrediction` per image (mask written to ``out_dir``,
            default :attr:`mask_dir`, unless ``write_masks`` is False), as the PyTorch engine returns them. A DICOM
            series in a folder gets one volume prediction from a 3D model, or per-slice predictions and a
            :class:`~medimg.tasks.series_prediction.SeriesSummary` from a 2D model, as with the PyTorch engine.
        """
        from medimg.errors import DatasetError
        from medimg.io.arrays import holds_arrays
        from medimg.io.in_memory import holds_file_bytes, predict_file_bytes

        if holds_arrays(inputs):
            return self._predict_given_arrays(inputs)
        if holds_file_bytes(inputs):  # file contents as bytes: read as the files they are (sources bytes[i])

            def of_paths(paths: list[str]) -> list[Any]:
                return list(self.predict(paths, out_dir=out_dir, write_masks=write_masks))

            return predict_file_bytes(inputs, of_paths, self)
        if self.task == "classify":  # chunk by chunk in this process: a pool is predict_iter's choice to make
            return list(self.predict_iter(inputs, include=include, exclude=exclude, decode_workers=0))
        items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        found = expand_prediction_inputs(
            [Path(p) for p in items], include=include, exclude=exclude, leave_out=self.reader.not_inputs
        )
        volumetric = self.spatial_dims == 3
        files = series_files(found, volumetric=volumetric, reader=self.reader)
        images, failed = [], []
        for path in files:
            try:
                images.append(self.reader.read(path))
            except ImageReadError as error:
                failed.append((str(path), error.reason))
                logger.warning("skipped %s: %s", path, error.reason)
        self.failed_ = failed
        if self.task == "detect":  # a volume is refused as the PyTorch engine refuses it (was: a ValueError traceback)
            from medimg.export.detect import not_2d_for_detection

            for image in [image for image in images if image.array.ndim != 3]:
                images.remove(image)
                self.failed_.append((image.source, not_2d_for_detection(image.array.shape)))
                logger.warning("skipped %s: %s", image.source, self.failed_[-1][1])
            boxes = self.detect_images(images, overlays=out_dir is not None)
            if out_dir is not None:  # the images with their boxes drawn, as the PyTorch engine writes them
                from medimg.tasks.detect.predict import save_overlay

                overlays_root, written = common_root(files), set[Path]()
                for prediction in boxes:
                    save_overlay(prediction, prediction.source, overlays_root, Path(out_dir), written)
            self.reader.annotate(boxes)
            return list(with_series(boxes, found, volumetric=volumetric))
        predictions: list[SegmentationPrediction] = []
        root = common_root(files)
        folder = self._masks_folder(out_dir) if write_masks else None  # a claimed folder is created at once
        for image in images:
            target = mirrored_folder(image.source, root, folder) if folder is not None else None
            try:
                predictions += self.segment_images([image], target, write_masks=write_masks)
            except DatasetError as error:
                self.failed_.append((image.source, str(error)))
                logger.warning("skipped %s: %s", image.source, error)
        if folder is not None and out_dir is None and not self._own_mask_dir:
            from medimg.run_folder import release_if_empty

            release_if_empty(folder)  # a claimed predictionsN folder that no mask went into
        self.reader.annotate(predictions)
        return list(with_series(predictions, found, volumetric=volumetric))

    def predict_iter(
        self,
        inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        stats: StreamStats | None = None,
        **stream: Any,
    ) -> Iterator[Prediction]:
        """Classify files and/or folders as a stream: a pool of decode workers reads the next chunks while ONNX
        Runtime runs, predictions come in file order and memory stays bounded by a few chunks
        (:mod:`medimg.tasks.classify.stream`, the loop the PyTorch engine uses too).

        Args:
            stats: filled in as the stream runs (images, failed files, decode and network seconds).
            stream: ``chunk_size``, ``decode_workers``, ``decode_pool`` (see
                :func:`~medimg.tasks.classify.stream.stream_predictions`).

        ``failed_`` lists the unusable files read so far (complete once the iteration ends).
        """
        self._require_task("classify", "predict_iter")
        items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        found = expand_prediction_inputs(
            [Path(p) for p in items], include=include, exclude=exclude, leave_out=self.reader.not_inputs
        )
        volumetric = self.spatial_dims == 3
        files = series_files(found, volumetric=volumetric, reader=self.reader)
        stats = stats if stats is not None else StreamStats()
        self.failed_ = stats.failed
        predictions = stream_predictions(
            files,
            self.reader,
            lambda images: self.predict_arrays(
                [i.array for i in images], [i.source for i in images], [i.meta for i in images]
            ),
            stats=stats,
            **stream,
        )
        return with_series(predictions, found, volumetric=volumetric)

    # ------------------------------------------------------------------ detect
    def detect_images(self, images: Sequence[ImageData], *, overlays: bool = False) -> list[DetectionPrediction]:
        """Detect objects in images already read: boxes (score at least the exported threshold) in the files'
        pixels, as the PyTorch engine returns them; with ``overlays``, each with its ``overlay_png`` (the image at
        its own size with the boxes drawn, as the PyTorch engine draws it)."""
        from medimg.export import detect
        from medimg.tasks.detect.metrics import Detections
        from medimg.tasks.detect.predict import OVERLAY_MAX_SIDE
        from medimg.tasks.detect.report import draw_boxes

        self._require_task("detect", "detect_images")
        spec = self.preprocessing
        names = ["cls_logits", "bbox_regression"] + (["bbox_ctrness"] if spec["network"] == "fcos" else [])

        def run(batch: np.ndarray) -> dict[str, np.ndarray]:
            return dict(zip(names, self.session.run(names, {"image": batch}), strict=True))

        predictions = []
        for image in images:
            raise_if_interrupted()  # a Ctrl-C Python dropped (see medimg.interrupts)
            x, (sy, sx) = detect.prepare_image(image.array, spec)
            boxes, scores, labels = detect.run_graph(run, [x], spec)[0]
            keep = scores >= float(spec["score_threshold"])
            factors = np.asarray([sx, sy, sx, sy], dtype=np.float32)
            height, width = image.spatial_shape[-2:]
            prediction = DetectionPrediction(
                source=image.source,
                boxes=(boxes[keep] / factors).astype(np.float32),
                scores=scores[keep],
                labels=[self.class_names[int(k)] for k in labels[keep]],
                label_indices=[int(k) for k in labels[keep]],
                class_names=list(self.class_names),
                score_threshold=float(spec["score_threshold"]),
                image_size=(int(height), int(width)),
            )
            if overlays:
                found = Detections(prediction.boxes, prediction.scores, np.asarray(labels[keep]))
                unit = detect.to_unit(image.array, spec)  # the file's pixels as the network's mapping shows them
                prediction.overlay_png = draw_boxes(unit, self.class_names, predicted=found, max_side=OVERLAY_MAX_SIDE)
            predictions.append(prediction)
        return predictions

    def _require_task(self, task: str, method: str) -> None:
        if self.task != task:
            raise ConfigError(f"{method} is for {task} models; {self.path} holds a {self.task} model")
