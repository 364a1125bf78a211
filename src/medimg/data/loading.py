"""Read the pixels of many cases at once: threads for files, unreadable files skipped and reported."""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.errors import DatasetError, ImageReadError

logger = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
CHUNK_BYTES = 128 * 2**20
"""Pixels (as read) of one chunk of :func:`read_case_chunks`."""


@dataclass
class LoadedImages:
    """Pixels of the readable cases, in the order of ``cases``; unreadable ones listed in ``skipped``.

    ``held`` is False when the pixels were not kept (the set exceeded the case-memory budget,
    :func:`~medimg.data.memory.case_memory_budget`): ``arrays`` and ``metas`` are empty and ``cases`` are read again
    when needed."""

    cases: list[Case]
    arrays: list[np.ndarray]
    metas: list[dict[str, Any]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    held: bool = True


ImageResult = tuple[Case, "np.ndarray | None", dict[str, Any], "str | None"]
"""A case, its pixels (``None`` when unreadable), its meta (with ``spacing_mm``) and why it is unreadable."""

READ_AHEAD = 64
"""Images read ahead of the one in use, at most..."""
READ_AHEAD_BYTES = 256 * 2**20
"""...and at most this much of them (large radiographs and volumes are read a few at a time)."""


def iter_images(
    dataset: Dataset,
    cases: Sequence[Case],
    *,
    progress: bool = False,
    desc: str = "reading images",
    workers: int = 4,
) -> Iterator[ImageResult]:
    """Each case's pixels in the order of ``cases``, read by ``workers`` threads at most :data:`READ_AHEAD_BYTES`
    ahead of the one in use, so a pass over a large set holds a few images, not the set. Unreadable files give
    ``None`` and the reason (nothing is raised or reported here)."""

    def read_one(case: Case) -> ImageResult:
        try:
            image = dataset.read(case)
        except ImageReadError as error:
            return case, None, {}, error.reason
        meta = dict(image.meta)
        if image.spacing_mm is not None:
            meta["spacing_mm"] = list(image.spacing_mm)
        return case, image.array, meta, None

    if dataset.arrays:  # in memory already (MedMNIST npz): no threads
        return read_ahead(cases, read_one, lambda _: 0, progress=progress, desc=desc, workers=0)
    return read_ahead(
        cases,
        read_one,
        lambda result: int(result[1].nbytes) if result[1] is not None else 0,
        progress=progress,
        desc=desc,
        workers=workers,
    )


def read_ahead(
    items: Sequence[ItemT],
    read: Callable[[ItemT], ResultT],
    size: Callable[[ResultT], int],
    *,
    progress: bool = False,
    desc: str = "reading",
    workers: int = 4,
    max_ahead: int = READ_AHEAD,
    max_bytes: int = READ_AHEAD_BYTES,
) -> Iterator[ResultT]:
    """``read(item)`` for each item in order, by ``workers`` threads (``0``: in the calling thread) that run at
    most ``max_ahead`` items and ``max_bytes`` (judged by ``size`` of the last result) ahead of the consumer."""
    from tqdm.auto import tqdm

    from medimg.terminal import show_bars

    with tqdm(total=len(items), desc=desc, disable=not show_bars(progress), leave=False) as bar:
        if workers <= 0:
            for item in items:
                bar.update()
                yield read(item)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[Future[ResultT]] = deque()
            queue = iter(items)
            ahead = workers  # until the size of a result is known
            while True:
                while len(pending) < ahead:
                    following = next(queue, None)
                    if following is None:
                        break
                    pending.append(pool.submit(read, following))
                if not pending:
                    return
                result = pending.popleft().result()
                ahead = max(1, min(max_ahead, max_bytes // max(1, size(result))))
                bar.update()
                yield result


def read_cases(
    dataset: Dataset,
    cases: Sequence[Case],
    *,
    strict: bool = False,
    progress: bool = False,
    desc: str = "reading images",
    workers: int = 4,
    spatial_dims: int | None = None,
) -> LoadedImages:
    """Read every case; skip unreadable files with a warning listing them (``strict`` makes it an error).

    A dataset is all 2D or all 3D: an image of other dimensions than ``spatial_dims`` (default: those of most of
    the images read), e.g. a multi-page TIFF among 2D images, is skipped the same way, with the reason.

    Raises:
        DatasetError: ``strict`` and a file is unreadable, or more than half of the files are unreadable
            (almost always a wrong path or pattern rather than a few corrupt files).
    """
    results = list(iter_images(dataset, cases, progress=progress, desc=desc, workers=workers))
    dims = [a.ndim - 1 for _, a, _, _ in results if a is not None]
    expected = spatial_dims or (Counter(dims).most_common(1)[0][0] if dims else None)
    loaded = LoadedImages(cases=[], arrays=[], metas=[])
    for case, array, meta, reason in results:
        if array is not None and array.ndim - 1 != expected:
            reason = other_dimensions(array.shape[1:], expected)
            array = None
        if array is None:
            loaded.skipped.append((str(case.path or case.case_id), str(reason)))
            continue
        loaded.cases.append(case)
        loaded.arrays.append(array)
        loaded.metas.append(meta)
    report_skipped(loaded.skipped, len(cases), strict=strict)
    return loaded


def read_case_chunks(
    dataset: Dataset,
    cases: Sequence[Case],
    *,
    spatial_dims: int,
    strict: bool = False,
    progress: bool = False,
    desc: str = "reading images",
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[LoadedImages]:
    """:func:`read_cases` in consecutive chunks of at most ``chunk_bytes`` of pixels (at least one image each), so
    a consumer that reduces each chunk (preprocessing to the network's input) never holds the whole split. Each
    chunk lists its own skipped files; the rules of :func:`read_cases` (``strict``, more than half unreadable)
    apply to the whole split once the last chunk is read."""
    chunk = LoadedImages(cases=[], arrays=[], metas=[])
    held = 0
    skipped: list[tuple[str, str]] = []
    for case, array, meta, reason in iter_images(dataset, cases, progress=progress, desc=desc):
        if array is not None and array.ndim - 1 != spatial_dims:
            reason = other_dimensions(array.shape[1:], spatial_dims)
            array = None
        if array is None:
            chunk.skipped.append((str(case.path or case.case_id), str(reason)))
            skipped.append(chunk.skipped[-1])
            continue
        if chunk.arrays and held + array.nbytes > chunk_bytes:
            yield chunk
            chunk, held = LoadedImages(cases=[], arrays=[], metas=[]), 0
        chunk.cases.append(case)
        chunk.arrays.append(array)
        chunk.metas.append(meta)
        held += int(array.nbytes)
    report_skipped(skipped, len(cases), strict=strict)
    if chunk.cases or chunk.skipped:
        yield chunk


def report_skipped(skipped: Sequence[tuple[str, str]], n_cases: int, *, strict: bool) -> None:
    """Warn about unreadable files, listing them.

    Raises:
        DatasetError: ``strict`` and any is unreadable, or more than half of the ``n_cases`` are.
    """
    if not skipped:
        return
    listing = "\n  ".join(f"{path}: {reason}" for path, reason in skipped[:20])
    more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
    if strict:
        raise DatasetError(
            f"{len(skipped)} unreadable image(s) (--strict):\n  {listing}{more}\n"
            "Remove or replace them, or run without --strict to skip them."
        )
    if len(skipped) > n_cases / 2:
        raise DatasetError(
            f"{len(skipped)} of {n_cases} images are unreadable:\n  {listing}{more}\n"
            "Check the dataset path and --include/--exclude patterns."
        )
    logger.warning("skipped %d unreadable image(s):\n  %s%s", len(skipped), listing, more)


def other_dimensions(spatial_shape: Sequence[int], expected: int | None) -> str:
    """Why an image of the wrong dimensionality (``spatial_shape``) is left out, with the fix."""
    shape = " x ".join(str(v) for v in spatial_shape)
    what = "a multi-page file or volume" if len(spatial_shape) > (expected or 0) else "a single slice"
    return (
        f"a {len(spatial_shape)}D image ({shape}, {what}) among {expected}D images: a dataset is all 2D or all 3D; "
        "remove it, or save its pages/slices as separate images"
    )
