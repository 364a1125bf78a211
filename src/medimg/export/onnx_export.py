"""Export a trained classifier to ONNX, with its preprocessing and labels inside, checked against PyTorch.

The exported graph maps ``image`` ``(batch, C, *input_size)`` float32 (already preprocessed) to ``logits``
and ``probabilities`` ``(batch, K)``; the batch axis is dynamic. The file's metadata carries everything
:class:`medimg.export.predictor.OnnxPredictor` needs to go from an image file to a label without torch:

=========================  ===========================================================================
``medimg.class_names``     JSON list, index-aligned with the outputs
``medimg.preprocessing``   JSON: spatial_dims, in_channels, input_size, clip/normalisation, tta_flip_axes
``medimg.input``           JSON: the run's input spec (window for DICOM/CT...)
``medimg.network``         registry name; ``medimg.task``: ``classify``; ``medimg.version``
=========================  ===========================================================================
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from medimg.errors import ExportError, ImageReadError, MissingDependencyError
from medimg.export.preprocess import PREPROCESSING_KEYS

if TYPE_CHECKING:
    from medimg.model import Model

logger = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4
"""Largest accepted |PyTorch - ONNX Runtime| difference (logits and probabilities, float32)."""


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime matches PyTorch.

    Attributes:
        path: the ``.onnx`` file.
        max_abs_diff: largest |PyTorch - ONNX Runtime| over logits and probabilities (float32).
        n_parity_images: how many inputs the check used.
        parity_source: where they came from (the run's test split, given files, or random).
        preprocessing_max_abs_diff: largest difference between the numpy preprocessing of the ONNX predictor
            and the PyTorch/MONAI preprocessing on the same images (None when the inputs were random).
        exporter: ``"dynamo"`` or ``"torchscript"``.
        size_bytes: file size.
        export_time_s: time spent exporting and checking.
    """

    path: Path
    max_abs_diff: float
    n_parity_images: int
    parity_source: str
    preprocessing_max_abs_diff: float | None = None
    exporter: str = "dynamo"
    size_bytes: int = 0
    export_time_s: float = 0.0
    tolerance: float = PARITY_TOLERANCE
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


class _WithProbabilities(nn.Module):
    """``x -> (logits, softmax(logits))``: both outputs in the graph, so no consumer re-implements softmax."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(image)
        return logits, torch.softmax(logits, dim=1)


def _require_onnx() -> Any:
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError(error.name or "onnx", "onnx") from error
    return onnx


def _torch_export(wrapper: nn.Module, example: torch.Tensor, target: Path, opset: int) -> str:
    """Export with the dynamo exporter; fall back to the TorchScript one if it fails. Returns which worked."""
    names = {"input_names": ["image"], "output_names": ["logits", "probabilities"]}
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = torch.export.Dim("batch", min=1, max=65536)
            torch.onnx.export(
                wrapper,
                (example,),
                str(target),
                dynamo=True,
                external_data=False,
                opset_version=opset,
                dynamic_shapes={"image": {0: batch}},
                **names,  # type: ignore[arg-type]
            )
        return "dynamo"
    except Exception as error:  # the exporter's many failure types; fall back and say why
        logger.warning(
            "dynamo ONNX export failed (%s: %s); using the TorchScript exporter", type(error).__name__, error
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
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "probabilities": {0: "batch"}},
                **names,  # type: ignore[arg-type]
            )
    except Exception as error:
        raise ExportError(f"ONNX export of the network failed: {type(error).__name__}: {error}") from error
    return "torchscript"


def _parity_images(model: Model, inputs: Sequence[str | Path] | None, limit: int) -> tuple[list[Any], str]:
    """Real images for the parity check: given files/folders, else the run's test split (then val, train)."""
    from medimg.io import read_image

    window = (model.metadata_.get("input") or {}).get("window")
    window = (float(window[0]), float(window[1])) if isinstance(window, list) else window
    images: list[Any] = []
    if inputs:
        from medimg.io.inputs import expand_inputs

        paths = expand_inputs(inputs)
        for path in paths[:limit]:
            try:
                images.append(read_image(path, window=window))
            except ImageReadError as error:
                logger.warning("parity check skips %s: %s", path, error.reason)
        return images, f"{len(images)} given image(s)"
    if model.run_dir_ is None:  # built in memory, never trained into a run folder
        return [], "random inputs"
    try:
        from medimg.data.dataset import Dataset
        from medimg.data.splits import Splits
        from medimg.tasks.classify.run import cases_for
        from medimg.run_folder import RunFolder

        run = RunFolder(model.run_dir_)
        dataset = Dataset.load(run.read_json("config.json")["data"], **model._dataset_options())
        splits = Splits.from_dict(run.read_json("splits.json"))
        for split in ("test", "val", "train"):
            for case in cases_for(dataset, splits, split)[:limit]:
                with contextlib.suppress(ImageReadError):
                    images.append(dataset.read(case))
            if images:
                return images, f"the run's {split} split of {dataset.name}"
    except Exception as error:  # data moved or deleted...: say so and fall back
        logger.warning("the training data is not available for the parity check (%s)", error)
    return [], "random inputs"


