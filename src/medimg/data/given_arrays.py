"""Images and labels given as arrays: ``Model("resnet18").fit(X, y)``, as scikit-learn and Keras users write it.

``X`` is a NumPy array (or a CPU tensor, or a list of equally shaped arrays / PIL images) of ``N`` images laid out
as an ``.npz`` holds them (:mod:`medimg.data.layouts.medmnist`): ``(N, H, W)``, ``(N, H, W, C)``, ``(N, C, H, W)``
or volumes ``(N, D, H, W)`` (which axis holds channels: :func:`medimg.io.arrays.channel_axis`, the rule ``predict``
reads arrays by), holding the values a file would (0..255, Hounsfield units...), finite. ``y`` holds one label per
image: integers ``0..K-1`` (named by ``class_names``, else ``class_0``...), other integers (the classes are the
values seen, named ``"1"``, ``"2"``... as scikit-learn's ``classes_`` holds them), text, MedMNIST's ``(N, 1)``, or
``(N, K)`` 0/1 columns for several findings per image.

The arrays become an ``.npz`` dataset: training writes them into its run folder (``RUN/training_data.npz``) so the
run can be evaluated and resumed later like any other, and reads them from memory meanwhile (no second copy).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.dataset import Dataset
from medimg.data.labels import MULTI_LABEL_SEPARATOR, ONE_HOT_NOTE, class_key, joined_findings, one_hot_classes
from medimg.data.layouts.medmnist import UNLABELLED_KEYS, UNSPLIT, arrays_dataset, as_channel_last
from medimg.errors import ConfigError
from medimg.fileio import atomic_binary_file
from medimg.io.arrays import channel_axis, numeric_array
from medimg.run_folder import ARRAYS_COPY

logger = logging.getLogger(__name__)

__all__ = ["ARRAYS_FILE", "GivenArrays", "given_arrays", "label_array", "named_pairs"]

#: the run folder's copy of training data given as arrays
ARRAYS_FILE = ARRAYS_COPY


@dataclass(frozen=True)
class GivenArrays:
    """Images and labels per split (``"all"`` when medimg is to make the split), with the classes' names."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    class_names: list[str] | None
    #: images without labels (``fit(X, y, unlabelled=X_pool)``), the unlabelled pool
    unlabelled: np.ndarray | None = None
    #: names in ``class_names`` that no labelled image has (warned of when a fit saves its copy)
    unseen: tuple[str, ...] = ()

    def keys(self) -> dict[str, tuple[str, str]]:
        """``split -> (images key, labels key)`` in the ``.npz``."""
        if UNSPLIT in self.images:
            return {UNSPLIT: ("images", "labels")}
        return {split: (f"{split}_images", f"{split}_labels") for split in self.images}

    def save(self, path: Path) -> Path:
        """Write the arrays as an uncompressed ``.npz`` at ``path`` (atomically) that loads as this dataset; a fit
        writes its training copy so, which is when classes named without images are warned of (an evaluation set
        without a class is no news)."""
        if self.unseen:
            logger.warning(
                "class_names names %s, but no image given is labelled so: the model gets %s class without ever seeing "
                "an example; give images of every class, or leave such names out",
                ", ".join(map(repr, self.unseen)),
                "that" if len(self.unseen) == 1 else "each such",
            )
        arrays: dict[str, Any] = {}
        for split, (images_key, labels_key) in self.keys().items():
            arrays[images_key], arrays[labels_key] = self.images[split], self.labels[split]
        if self.class_names is not None:
            arrays["class_names"] = np.array(self.class_names)
        if self.unlabelled is not None:
            arrays[UNLABELLED_KEYS[0]] = self.unlabelled
        with atomic_binary_file(path) as handle:
            np.savez(handle, **arrays)
        return path

    def record(self) -> dict[str, Any]:
        """What an evaluation of these arrays records of its data (they have no path): how many images, and a
        SHA-256 of the images and labels (with their shapes and types), so that another array set's evaluation
        never shares its folder and a report can be matched to the arrays it scored."""
        digest = hashlib.sha256()
        for split in sorted(self.images):
            for array in (self.images[split], self.labels[split]):
                digest.update(f"{split}:{array.dtype.str}:{array.shape};".encode())
                digest.update(np.ascontiguousarray(array).data)
        count = sum(len(images) for images in self.images.values())
        return {"data": "arrays given in Python", "images": count, "sha256": digest.hexdigest()}

    def dataset(self, path: Path) -> Dataset:
        """The dataset :meth:`save` writes to ``path``, built from the arrays in memory, channel-last and 2D or 3D
        by :func:`~medimg.io.arrays.channel_axis`, as ``predict`` (and the ``.npz`` reader) reads arrays."""
        return arrays_dataset(
            path,
            self.keys(),
            {split: as_channel_last(images) for split, images in self.images.items()},
            self.labels,
            source="npz",
            class_names=self.class_names,
            unlabelled=None if self.unlabelled is None else as_channel_last(self.unlabelled),
        )


