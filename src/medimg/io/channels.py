"""Images whose channels lie in separate files, named like nnU-Net's raw data: ``<case>_0000.nii.gz`` (channel 0),
``<case>_0001.nii.gz`` (channel 1), ... in one folder (MSD tasks converted by nnU-Net: prostate T2 + ADC, brain
tumour FLAIR/T1/T1ce/T2).

:func:`channel_files` names the files of one nnU-Net case from its first, :func:`stack_channels` stacks the images
read from them into one multi-channel image (same spatial size required), so training (``SegmentationDataset.read``)
reads such a case as one image; BraTS's modality files (``<case>_flair``, ``_t1``, ``_t1ce``, ``_t2`` beside
``<case>_seg``) too. :func:`channel_suffixes` records what tells the files apart, so prediction
(``InputReader.read`` for a multi-channel model) reads an input named like the first channel with the others
(:func:`files_with_suffixes`).
"""

from __future__ import annotations

import os
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


def channel_suffixes(paths: Sequence[Path]) -> list[str]:
    """What tells one case's channel files apart: each name after the longest common prefix that ends at a
    separator (``BraTS2021_00000_flair.nii.gz``, ``..._t1.nii.gz`` -> ``flair.nii.gz``, ``t1.nii.gz``;
    ``case_0000.png``, ``case_0001.png`` -> ``0000.png``, ``0001.png``). A run records them, so an input named
    like the first channel is read with the files of the others (:func:`files_with_suffixes`)."""
    names = [p.name for p in paths]
    prefix = os.path.commonprefix(names)  # noqa: RUF071 (file names, by character)
    cut = max(prefix.rfind(separator) for separator in "-_. ") + 1
    return [name[cut:] for name in names]


def files_with_suffixes(first: Path, suffixes: Sequence[str]) -> list[Path]:
    """``first`` and its sibling channel files, when ``first``'s name ends with ``suffixes[0]`` (after a name of
    its own) and a file with each further suffix lies beside it; else ``[]``."""
    if len(suffixes) < 2 or not first.name.endswith(suffixes[0]) or len(first.name) == len(suffixes[0]):
        return []
    stem = first.name[: len(first.name) - len(suffixes[0])]
    files = [first, *(first.with_name(stem + suffix) for suffix in suffixes[1:])]
    return files if all(f.is_file() for f in files[1:]) else []


def channel_groups(files: Sequence[Path], suffixes: Sequence[str]) -> dict[Path, list[Path]]:
    """The files among ``files`` named like a first channel (``suffixes[0]``) whose sibling channel files all lie
    beside them, each with its further channel files (:func:`files_with_suffixes`)."""
    groups = {first: files_with_suffixes(first, suffixes) for first in files}
    return {first: group[1:] for first, group in groups.items() if group}


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
