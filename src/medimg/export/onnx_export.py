"""Export a trained model bundle to ONNX, with its preprocessing and labels inside, checked against PyTorch.

One code path for every task: :func:`export_onnx` takes the bundle (a run folder, or a loaded
:class:`~medimg.model.Model` with ``network_``, ``plan_``, ``class_names_``, ``metadata_``), asks the task's
preparer for the network's parity inputs and the task's metadata, then exports, checks and writes the file.

The graph maps ``image`` ``(batch, C, *spatial)`` float32 (already preprocessed) to ``logits`` and
``probabilities`` (softmax over the class axis 1); the batch axis is dynamic.

* ``classify``: ``spatial`` is the plan's ``input_size``; outputs ``(batch, K)``.
* ``segment``: ``spatial`` is the plan's ``patch_size`` (fixed: U-Nets need sizes divisible by 2^depth, and
  the PyTorch path runs every image as sliding windows of this size anyway); outputs ``(batch, K, *patch)``.
  :class:`~medimg.export.predictor.OnnxPredictor` runs the same Gaussian-blended sliding windows in numpy
  (:mod:`medimg.export.segment`).
* ``detect``: the graph is the detector between its transform and its post-processing: ``image`` (normalised,
  padded to multiples of 32; dynamic batch and size) -> ``cls_logits``, ``bbox_regression`` (and FCOS's
  ``bbox_ctrness``) per anchor; anchors, decoding and NMS run in numpy (:mod:`medimg.export.detect`) and the
  parity check also compares whole detections (boxes, scores, labels) with PyTorch's.

The file's metadata carries everything the predictor needs to go from an image file to a result without torch:

=========================  ===========================================================================
``medimg.task``            ``classify`` or ``segment``
``medimg.class_names``     JSON list, index-aligned with the outputs' class axis
``medimg.preprocessing``   JSON: classify: spatial_dims, in_channels, input_size, clip/normalisation,
                           tta_flip_axes; segment: :data:`~medimg.export.segment.SEGMENT_PREPROCESSING_KEYS`
                           (normalisation, resampling, patch_size, sw_overlap, flips, post-processing)
``medimg.mask_colours``    segment only: JSON ``{class: [R, G, B]}`` for colour-coded PNG masks, or null
``medimg.preprocessing_steps``  JSON list of the steps in words, in order, from the file to the result (for a client
                           without medimg; also in the ``.export.json`` sidecar's ``model``): classify, segment
                           (through sliding windows, blending and post-processing), detect (through NMS)
``medimg.input``           JSON: the run's input spec (window for DICOM/CT...)
``medimg.operating_point``  classify, two classes with ``binary_threshold``: JSON ``{"rule", "class",
                           "thresholds"}``, the operating point folded into the bias (probabilities are relative
                           to it: 0.5 = the raw threshold)
``medimg.domain``          JSON: the training domain inputs are checked against (:mod:`medimg.planning.domain`),
                           when the run's fingerprint records one
``medimg.network``         registry name; ``medimg.version``, ``medimg.created``, ``medimg.format_version``
=========================  ===========================================================================
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from medimg.errors import ExportError, MissingDependencyError
from medimg.export.parity import PreparedExport, first_split, parity_images
from medimg.export.preprocess import PREPROCESSING_KEYS
from medimg.io.windowing import window_from_json

if TYPE_CHECKING:
    from medimg.io.image import ImageData
    from medimg.planning.plan import Plan
    from medimg.tasks.base import Trained
    from medimg.tasks.segment.planning import SegPlan

logger = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4
"""Largest accepted |PyTorch - ONNX Runtime| difference (logits and probabilities, float32)."""
PIPELINE_WORDS = {
    "detect": (
        "detections (scores, box corners / input side) above the score threshold",
        "resizing, box decoding, NMS",
    ),
}
"""Per task: what the whole-pipeline check compares and what of the ONNX predictor's numpy path it covers."""
SEGMENT_PIPELINE_WORDS = ("whole-image probabilities", "sliding windows, resampling")


