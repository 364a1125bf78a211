"""MedMNIST v2 ``.npz``: ``{train,val,test}_images`` / ``_labels`` arrays with the official split.

Label names and dimensionality come from :mod:`medimg.data.medmnist` (which also downloads the files).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.medmnist import medmnist_label_names, medmnist_spatial_dims
from medimg.errors import DatasetError


def detect(path: Path) -> bool:
    """An ``.npz`` file: the only array layout so far, so :func:`load` explains a file that is not MedMNIST.

    A future ``.npz`` layout registers before this one with a stricter ``detect`` (e.g. its key names).
    """
    return path.suffix.lower() == ".npz" and path.is_file()


def load(path: Path) -> Dataset:
    """Read a MedMNIST file; its arrays stay in memory (``Dataset.arrays``), cases index their rows.

    Raises:
        DatasetError: keys are missing, or labels are multi-label (e.g. ChestMNIST), which a single-label
            classifier cannot use.
    """
    try:
        archive = np.load(path, allow_pickle=False)
        arrays = {
            split: archive[f"{split}_images"]
            for split in ("train", "val", "test")
            if f"{split}_images" in archive.files
        }
        labels = {split: archive[f"{split}_labels"] for split in arrays}
    except KeyError as error:
        raise DatasetError(f"{path}: {error}; a MedMNIST file needs train/val/test _images and _labels") from error
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:  # corrupt or truncated
        raise DatasetError(
            f"cannot read {path} as an .npz file ({type(error).__name__}: {error}); re-download or re-create it"
        ) from error
    if "train" not in arrays:
        raise DatasetError(
            f"{path} is not a MedMNIST file: keys {archive.files}; expected train_images/train_labels (and val_, test_)"
        )
    for split, lab in labels.items():
        if lab.ndim == 2 and lab.shape[1] > 1:
            raise DatasetError(
                f"{path}: {split}_labels has shape {lab.shape} (multi-label, like ChestMNIST); "
                "medimg classifies one label per image"
            )
        if len(lab) != len(arrays[split]):
            raise DatasetError(f"{path}: {split} has {len(arrays[split])} images but {len(lab)} labels")
    flat = {split: lab.reshape(-1).astype(np.int64) for split, lab in labels.items()}
    num_classes = int(max(int(lab.max()) for lab in flat.values() if lab.size)) + 1
    spatial_dims = medmnist_spatial_dims(path.stem, tuple(arrays["train"].shape[1:]))
    cases = [
        Case(case_id=f"{split}/{i}", label=int(label), split=split, index=i)
        for split, lab in flat.items()
        for i, label in enumerate(lab)
    ]
    return Dataset(
        name=path.stem,
        root=path,
        source="medmnist",
        class_names=medmnist_label_names(path.stem, num_classes),
        cases=cases,
        spatial_dims=spatial_dims,
        arrays=arrays,
    )
