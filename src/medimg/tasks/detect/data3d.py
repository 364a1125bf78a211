"""Volumes and boxes as the 3D detector sees them: read, mapped to 0..1 (the plan's normalisation), kept at their
own size and voxels (the detector pads them); and the training batch source, whose flips move the boxes with the
volume.

Boxes here are in array-axis order ``[d1, h1, w1, d2, h2, w2]`` voxels (:func:`medimg.data.detection.volume_boxes`),
the order MONAI's detector takes. The same :func:`prepare_volume` serves training, validation, evaluation and
prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from medimg.data.case import Case
from medimg.data.detection import volume_boxes
from medimg.errors import DatasetError, ImageReadError
from medimg.export.detect import unit_range
from medimg.tasks.detect.data import DetectionBatches, jitter_colour
from medimg.tasks.detect.plan import DetectAugmentation, DetectPlan

if TYPE_CHECKING:
    from medimg.io.image import ImageData

logger = logging.getLogger(__name__)


def prepare_volume(array: np.ndarray, plan: DetectPlan) -> torch.Tensor:
    """A volume ``(C, D, H, W)`` -> ``(plan.in_channels, D, H, W)`` float32 in 0..1 (the plan's normalisation:
    its clip range, or the volume's own percentiles).

    Raises:
        DatasetError: not a volume.
    """
    x = np.asarray(array, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise DatasetError(f"3D detection works on volumes (C, D, H, W); got an array of shape {x.shape}")
    if x.shape[0] != plan.in_channels:
        x = np.repeat(x[:1], plan.in_channels, axis=0) if x.shape[0] == 1 else x[: plan.in_channels]
        if x.shape[0] != plan.in_channels:
            raise DatasetError(f"a volume with {array.shape[0]} channels; the model takes {plan.in_channels}")
    spec = {"clip_low": plan.clip_low, "clip_high": plan.clip_high, "normalisation": plan.normalisation}
    return torch.from_numpy(unit_range(x, spec)).contiguous()


@dataclass
class PreparedVolumes:
    """Volumes with their boxes.

    Attributes:
        case_ids: the cases, in order.
        images: ``(C, D, H, W)`` float32 in 0..1 each.
        boxes: ``(N, 6)`` float32 ``[d1, h1, w1, d2, h2, w2]`` voxels.
        labels: ``(N,)`` int64 class indices.
        sources: the image files.
        affines: each volume's voxel -> world (mm) affine, ``None`` when unknown.
        skipped: unreadable files as ``(path, reason)``.
    """

    case_ids: list[str] = field(default_factory=list)
    images: list[torch.Tensor] = field(default_factory=list)
    boxes: list[torch.Tensor] = field(default_factory=list)
    labels: list[torch.Tensor] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    affines: list[np.ndarray | None] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def truths(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(boxes, labels)`` per volume as numpy arrays (for matching)."""
        return [(b.numpy(), lab.numpy()) for b, lab in zip(self.boxes, self.labels, strict=True)]


def prepare_volumes(
    dataset: Any,
    cases: Sequence[Case],
    plan: DetectPlan,
    *,
    strict: bool = False,
    progress: bool = False,
    desc: str = "reading volumes",
    workers: int = 4,
    check: Callable[[ImageData], object] | None = None,
) -> PreparedVolumes:
    """Read and prepare ``cases`` (threads); unreadable files are skipped and listed (``strict``: an error).
    ``check`` sees each volume as read, its ``source`` the file (evaluation:
    :meth:`medimg.planning.domain.InputReader.check`, which may refuse it).

    Raises:
        DatasetError: ``strict`` and a file is unreadable, or more than half of them are.
    """

    def one(case: Case) -> tuple[Case, torch.Tensor | None, np.ndarray | None, str | None]:
        try:
            image = dataset.read(case)
        except ImageReadError as error:
            return case, None, None, error.reason
        if check is not None:
            image.source = str(case.path or case.case_id)
            check(image)
        try:
            return case, prepare_volume(image.array, plan), image.affine, None
        except ImageReadError as error:
            return case, None, None, error.reason
        except DatasetError as error:
            return case, None, None, str(error)

    from tqdm.auto import tqdm

    from medimg.terminal import show_bars

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            tqdm(pool.map(one, cases), total=len(cases), desc=desc, disable=not show_bars(progress), leave=False)
        )
    out = PreparedVolumes()
    for case, volume, affine, reason in results:
        if volume is None:
            out.skipped.append((str(case.path or case.case_id), str(reason)))
            continue
        boxes, labels = volume_boxes(case)
        out.case_ids.append(case.case_id)
        out.images.append(volume)
        out.boxes.append(torch.from_numpy(boxes))
        out.labels.append(torch.from_numpy(labels))
        out.sources.append(str(case.path or case.case_id))
        out.affines.append(affine)
    if out.skipped:
        listing = "; ".join(f"{p}: {r}" for p, r in out.skipped[:5])
        if strict or len(out.skipped) > len(cases) / 2:
            raise DatasetError(f"{len(out.skipped)} of {len(cases)} volume(s) unusable: {listing}")
        logger.warning("%d unusable volume(s) skipped: %s", len(out.skipped), listing)
    return out


# ----------------------------------------------------------------------------------------- augmentation
def flip_boxes_3d(boxes: torch.Tensor, size: int, axis: int) -> torch.Tensor:
    """Boxes ``(N, 6)`` in array-axis order after flipping a volume of ``size`` voxels along spatial ``axis``
    (0 = D, 1 = H, 2 = W): ``[a1, a2] -> [size - a2, size - a1]`` on that axis."""
    out = boxes.clone()
    out[:, axis] = size - boxes[:, axis + 3]
    out[:, axis + 3] = size - boxes[:, axis]
    return out


def augment_volume(
    volume: torch.Tensor, boxes: torch.Tensor, aug: DetectAugmentation, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training volume ``(C, D, H, W)`` -> flipped (boxes with it) and brightness/contrast-jittered."""
    x = volume
    for axis, enabled in enumerate((aug.flip_depth, aug.flip_vertical, aug.flip_horizontal)):
        if enabled and bool(torch.rand((), generator=generator) < 0.5):
            x = x.flip(axis + 1)
            boxes = flip_boxes_3d(boxes, int(x.shape[axis + 1]), axis)
    if aug.brightness or aug.contrast:
        x = jitter_colour(x, aug, generator)
    return x.contiguous(), boxes


class VolumeBatches(DetectionBatches):
    """Shuffled passes over prepared volumes (:class:`PreparedVolumes`): each batch is ``(list of (C, D, H, W)
    volumes, list of {"boxes", "labels"})``, augmented per volume (flips move the boxes). Under DDP each rank takes
    its shard of every global batch."""

    unit = "volumes"

    def augmented(self, i: int, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Volume ``i`` augmented, with its target ``{"boxes": (n, 6) float, "labels": (n,) long}``."""
        x, boxes = augment_volume(self.prepared.images[i], self.prepared.boxes[i], self.aug, generator)
        return x, {"boxes": boxes.float().reshape(-1, 6), "labels": self.prepared.labels[i].long()}
