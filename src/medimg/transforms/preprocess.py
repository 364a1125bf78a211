"""Deterministic preprocessing from a plan: channels, denoising, resize, clip + standardise. Output is ready to
train."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from medimg.planning.plan import PER_IMAGE_MIN_STD, Plan

logger = logging.getLogger(__name__)
#: the mixed channel counts already warned of (channel counts, converted to): each said once per process
_SAID_MIXED_CHANNELS: set[tuple[tuple[int, ...], int]] = set()

CHUNK_VOXELS = 2**24  # input voxels per resize call (64 MB float32): ~21k 28 px images or 64 volumes of 64^3


def to_channels(
    array: np.ndarray, channels: int, source: str = "", meta: Mapping[str, Any] | None = None
) -> np.ndarray:
    """Convert ``(C, *spatial)`` to ``channels``: gray -> RGB by repetition, RGB -> gray by luminance,
    RGBA -> RGB by dropping alpha. Only colours are converted so (:func:`~medimg.io.frames.is_colour`
    of the image's ``meta``; without it a volume's channels are frames): a 4D volume's frames are refused, never
    averaged into one.

    Raises:
        DatasetError: frames, or a channel count that cannot be converted, naming the file and the fix.
    """
    from medimg.errors import MULTI_CHANNEL_HINT, DatasetError
    from medimg.io.frames import convert_colours, exclude_hint

    converted = convert_colours(array, channels, source, meta, exclude_hint(source))
    if converted is not None:
        return converted
    raise DatasetError(
        f"{source or 'image'} has {array.shape[0]} channels but the plan expects {channels}; "
        "convert the image or set in_channels in the plan" + MULTI_CHANNEL_HINT
    )


def preprocess_arrays(
    arrays: Sequence[np.ndarray],
    plan: Plan,
    sources: Sequence[str] | None = None,
    metas: Sequence[Mapping[str, Any]] | None = None,
) -> torch.Tensor:
    """Preprocess raw channel-first images to the plan's input (``metas``: the images' own, which say whether
    their channels are colours or a 4D file's frames; without them a volume's channels are frames).

    Images of the same shape are resized together (MONAI ``Resize`` over the stacked channels), so a
    MedMNIST-sized set is one vectorised call, and mixed-size folders still work. An image many times larger
    than the input size is first shrunk by block averaging (:func:`medimg.io.limits.reduce_for_size`), so the
    anti-aliasing filter never runs at full size.

    Returns:
        ``(N, in_channels, *input_size)`` float16, clipped and standardised.
    """
    from medimg.io.limits import reduce_for_size
    from medimg.transforms.denoise import denoise

    denoising = (plan.denoise, plan.denoise_radius)
    if not arrays:
        return torch.zeros((0, plan.in_channels, *plan.input_size), dtype=torch.float16)
    names = list(sources) if sources is not None else [""] * len(arrays)
    meta_of: list[Mapping[str, Any] | None] = list(metas) if metas is not None else [None] * len(arrays)
    mixed_channels = {a.shape[0] for a in arrays}
    said = (tuple(sorted(mixed_channels)), plan.in_channels)
    if len(mixed_channels) > 1 and said not in _SAID_MIXED_CHANNELS:  # once, not once per split
        _SAID_MIXED_CHANNELS.add(said)
        logger.warning(
            "images have mixed channel counts %s; all are converted to %d channel(s)",
            sorted(mixed_channels),
            plan.in_channels,
        )
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, a in enumerate(arrays):
        if a.ndim - 1 != plan.spatial_dims:
            from medimg.errors import wrong_dimensions

            raise wrong_dimensions(names[i], a.ndim - 1, plan.spatial_dims, plan.input_size)
    arrays = [reduce_for_size(a, plan.input_size) for a in arrays]
    for i, a in enumerate(arrays):
        by_shape[tuple(a.shape[1:])].append(i)
    _refuse_beyond_memory(len(arrays), plan)
    out = torch.empty((len(arrays), plan.in_channels, *plan.input_size), dtype=torch.float16)
    mode = "bilinear" if plan.spatial_dims == 2 else "trilinear"
    resize = None  # MONAI's Resize, imported only when an image needs it (importing MONAI takes seconds)
    for shape, indices in by_shape.items():
        # bounded working set: a chunk holds at most CHUNK_VOXELS input voxels (at least one image)
        chunk = max(1, CHUNK_VOXELS // (plan.in_channels * math.prod(shape)))
        for start in range(0, len(indices), chunk):
            part = indices[start : start + chunk]
            stacked = np.concatenate(
                [denoise(to_channels(arrays[i], plan.in_channels, names[i], meta_of[i]), *denoising) for i in part]
            )
            tensor = torch.from_numpy(np.ascontiguousarray(stacked, dtype=np.float32))
            if list(shape) != list(plan.input_size):
                if resize is None:
                    from monai.transforms import Resize

                    resize = Resize(spatial_size=plan.input_size, mode=mode, anti_aliasing=True)
                tensor = torch.as_tensor(resize(tensor, anti_aliasing=True))
            tensor = normalise(tensor, plan)
            out[part] = tensor.reshape(len(part), plan.in_channels, *plan.input_size).to(torch.float16)
    return out


def _refuse_beyond_memory(count: int, plan: Plan) -> None:
    """A clear error, before the allocation fails with a traceback, when ``count`` images at the plan's input size
    (float16) would not fit in the machine's memory (``--set input_size=100000``)."""
    from medimg.data.memory import machine_memory
    from medimg.errors import ConfigError

    voxels = plan.in_channels * math.prod(plan.input_size)
    needed = count * voxels * 2 + voxels * 4  # the float16 images, and one being resized in float32
    if needed > machine_memory():
        size = "x".join(map(str, plan.input_size))
        raise ConfigError(
            f"{count} image(s) at input_size {size} take {needed / 2**30:.1f} GB, more than this machine's "
            f"{machine_memory() / 2**30:.1f} GB of memory: lower input_size (e.g. --input-size 224)"
        )


def normalise(tensor: torch.Tensor, plan: Plan) -> torch.Tensor:
    """Clip to ``[clip_low, clip_high]`` and standardise with ``norm_mean``/``norm_std`` (float32); with
    ``normalisation: per_image`` each image channel's own z-score over its last ``spatial_dims`` axes instead
    (``tensor``: ``(N, C, *spatial)`` or ``(N * C, *spatial)``)."""
    if plan.normalisation == "per_image":
        axes = tuple(range(tensor.ndim - plan.spatial_dims, tensor.ndim))
        x = tensor.double()
        mean = x.mean(dim=axes, keepdim=True)
        std = x.std(dim=axes, keepdim=True, unbiased=False).clamp_min(PER_IMAGE_MIN_STD)
        return ((x - mean) / std).float()
    return (tensor.float().clamp(plan.clip_low, plan.clip_high) - plan.norm_mean) / plan.norm_std