def learnt_images(given: GivenArrays, copy: Path, assignment: dict[str, str]) -> int:
    """How many of ``given``'s images are, pixel for pixel (whatever their number type), images a run trained on or
    chose its epoch on: the run's copy of its arrays (``RUN/training_data.npz``) split by ``assignment`` (its
    ``splits.json``: ``all/17`` -> ``train``). 0 without the copy."""
    if not copy.is_file():
        return 0
    learnt: set[str] = set()
    with np.load(copy, allow_pickle=False) as saved:
        for key in saved.files:
            split = UNSPLIT if key == "images" else key.removesuffix("_images")
            if (key != "images" and not key.endswith("_images")) or key in UNLABELLED_KEYS:
                continue
            learnt |= {
                _pixels_digest(image)
                for index, image in enumerate(as_channel_last(saved[key]))
                if assignment.get(f"{split}/{index}") in ("train", "val")
            }
    return sum(_pixels_digest(image) in learnt for images in given.images.values() for image in as_channel_last(images))


def _pixels_digest(image: np.ndarray) -> str:
    """A digest of one channel-last image's shape and values, the same for a copy of another number type, and for
    grey given as colour channels that are all alike (``np.repeat(X[..., None], 3, -1)``)."""
    values = np.ascontiguousarray(image, dtype=np.float64)
    if values.ndim >= 3 and values.shape[-1] in (3, 4) and np.all(values[..., :3] == values[..., :1]):
        values = np.ascontiguousarray(values[..., 0])
    return hashlib.sha1(f"{values.shape}".encode() + values.tobytes()).hexdigest()


#: ``names_from`` of :func:`given_arrays` and :func:`medimg.data.given_files.labels_table` when the names are a
#: trained model's classes (``evaluate(X, y)``): its messages then say so, not "name every class"
MODEL_CLASSES = "the model's classes"


def naming(names_from: str) -> str:
    """How a message counts the names given (``class_names names``) or the model's (``the model has``)."""
    return "the model has" if names_from == MODEL_CLASSES else f"{names_from} names"


def model_classes_hint(count: int) -> str:
    """What integer labels mean to ``evaluate(X, y)`` of a model of ``count`` classes."""
    return f"integer labels index model.classes_ (0..{count - 1})"