def pipeline_words(task: str) -> tuple[str, str]:
    """What the whole-pipeline parity check of ``task`` compares, and the steps it covers (for messages)."""
    return PIPELINE_WORDS.get(task, SEGMENT_PIPELINE_WORDS)


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime matches PyTorch.

    Attributes:
        path: the ``.onnx`` file.
        max_abs_diff: largest |PyTorch - ONNX Runtime| over logits and probabilities (float32).
        n_parity_images: how many network inputs the check used (segment: sliding windows of the patch size).
        parity_source: where they came from (the run's test split, given files, or random).
        preprocessing_max_abs_diff: largest difference between the numpy preprocessing of the ONNX predictor
            and the PyTorch/MONAI preprocessing on the same images (None when the inputs were random).
        pipeline_max_abs_diff: segment: largest difference between the whole-image probabilities of the
            PyTorch path (float32) and of the ONNX predictor's numpy path (sliding windows, blending,
            resampling to the file's grid) on the parity images; detect: of the detections above the score
            threshold (scores, box corners over the input's long side), PyTorch one image at a time against the
            ONNX predictor; None for classify or random inputs.
        task: ``"classify"``, ``"segment"`` or ``"detect"``.
        exporter: ``"dynamo"`` or ``"torchscript"``.
        size_bytes: file size.
        export_time_s: time spent exporting and checking.
    """

    path: Path
    max_abs_diff: float
    n_parity_images: int
    parity_source: str
    preprocessing_max_abs_diff: float | None = None
    pipeline_max_abs_diff: float | None = None
    task: str = "classify"
    exporter: str = "dynamo"
    size_bytes: int = 0
    export_time_s: float = 0.0
    tolerance: float = PARITY_TOLERANCE
    notes: list[str] = field(default_factory=list)

    def to_dict(self, relative_to: str | Path | None = None) -> dict[str, Any]:
        """The result as JSON values; ``path`` relative to the folder ``relative_to`` when given (the
        ``.export.json`` sidecar records ``"model.onnx"``, which stays right when the folder is moved or copied to
        another machine; it held the absolute path of the machine that exported)."""
        data = asdict(self)
        data["path"] = (
            Path(os.path.relpath(self.path.absolute(), Path(relative_to).absolute())).as_posix()
            if relative_to is not None
            else str(self.path)
        )
        return data

    @classmethod
    def from_sidecar(cls, sidecar: str | Path) -> ExportResult:
        """The result recorded in an ``.export.json`` sidecar, ``path`` resolved from the sidecar's folder. A sidecar
        written before paths were relative holds an absolute path: where it no longer exists (the folder was moved),
        the ``.onnx`` file beside the sidecar is meant.

        Raises:
            ExportError: the sidecar cannot be read or is not an export record.
        """
        from dataclasses import fields

        sidecar = Path(sidecar)
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            recorded = Path(str(data["path"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ExportError(
                f"{sidecar} is not a readable .export.json record ({error}): export the run again"
            ) from error
        if not recorded.is_absolute():
            path = sidecar.parent / recorded
        elif recorded.exists() or not (sidecar.parent / recorded.name).exists():
            path = recorded
        else:  # an old absolute path from before the folder was moved
            path = sidecar.parent / recorded.name
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known}, "path": path})


class _WithProbabilities(nn.Module):
    """``x -> (logits, softmax(logits))`` (multi-label: one sigmoid per finding): both outputs in the graph, so no
    consumer re-implements them."""

    def __init__(self, network: nn.Module, *, multi_label: bool = False) -> None:
        super().__init__()
        self.network = network
        self.multi_label = multi_label

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(image)
        return logits, torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=1)


def _require_onnx() -> Any:
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError(error.name or "onnx", "onnx") from error
    return onnx


@contextlib.contextmanager
def _no_logging() -> Iterator[None]:
    """No log record of any logger while inside (torch's exporter logs its own failures as errors), nor a warning."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            yield
    finally:
        logging.disable(previous)


def _torch_export(
    wrapper: nn.Module,
    example: torch.Tensor,
    target: Path,
    opset: int,
    output_names: Sequence[str] = ("logits", "probabilities"),
    dynamic_spatial: bool = False,
) -> str:
    """Export with the dynamo exporter; fall back to the TorchScript one if it fails. Returns which worked."""
    names = {"input_names": ["image"], "output_names": list(output_names)}
    chatter = io.StringIO()
    try:
        # torch logs a failed attempt's traceback at ERROR (45 lines of "Constraints violated" for a detector, whose
        # export then worked by the fallback): silenced, the warning below says it once
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter), _no_logging():
            warnings.simplefilter("ignore")
            batch = torch.export.Dim("batch", min=1, max=65536)
            axes: dict[int, Any] = {0: batch}
            if dynamic_spatial:  # detection: any input size (multiples of 32)
                axes.update(
                    {2: 32 * torch.export.Dim("rows", min=1, max=512), 3: 32 * torch.export.Dim("cols", min=1, max=512)}
                )
            torch.onnx.export(
                wrapper,
                (example,),
                str(target),
                dynamo=True,
                external_data=False,
                opset_version=opset,
                dynamic_shapes={"image": axes},
                **names,  # type: ignore[arg-type]
            )
        return "dynamo"
    except Exception as error:  # the exporter's many failure types; fall back and say why
        cause: BaseException = error
        while cause.__cause__ is not None:  # the exporter's own wrapper says only "step 1/3"; its cause says why
            cause = cause.__cause__
        first = re.sub(r"\x1b\[[0-9;]*m", "", (str(cause).strip().splitlines() or [""])[0])  # no terminal colours
        logger.warning(
            "dynamo ONNX export failed (%s: %s); using the TorchScript exporter", type(cause).__name__, first
        )
        logger.debug("exporter output:\n%s", chatter.getvalue())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (example,),
                str(target),
                dynamo=False,
                opset_version=min(opset, 17),
                dynamic_axes={
                    "image": {0: "batch", **({2: "height", 3: "width"} if dynamic_spatial else {})},
                    **{name: {0: "batch"} for name in output_names},
                },
                **names,  # type: ignore[arg-type]
            )
    except Exception as error:
        raise ExportError(f"ONNX export of the network failed: {type(error).__name__}: {error}") from error
    return "torchscript"


def _classify_split_images(model: Trained, run: Any, limit: int) -> tuple[list[ImageData], str]:
    from medimg.bundle import dataset_options
    from medimg.data.dataset import Dataset
    from medimg.data.splits import Splits, cases_for

    dataset = Dataset.load(run.trained_data(), task="classify", **dataset_options(run.path))
    splits = Splits.from_dict(run.read_json("splits.json"))
    images, split = first_split(lambda name: cases_for(dataset, splits, name), dataset.read, limit)
    return images, f"the run's {split} split of {dataset.name}"


def _segment_split_images(model: Trained, run: Any, limit: int) -> tuple[list[ImageData], str]:
    from medimg.data.splits import Splits
    from medimg.tasks.segment.data import SegmentationDataset

    config = run.read_json("config.json")
    options = config.get("dataset_options") or {}
    dataset = SegmentationDataset.load(
        run.trained_data(),
        include=options.get("include") or None,
        exclude=options.get("exclude") or None,
        window=window_from_json(options.get("window")),
        colour_table=options.get("colour_table"),
    )
    assignment = Splits.from_dict(run.read_json("splits.json")).assignment
    images, split = first_split(
        lambda name: [c for c in dataset.cases if assignment.get(c.case_id) == name],
        lambda case: dataset.read(case).image,
        limit,
    )
    return images, f"{len(images)} case(s) of the run's {split} split of {dataset.name}"


def _random_inputs(channels: int, size: Sequence[int], count: int = 8) -> torch.Tensor:
    logger.warning("parity check on random inputs: pass parity_inputs (--parity-data) to use real images")
    return torch.randn((count, channels, *size), generator=torch.Generator().manual_seed(0))


def _prepare_classify(
    model: Trained, network: nn.Module, parity_inputs: Sequence[str | Path] | None, limit: int
) -> PreparedExport:
    from medimg.export.preprocess import preprocess as numpy_preprocess
    from medimg.export.preprocess import preprocessing_steps
    from medimg.transforms.preprocess import preprocess_arrays

    plan = cast("Plan", model.plan_)
    class_names = list(model.class_names_ or [])
    images, source = parity_images(model, parity_inputs, limit, _classify_split_images)
    preprocessing_diff: float | None = None
    if images:
        sources = [image.source for image in images]
        arrays, metas = [image.array for image in images], [image.meta for image in images]
        x = preprocess_arrays(arrays, plan, sources, metas).float()
        x_numpy = numpy_preprocess(arrays, plan.model_dump(), sources, metas)
        preprocessing_diff = float(np.abs(x.numpy() - x_numpy).max())
    else:
        x = _random_inputs(plan.in_channels, plan.input_size)
    spec = {key: getattr(plan, key) for key in PREPROCESSING_KEYS}
    spec["canonical_orientation"] = plan.canonical_orientation  # optional: exports before it lack it (read as off)
    spec["denoise"], spec["denoise_radius"] = plan.denoise, plan.denoise_radius  # likewise (read as none)
    spec["normalisation"] = plan.normalisation  # likewise (read as dataset)
    spec["tta_flip_axes"] = [a for a in plan.augmentation.flip_axes if a < plan.spatial_dims] if plan.tta else []
    prepared = PreparedExport(
        network=network,
        inputs=x,
        source=source,
        preprocessing=spec,
        doc=f"medimg {plan.network} {'multi-label ' if plan.multi_label else ''}classifier: {', '.join(class_names)}",
        preprocessing_diff=preprocessing_diff,
    )
    if plan.multi_label:  # one sigmoid per finding in the graph, and the predictor told so
        prepared.graph = _WithProbabilities(network, multi_label=True).eval()
        prepared.extra_metadata["medimg.multi_label"] = "true"
    # the recipe in words for a client without medimg: the numbers alone left the resizing, channel conversion,
    # orientation and test-time flips to guesswork
    window = (model.metadata_.get("input") or {}).get("window")
    from medimg.tasks.classify.operating_point_record import operating_point_text, run_operating_point

    point = run_operating_point(plan, model.metadata_)
    if point is not None:  # the probabilities are relative to it: say so in the file (it said "softmax" only)
        prepared.extra_metadata["medimg.operating_point"] = json.dumps(point)
        prepared.notes.append(
            f"the probabilities have {operating_point_text(point)} folded in: “{point['class']}” at 0.5 or more "
            "(medimg.operating_point in the file's metadata and model.export.json)"
        )
    steps = preprocessing_steps(spec, window=window, multi_label=bool(plan.multi_label), operating_point=point)
    prepared.extra_metadata["medimg.preprocessing_steps"] = json.dumps(steps)
    return prepared


SEGMENT_PARITY_CASES = 4
"""Images a segmentation parity check runs through both whole pipelines (all their windows feed the graph check)."""


def _prepare_segment(
    model: Trained, network: nn.Module, parity_inputs: Sequence[str | Path] | None, limit: int
) -> PreparedExport:
    from medimg.export import segment as numpy_segment
    from medimg.tasks.segment.inference import probabilities_at, sliding_window_probabilities
    from medimg.tasks.segment.preprocess import prepare_image

    plan = cast("SegPlan", model.plan_)
    spec = numpy_segment.segment_spec(plan.model_dump())
    images, source = parity_images(model, parity_inputs, SEGMENT_PARITY_CASES, _segment_split_images)
    patch = [int(p) for p in plan.patch_size]
    preprocessing_diff: float | None = None
    prepared: list[tuple[Any, torch.Tensor]] = []
    if images:
        windows = []
        diffs = []
        for image in images:
            x = prepare_image(image.array, image.spacing_mm, plan, image.source).float()
            x_numpy = numpy_segment.prepare_image(image.array, image.spacing_mm, spec, image.source)
            diffs.append(float(np.abs(x.numpy() - x_numpy).max()))
            windows.append(numpy_segment.extract_windows(x.numpy(), patch, plan.sw_overlap)[0])
            prepared.append((image, x))
        preprocessing_diff = max(diffs)
        stacked = np.concatenate(windows)[:limit]
        x_windows = torch.from_numpy(np.concatenate([stacked, stacked]) if len(stacked) < 2 else stacked)
        source = f"{sum(len(w) for w in windows)} window(s) of {source}"
    else:
        x_windows = _random_inputs(plan.in_channels, patch)

    float_plan = plan.model_copy(update={"amp": "none", "channels_last": False})

    def pipeline_check(session: Any) -> float:
        """Whole images: PyTorch (float32) vs numpy sliding windows over ONNX Runtime, on the file's grid."""

        def run(windows: np.ndarray) -> np.ndarray:
            return np.asarray(session.run(["probabilities"], {"image": windows})[0])

        worst = 0.0
        for image, x in prepared:
            with torch.no_grad():
                probs = sliding_window_probabilities(network, x[None], float_plan)[0]
                reference = probabilities_at(probs, image.spatial_shape)
            x_numpy = numpy_segment.prepare_image(image.array, image.spacing_mm, spec, image.source)
            ours = numpy_segment.probabilities_at(
                numpy_segment.sliding_window_probabilities(run, x_numpy, spec, batch_size=plan.sw_batch_size),
                image.spatial_shape,
            )
            worst = max(worst, float(np.abs(reference.numpy() - ours).max()))
        return worst

    colours = {str(k): list(v) for k, v in (numpy_segment.mask_colours(plan) or {}).items()}
    steps = numpy_segment.segment_preprocessing_steps(spec, window=(model.metadata_.get("input") or {}).get("window"))
    return PreparedExport(
        network=network,
        inputs=x_windows,
        source=source,
        preprocessing=spec,
        extra_metadata={
            "medimg.mask_colours": json.dumps(colours or None),
            "medimg.preprocessing_steps": json.dumps(steps),
        },
        doc=f"medimg {plan.network} {plan.spatial_dims}D segmentation (patch {patch}): {', '.join(plan.class_names)}",
        preprocessing_diff=preprocessing_diff,
        pipeline_check=pipeline_check if prepared else None,
    )


def _prepare_detect(
    model: Trained, network: nn.Module, parity_inputs: Sequence[str | Path] | None, limit: int
) -> PreparedExport:
    from medimg.export.detect_onnx import prepare_detect_export

    prepared: PreparedExport = prepare_detect_export(model, network, parity_inputs, limit)
    return prepared


_PREPARERS = {"classify": _prepare_classify, "segment": _prepare_segment, "detect": _prepare_detect}


def load_bundle(bundle: Trained | str | os.PathLike[str]) -> Trained:
    """A loaded bundle from a run folder (or a fitted/loaded model or bundle itself).

    Raises:
        ExportError: the model is not trained.
    """
    from medimg import bundle as bundles

    model: Trained = bundles.load_bundle(Path(bundle)) if isinstance(bundle, (str, os.PathLike)) else bundle
    if model.network_ is None or model.plan_ is None:
        raise ExportError("this model is not trained: fit it or load a run folder before exporting")
    return model


def export_onnx(
    bundle: Trained | str | os.PathLike[str],
    path: str | Path | None = None,
    *,
    parity_inputs: Sequence[str | Path] | None = None,
    max_parity_images: int = 64,
    tolerance: float = PARITY_TOLERANCE,
    opset: int = 18,
) -> ExportResult:
    """Export a trained bundle (classification or segmentation) to ONNX and check it against PyTorch.

    Args:
        bundle: a run folder written by ``medimg fit``, a loaded :class:`~medimg.bundle.TrainedBundle` or a
            fitted/loaded :class:`~medimg.model.Model`.
        path: the ``.onnx`` file, or an existing folder to write ``model.onnx`` into (default ``RUN/model.onnx``).
        parity_inputs: image files/folders for the parity check (default: the run's test split).
        max_parity_images: at most this many network inputs are compared (segment: sliding windows of
            :data:`SEGMENT_PARITY_CASES` images).
        tolerance: the check fails above this max |difference| (float32 logits and probabilities).
        opset: ONNX opset.

    Returns:
        :class:`ExportResult` (also saved next to the file as ``<name>.export.json``).

    Raises:
        ExportError: ``path`` is neither an existing folder nor a name ending with ``.onnx``; export failed, the
            task cannot be exported, or ONNX Runtime differs from PyTorch by more than ``tolerance`` (the message
            gives the difference). The ``.onnx`` file is then not written. ``tolerance`` is not a positive
            number, or none of ``parity_inputs`` could be read.
        MissingDependencyError: onnx / onnxruntime are not installed.
    """
    from medimg.run_folder import hold_trained_run

    _check_tolerance(tolerance)
    _require_onnx()
    started = time.perf_counter()
    model = load_bundle(bundle)
    preparer = _PREPARERS.get(model.task)
    if preparer is None:
        raise ExportError(f"ONNX export supports {' and '.join(_PREPARERS)} models; this one is task={model.task!r}")
    target = Path(path) if path else Path(model.run_dir_ or ".") / "model.onnx"
    if target.is_dir():  # an existing folder (the run folder, a deployment folder): the file goes inside
        target = target / "model.onnx"
    if target.suffix.lower() != ".onnx":
        hint = (
            f"; for a folder, create it first or give {target / 'model.onnx'}"
            if not target.suffix and not target.exists()
            else ""
        )
        raise ExportError(f"{target}: the exported file name must end with .onnx{hint}")
    _refuse_another_runs_folder(target, model.run_dir_)
    _check_can_write(target)
    with hold_trained_run(model.run_dir_, target, doing="export"):  # never while a fit writes the run
        return _export_checked(model, preparer, target, parity_inputs, max_parity_images, tolerance, opset, started)


def _check_tolerance(tolerance: float) -> None:
    """A tolerance of NaN passed every parity check (no difference compares above it) and the export said OK; zero
    or a negative one failed every export with a message about the model, not the option.

    Raises:
        ExportError: ``tolerance`` is not a positive finite number.
    """
    if not (isinstance(tolerance, (int, float)) and np.isfinite(tolerance) and tolerance > 0):
        raise ExportError(
            f"--tolerance {tolerance}: give the largest accepted |PyTorch - ONNX Runtime| difference, a positive "
            f"number (default {PARITY_TOLERANCE:g}); nothing was exported"
        )


def _check_can_write(target: Path) -> None:
    """Make ``target``'s folder and try a temporary folder in it before the parity check runs: a read-only folder
    failed after the check with "cannot write or read FOLDER/.onnx-export-x1y2: Permission denied; choose a folder
    you can write to (--run-dir, --out)", and a file in the way with "... File exists".

    Raises:
        ExportError: the folder cannot be made or written into.
    """
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".onnx-export-"))
    except OSError as error:
        in_the_way = isinstance(error, (FileExistsError, NotADirectoryError))
        why = "a file is in the way of that folder" if in_the_way else error.strerror or str(error)
        raise ExportError(
            f"cannot write {target.name} into {folder}: {why}; export into a folder you can write to "
            "(--out FOLDER or --out FILE.onnx); nothing was exported"
        ) from None


