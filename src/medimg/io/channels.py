"""Images whose channels lie in separate files, named like nnU-Net's raw data: ``<case>_0000.nii.gz`` (channel 0),
``<case>_0001.nii.gz`` (channel 1), ... in one folder (MSD tasks converted by nnU-Net: prostate T2 + ADC, brain
tumour FLAIR/T1/T1ce/T2).

:func:`channel_files` names the files of one case from its first, :func:`stack_channels` stacks the images read
from them into one multi-channel image (same spatial size required), so training (``SegmentationDataset.read``) and
prediction (``InputReader.read`` for a multi-channel model) read such a case as one image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from medimg.errors import ImageReadError
from medimg.io.formats import file_suffix
from medimg.io.image import ImageData

#: ``<case>_<4-digit channel>`` (the name without its suffix)
CHANNEL_NAME = re.compile(r"^(.+)_(\d{4})$")


def channel_of(path: Path) -> tuple[str, int] | None:
    """``(case, channel)`` for a file named ``<case>_<NNNN>.<suffix>``, else ``None``."""
    suffix = file_suffix(path)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    match = CHANNEL_NAME.match(stem)
    return (match.group(1), int(match.group(2))) if match else None


def channel_files(first: Path) -> list[Path]:
    """The files of ``first``'s case in channel order: ``first`` (``<case>_0000``) and the consecutive
    ``<case>_0001``, ``<case>_0002``... beside it with the same suffix; ``[first]`` for any other name."""
    found = channel_of(first)
    if found is None or found[1] != 0:
        return [first]
    case, suffix = found[0], file_suffix(first)
    files = [first]
    while (following := first.with_name(f"{case}_{len(files):04d}{suffix}")).is_file():
        files.append(following)
    return files


def stack_channels(images: Sequence[ImageData]) -> ImageData:
    """One image with the channels of ``images`` in order (spacing, affine and source of the first).

    Raises:
        ImageReadError: the images differ in spatial size (naming the file and both sizes).
    """
    first = images[0]
    for other in images[1:]:
        if other.array.shape[1:] != first.array.shape[1:]:
            raise ImageReadError(
                other.source,
                f"this channel file has size {tuple(other.array.shape[1:])} but the case's first channel "
                f"{first.source} has size {tuple(first.array.shape[1:])}: every channel of a case must have one size",
            )
    if len(images) == 1:
        return first
    return replace(first, array=np.concatenate([image.array for image in images], axis=0))