def given_arrays(
    images: Any,
    labels: Any,
    *,
    validation_data: tuple[Any, Any] | None = None,
    test_data: tuple[Any, Any] | None = None,
    class_names: Sequence[str] | None = None,
    unlabelled: Any = None,
    names_from: str = "class_names",
) -> GivenArrays:
    """Check and gather ``images`` and ``labels`` (and the validation / test pairs, Keras's ``validation_data``,
    and images without labels for semi-supervised training, ``unlabelled``).

    Without ``validation_data`` and ``test_data`` the images are one pool that medimg splits (by its split
    fractions, stratified); with either, ``images`` is the training split and the pairs given are the others.

    Integer labels index ``class_names``; without it, labels ``0..K-1`` are classes ``class_0``..., and others
    (``1``, ``2``) are the classes seen, named by their values (``"1"``, ``"2"``). ``class_names`` that are those
    values' text (what such a fit names its classes: ``evaluate(X, y)`` of that model) name the labels equal to
    them. ``names_from`` says where ``class_names`` come from in messages (:data:`MODEL_CLASSES` for
    ``evaluate(X, y)``, whose user named no classes).

    Raises:
        ConfigError: labels missing or of another count than the images, images of different shapes (unlabelled
            ones too), values that are not numbers or not finite (NaN pixels), labels that are not classes
            (fractions, empty values), labels that ``class_names`` does not name, or fewer than two classes.
    """
    given = named_pairs(images, labels, validation_data, test_data, first="X", noun="images", pair="images, labels")
    if set(given) == {"train"}:
        given = {UNSPLIT: given["train"]}
    stacked: dict[str, np.ndarray] = {}
    found: dict[str, np.ndarray] = {}
    for split, (what, split_images, split_labels) in given.items():
        stacked[split] = _stacked_images(split_images, what)
        found[split] = label_array(split_labels, len(stacked[split]), what)
    channels = {images.shape[1:] for images in stacked.values()}
    if len(channels) > 1:
        raise ConfigError(
            f"the training, validation and test images have different shapes ({', '.join(map(str, channels))}): "
            "give every split the same image size and channels"
        )
    pool = None if unlabelled is None else _stacked_images(unlabelled, "unlabelled")
    if pool is not None and pool.shape[1:] != next(iter(channels)):
        raise ConfigError(
            f"the unlabelled images have shape {pool.shape[1:]} but the labelled ones {next(iter(channels))}: give "
            "them the same image size and channels"
        )
    _note_two_channels(next(iter(channels)))
    names = list(class_names) if class_names is not None else None
    kinds = {labels.dtype.kind for labels in found.values()}
    if "U" in kinds:
        if kinds != {"U"}:
            raise ConfigError("the splits' labels mix text and numbers: give every split's labels alike")
        found = _one_spelling_per_class(found)
        if any(MULTI_LABEL_SEPARATOR in label for labels in found.values() for label in labels.tolist()):
            found, names = _joined_findings_table(found, names, names_from)
            return GivenArrays(images=stacked, labels=found, class_names=names, unlabelled=pool)
        if names is not None:  # text labels, ordered as class_names says
            found = {split: _indices(labels, names, names_from) for split, labels in found.items()}
    elif any(labels.ndim == 2 for labels in found.values()):  # findings: one column each
        top = max(labels.shape[1] - 1 for labels in found.values())
        if names is not None and top >= len(names):
            raise ConfigError(
                f"{naming(names_from)} {len(names)} findings ({', '.join(names)}) but the labels have {top + 1} "
                + ("columns: name every finding, in column order" if names_from != MODEL_CLASSES else "columns")
            )
        return GivenArrays(images=stacked, labels=found, class_names=names, unlabelled=pool)
    elif names is not None:
        found = _indexed_by(found, names, names_from)
    else:
        found, names = _classes_seen(found)
    _refuse_one_class(found, names)
    unseen: tuple[str, ...] = ()
    if names is not None:  # integer labels by now
        seen = {int(v) for labels in found.values() for v in np.unique(labels)}
        unseen = tuple(name for i, name in enumerate(names) if i not in seen)
    return GivenArrays(images=stacked, labels=found, class_names=names, unlabelled=pool, unseen=unseen)


def named_pairs(
    images: Any,
    labels: Any,
    validation_data: Any,
    test_data: Any,
    *,
    first: str,
    noun: str,
    pair: str,
) -> dict[str, tuple[str, Any, Any]]:
    """``split -> (its argument's name for messages, images, labels)`` of the splits given: the first pair is
    ``train`` (named ``first``), then Keras's ``validation_data`` and ``test_data``.

    Raises:
        ConfigError: ``validation_data`` or ``test_data`` is not a pair (of ``noun`` and labels, ``pair``).
    """
    named = {"train": (first, images, labels)}
    for split, what, given in (("val", "validation_data", validation_data), ("test", "test_data", test_data)):
        if given is None:
            continue
        if not isinstance(given, tuple | list) or len(given) != 2:
            raise ConfigError(f"{what}: give the {noun} and their labels as a pair ({pair})")
        named[split] = (what, given[0], given[1])
    return named


