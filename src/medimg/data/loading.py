"""Read the pixels of many cases at once: threads for files, unreadable files skipped and reported."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.errors import DatasetError, ImageReadError

logger = logging.getLogger(__name__)


@dataclass
class LoadedImages:
    """Pixels of the readable cases, in the order of ``cases``; unreadable ones listed in ``skipped``."""

    cases: list[Case]
    arrays: list[np.ndarray]
    metas: list[dict[str, Any]]
    skipped: list[tuple[str, str]] = field(default_factory=list)


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

    def read_one(case: Case) -> tuple[Case, np.ndarray | None, dict[str, Any], str | None]:
        try:
            image = dataset.read(case)
        except ImageReadError as error:
            return case, None, {}, error.reason
        meta = dict(image.meta)
        if image.spacing_mm is not None:
            meta["spacing_mm"] = list(image.spacing_mm)
        return case, image.array, meta, None

    if dataset.arrays:
        results = [read_one(c) for c in cases]
    else:
        from tqdm.auto import tqdm

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(
                tqdm(pool.map(read_one, cases), total=len(cases), desc=desc, disable=not progress, leave=False)
            )
    dims = [a.ndim - 1 for _, a, _, _ in results if a is not None]
    expected = spatial_dims or (Counter(dims).most_common(1)[0][0] if dims else None)
    loaded = LoadedImages(cases=[], arrays=[], metas=[])
    for case, array, meta, reason in results:
        if array is not None and array.ndim - 1 != expected:
            reason = _other_dimensions(array, expected)
            array = None
        if array is None:
            loaded.skipped.append((str(case.path or case.case_id), str(reason)))
            continue
        loaded.cases.append(case)
        loaded.arrays.append(array)
        loaded.metas.append(meta)
    if loaded.skipped:
        listing = "\n  ".join(f"{path}: {reason}" for path, reason in loaded.skipped[:20])
        more = f"\n  ... and {len(loaded.skipped) - 20} more" if len(loaded.skipped) > 20 else ""
        if strict:
            raise DatasetError(
                f"{len(loaded.skipped)} unreadable image(s) (--strict):\n  {listing}{more}\n"
                "Remove or replace them, or run without --strict to skip them."
            )
        if len(loaded.skipped) > len(cases) / 2:
            raise DatasetError(
                f"{len(loaded.skipped)} of {len(cases)} images are unreadable:\n  {listing}{more}\n"
                "Check the dataset path and --include/--exclude patterns."
            )
        logger.warning("skipped %d unreadable image(s):\n  %s%s", len(loaded.skipped), listing, more)
    return loaded


def _other_dimensions(array: np.ndarray, expected: int | None) -> str:
    """Why an image of the wrong dimensionality is left out, with the fix."""
    shape = " x ".join(str(v) for v in array.shape[1:])
    what = "a multi-page file or volume" if array.ndim - 1 > (expected or 0) else "a single slice"
    return (
        f"a {array.ndim - 1}D image ({shape}, {what}) among {expected}D images: a dataset is all 2D or all 3D; "
        "remove it, or save its pages/slices as separate images"
    )
