"""Generation data as tensors: real images read and mapped to the generator's range [-1, 1], and generated
images mapped back to the training intensities at the training size."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.loading import LoadedImages
from medimg.tasks.classify.data import PreparedSplit, prepare_split, prepare_training
from medimg.tasks.generate.plan import GeneratePlan


def prepare_real(
    dataset: Dataset, loaded: LoadedImages, plan: GeneratePlan, *, strict: bool = False, progress: bool = False
) -> PreparedSplit:
    """The training images the fingerprint read (read again when it did not keep them, see
    :func:`~medimg.tasks.classify.data.prepare_training`) -> ``x`` ``(N, C, *input_size)`` float16 in [-1, 1] and
    their labels."""
    return prepare_training(dataset, loaded, plan.preprocessing(), strict=strict, progress=progress)


def read_real(
    dataset: Dataset, cases: Sequence[Case], plan: GeneratePlan, *, strict: bool = False, progress: bool = False
) -> PreparedSplit:
    """Read ``cases`` and prepare them as :func:`prepare_real` does (unreadable files skipped and listed)."""
    return prepare_split(dataset, cases, plan.preprocessing(), strict=strict, progress=progress)


def to_intensity(images: torch.Tensor, plan: GeneratePlan) -> torch.Tensor:
    """[-1, 1] -> the training intensities ``[clip_low, clip_high]`` (float32), same shape."""
    return (images.float().clamp(-1, 1) + 1) / 2 * (plan.clip_high - plan.clip_low) + plan.clip_low


def resize(images: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``(N, C, *spatial)`` -> ``(N, C, *size)`` (bilinear/trilinear with antialiasing when shrinking 2D)."""
    if list(images.shape[2:]) == list(size):
        return images
    mode = "bilinear" if images.ndim == 4 else "trilinear"
    shrinking = any(s < t for s, t in zip(size, images.shape[2:], strict=True))
    return F.interpolate(
        images.float(), size=list(size), mode=mode, align_corners=False, antialias=shrinking and images.ndim == 4
    )


def to_files(images: torch.Tensor, plan: GeneratePlan) -> list[np.ndarray]:
    """Generated ``(N, C, *input_size)`` in [-1, 1] -> channel-first arrays at ``output_size`` in the training
    intensities: uint8 for PNG output, float32 for NIfTI."""
    values = to_intensity(resize(images, plan.output_size), plan)
    if plan.output_format == "png":
        return list(values.round().clamp(0, 255).to(torch.uint8).numpy())
    return list(values.numpy().astype(np.float32))