def _stacked_images(images: Any, what: str) -> np.ndarray:
    """One array of ``N`` images from an array, a tensor or a list of equally shaped images."""
    if isinstance(images, list | tuple):
        if not images:
            raise ConfigError(f"{what} holds no images")
        rows = [numeric_array(image, f"{what}[{i}]") for i, image in enumerate(images)]
        shapes = {row.shape for row in rows}
        if len(shapes) > 1:
            first = rows[0].shape
            odd = next(i for i, row in enumerate(rows) if row.shape != first)
            raise ConfigError(
                f"{what}[{odd}] has shape {rows[odd].shape} but {what}[0] {first}: arrays of one fit share one size; "
                "resize them first, or save them as files (a folder per class) and fit the folder, which medimg "
                "resizes"
            )
        return _finite(np.stack(rows), what)
    array = numeric_array(images, what)
    if array.ndim < 3:
        raise ConfigError(
            f"{what} has shape {array.shape}: give N images as (N, H, W), (N, H, W, C), (N, C, H, W) or volumes "
            "(N, D, H, W)"
        )
    if not len(array):
        raise ConfigError(f"{what} holds no images")
    return _finite(array, what)


#: images checked for NaN pixels at a time (a bounded working set for a large X)
FINITE_CHUNK = 1024


def _finite(images: np.ndarray, what: str) -> np.ndarray:
    """``images``, when every pixel is a finite number.

    Raises:
        ConfigError: NaN or infinite pixels, naming the first image holding them.
    """
    if images.dtype.kind != "f":
        return images
    for start in range(0, len(images), FINITE_CHUNK):
        chunk = images[start : start + FINITE_CHUNK].reshape(min(FINITE_CHUNK, len(images) - start), -1)
        bad = np.flatnonzero(~np.isfinite(chunk).all(axis=1))
        if bad.size:
            first = start + int(bad[0])
            kind = "NaN" if np.isnan(images[first]).any() else "infinite"
            raise ConfigError(
                f"{what}[{first}] holds {kind} pixels: replace them (np.nan_to_num) or drop that image; medimg "
                "would otherwise train on them as a blank image or not at all"
            )
    return images


def label_array(labels: Any, count: int, what: str) -> np.ndarray:
    """Labels as integers (``(N,)``, or ``(N, K)`` 0/1 findings) or text, one per image.

    Raises:
        ConfigError: another count than the images, empty values, fractions, negative numbers.
    """
    if labels is None:
        raise ConfigError(
            f"{what} came without labels: fit(X, y) takes one label per image (unlabelled images go in unlabelled=...)"
        )
    if getattr(labels, "is_cuda", False):
        labels = labels.cpu()
    if isinstance(labels, (list, tuple)) and labels and all(_names_of_findings(row) for row in labels):
        labels = [MULTI_LABEL_SEPARATOR.join(row) or "No Finding" for row in labels]  # [["A", "B"], [], ["A"]]
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:  # MedMNIST's (N, 1)
        array = array[:, 0]
    if array.ndim not in (1, 2) or len(array) != count:
        raise ConfigError(
            f"{what} has {count} images but its labels have shape {array.shape}: give one label per image"
        )
    if array.dtype.kind in "OUS":
        text = [_text(value) for value in array.reshape(-1).tolist()]
        empty = next((i for i, value in enumerate(text) if not value), None)
        if empty is not None:
            raise ConfigError(
                f"label {empty} of {what} is empty: every image given to fit(X, y) needs a class (images without "
                "one go in unlabelled=...)"
            )
        if not _all_numbers(text):
            if array.ndim == 2:
                raise ConfigError(f"the labels of {what} are a table of text: give (N, K) columns of 0/1 findings")
            return np.array(text)
        array = np.array(text, dtype=float).reshape(array.shape)  # numbers held as objects (a pandas column)
    if array.dtype.kind == "b":
        array = array.astype(np.int64)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ConfigError(f"the labels of {what} hold NaN or infinite values: every image needs a class")
        if not np.all(array == np.round(array)):
            raise ConfigError(
                f"the labels of {what} hold fractions (e.g. {array[array != np.round(array)].flat[0]}): fit(X, y) "
                "classifies, so give class numbers 0..K-1 or names"
            )
    if array.dtype.kind not in "iuf":
        raise ConfigError(f"the labels of {what} are {array.dtype}: give class numbers 0..K-1 or names")
    array = array.astype(np.int64)
    classes = one_hot_classes(array)
    if classes is not None:
        logger.info(ONE_HOT_NOTE, what, array.shape[1] - 1)
        return classes
    if array.ndim == 2 and array.size and array.min() < 0:  # CheXpert's -1: the report left the finding uncertain
        raise ConfigError(
            f"the findings of {what} hold {int(array.min())} (CheXpert's 'uncertain'): each column takes 0 or 1; "
            "decide what an uncertain finding counts as first, e.g. y[y == -1] = 1 (U-Ones) or 0 (U-Zeros)"
        )
    if array.size and array.min() < 0:
        raise ConfigError(f"the labels of {what} hold {int(array.min())}: class numbers start at 0")
    return array


