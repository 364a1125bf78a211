"""What the task preparers of :func:`medimg.export.onnx_export.export_onnx` share: the prepared export and the
real images its parity check runs on.

This module sits below :mod:`medimg.export.onnx_export` (the shared export code) and the task preparers such as
:mod:`medimg.export.detect_onnx`, so a preparer never imports the export code that calls it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from medimg.errors import ExportError, ImageReadError
from medimg.io.windowing import window_from_json

if TYPE_CHECKING:
    from medimg.io.image import ImageData
    from medimg.tasks.base import Trained

__all__ = ["PreparedExport", "first_split", "parity_images"]

logger = logging.getLogger(__name__)


@dataclass
class PreparedExport:
    """What a task's preparer hands the shared export code.

    Attributes:
        network: the float32, eval-mode network.
        inputs: parity inputs ``(N, C, *spatial)`` float32, exactly what the network sees.
        source: where they came from.
        preprocessing: the ``medimg.preprocessing`` spec.
        extra_metadata: further ``medimg.*`` entries.
        doc: the graph's doc string.
        preprocessing_diff: numpy vs PyTorch preprocessing on the parity images (None for random inputs).
        pipeline_check: ``ONNX session -> max |difference|`` of whole results (segment), run after the parity.
        notes: remarks for :attr:`ExportResult.notes`.
        graph: the module exported, ``inputs -> outputs`` (default: the network's logits and their softmax).
        output_names: the graph's output names (default ``logits``, ``probabilities``).
    """

    network: nn.Module
    inputs: torch.Tensor
    source: str
    preprocessing: dict[str, Any]
    extra_metadata: dict[str, str] = field(default_factory=dict)
    doc: str = ""
    preprocessing_diff: float | None = None
    pipeline_check: Callable[[Any], float] | None = None
    notes: list[str] = field(default_factory=list)
    graph: nn.Module | None = None
    output_names: tuple[str, ...] = ("logits", "probabilities")


def parity_images(
    model: Trained,
    inputs: Sequence[str | Path] | None,
    limit: int,
    split_images: Callable[[Trained, Any, int], tuple[list[ImageData], str]],
) -> tuple[list[ImageData], str]:
    """Real images for the parity check: given files/folders, else ``split_images(model, run, limit)`` (the run's
    test split, then val, then train, as the task reads its data); random inputs when neither is available.

    Raises:
        ExportError: files/folders were given and none of their images could be read.
    """
    from medimg.io import read_image

    images: list[ImageData] = []
    if inputs:
        from medimg.io.inputs import expand_inputs

        window = window_from_json((model.metadata_.get("input") or {}).get("window"))
        dims = getattr(model.plan_, "spatial_dims", None)
        skipped: list[str] = []
        for path in expand_inputs(inputs)[:limit]:
            try:
                image = read_image(path, window=window)
            except ImageReadError as error:
                reason = error.reason
            else:
                found = image.array.ndim - 1
                if not dims or found == dims:
                    images.append(image)
                    continue
                # a volume among a 2D model's images stopped the whole export, while a broken file was skipped
                reason = f"{found}D, the model takes {dims}D images"
            logger.warning("parity check skips %s: %s", path, reason)
            skipped.append(f"{path}: {reason}")
        if not images:  # the check fell back to random inputs and said OK on the images the user gave
            listed = "; ".join(skipped[:3]) + (f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else "")
            raise ExportError(
                f"none of the --parity-data images could be read ({listed}); give images the model takes, or leave "
                "--parity-data out to check on the run's test split; nothing was exported"
            )
        return images, f"{len(images)} given image(s)"
    if model.run_dir_ is None:  # built in memory, never trained into a run folder
        return [], "random inputs"
    try:
        from medimg.run_folder import RunFolder

        images, source = split_images(model, RunFolder(model.run_dir_), limit)
        if images:
            return images, source
    except Exception as error:  # data moved or deleted...: say so and fall back
        logger.warning("the training data is not available for the parity check (%s)", error)
    return [], "random inputs"


def first_split(
    cases_of: Callable[[str], Sequence[Any]], read: Callable[[Any], ImageData], limit: int
) -> tuple[list[ImageData], str]:
    """Up to ``limit`` readable images of the first non-empty split among test, val and train."""
    for split in ("test", "val", "train"):
        images = []
        for case in cases_of(split)[:limit]:
            with contextlib.suppress(ImageReadError):
                images.append(read(case))
        if images:
            return images, split
    return [], ""
