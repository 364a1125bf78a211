"""The unlabelled pool of semi-supervised training (``medimg fit DATA --unlabelled POOL``).

A pool is images without labels that training may learn from and nothing else may see. It travels with the
dataset as ``dataset.unlabelled`` (classification: :class:`~medimg.data.case.Case` with ``label=None``;
segmentation: image paths), so a run, its folds and its ranks read it the same way:

* :func:`attach_pool` gives a copy of the dataset whose ``unlabelled`` is the pool: the data's own unlabelled
  images (``POOL`` is ``DATA``: CSV rows with an empty label, images without a mask), a folder of images, a CSV
  manifest (labels, if any, are ignored), a loaded dataset, a list of image files, or cases of the dataset
  itself (Python).
* :func:`drop_evaluation_copies` removes from the pool every image that is a validation or test image of the
  run (the same file, or a copy with the same decoded pixels in any file: :func:`case_digests`,
  :func:`image_digests`), so no evaluation image is ever trained on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from medimg.data.case import Case, SegCase
from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.errors import ConfigError, DatasetError
from medimg.io.folder_walk import walk_tree

logger = logging.getLogger(__name__)

#: tasks that can learn from an unlabelled pool
SEMI_SUPERVISED_TASKS = ("classify", "segment")

#: what ``Model.fit(..., unlabelled=...)`` accepts here (images as an array go into the run's copy of the
#: arrays first: :mod:`medimg.data.given_arrays`)
PoolSource = str | Path | Dataset | SegmentationDataset | Sequence[Case] | Sequence[str | Path]


def own_pool_name(root: str | Path) -> str:
    """How ``config.json`` names a dataset's own unlabelled images used as the pool (``--unlabelled DATA``)."""
    return f"{root} (its own unlabelled images)"


def pool_source(name: str, dataset: Any) -> str | Path:
    """What to give :func:`attach_pool` again for a pool named ``name`` in ``config.json`` (``--resume``)."""
    return Path(dataset.root) if name == own_pool_name(dataset.root) else name


def attach_pool(dataset: Any, source: PoolSource) -> tuple[Any, str]:
    """A copy of ``dataset`` whose ``unlabelled`` images are the pool of ``source``, and how to name the source
    (saved in ``config.json``).

    Raises:
        DatasetError: the pool holds no image, or cannot be read with this dataset.
        ConfigError: the dataset's task cannot learn from a pool.
    """
    if dataset.task not in SEMI_SUPERVISED_TASKS:
        raise ConfigError(
            f"--unlabelled: {dataset.task} models do not learn from unlabelled images (semi-supervised training "
            f"covers {', '.join(SEMI_SUPERVISED_TASKS)})"
        )
    if isinstance(source, (str, Path)) and _same_path(Path(source), Path(dataset.root)):
        pool: list[Any] = list(dataset.unlabelled)
        name = own_pool_name(dataset.root)
        if not pool:
            what = "rows with an empty label" if dataset.task == "classify" else "images without a mask"
            raise DatasetError(
                f"--unlabelled {source}: the data has no {what}; pass a folder of unlabelled images instead"
            )
    elif isinstance(dataset, SegmentationDataset):
        pool, name = _segmentation_pool(source)
    else:
        pool, name = _classification_pool(dataset, source)
    if not pool:
        raise DatasetError(f"--unlabelled {name}: no images found; give a folder of images or a CSV manifest")
    logger.info("unlabelled pool: %d image(s) from %s", len(pool), name)
    return dataclasses.replace(dataset, unlabelled=pool), name


