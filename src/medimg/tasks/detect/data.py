"""Images and boxes as the detector sees them: read, mapped to 0..1, resized to the plan's input scale (boxes
scaled with them), kept as ``uint8``; and the training batch source, whose augmentation moves the boxes with the
image (zoom and crop, flips, 90-degree rotations, colour).

The same :func:`prepare_image` serves training, validation, evaluation, prediction and the ONNX parity check,
so every path sees identical pixels; boxes go back to the file's pixels by dividing by :attr:`Prepared.scale`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from medimg.data.case import Case
from medimg.data.detection import case_boxes
from medimg.engine.batches import Batch, batch_starts
from medimg.engine.distributed import Distributed
from medimg.errors import DatasetError, ImageReadError
from medimg.export import detect as numpy_detect
from medimg.tasks.detect.plan import DetectAugmentation, DetectPlan, input_scale

if TYPE_CHECKING:
    from medimg.io.image import ImageData

logger = logging.getLogger(__name__)

MIN_VISIBLE_FRACTION = 0.4
"""A box cut by a training crop is kept when at least this share of its area stays in the crop."""


def to_unit(array: np.ndarray, plan: DetectPlan) -> np.ndarray:
    """``(C, H, W)`` raw intensities -> ``(plan.in_channels, H, W)`` float32 in 0..1 (the plan's normalisation: its
    clip range, or the image's own percentiles; gray repeated to RGB, RGB averaged to gray, alpha dropped). The
    ONNX predictor's :func:`medimg.export.detect.to_unit` is the same function."""
    x = np.asarray(array, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise DatasetError(f"detection works on 2D images; got an array of shape {x.shape}")
    spec = {key: getattr(plan, key) for key in ("in_channels", "clip_low", "clip_high", "normalisation")}
    return numpy_detect.to_unit(x, spec)


def resized_shape(shape: Sequence[int], plan: DetectPlan) -> tuple[int, int]:
    """``(height, width)`` an image of ``shape`` takes at the network input (aspect kept)."""
    scale = input_scale(shape, plan.input_size)
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def prepare_image(
    array: np.ndarray, plan: DetectPlan, *, quantise: bool = False
) -> tuple[torch.Tensor, tuple[float, float]]:
    """An image as the detector takes it: ``(C, h, w)`` at the input scale (antialiased bilinear resize), float32
    in 0..1, or uint8 with ``quantise`` (training images, 4x less memory), and the ``(y, x)`` factors from the
    file's pixels to it."""
    x = torch.from_numpy(to_unit(array, plan))
    height, width = x.shape[1:]
    new = resized_shape((height, width), plan)
    if new != (height, width):
        x = F.interpolate(x[None], size=new, mode="bilinear", align_corners=False, antialias=True)[0]
    scale = (new[0] / height, new[1] / width)
    if quantise:
        return (x * 255.0).round_().clamp_(0, 255).to(torch.uint8), scale
    return x.contiguous(), scale


@dataclass
class Prepared:
    """Images at the input scale with their boxes.

    Attributes:
        case_ids: the cases, in order.
        images: ``(C, h, w)`` uint8 (training) or float32 in 0..1 each.
        boxes: ``(N, 4)`` float32 ``x1, y1, x2, y2`` at the input scale.
        labels: ``(N,)`` int64 class indices.
        scales: ``(y, x)`` factors from the file's pixels to the input scale.
        sources: the image files.
        skipped: unreadable files as ``(path, reason)``.
    """

    case_ids: list[str] = field(default_factory=list)
    images: list[torch.Tensor] = field(default_factory=list)
    boxes: list[torch.Tensor] = field(default_factory=list)
    labels: list[torch.Tensor] = field(default_factory=list)
    scales: list[tuple[float, float]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def original_boxes(self, index: int) -> np.ndarray:
        """Case ``index``'s boxes in the file's pixels."""
        return scale_boxes(self.boxes[index].numpy(), self.scales[index], inverse=True)


def scale_boxes(boxes: np.ndarray, scale: tuple[float, float], *, inverse: bool = False) -> np.ndarray:
    """Boxes ``(N, 4)`` multiplied by the ``(y, x)`` factors (divided with ``inverse``)."""
    sy, sx = scale
    factors = np.asarray([sx, sy, sx, sy], dtype=np.float32)
    return (boxes / factors if inverse else boxes * factors).astype(np.float32)


def prepare_cases(
    dataset: Any,
    cases: Sequence[Case],
    plan: DetectPlan,
    *,
    strict: bool = False,
    progress: bool = False,
    desc: str = "reading images",
    workers: int = 4,
    quantise: bool = False,
    check: Callable[[ImageData], object] | None = None,
) -> Prepared:
    """Read and prepare ``cases`` (threads); unreadable files are skipped and listed (``strict``: an error).
    ``quantise`` keeps the images as uint8 (training: a quarter of the memory); ``check`` sees each image as read,
    its ``source`` the file (evaluation: :meth:`medimg.planning.domain.InputReader.check`, which may refuse it).

    Raises:
        DatasetError: ``strict`` and a file is unreadable, or more than half of them are.
    """

    def one(case: Case) -> tuple[Case, torch.Tensor | None, tuple[float, float], str | None]:
        try:
            image = dataset.read(case)
        except ImageReadError as error:
            return case, None, (1.0, 1.0), error.reason
        if check is not None:
            image.source = str(case.path or case.case_id)
            check(image)
        try:
            prepared, scale = prepare_image(image.array, plan, quantise=quantise)
        except DatasetError as error:
            return case, None, (1.0, 1.0), str(error)
        return case, prepared, scale, None

    from tqdm.auto import tqdm

    from medimg.terminal import show_bars

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            tqdm(pool.map(one, cases), total=len(cases), desc=desc, disable=not show_bars(progress), leave=False)
        )
    out = Prepared()
    for case, image, scale, reason in results:
        if image is None:
            out.skipped.append((str(case.path or case.case_id), str(reason)))
            continue
        boxes, labels = case_boxes(case)
        out.case_ids.append(case.case_id)
        out.images.append(image)
        out.boxes.append(torch.from_numpy(scale_boxes(boxes, scale)))
        out.labels.append(torch.from_numpy(labels))
        out.scales.append(scale)
        out.sources.append(str(case.path or case.case_id))
    if out.skipped:
        listing = "; ".join(f"{p}: {r}" for p, r in out.skipped[:5])
        if strict or len(out.skipped) > len(cases) / 2:
            raise DatasetError(f"{len(out.skipped)} of {len(cases)} image(s) unreadable: {listing}")
        logger.warning("%d unreadable image(s) skipped: %s", len(out.skipped), listing)
    return out


# ----------------------------------------------------------------------------------------- augmentation
def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _coin(generator: torch.Generator) -> bool:
    return bool(torch.rand((), generator=generator) < 0.5)


def zoom_and_crop(
    image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, factor: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zoom ``image`` (float ``(C, H, W)``) by ``factor``; when it grows, crop a random window of the original
    size. Boxes follow; a box with less than :data:`MIN_VISIBLE_FRACTION` of its area left in the crop is dropped."""
    height, width = image.shape[1:]
    new = (max(1, round(height * factor)), max(1, round(width * factor)))
    if new == (height, width):
        return image, boxes, labels
    image = F.interpolate(image[None], size=new, mode="bilinear", align_corners=False, antialias=factor < 1)[0]
    sy, sx = new[0] / height, new[1] / width
    boxes = boxes * torch.tensor([sx, sy, sx, sy])
    if new[0] <= height and new[1] <= width:
        return image, boxes, labels
    top = int(torch.randint(0, max(1, new[0] - height + 1), (), generator=generator))
    left = int(torch.randint(0, max(1, new[1] - width + 1), (), generator=generator))
    image = image[:, top : top + height, left : left + width]
    crop_h, crop_w = image.shape[1:]
    shifted = boxes - torch.tensor([left, top, left, top], dtype=boxes.dtype)
    clipped = torch.stack(
        [
            shifted[:, 0].clamp(0, crop_w),
            shifted[:, 1].clamp(0, crop_h),
            shifted[:, 2].clamp(0, crop_w),
            shifted[:, 3].clamp(0, crop_h),
        ],
        dim=1,
    )
    area = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    kept_area = (clipped[:, 2] - clipped[:, 0]).clamp(min=0) * (clipped[:, 3] - clipped[:, 1]).clamp(min=0)
    keep = (kept_area >= MIN_VISIBLE_FRACTION * area) & (clipped[:, 2] - clipped[:, 0] >= 1)
    keep &= clipped[:, 3] - clipped[:, 1] >= 1
    return image, clipped[keep], labels[keep]


def flip_boxes(boxes: torch.Tensor, width: int, height: int, *, horizontal: bool) -> torch.Tensor:
    """Boxes of an image of ``width`` x ``height`` mirrored left-right (``horizontal``) or up-down."""
    x1, y1, x2, y2 = boxes.unbind(1)
    if horizontal:
        return torch.stack([width - x2, y1, width - x1, y2], dim=1)
    return torch.stack([x1, height - y2, x2, height - y1], dim=1)


def rotate90_boxes(boxes: torch.Tensor, width: int, height: int, k: int) -> torch.Tensor:
    """Boxes after ``torch.rot90(image, k, dims=(1, 2))`` (counter-clockwise quarter turns) of a ``width`` x
    ``height`` image."""
    for _ in range(k % 4):
        x1, y1, x2, y2 = boxes.unbind(1)
        boxes = torch.stack([y1, width - x2, y2, width - x1], dim=1)
        width, height = height, width
    return boxes


_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def jitter_colour(image: torch.Tensor, aug: DetectAugmentation, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, and for RGB saturation and hue (a rotation in YIQ space), each drawn at random."""
    if aug.brightness:
        image = image * _uniform(generator, 1 - aug.brightness, 1 + aug.brightness)
    if aug.contrast:
        mean = image.mean()
        image = (image - mean) * _uniform(generator, 1 - aug.contrast, 1 + aug.contrast) + mean
    if image.shape[0] == 3 and (aug.saturation or aug.hue):
        saturation = _uniform(generator, 1 - aug.saturation, 1 + aug.saturation)
        angle = 2 * math.pi * _uniform(generator, -aug.hue, aug.hue)
        cos, sin = math.cos(angle), math.sin(angle)
        rotate = torch.tensor(
            [[1.0, 0.0, 0.0], [0.0, cos * saturation, -sin * saturation], [0.0, sin * saturation, cos * saturation]]
        )
        matrix = _YIQ_TO_RGB @ rotate @ _RGB_TO_YIQ
        image = torch.einsum("ij,jhw->ihw", matrix, image)
    return image.clamp(0, 1)


def augment(
    image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, aug: DetectAugmentation, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training image (uint8 ``(C, H, W)``, or float in 0..1) -> augmented float image in 0..1, boxes and
    labels."""
    x = image.float().div_(255.0) if image.dtype == torch.uint8 else image.float().clone()
    if aug.scale:
        x, boxes, labels = zoom_and_crop(x, boxes, labels, _uniform(generator, 1 - aug.scale, 1 + aug.scale), generator)
    height, width = x.shape[1:]
    if aug.flip_horizontal and _coin(generator):
        x, boxes = x.flip(-1), flip_boxes(boxes, width, height, horizontal=True)
    if aug.flip_vertical and _coin(generator):
        x, boxes = x.flip(-2), flip_boxes(boxes, width, height, horizontal=False)
    if aug.rotate90:
        k = int(torch.randint(0, 4, (), generator=generator))
        if k:
            x, boxes = torch.rot90(x, k, dims=(1, 2)), rotate90_boxes(boxes, width, height, k)
    if aug.brightness or aug.contrast or aug.saturation or aug.hue:
        x = jitter_colour(x, aug, generator)
    return x.contiguous(), boxes, labels


class DetectionBatches:
    """Shuffled passes over prepared images: each batch is ``(list of (C, h, w) float images, list of
    {"boxes", "labels"})``, augmented per image. Under DDP each rank takes its shard of every global batch.

    ``prepared`` is a :class:`Prepared` (or, for :class:`~medimg.tasks.detect.data3d.VolumeBatches`, prepared
    volumes): anything with ``images``, ``boxes`` and ``labels`` lists that :meth:`augmented` reads."""

    unit = "images"
    memory_format = torch.contiguous_format

    def __init__(
        self, prepared: Any, batch_size: int, aug: DetectAugmentation, *, distributed: Distributed | None = None
    ) -> None:
        self.prepared = prepared
        self.batch_size = batch_size
        self.aug = aug
        self.distributed = distributed or Distributed()
        self.min_last = max(2, 2 * self.distributed.world_size)

    def __len__(self) -> int:
        return len(self.prepared)

    def steps_per_epoch(self) -> int:
        return len(batch_starts(len(self), self.batch_size, self.min_last))

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(len(self), generator=generator)
        for start in batch_starts(len(self), self.batch_size, self.min_last):
            images, targets = [], []
            for i in self.distributed.shard(order[start : start + self.batch_size]).tolist():
                x, target = self.augmented(i, generator)
                images.append(x)
                targets.append(target)
            yield images, targets

    def augmented(self, i: int, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Item ``i`` augmented, with its target ``{"boxes": (n, 4) float, "labels": (n,) long}``."""
        x, boxes, labels = augment(
            self.prepared.images[i], self.prepared.boxes[i], self.prepared.labels[i], self.aug, generator
        )
        return x, {"boxes": boxes.float().reshape(-1, 4), "labels": labels.long()}