def _refuse_another_runs_folder(target: Path, run_dir: Path | None) -> None:
    """``medimg export RUN_A --out RUN_B`` replaced RUN_B's model.onnx, and ``predict RUN_B --engine onnx`` then
    answered with RUN_A's model and classes.

    Raises:
        ExportError: ``target`` lies in another run's folder.
    """
    from medimg.run_folder import written_by_medimg

    folder = target.parent
    own = run_dir is not None and folder.resolve() == Path(run_dir).resolve()
    if not own and written_by_medimg(folder):
        raise ExportError(
            f"{folder} is another run's folder: its model.onnx belongs to that run (predict {folder} --engine onnx "
            "would answer with this model); export into this run's own folder or a deployment folder"
        )


def _export_checked(
    model: Trained,
    preparer: Callable[..., PreparedExport],
    target: Path,
    parity_inputs: Sequence[str | Path] | None,
    max_parity_images: int,
    tolerance: float,
    opset: int,
    started: float,
) -> ExportResult:
    """Export ``model`` to ``target`` through a temporary file, check it against PyTorch and keep it only when it
    matches (see :func:`export_onnx`)."""
    onnx = _require_onnx()
    import onnxruntime as ort

    network = model.network_.float().to(memory_format=torch.contiguous_format).eval()  # type: ignore[union-attr]
    prepared = preparer(model, network, parity_inputs, max_parity_images)
    x = prepared.inputs
    names = list(prepared.output_names)
    graph = prepared.graph
    with torch.no_grad():
        if graph is None:  # the network's logits, and their softmax computed here (not by the exported wrapper)
            reference_logits = network(x).float()
            reference: tuple[np.ndarray, ...] = (reference_logits.numpy(), torch.softmax(reference_logits, 1).numpy())
            graph = _WithProbabilities(network).eval()
        else:
            reference = tuple(o.float().numpy() for o in graph(x))

    plan = model.plan_
    metadata = {
        "medimg.format_version": "1",
        "medimg.task": model.task,
        "medimg.network": str(plan.network),
        "medimg.class_names": json.dumps(list(model.class_names_ or [])),
        "medimg.preprocessing": json.dumps(prepared.preprocessing),
        "medimg.input": json.dumps(model.metadata_.get("input") or {}),
        **_domain_metadata(model.run_dir_),
        "medimg.weights_sha256": str((model.metadata_.get("weights_sha256") or {}).get("model.pt", "")),
        "medimg.version": str(model.metadata_.get("medimg_version", "")),
        "medimg.created": str(model.metadata_.get("created", "")),
        **prepared.extra_metadata,
    }

    target.parent.mkdir(parents=True, exist_ok=True)
    pipeline_diff: float | None = None
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".onnx-export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        exporter = _torch_export(graph, x[:2], raw, opset, names, dynamic_spatial=model.task == "detect")
        proto = onnx.load(str(raw))
        proto.doc_string = prepared.doc
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        final = Path(tmp) / "final.onnx"
        onnx.save(proto, str(final))
        session = ort.InferenceSession(str(final), providers=["CPUExecutionProvider"])
        feed = x.numpy().astype(np.float32)
        outputs = session.run(names, {"image": feed})
        single = session.run(names, {"image": feed[:1]})  # the dynamic axis at batch 1
        diff = max(
            *(float(np.abs(out - ref).max()) for out, ref in zip(outputs, reference, strict=True)),
            float(np.abs(single[0] - reference[0][:1]).max()),
        )
        if not np.isfinite(diff) or diff > tolerance:
            raise ExportError(
                f"ONNX Runtime differs from PyTorch by max |diff| = {diff:.3g} on {len(feed)} input(s) from "
                f"{prepared.source} (tolerance {tolerance:g}); the model was not written to {target}"
            )
        if prepared.pipeline_check is not None:
            pipeline_diff = float(prepared.pipeline_check(session))
            if not np.isfinite(pipeline_diff) or pipeline_diff > tolerance:
                compared, steps = pipeline_words(model.task)
                boxes = model.task == "detect" and np.isinf(pipeline_diff)
                by = "in number or class" if boxes else f"by max |diff| = {pipeline_diff:.3g}"
                raise ExportError(
                    f"the ONNX predictor's {compared} differ from PyTorch's {by} (tolerance {tolerance:g}) on "
                    f"{prepared.source}: its numpy preprocessing or {steps} do not match; the model was not written "
                    f"to {target}"
                )
        os.replace(final, target)
    result = ExportResult(
        path=target,
        max_abs_diff=diff,
        n_parity_images=len(feed),
        parity_source=prepared.source,
        preprocessing_max_abs_diff=prepared.preprocessing_diff,
        pipeline_max_abs_diff=pipeline_diff,
        task=model.task,
        exporter=exporter,
        size_bytes=target.stat().st_size,
        export_time_s=round(time.perf_counter() - started, 3),
        tolerance=tolerance,
        notes=prepared.notes,
    )
    if getattr(plan, "amp", "none") == "bf16":
        result.notes.append(
            "the network was trained with bf16 autocast (plan.amp); PyTorch predictions, evaluations and the "
            "service run in float32, as ONNX Runtime does, so both engines agree to the parity tolerance"
        )
    from medimg.fileio import atomic_write_json

    sidecar = {**result.to_dict(relative_to=target.parent), "model": _model_card(metadata, session)}
    atomic_write_json(target.with_suffix(".export.json"), sidecar)  # "path": the file's name, beside the sidecar
    return result


