"""A dataset's name, as reports, logs, the run card and the service show it: the folder (or file) it was read from,
unless that is a generic word (``data/``, ``images/``, ``training/``, ``labels.csv``, ``v1.0``): then the nearest
folder above with a name of its own (``herlev/data`` is "herlev", ``DRIVE/datasets/training`` is "DRIVE")."""

from __future__ import annotations

import os
import re
from pathlib import Path

GENERIC_NAMES = frozenset(
    {
        "all",
        "annotation",
        "annotations",
        "cases",
        "csv",
        "data",
        "dataset",
        "datasets",
        "dcm",
        "dicom",
        "download",
        "downloads",
        "export",
        "extracted",
        "ground_truth",
        "groundtruth",
        "image",
        "images",
        "img",
        "imgs",
        "input",
        "inputs",
        "jpg",
        "label",
        "labels",
        "manifest",
        "masks",
        "meta",
        "metadata",
        "nifti",
        "original",
        "png",
        "processed",
        "raw",
        "release",
        "samples",
        "source",
        "test",
        "testing",
        "train",
        "training",
        "unzipped",
        "val",
        "valid",
        "validation",
    }
)
"""Folder and file names that say nothing of which data it is (compared in lower case, ``-``/space as ``_``)."""

_VERSION = re.compile(r"v?\d+([._]\d+)*")


def is_generic(name: str) -> bool:
    """A name from :data:`GENERIC_NAMES`, a version (``v2``, ``1.0.3``) or a number."""
    word = re.sub(r"[\s-]+", "_", name.strip().lower())
    return not word or word in GENERIC_NAMES or bool(_VERSION.fullmatch(word))


def dataset_name(path: str | os.PathLike[str]) -> str:
    """The name of the data at ``path`` (a folder, or a file: its name without suffix): the first name, from it
    upwards, that is not generic (:func:`is_generic`); its own when every name is."""
    absolute = Path(os.path.abspath(path))
    own = absolute.stem if absolute.suffix and not absolute.is_dir() else absolute.name
    names = [own, *(parent.name for parent in absolute.parents)]
    return next((name for name in names if name and not is_generic(name)), own or str(absolute))
