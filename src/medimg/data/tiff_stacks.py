"""Microscopy stacks segmented section by section.

A folder whose image/mask pairs are one or two multi-page TIFF stacks (ISBI 2012's ``train-volume.tif`` +
``train-labels.tif``, 30 electron-microscopy sections; EPFL/Lucchi mitochondria's ``training.tif`` +
``training_groundtruth.tif``) holds too few volumes to split into training, validation and test, and its sections
are what such challenges segment: :func:`as_sections` makes each page a 2D case (``SegCase.page``), read by
:func:`stack_page`. A 2D segmentation model predicts a stack without geometry (:func:`is_stack`) section by
section (:func:`section`) and writes its mask as a stack.

A stack's pages are split in contiguous blocks (``patient_id`` ``<stack>:<block>``), so neighbouring sections,
nearly alike, stay in one part instead of one section training and the next testing.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from medimg.data.case import SegCase
from medimg.io.image import ImageData

logger = logging.getLogger(__name__)

#: stacks below this count are read as sections: training, validation and test need one volume each at least
MIN_VOLUMES = 3
#: contiguous blocks a stack's sections are grouped into for the split
BLOCKS = 10
#: stacks kept decoded while their pages are read (each page is read once per pass, in order)
CACHED_STACKS = 2

_TIFF = (".tif", ".tiff")


def as_sections(cases: Sequence[SegCase]) -> list[SegCase] | None:
    """The pages of the cases' stacks as 2D cases, when every case is a multi-page TIFF image with a mask stack of
    as many pages and there are fewer than :data:`MIN_VOLUMES` of them; ``None`` otherwise (cases read as they
    are: volumes, or 2D images)."""
    from medimg.errors import ImageReadError
    from medimg.io.read import read_header

    if not cases or len(cases) >= MIN_VOLUMES:
        return None
    if any(c.mask is None or c.channels or c.structures or c.extra_masks or c.roi or c.page is not None for c in cases):
        return None
    if not all(
        c.image.suffix.lower() in _TIFF and c.mask is not None and c.mask.suffix.lower() in _TIFF for c in cases
    ):
        return None
    pages = []
    for case in cases:
        assert case.mask is not None
        try:
            image, mask = read_header(case.image).shape, read_header(case.mask).shape
        except ImageReadError:
            return None  # reading the cases reports it
        if len(image) != 4 or tuple(mask[1:]) != tuple(image[1:]):
            return None
        pages.append(int(image[1]))
    sections = []
    for case, count in zip(cases, pages, strict=True):
        block = math.ceil(count / BLOCKS)
        sections += [
            dataclasses.replace(
                case, case_id=f"{case.case_id}#{k + 1}", page=k, patient_id=f"{case.case_id}:{k // block}"
            )
            for k in range(count)
        ]
    logger.warning(
        "%s: %s of %d sections; too few volumes to split, so each section is a 2D image (a model trained on them "
        "predicts a stack section by section); neighbouring sections are split together, in blocks",
        ", ".join(c.case_id for c in cases),
        "a TIFF stack" if len(cases) == 1 else "TIFF stacks",
        sum(pages),
    )
    return sections


def stack_page(
    path: Path, page: int, *, window: str | tuple[float, float] | None = None, mask: str | None = None
) -> ImageData:
    """Page ``page`` of the stack at ``path`` as a 2D image (``source`` ``<path>#<page + 1>``). A plain stack (one
    grey or RGB page per section) is read one page at a time; any other (a palette, an inverted or a hyperstack
    layout) is decoded whole, as :func:`medimg.io.read_image` reads it, and kept for the next pages
    (:data:`CACHED_STACKS` stacks).

    Args:
        window: the intensity window of an image.
        mask: read as a mask: ``"indices"`` (a palette TIFF's indices, :func:`medimg.io.read_mask`) or
            ``"colours"`` (as an image is read, for a colour table).

    Raises:
        ImageReadError: the file is unreadable, or holds no such page.
    """
    from medimg.errors import ImageReadError

    plain = _plain_page(path, page)
    if plain is not None:
        return plain
    stack = _decoded(path, path.stat().st_mtime_ns, window, mask)
    if stack.array.ndim != 4 or not 0 <= page < stack.array.shape[1]:
        raise ImageReadError(path, f"holds no section {page + 1} (shape {tuple(stack.array.shape)})")
    return section(stack, page)


def is_stack(image: ImageData) -> bool:
    """A stack of 2D sections: a volume without geometry (a multi-page TIFF, read without spacing or orientation)."""
    return image.ndim_spatial == 3 and image.affine is None


def as_judged(image: ImageData, sections: bool) -> ImageData:
    """What a domain check judges of an input: its first section when a model that goes section by section
    (``sections``: a 2D segmentation model) is given a stack, else the image itself."""
    return section(image, 0) if sections and is_stack(image) else image


def section(image: ImageData, index: int) -> ImageData:
    """Section ``index`` of a stack as a 2D image (``source`` ``<stack>#<index + 1>``), as a multi-frame file's
    frame is taken (:func:`medimg.io.series_inputs.frame_of`)."""
    from medimg.io.series_inputs import frame_of

    return frame_of(image, index, f"{image.source}#{index + 1}")


def goes_by_sections(task: str | None, spatial_dims: int | None) -> bool:
    """Whether a model segments a stack section by section: a 2D segmentation model."""
    return task == "segment" and spatial_dims == 2


def by_sections(
    image: ImageData, segment: Callable[[ImageData], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """A stack segmented section by section with ``segment`` (one 2D image -> its labels and probabilities), the
    results stacked: ``(labels (D, H, W), probabilities (K, D, H, W))`` (the PyTorch engine's and the ONNX
    predictor's loop)."""
    parts = [segment(section(image, k)) for k in range(image.array.shape[1])]
    return np.stack([labels for labels, _ in parts]), np.stack([probs for _, probs in parts], axis=1)


#: TIFF photometric interpretations read page by page: grey (0 is black) and RGB
_PLAIN_PHOTOMETRIC = (1, 2)


def _plain_page(path: Path, page: int) -> ImageData | None:
    """One page of a plain stack (its first series has one grey or RGB page per section, no extra samples), as the
    whole-stack reader gives it; ``None`` for any other file (the whole-stack reader then reads it)."""
    from medimg.io.raster import tiff_mode

    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            keyframe = series.keyframe
            depth = [n for axis, n in zip(series.axes, series.shape, strict=True) if axis not in "YXS"]
            plain = (
                len(series.pages) > 1
                and depth == [len(series.pages)]
                and int(keyframe.photometric) in _PLAIN_PHOTOMETRIC
                and not keyframe.extrasamples
                and 0 <= page < len(series.pages)
            )
            chosen = series.pages[page] if plain else None
            if chosen is None:
                return None
            data = np.asarray(chosen.asarray())
            bits, pages = int(keyframe.bitspersample), len(series.pages)
    except Exception:  # unreadable here: the whole-stack reader says why
        return None
    array = np.moveaxis(data, -1, 0) if data.ndim == 3 else data[None]
    meta = {"format": "tiff", "bits": bits, "mode": tiff_mode(array.shape[0], data.dtype, False), "n_pages": pages}
    return ImageData(array=np.ascontiguousarray(array, dtype=np.float32), source=f"{path}#{page + 1}", meta=meta)


@functools.lru_cache(maxsize=CACHED_STACKS)
def _decoded(path: Path, mtime_ns: int, window: str | tuple[float, float] | None, mask: str | None) -> ImageData:
    """One decoded stack (the file's modification time in the key: a rewritten file is read again)."""
    from medimg.io import read_image, read_mask

    if mask == "indices":
        return read_mask(path)
    return read_image(path, window=window)
