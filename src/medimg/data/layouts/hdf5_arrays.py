"""Image and label arrays in HDF5 files: PatchCamelyon's per-split files, or one file with the arrays an ``.npz``
would hold.

- **PatchCamelyon** (PCam, Veeling et al. 2018, as Zenodo and ``torchvision.datasets.PCAM`` ship it): a folder of
  ``camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5``, each holding one array (``x``: ``(N, 96, 96, 3)``
  uint8 patches; ``y``: ``(N, 1, 1, 1)``, 1 when the centre 32 x 32 pixels hold tumour). Any folder of
  ``<name>_<split>_x.h5`` + ``<name>_<split>_y.h5`` pairs reads so. PCam's classes are named ``normal`` and
  ``tumour``; the metadata files (``_meta.csv``) are not needed.
- **One file** (``.h5``/``.hdf5``) whose top-level arrays are named as in an ``.npz`` (``train_images`` +
  ``train_labels``..., ``x_train`` + ``y_train``..., or ``images`` + ``labels``: medimg then makes the split).

The image arrays stay on disk: a row is read when its case is read (a patch at a time; PCam's training split is
7 GB), labels are read into memory. Everything after reading is the ``.npz`` path's
(:func:`.medmnist.arrays_dataset`): channel-last rows, integer or string labels, ``(N, K)`` 0/1 labels as
findings. A gzipped download (``.h5.gz``) is refused with the command that unpacks it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import normalise_split
from medimg.data.dataset import Dataset
from medimg.data.layouts.common import visible_dir
from medimg.data.layouts.medmnist import UNSPLIT, arrays_dataset, channel_first, split_keys
from medimg.errors import DatasetError, MissingDependencyError

__all__ = ["detect", "load"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".he5")
_SPLIT_FILE = re.compile(r"^(?P<name>.+?)_(?P<split>train|training|valid|validation|val|test)_(?P<role>x|y)\.h5$", re.I)
#: PCam's class names (label 0, 1)
PCAM_CLASSES = ["normal", "tumour"]


def _split_files(folder: Path) -> dict[str, dict[str, Path]]:
    """``split -> {"x": file, "y": file}`` of the ``<name>_<split>_{x,y}.h5`` (or ``.h5.gz``) files in ``folder``."""
    found: dict[str, dict[str, Path]] = {}
    if not folder.is_dir():
        return found
    for file in sorted(folder.iterdir()):
        name = file.name[:-3] if file.name.lower().endswith(".h5.gz") else file.name
        match = _SPLIT_FILE.match(name)
        if match and file.is_file():
            split = normalise_split(match["split"]) or match["split"].lower()
            found.setdefault(split, {})[match["role"].lower()] = file
    return {split: roles for split, roles in found.items() if {"x", "y"} <= set(roles)}


def _data_folder(path: Path) -> Path | None:
    """``path`` when it holds split file pairs, else its one sub-folder that does (torchvision's ``root/pcam/``)."""
    if _split_files(path):
        return path
    if not path.is_dir():
        return None
    inside = [d for d in path.iterdir() if visible_dir(d)]  # only a lone sub-folder is looked into (cheap)
    return inside[0] if len(inside) == 1 and _split_files(inside[0]) else None


def detect(path: Path) -> bool:
    """An HDF5 file, or a folder (or its one sub-folder) of per-split ``_x.h5``/``_y.h5`` pairs."""
    if path.is_file():
        return path.suffix.lower() in HDF5_SUFFIXES
    return _data_folder(path) is not None


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as error:
        raise MissingDependencyError("h5py") from error
    return h5py


def _open(file: Path) -> Any:
    if file.name.lower().endswith(".gz"):
        raise DatasetError(
            f"{file} is gzipped: unpack it first (gunzip -k {file}), then point medimg at the folder again"
        )
    try:
        return _h5py().File(file, "r")
    except OSError as error:
        raise DatasetError(f"cannot read {file} as HDF5 ({error}); re-download it (a partial download?)") from error


def _arrays(handle: Any) -> dict[str, Any]:
    """The top-level arrays (HDF5 datasets) of an open file, by name."""
    h5py = _h5py()
    return {name: item for name, item in handle.items() if isinstance(item, h5py.Dataset)}


class _ChannelLast:
    """Rows of an ``(N, C, H, W)`` array (C <= 4, PyTorch's order) read as ``(H, W, C)``, one at a time."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows
        n, c, *spatial = rows.shape
        self.shape = (n, *spatial, c) if c > 1 else (n, *spatial)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __getitem__(self, index: int) -> np.ndarray:
        row = np.moveaxis(np.asarray(self.rows[index]), 0, -1)
        return row[..., 0] if row.shape[-1] == 1 else row


def _rows(array: Any) -> Any:
    """``array`` as channel-last rows (as the ``.npz`` path has them, :func:`.medmnist.channel_first`), unread."""
    return _ChannelLast(array) if channel_first(tuple(array.shape)) else array


def load(path: Path) -> Dataset:
    """Read PCam-style split files or one HDF5 file of images and labels (see the module doc).

    Raises:
        DatasetError: a file is not HDF5 (or gzipped), holds no or several arrays where one is expected, no
            named image/label arrays, or image and label counts differ.
    """
    folder = _data_folder(path) if path.is_dir() else None
    if folder is not None:
        keys: dict[str, tuple[str, str]] = {}
        arrays: dict[str, Any] = {}
        labels: dict[str, np.ndarray] = {}
        for split, roles in sorted(_split_files(folder).items()):
            for role, file in roles.items():
                found = _arrays(_open(file))
                if len(found) != 1:
                    raise DatasetError(
                        f"{file} holds {len(found)} arrays ({', '.join(found) or 'none'}); a split file holds one"
                    )
                (array,) = found.values()
                if role == "x":
                    arrays[split] = _rows(array)
                else:
                    labels[split] = np.asarray(array[()])
            keys[split] = (roles["x"].name, roles["y"].name)
        pcam = any(f.name.lower().startswith("camelyonpatch") for f in folder.iterdir())
        return arrays_dataset(folder, keys, arrays, labels, source="hdf5", class_names=PCAM_CLASSES if pcam else None)
    found = _arrays(_open(path))
    keys = split_keys(list(found))
    if not keys or ("train" not in keys and UNSPLIT not in keys):
        raise DatasetError(
            f"{path}: arrays {sorted(found)} hold no images with labels; name them train_images/train_labels (and "
            "val_, test_), x_train/y_train (and x_val, x_test), or images/labels (medimg makes the split)"
        )
    arrays = {split: _rows(found[images]) for split, (images, _) in keys.items()}
    labels = {split: np.asarray(found[label][()]) for split, (_, label) in keys.items()}
    return arrays_dataset(path, keys, arrays, labels, source="hdf5")