def _indexed_by(
    found: dict[str, np.ndarray], names: list[str], names_from: str = "class_names"
) -> dict[str, np.ndarray]:
    """Integer labels as indices into ``names``: the labels themselves, or, when ``names`` are integers as text
    and every label is one of them (``"1"``, ``"2"``: the names a fit of labels 1 and 2 gives), each label's
    name's index.

    Raises:
        ConfigError: a label past the last name.
    """
    values = [int(name) if name.strip().isdecimal() else None for name in names]
    labelled = {int(v) for labels in found.values() for v in np.unique(labels)}
    if None not in values and values != list(range(len(names))) and labelled <= set(values):
        index = np.zeros(max(labelled) + 1, np.int64)  # label value -> its name's index
        index[sorted(labelled)] = [values.index(v) for v in sorted(labelled)]
        if max(labelled) < len(names):  # either reading could be meant: say which one is taken
            logger.info(
                "the labels are read as the class names they equal (label %d is class %r, not %r), as a fit of "
                "such labels names its classes",
                max(labelled),
                str(max(labelled)),
                names[max(labelled)],
            )
        return {split: index[labels] for split, labels in found.items()}
    top = max(int(labels.max()) for labels in found.values() if labels.size)
    if top >= len(names):
        fix = (
            "name every class, in label order"
            if names_from != MODEL_CLASSES
            else f"{model_classes_hint(len(names))}; or give the class names"
        )
        raise ConfigError(
            f"{naming(names_from)} {len(names)} classes ({', '.join(names)}) but the labels go up to {top}: {fix}"
        )
    return found


def _joined_findings_table(
    found: dict[str, np.ndarray], names: list[str] | None, names_from: str = "class_names"
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Text labels listing findings joined by ``|`` (``"Effusion|Atelectasis"``, ``"No Finding"``), as a
    NIH-style table's ``Finding Labels`` are read: ``(N, K)`` 0/1 findings named ``names`` (default: every finding
    seen, sorted), never combination classes.

    Raises:
        ConfigError: a finding not among ``names``.
    """
    rows = {split: [joined_findings(label) for label in labels.tolist()] for split, labels in found.items()}
    seen = sorted({finding for split_rows in rows.values() for row in split_rows for finding in row})
    findings = list(names) if names is not None else seen
    unknown = [finding for finding in seen if finding not in findings]
    if unknown:
        raise ConfigError(f"the labels name findings {names_from} does not: {', '.join(unknown)}")
    column = {finding: j for j, finding in enumerate(findings)}
    table = {}
    for split, split_rows in rows.items():
        matrix = np.zeros((len(split_rows), len(findings)), dtype=np.int64)
        for i, row in enumerate(split_rows):
            matrix[i, [column[finding] for finding in row]] = 1
        table[split] = matrix
    logger.info("labels joined by '|' are read as findings (multi-label): %s", ", ".join(findings))
    return table, findings


def _one_spelling_per_class(found: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Text labels that differ only in case or Unicode form (``"Normal"`` and ``"normal"``) as one class, spelt
    as it first appears, as folders and tables read them (they were two classes, without a word)."""
    spelling: dict[str, str] = {}
    variants: dict[str, set[str]] = {}
    for labels in found.values():
        for label in dict.fromkeys(labels.tolist()):
            spelling.setdefault(class_key(label), label)
            variants.setdefault(class_key(label), set()).add(label)
    merged = {key: sorted(names) for key, names in variants.items() if len(names) > 1}
    if not merged:
        return found
    logger.warning(
        "labels that differ only in case or Unicode form are one class: %s",
        "; ".join(f"{', '.join(repr(n) for n in names)} -> {spelling[key]!r}" for key, names in merged.items()),
    )
    return {
        split: np.array([spelling[class_key(label)] for label in labels.tolist()]) for split, labels in found.items()
    }


