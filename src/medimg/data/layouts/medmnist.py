"""MedMNIST v2 ``.npz``: ``{train,val,test}_images`` / ``_labels`` arrays with the official split.

Label names and dimensionality come from :mod:`medimg.data.medmnist` (which also downloads the files).
"""

from __future__ import annotations

import dataclasses
import logging
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.dataset_names import dataset_name
from medimg.data.labels import ONE_HOT_NOTE, one_hot_classes
from medimg.data.layouts.common import order_classes
from medimg.data.medmnist import medmnist_label_names, medmnist_set, medmnist_spatial_dims
from medimg.errors import DatasetError
from medimg.io.array_files import LABEL_MAPS_AS_FILES
from medimg.io.arrays import channel_axis, channel_last_rows
from medimg.io.inputs import shell_quoted

logger = logging.getLogger(__name__)


def detect(path: Path) -> bool:
    """An ``.npz`` file: the only array layout so far, so :func:`load` explains a file that is not MedMNIST; or a
    folder of MedMNIST files only (``~/.medmnist``), which :func:`load` reads when it holds one and else lists.

    A future ``.npz`` layout registers before this one with a stricter ``detect`` (e.g. its key names).
    """
    if path.is_dir():
        return bool(_medmnist_files(path))
    return path.suffix.lower() == ".npz" and path.is_file()


def _medmnist_files(folder: Path) -> list[Path]:
    """The MedMNIST-keyed ``.npz`` files of a folder holding nothing else but hidden files and ``.part`` leftovers
    (``[]`` otherwise)."""
    entries: list[Path] = []
    try:
        for entry in folder.iterdir():  # stops at the first other entry: a big image folder is not listed here
            if entry.name.startswith(".") or entry.name.endswith(".part"):
                continue
            if len(entries) >= 200 or entry.suffix.lower() != ".npz" or not entry.is_file():
                return []
            entries.append(entry)
    except OSError:
        return []
    found = []
    for entry in sorted(entries):
        try:
            with zipfile.ZipFile(entry) as archive:
                if "train_images.npy" in archive.namelist():
                    found.append(entry)
        except (OSError, zipfile.BadZipFile):
            found.append(entry)  # a damaged download among them: named, and refused by load
    return found


def _load_folder(folder: Path) -> Dataset:
    """The one MedMNIST file of a folder.

    Raises:
        DatasetError: the folder holds several: which to give.
    """
    files = _medmnist_files(folder)
    if len(files) == 1:
        logger.info("%s: reading its one MedMNIST file, %s", folder, files[0].name)
        return load(files[0])
    raise DatasetError(
        f"{folder} holds {len(files)} MedMNIST files ({', '.join(f.name for f in files)}): give one, e.g. "
        f"medimg fit {shell_quoted(files[0])}"
    )


def _unreadable(path: Path, error: Exception) -> DatasetError:
    """Why ``path`` is no ``.npz`` (an HTML error page, an interrupted download, a lone ``.npy`` array), and what
    to do: for a MedMNIST file name, the download command that replaces it."""
    from medimg.data.medmnist import medmnist_stem

    stem = medmnist_stem(path.name)
    again = (
        f"download it again with `medimg download {stem}` (checksum verified; it replaces this copy)"
        if stem
        else "re-download or re-create it"
    )
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
        size = path.stat().st_size
    except OSError:
        head, size = b"", -1
    if size == 0:
        what = "it is empty (0 bytes: an interrupted download?)"
    elif head.startswith(b"\x93NUMPY"):
        what = (
            "it is a single .npy array, not an .npz archive: save images and labels together with "
            "np.savez(file, train_images=..., train_labels=..., ...)"
        )
        again = "re-create it"
    elif head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        what = "it is a web page (HTML), not an .npz: a download that saved the server's error or login page"
    elif isinstance(error, ValueError) and "allow_pickle" in str(error):  # arrays of Python objects, not numbers
        what = (
            "an array in it holds Python objects (saved from a list of mixed types or a pandas column), which medimg "
            "does not unpickle: save the images and labels as numeric arrays (np.asarray(labels, dtype=np.int64))"
        )
        again = "re-create it"
    elif head.startswith(b"PK"):
        what = f"it is incomplete or damaged (an interrupted download?): {type(error).__name__}: {error}"
    else:
        what = f"{type(error).__name__}: {error}"
    return DatasetError(f"cannot read {path} as an .npz file: {what}; {again}")