def _model_card(metadata: dict[str, str], session: Any) -> dict[str, Any]:
    """What a client of the ``.onnx`` file needs, readable in the ``.export.json`` beside it without an ONNX
    library: task, classes, the graph's inputs and outputs, the preprocessing numbers and (classify) its steps in
    words. The sidecar held only the parity check's numbers, so the recipe was reachable only through the ONNX
    file's metadata."""

    def entry(key: str) -> Any:
        return json.loads(metadata[key]) if key in metadata else None

    return {
        "task": metadata["medimg.task"],
        "network": metadata["medimg.network"],
        "class_names": entry("medimg.class_names"),
        "multi_label": metadata.get("medimg.multi_label") == "true",
        "inputs": {i.name: list(i.shape) for i in session.get_inputs()},
        "outputs": {o.name: list(o.shape) for o in session.get_outputs()},
        "preprocessing": entry("medimg.preprocessing"),
        "preprocessing_steps": entry("medimg.preprocessing_steps"),
        "input": entry("medimg.input"),
        "operating_point": entry("medimg.operating_point"),
        "onnx_metadata_keys": sorted(metadata),
    }


def _domain_metadata(run_dir: Path | None) -> dict[str, str]:
    """``{"medimg.domain": JSON}`` of the run's training domain, or nothing when the run has no fingerprint."""
    from medimg.planning.domain import load_training_domain

    domain = load_training_domain(run_dir)
    return {"medimg.domain": domain.model_dump_json()} if domain is not None else {}