def _classes_seen(found: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str] | None]:
    """Integer labels without names: ``0..K-1`` as they are (named ``class_0``... by the dataset); others (``1``,
    ``2``; ``0``, ``5``) as indices of the values seen, named by them (``"1"``, ``"2"``), so that no class without
    images is made up."""
    values = np.unique(np.concatenate([labels.reshape(-1) for labels in found.values()]))
    if np.array_equal(values, np.arange(len(values))):
        return found, None
    return {split: np.searchsorted(values, labels).astype(np.int64) for split, labels in found.items()}, [
        str(int(v)) for v in values
    ]


def _refuse_one_class(found: dict[str, np.ndarray], names: list[str] | None) -> None:
    """Refuse single-label data of fewer than two classes (named, or seen when unnamed), before a run starts.

    Raises:
        ConfigError: one class.
    """
    seen = np.unique(np.concatenate([labels.reshape(-1) for labels in found.values()]))
    if (len(names) if names is not None else len(seen)) >= 2:
        return
    only = names[0] if names else str(seen[0]) if seen.dtype.kind == "U" else f"class_{int(seen[0])}"
    raise ConfigError(
        f"every label is one class ({only!r}): a classifier needs at least two classes; give images of the other "
        "class(es) too"
    )


def _note_two_channels(image_shape: tuple[int, ...]) -> None:
    """Say that images of 2 rows first (``(N, 2, H, W)``) are read as 2D images of two channels, and how to give
    volumes of two slices instead, as :func:`~medimg.io.arrays.channel_axis` reads them."""
    if len(image_shape) == 3 and image_shape[0] == 2 and channel_axis(image_shape) == 0:
        logger.info(
            "images of shape %s are read as 2D images of 2 channels, (N, C, H, W); if they are volumes of 2 slices, "
            "give them as (N, 1, 2, H, W) (one channel)",
            image_shape,
        )


def _names_of_findings(row: Any) -> bool:
    """True for one image's findings given as a list of names (``["Effusion", "Atelectasis"]``, ``[]``)."""
    return isinstance(row, (list, tuple, set)) and all(isinstance(name, str) for name in row)


def _text(value: Any) -> str:
    """A label as text: bytes decoded, ``None``/NaN empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    return str(value).strip()


def _all_numbers(text: list[str]) -> bool:
    try:
        [float(value) for value in text]
    except ValueError:
        return False
    return True


def _indices(labels: np.ndarray, names: list[str], names_from: str = "class_names") -> np.ndarray:
    """Text labels as indices into ``names``.

    Raises:
        ConfigError: a label ``names`` does not hold.
    """
    index = {name: i for i, name in enumerate(names)}
    # another spelling of a class ("NORMAL" of "normal") is that class, as in folders and CSV files
    index.update({class_key(name): i for i, name in enumerate(names) if class_key(name) not in index})

    def position(value: Any) -> int | None:
        return index.get(str(value), index.get(class_key(str(value))))

    unknown = sorted({str(v) for v in labels.tolist() if position(v) is None})
    if unknown:
        fix = "name every class" if names_from != MODEL_CLASSES else "give each image one of them"
        raise ConfigError(
            f"labels {', '.join(map(repr, unknown[:5]))} are not among {names_from} ({', '.join(names)}): {fix}"
        )
    return np.array([position(v) for v in labels.tolist()], np.int64)