#: the names an ``.npz`` split's arrays go by: MedMNIST's, then Keras-style and other common spellings
SPLIT_KEYS = {
    "train": ("train",),
    "val": ("val", "valid", "validation"),
    "test": ("test",),
}
KEY_PATTERNS = (("{}_images", "{}_labels"), ("x_{}", "y_{}"), ("X_{}", "y_{}"), ("{}_x", "{}_y"))
#: one array pair without a split (medimg then makes the split)
UNSPLIT_KEYS = (("images", "labels"), ("x", "y"), ("X", "y"), ("X", "Y"), ("imgs", "labels"), ("data", "labels"))
#: where an array without an own split is kept (``Dataset.arrays``)
UNSPLIT = "all"
#: keys an ``.npz`` may name its integer labels' classes (or a multi-label array's columns) by, in label order
CLASS_NAME_KEYS = ("class_names", "label_names")
#: keys of images without labels (the unlabelled pool of semi-supervised training, ``--unlabelled DATA``)
UNLABELLED_KEYS = (
    "unlabelled_images",
    "unlabeled_images",
    "x_unlabelled",
    "x_unlabeled",
    "X_unlabelled",
    "X_unlabeled",
)
#: where the pool's images are kept (``Dataset.arrays``; the pool's cases index its rows)
POOL = "unlabelled"


def split_keys(files: list[str]) -> dict[str, tuple[str, str]]:
    """``split -> (images key, labels key)`` of the splits the archive holds, else ``{UNSPLIT: keys}``."""
    found: dict[str, tuple[str, str]] = {}
    for split, names in SPLIT_KEYS.items():
        for name in names:
            for images, labels in KEY_PATTERNS:
                pair = (images.format(name), labels.format(name))
                if split not in found and pair[0] in files and pair[1] in files:
                    found[split] = pair
    if found:
        return found
    return next(({UNSPLIT: pair} for pair in UNSPLIT_KEYS if pair[0] in files and pair[1] in files), {})