def _classification_pool(dataset: Dataset, source: PoolSource) -> tuple[list[Case], str]:
    if isinstance(source, (str, Path)):
        folder = Path(source).expanduser()
        if folder.is_dir() and not any(p.is_file() for p in walk_tree(folder)):  # said before any layout is guessed
            raise DatasetError(
                f"--unlabelled {source}: the folder holds no images; put the unlabelled images in it (sub-folders "
                "are fine), or give a CSV manifest of them"
            )
        loaded = Dataset.load(source, task="classify", unlabelled=True)
        name = str(folder.resolve())
    elif isinstance(source, Dataset):
        loaded, name = source, str(source.root)
    elif isinstance(source, SegmentationDataset):
        raise ConfigError("--unlabelled: a segmentation dataset cannot be the pool of a classification fit")
    elif _is_file_list(source):
        files = _existing_files(source)
        return [Case(case_id=str(p), label=None, path=p) for p in files], f"{len(files)} file(s) given in Python"
    else:
        given = [c for c in source if isinstance(c, Case)]
        if len(given) != len(source):
            raise ConfigError(_POOL_KINDS)
        cases = [dataclasses.replace(c, label=None) for c in given]
        if any(c.index is not None and c.split is not None for c in cases) and not dataset.arrays:
            raise DatasetError("unlabelled cases point to array rows, but the dataset holds no arrays")
        return cases, f"{len(cases)} case(s) given in Python"
    if loaded.arrays and loaded is not dataset:
        raise DatasetError(
            f"--unlabelled {name}: a MedMNIST .npz pool can only be the training data itself; export the images "
            "to a folder, or pass cases of the dataset (Model.fit(..., unlabelled=[cases]))"
        )
    labelled = [dataclasses.replace(c, label=None, split=None) for c in loaded.cases]
    if labelled:
        logger.info("--unlabelled %s: the labels of its %d labelled image(s) are ignored", name, len(labelled))
    return [*loaded.unlabelled, *labelled], name


def _segmentation_pool(source: PoolSource) -> tuple[list[str], str]:
    if isinstance(source, Dataset):
        raise ConfigError("--unlabelled: a classification dataset cannot be the pool of a segmentation fit")
    if isinstance(source, SegmentationDataset):
        images = [str(Path(source.root) / p) for p in source.unlabelled] + [str(c.image) for c in source.cases]
        return images, str(source.root)
    if _is_file_list(source):
        return [str(p) for p in _existing_files(source)], f"{len(source)} file(s) given in Python"
    if not isinstance(source, (str, Path)):
        raise ConfigError("--unlabelled for segmentation: give a folder of images, a list of image files, or the data")
    from medimg.io.inputs import expand_inputs

    path = Path(source).expanduser()
    if path.is_file():
        raise ConfigError(
            f"--unlabelled {path}: a segmentation pool is a folder of images (or DATA itself, for its images "
            "without a mask)"
        )
    from medimg.data.layouts.image_mask_pairs import annotation_files

    files = expand_inputs([path])
    masks = set(annotation_files(files, path)) if path.is_dir() else set()
    if masks:  # a folder of cases with their masks beside (crossMoDA's _Label files): the masks are not images
        logger.info("--unlabelled %s: %d mask file(s) beside its images left out of the pool", path, len(masks))
    return [str(p.resolve()) for p in files if p not in masks], str(path.resolve())


_POOL_KINDS = (
    "unlabelled=: give a folder of images, a CSV manifest, a list of image files, a loaded dataset, cases of the "
    "data, or (beside images given as an array, fit(X, y, unlabelled=X_pool)) an array of images"
)


def _is_file_list(source: Any) -> TypeGuard[Sequence[str | Path]]:
    return isinstance(source, list | tuple) and bool(source) and all(isinstance(p, str | Path) for p in source)


def _existing_files(files: Sequence[str | Path]) -> list[Path]:
    """The files given as the pool, resolved.

    Raises:
        ConfigError: a file does not exist.
    """
    found = [Path(p).expanduser().resolve() for p in files]
    missing = [p for p in found if not p.is_file()]
    if missing:
        raise ConfigError(
            f"unlabelled=: {len(missing)} of the {len(found)} files do not exist (e.g. {missing[0]}); relative paths "
            f"are read from the current folder, {Path.cwd()}"
        )
    return found


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return False


def drop_evaluation_copies(
    pool: Sequence[Any], pool_digests: Sequence[str], evaluation_digests: set[str], *, what: str = "unlabelled pool"
) -> tuple[list[Any], int]:
    """The pool without the images whose digest (:func:`case_digests`, :func:`image_digests`) is one of an
    evaluation (validation or test) image, and how many were dropped; ``what`` names the images in the warning
    (a synthetic set's images are dropped the same way: ``medimg fit --synthetic``)."""
    kept = [item for item, digest in zip(pool, pool_digests, strict=True) if digest not in evaluation_digests]
    dropped = len(pool) - len(kept)
    if dropped:
        logger.warning(
            "%s: %d image(s) are copies of validation/test images (the same pixels) and are not used for training",
            what,
            dropped,
        )
    return kept, dropped