def export_onnx(
    model: Model,
    path: str | Path | None = None,
    *,
    parity_inputs: Sequence[str | Path] | None = None,
    max_parity_images: int = 64,
    tolerance: float = PARITY_TOLERANCE,
    opset: int = 18,
) -> ExportResult:
    """Export ``model`` to ONNX and check it against PyTorch on real inputs.

    Args:
        model: a fitted or loaded classification :class:`~medimg.model.Model`.
        path: the ``.onnx`` file (default ``RUN/model.onnx``).
        parity_inputs: image files/folders for the parity check (default: the run's test split).
        max_parity_images: at most this many images are compared.
        tolerance: the check fails above this max |difference| (float32 logits and probabilities).
        opset: ONNX opset.

    Returns:
        :class:`ExportResult` (also saved next to the file as ``<name>.export.json``).

    Raises:
        ExportError: export failed, or ONNX Runtime differs from PyTorch by more than ``tolerance`` (the
            message gives the difference). The ``.onnx`` file is then not written.
        MissingDependencyError: onnx / onnxruntime are not installed.
    """
    onnx = _require_onnx()
    import onnxruntime as ort

    from medimg.export.preprocess import preprocess as numpy_preprocess
    from medimg.transforms.preprocess import preprocess_arrays

    started = time.perf_counter()
    network, plan, class_names = model._require_fitted()
    if model.task != "classify":
        raise ExportError(f"ONNX export supports classification models; this one is task={model.task!r}")
    target = Path(path) if path else Path(model.run_dir_ or ".") / "model.onnx"
    if target.suffix.lower() != ".onnx":
        raise ExportError(f"{target}: the exported file name must end with .onnx")
    network = network.float().to(memory_format=torch.contiguous_format).eval()

    images, source = _parity_images(model, parity_inputs, max_parity_images)
    if images:
        sources = [image.source for image in images]
        x = preprocess_arrays([image.array for image in images], plan, sources).float()
        x_numpy = numpy_preprocess([image.array for image in images], plan.model_dump(), sources)
        preprocessing_diff: float | None = float(np.abs(x.numpy() - x_numpy).max())
    else:
        logger.warning("parity check on random inputs: pass parity_inputs (--parity-data) to use real images")
        generator = torch.Generator().manual_seed(0)
        x = torch.randn((8, plan.in_channels, *plan.input_size), generator=generator)
        preprocessing_diff = None
    with torch.no_grad():
        reference_logits = network(x).float()
        reference = (reference_logits.numpy(), torch.softmax(reference_logits, 1).numpy())

    spec = {key: getattr(plan, key) for key in PREPROCESSING_KEYS}
    spec["tta_flip_axes"] = [a for a in plan.augmentation.flip_axes if a < plan.spatial_dims] if plan.tta else []
    metadata = {
        "medimg.format_version": "1",
        "medimg.task": "classify",
        "medimg.network": plan.network,
        "medimg.class_names": json.dumps(list(class_names)),
        "medimg.preprocessing": json.dumps(spec),
        "medimg.input": json.dumps(model.metadata_.get("input") or {}),
        "medimg.version": str(model.metadata_.get("medimg_version", "")),
        "medimg.created": str(model.metadata_.get("created", "")),
    }

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".onnx-export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        exporter = _torch_export(_WithProbabilities(network).eval(), x[:2], raw, opset)
        proto = onnx.load(str(raw))
        proto.doc_string = f"medimg {plan.network} classifier: {', '.join(class_names)}"
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        final = Path(tmp) / "final.onnx"
        onnx.save(proto, str(final))
        session = ort.InferenceSession(str(final), providers=["CPUExecutionProvider"])
        feed = x.numpy().astype(np.float32)
        outputs = session.run(["logits", "probabilities"], {"image": feed})
        single = session.run(["logits", "probabilities"], {"image": feed[:1]})  # the dynamic axis at batch 1
        diff = max(
            float(np.abs(outputs[0] - reference[0]).max()),
            float(np.abs(outputs[1] - reference[1]).max()),
            float(np.abs(single[0] - reference[0][:1]).max()),
        )
        if not np.isfinite(diff) or diff > tolerance:
            raise ExportError(
                f"ONNX Runtime differs from PyTorch by max |diff| = {diff:.3g} on {len(feed)} input(s) from "
                f"{source} (tolerance {tolerance:g}); the model was not written to {target}"
            )
        os.replace(final, target)
    result = ExportResult(
        path=target,
        max_abs_diff=diff,
        n_parity_images=len(feed),
        parity_source=source,
        preprocessing_max_abs_diff=preprocessing_diff,
        exporter=exporter,
        size_bytes=target.stat().st_size,
        export_time_s=round(time.perf_counter() - started, 3),
        tolerance=tolerance,
    )
    if plan.amp == "bf16":
        result.notes.append(
            "the PyTorch predictor runs in bf16 autocast (plan.amp); ONNX Runtime runs in float32, so their "
            "probabilities differ by the bf16 rounding (~1e-2), not by the export"
        )
    from medimg.fileio import atomic_write_json

    atomic_write_json(target.with_suffix(".export.json"), result.to_dict())
    return result