def load(path: Path) -> Dataset:
    """Read an ``.npz`` of images and labels; its arrays stay in memory (``Dataset.arrays``), cases index rows.

    MedMNIST's ``{train,val,test}_images`` / ``_labels`` (its label names and dimensionality are known), Keras-style
    ``x_train``/``y_train``... and a single ``images``/``labels`` (or ``x``/``y``) pair, which medimg splits.
    Images are ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)`` (C <= 4) or volumes ``(N, D, H, W)``; labels are
    integers or strings, one per image.

    A ``class_names`` (or ``label_names``) array names integer labels ``0..K-1`` in order (what
    ``Model.fit(X, y, class_names=...)`` writes).

    An ``unlabelled_images`` array (or ``x_unlabelled``...; what ``Model.fit(X, y, unlabelled=X_pool)`` writes)
    holds images without labels: the dataset's unlabelled pool (``medimg fit DATA.npz --unlabelled DATA.npz``).

    Labels of shape ``(N, K)`` with ``K > 1`` columns of 0/1 are multi-label (ChestMNIST's 14 findings): each row's
    ones are its findings (``Case.findings``), the dataset is ``multi_label``; one-hot labels (exactly one 1 in
    every row, Keras's ``to_categorical``) are classes, as ``Model.fit(X, y)`` reads them.

    Raises:
        DatasetError: no known keys, ``(N, K)`` labels that are not 0/1, or counts differ.
    """
    if path.is_dir():
        return _load_folder(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # an .npy array under an .npz name
            raise ValueError("not an .npz archive")
        keys = split_keys(list(archive.files))
        arrays = {split: as_channel_last(archive[images]) for split, (images, _) in keys.items()}
        labels = {split: archive[label] for split, (_, label) in keys.items()}
        names = next((archive[key] for key in CLASS_NAME_KEYS if key in archive.files), None)
        pool = next((as_channel_last(archive[key]) for key in UNLABELLED_KEYS if key in archive.files), None)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:  # corrupt, truncated
        raise _unreadable(path, error) from error
    if not keys or ("train" not in arrays and UNSPLIT not in arrays):
        raise DatasetError(
            f"{path}: keys {archive.files} hold no images with labels; name them train_images/train_labels (and "
            "val_, test_; MedMNIST), x_train/y_train (and x_val, x_test), or images/labels (medimg makes the split)"
        )
    source = "medmnist" if keys.get("train", ("",))[0] == "train_images" else "npz"
    class_names = None if names is None else [str(v) for v in _text_if_bytes(names.reshape(-1)).tolist()]
    return arrays_dataset(path, keys, arrays, labels, source=source, class_names=class_names, unlabelled=pool)


def arrays_dataset(
    path: Path,
    keys: dict[str, tuple[str, str]],
    arrays: dict[str, Any],
    labels: dict[str, np.ndarray],
    *,
    source: str,
    class_names: list[str] | None = None,
    unlabelled: Any = None,
) -> Dataset:
    """The dataset of image arrays and their labels per split (an ``.npz``'s, an HDF5 file's: :mod:`.hdf5_arrays`).

    Args:
        keys: ``split -> (images name, labels name)``, for messages.
        arrays: ``split -> images``, anything indexable by row with a ``shape`` (a lazy HDF5 dataset too).
        labels: ``split -> labels`` in memory.
        class_names: the names of integer labels ``0..K-1`` or of multi-label columns (default: MedMNIST's when
            the file is MedMNIST's, else ``class_0``...); unused for text labels, which name themselves.
        unlabelled: images without labels (channel-last, like ``arrays``), the dataset's unlabelled pool.

    Raises:
        DatasetError: a split's image and label counts differ, labels with a map per image (a segmentation set),
            ``(N, K)`` labels that are not 0/1, fewer
            class names than classes, or unlabelled images of another size than the labelled ones.
    """
    for split, lab in labels.items():
        if len(lab) != len(arrays[split]):
            raise DatasetError(f"{path}: {keys[split][0]} has {len(arrays[split])} images but {len(lab)} labels")
        if sum(n > 1 for n in lab.shape[1:]) > 1:  # a label map per image (TissueNet's y; PCam's are (N, 1, 1, 1))
            raise DatasetError(
                f"{path}: {keys[split][1]} holds an array of shape {tuple(lab.shape)}, a label map per image, not "
                f"a label per image: this is a segmentation set, which medimg reads from files; {LABEL_MAPS_AS_FILES}"
            )
    first = next(iter(arrays.values()))
    spatial_dims = medmnist_spatial_dims(path.stem, tuple(first.shape[1:]))
    one_hot = {split: one_hot_classes(lab) for split, lab in labels.items()}
    if medmnist_set(path.stem) == "chestmnist":  # findings, even where a subset's rows each have one
        one_hot = {}
    if labels and one_hot and all(classes is not None for classes in one_hot.values()):  # as fit(X, y) reads them
        logger.info(ONE_HOT_NOTE, path, next(iter(labels.values())).shape[1] - 1)
        labels = {split: classes for split, classes in one_hot.items() if classes is not None}
    if any(lab.ndim == 2 and lab.shape[1] > 1 for lab in labels.values()):
        dataset = _multi_label(path, keys, arrays, labels, spatial_dims, source, class_names)
    else:
        dataset = _single_label(path, arrays, labels, spatial_dims, source, class_names)
    if unlabelled is None or not len(unlabelled):
        return dataset
    if tuple(unlabelled.shape[1:]) != tuple(first.shape[1:]):
        raise DatasetError(
            f"{path}: the unlabelled images have shape {tuple(unlabelled.shape[1:])} but the labelled ones "
            f"{tuple(first.shape[1:])}: give them one size"
        )
    pool = [Case(case_id=f"{POOL}/{i}", label=None, split=POOL, index=i) for i in range(len(unlabelled))]
    return dataclasses.replace(dataset, arrays={**dataset.arrays, POOL: unlabelled}, unlabelled=pool)


def _single_label(
    path: Path,
    arrays: dict[str, Any],
    labels: dict[str, np.ndarray],
    spatial_dims: int,
    source: str,
    class_names: list[str] | None,
) -> Dataset:
    """A single-label dataset: one integer or text label per image."""
    flat = {split: _text_if_bytes(lab.reshape(-1)) for split, lab in labels.items()}
    if any(lab.dtype.kind in "US" for lab in flat.values()):  # class names as strings
        class_names = order_classes({str(v) for lab in flat.values() for v in lab.tolist()})
        index = {name: i for i, name in enumerate(class_names)}
        numbers = {split: np.array([index[str(v)] for v in lab.tolist()], np.int64) for split, lab in flat.items()}
    else:
        _check_class_numbers(path, flat)
        numbers = {split: lab.astype(np.int64) for split, lab in flat.items()}
        num_classes = int(max(int(lab.max()) for lab in numbers.values() if lab.size)) + 1
        class_names = _named(path, class_names, num_classes) or medmnist_label_names(path.stem, num_classes)
    cases = [
        Case(case_id=f"{split}/{i}", label=int(label), split=None if split == UNSPLIT else split, index=i)
        for split, lab in numbers.items()
        for i, label in enumerate(lab)
    ]
    return Dataset(
        name=dataset_name(path),
        root=path,
        source=source,
        class_names=class_names,
        cases=cases,
        spatial_dims=spatial_dims,
        arrays=arrays,
    )


def _check_class_numbers(path: Path, labels: dict[str, np.ndarray]) -> None:
    """Integer labels are classes ``0..K-1``: a negative one (``-1`` for "unknown") or a fraction would otherwise
    become a class silently (``-1`` the last, ``0.5`` class 0).

    Raises:
        DatasetError: a label is negative, not a whole number, or not a number.
    """
    for split, lab in labels.items():
        if not lab.size:
            continue
        if lab.dtype.kind not in "biuf":
            raise DatasetError(f"{path}: the {split} labels are {lab.dtype} values; give class numbers 0..K-1 or names")
        with np.errstate(invalid="ignore"):
            bad = (lab < 0) | (lab != np.floor(lab)) if lab.dtype.kind == "f" else lab < 0  # NaN != NaN: bad
        if bad.any():
            rows = np.flatnonzero(bad)
            raise DatasetError(
                f"{path}: {len(rows)} of the {split} labels are not class numbers 0..K-1 (e.g. row {int(rows[0])}: "
                f"{lab[rows[0]].item()!r}): drop those rows (a -1 for 'unknown' included) or give them their class"
            )


def _multi_label(
    path: Path,
    keys: dict[str, tuple[str, str]],
    arrays: dict[str, Any],
    labels: dict[str, np.ndarray],
    spatial_dims: int,
    source: str,
    class_names: list[str] | None = None,
) -> Dataset:
    """A multi-label ``.npz`` (ChestMNIST): ``(N, K)`` 0/1 labels, each row's ones its findings.

    Raises:
        DatasetError: the splits' label columns differ, or a value is not 0/1.
    """
    widths = {lab.shape[1] if lab.ndim == 2 else 1 for lab in labels.values()}
    if len(widths) > 1:
        raise DatasetError(f"{path}: the splits' label arrays have different numbers of columns ({sorted(widths)})")
    for split, lab in labels.items():
        if lab.size and not np.isin(lab, (0, 1)).all():
            raise DatasetError(
                f"{path}: {keys[split][1]} has shape {lab.shape} but values other than 0/1: (N, K) labels are read as "
                "K findings per image, each present (1) or absent (0)"
            )
    width = widths.pop()
    class_names = _named(path, class_names, width) or medmnist_label_names(path.stem, width)
    cases = [
        Case(
            case_id=f"{split}/{i}",
            label=None,
            findings=tuple(int(j) for j in np.flatnonzero(row)),
            split=None if split == UNSPLIT else split,
            index=i,
        )
        for split, lab in labels.items()
        for i, row in enumerate(lab.reshape(len(lab), -1))
    ]
    return Dataset(
        name=dataset_name(path),
        root=path,
        source=source,
        class_names=class_names,
        cases=cases,
        spatial_dims=spatial_dims,
        arrays=arrays,
        multi_label=True,
    )


def _named(path: Path, class_names: list[str] | None, num_classes: int) -> list[str] | None:
    """``class_names`` when given for ``num_classes`` classes (a longer list keeps its classes without images).

    Raises:
        DatasetError: fewer names than classes.
    """
    if class_names is None:
        return None
    if len(class_names) < num_classes:
        raise DatasetError(
            f"{path}: {len(class_names)} class names ({', '.join(class_names)}) for {num_classes} classes: name "
            "every class, in label order"
        )
    return list(class_names)


def _text_if_bytes(labels: np.ndarray) -> np.ndarray:
    """Byte-string labels (``dtype "S"``, or HDF5's variable-length bytes) as text, so ``b"nevus"`` is ``nevus``."""
    if labels.dtype.kind == "S" or (labels.dtype.kind == "O" and labels.size and isinstance(labels[0], bytes)):
        return np.array([bytes(v).decode("utf-8", "replace") for v in labels.tolist()])
    return labels


def channel_first(shape: tuple[int, ...]) -> bool:
    """Whether image rows of ``shape`` are ``(N, C, H, W)`` (PyTorch's order), not MedMNIST's channel-last
    ``(N, H, W, C)`` or a stack of volumes: the channel axis as ``fit(X, y)`` finds it
    (:func:`medimg.io.arrays.channel_axis`)."""
    return len(shape) == 4 and channel_axis(shape[1:]) == 0


def as_channel_last(images: np.ndarray) -> np.ndarray:
    """Image rows as MedMNIST's channel-last ``(N, H, W[, C])`` / ``(N, D, H, W[, C])``, the channel axis found as
    ``fit(X, y)`` finds it (so a run's copy of its arrays reads back as they were given); one channel dropped."""
    return channel_last_rows(images)[0]