def file_digest(path: str | Path) -> str:
    """SHA-1 of a file's bytes (a copy of a file has its digest); a file that cannot be read gets a digest of
    its path (it matches nothing else; reading it for training reports it)."""
    try:
        with Path(path).open("rb") as handle:
            return "file:" + hashlib.file_digest(handle, "sha1").hexdigest()
    except OSError:
        return f"unreadable:{Path(path).resolve()}"


def _pixel_digest(array: np.ndarray) -> str:
    """A digest of decoded pixels (``(C, ...)``, as the readers give them), their shape and type included: the same
    pixels give it whatever file (PNG at another compression, another format, a second PACS export) or array row
    holds them. Channels that are all equal count as one: a grey image saved again as RGB (R = G = B, as viewers
    and PACS exports often write it) is the grey image training reads back from it."""
    from medimg.data.quality import pixel_digest

    pixels = np.ascontiguousarray(array)
    if pixels.ndim >= 3 and pixels.shape[0] > 1 and all(np.array_equal(pixels[0], c) for c in pixels[1:]):
        pixels = np.ascontiguousarray(pixels[:1])
    return f"pixels:{pixels.dtype.str}:{'x'.join(map(str, pixels.shape))}:{pixel_digest(pixels)}"


#: threads that read images for their digests
DIGEST_WORKERS = 4


def case_digests(dataset: Dataset, cases: Sequence[Case], *, progress: bool = False) -> list[str]:
    """The digest of each classification case's pixels as ``dataset`` reads them for training (its array row,
    or its file decoded), index-aligned; an unreadable file gets :func:`file_digest` (training reports it).

    Decoded pixels, not file bytes: a pool that is a second export of the data (the same pixels re-encoded) holds
    other bytes, which a byte digest let through to training. Read by a few threads, one digest kept per image.
    """
    from medimg.data.loading import read_ahead
    from medimg.errors import ImageReadError

    def digest(case: Case) -> str:
        try:
            return _pixel_digest(dataset.read(case).array)
        except ImageReadError:
            if case.path is None:
                raise DatasetError(f"case {case.case_id} has neither a file nor an array row") from None
            return file_digest(case.path)

    workers = 0 if dataset.arrays else DIGEST_WORKERS
    return list(
        read_ahead(cases, digest, lambda _: 0, progress=progress, desc="looking for evaluation images", workers=workers)
    )


def image_digests(paths: Sequence[str | Path], *, progress: bool = False) -> list[str]:
    """The digest of each image file's decoded pixels (:func:`~medimg.io.read.read_image`), index-aligned; an
    unreadable file gets :func:`file_digest`. What :func:`case_digests` is for files outside a classification set
    (a segmentation pool and its data's images)."""
    from medimg.data.loading import read_ahead
    from medimg.errors import ImageReadError
    from medimg.io.read import read_image

    def digest(path: str | Path) -> str:
        try:
            return _pixel_digest(read_image(path).array)
        except (ImageReadError, OSError):
            return file_digest(path)

    return list(
        read_ahead(
            paths, digest, lambda _: 0, progress=progress, desc="looking for evaluation images", workers=DIGEST_WORKERS
        )
    )


def segmentation_image(dataset: SegmentationDataset, item: str) -> Path:
    """A pool item of a segmentation dataset (a path, relative to the dataset's root or absolute)."""
    root = Path(dataset.root)
    return Path(item) if Path(item).is_absolute() else (root if root.is_dir() else root.parent) / item


def unlabelled_segcases(dataset: SegmentationDataset) -> list[SegCase]:
    """The pool items (``dataset.unlabelled``) as :class:`SegCase` without a mask (read with ``dataset.read``).
    When the labelled cases take their channels from several files (nnU-Net's ``_0000``, ``_0001``; BraTS's
    modalities), a pool item named like a first channel file carries the others, which are no items of their own
    (:mod:`medimg.io.channels`)."""
    from medimg.io.channels import channel_groups, channel_suffixes

    suffixes = next((channel_suffixes([c.image, *c.channels]) for c in dataset.cases if c.channels), None)
    images = [segmentation_image(dataset, item) for item in dataset.unlabelled]
    channels_of = channel_groups(images, suffixes) if suffixes else {}
    further = {path for paths in channels_of.values() for path in paths}
    return [
        SegCase(case_id=str(item), image=image, mask=None, channels=tuple(channels_of.get(image, ())))
        for item, image in zip(dataset.unlabelled, images, strict=True)
        if image not in further
    ]
