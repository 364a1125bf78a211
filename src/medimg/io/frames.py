"""Whether an image's several channels are a picture's colours (averaged to grey, alpha dropped, for a model of
fewer channels) or a scan's frames (a 4D NIfTI's time points or echoes: refused, never averaged into one), and the
messages that say so. Shared by classification and segmentation preprocessing, their ONNX predictors and
``medimg check``; torch-free."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import DatasetError

#: ITU-R BT.601 luma weights: a colour picture's grey, as a classifier of grey images sees it
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

#: formats whose several channels are usually frames of one scan (a 4D NIfTI's time points or echoes), not the
#: colours of a picture; their colour images say so in ``meta["rgb"]`` (NIfTI RGB24)
FRAME_FORMATS = frozenset({"nifti", "metaimage", "nrrd"})
#: formats whose three or four channels are a picture's colours (RGB, RGBA)
COLOUR_FORMATS = frozenset({"png", "jpeg", "bmp", "gif", "tiff", "webp", "jpeg2000", "dicom"})


def is_colour(meta: Mapping[str, Any] | None, spatial_dims: int) -> bool:
    """Whether an image's channels are colours (averaged to grey for a one-channel model) rather than frames: its
    ``meta`` says ``rgb`` (NIfTI RGB24), or it comes from a picture format (PNG, JPEG, TIFF..., DICOM's colour
    photometric). A NIfTI file's channels are frames (its colour files say ``rgb``), as are a 3D MetaImage's or
    NRRD's (a 2D one's vector pixels are usually RGB). Without a format (an array): colour in 2D, frames in 3D."""
    meta = meta or {}
    if meta.get("rgb"):
        return True
    fmt = meta.get("format")
    if fmt in COLOUR_FORMATS:
        return True
    if fmt in FRAME_FORMATS:
        return spatial_dims == 2 and fmt != "nifti"
    return spatial_dims == 2


def converts(have: int, channels: int, colour: bool) -> bool:
    """Whether an image of ``have`` channels (``colour``: they are colours, not frames) is converted to ``channels``
    for a model (:func:`medimg.tasks.segment.arrays.match_channels`; a classifier's ``to_channels`` likewise) rather
    than refused."""
    if have == channels or (have == 1 and channels == 3):
        return True
    return colour and (have, channels) in ((4, 3), (3, 1), (4, 1))


def frames_refusal(source: str, have: int, channels: int, time_axis: str | None = None) -> str:
    """The message for an image of ``have`` frames (not colours) given to a model of ``channels``, naming the file
    and the fix (``time_axis``: what a NIfTI header says of its 4th axis, ``"10 frames of 40 ms"``)."""
    what = f"{time_axis} (a 4D file's time points)" if time_axis else f"{have} frames (a 4D file: time points, echoes"
    what += "" if time_axis else " or sequences)"
    return (
        f"{source or 'image'}: {what}, not colours, but the model takes {channels} channel(s); medimg does not "
        "average frames into one: save the frame you mean as its own 3D file (nibabel: "
        "nib.save(nib.Nifti1Image(img.dataobj[..., 0], img.affine), 'frame0.nii.gz')) and give that"
    )


def exclude_hint(source: str) -> str:
    """How to train without the file ``source`` (whose channels cannot be converted)."""
    return f", or train without it (medimg fit DATA --exclude '{Path(source).name or 'NAME'}')"


def convert_colours(
    array: np.ndarray, channels: int, source: str = "", meta: Mapping[str, Any] | None = None, frames_fix: str = ""
) -> np.ndarray | None:
    """``(C, *spatial)`` with ``channels`` channels, as a classifier converts it (PyTorch and ONNX Runtime alike):
    grey -> RGB by repetition, RGBA -> RGB by dropping alpha, RGB(A) -> grey by luminance (:data:`LUMA`); ``None``
    for a channel count it does not convert (the caller says what its model expects).

    Raises:
        DatasetError: a 4D file's frames (not colours, :func:`is_colour` of ``meta``) for fewer channels: never
            averaged into one (``frames_fix``: more of the fix, such as :func:`exclude_hint`).
    """
    have = array.shape[0]
    if have == channels:
        return array
    if have > channels and not is_colour(meta, array.ndim - 1):
        raise DatasetError(frames_refusal(source, have, channels, (meta or {}).get("time_axis")) + frames_fix)
    if have == 4 and channels == 3:
        return array[:3]
    if have in (3, 4) and channels == 1:
        return np.tensordot(LUMA, array[:3], axes=1)[None].astype(np.float32)
    if have == 1 and channels == 3:
        return np.repeat(array, channels, axis=0)
    return None
