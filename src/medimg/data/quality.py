"""``medimg check``: what is in a dataset and what is wrong with it, before any training."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.dataset import Dataset
from medimg.data.loading import read_cases
from medimg.data.splits import Splits, make_splits
from medimg.errors import DatasetError

IMBALANCE_WARNING = 3.0
#: An image with at most this many distinct integer values (and at least two) is label-valued: a mask, not a
#: photograph or scan (whose noise alone gives hundreds of values).
MASK_MAX_VALUES = 8


@dataclass
class CheckReport:
    """The result of :func:`check_dataset`; ``to_dict()`` is the JSON, ``summary()`` the human text."""

    dataset: dict[str, Any]
    image_sizes: dict[str, int]
    channels: dict[str, int]
    dtypes: dict[str, int]
    unreadable: list[dict[str, str]] = field(default_factory=list)
    blank: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    cross_split_duplicates: list[list[str]] = field(default_factory=list)
    label_conflicts: list[list[str]] = field(default_factory=list)
    suspected_masks: list[str] = field(default_factory=list)
    imbalance_ratio: float = 1.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing would silently harm training or evaluation."""
        return not (
            self.unreadable or self.blank or self.cross_split_duplicates or self.label_conflicts or self.suspected_masks
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dataset": self.dataset,
            "image_sizes": self.image_sizes,
            "channels": self.channels,
            "dtypes": self.dtypes,
            "imbalance_ratio": self.imbalance_ratio,
            "unreadable": self.unreadable,
            "blank": self.blank,
            "duplicates": self.duplicates,
            "cross_split_duplicates": self.cross_split_duplicates,
            "label_conflicts": self.label_conflicts,
            "suspected_masks": self.suspected_masks,
            "warnings": self.warnings,
        }

    def summary(self) -> str:
        d = self.dataset
        lines = [
            f"dataset   {d['name']} ({d['source']}, {d['num_cases']} images, {len(d['class_names'])} classes)",
            ("boxes     " if d.get("task") == "detect" else "classes   ")
            + ", ".join(f"{k}: {v}" for k, v in d["class_counts"].items()),
            "splits    " + (", ".join(f"{k}: {v}" for k, v in d["split_counts"].items()) or "none"),
            "sizes     " + _top(self.image_sizes),
            "channels  " + _top(self.channels),
            "types     " + _top(self.dtypes),
            f"imbalance {self.imbalance_ratio:.2f} (largest / smallest class"
            + (" by boxes)" if d.get("task") == "detect" else ")"),
            f"unreadable {len(self.unreadable)}, blank {len(self.blank)}, duplicate groups "
            f"{len(self.duplicates)}, across splits {len(self.cross_split_duplicates)}, label conflicts "
            f"{len(self.label_conflicts)}",
        ]
        for item in self.unreadable[:10]:
            lines.append(f"  unreadable: {item['path']}: {item['reason']}")
        for case_id in self.blank[:10]:
            lines.append(f"  blank: {case_id}")
        for group in self.cross_split_duplicates[:10]:
            lines.append(f"  same image in several splits: {', '.join(group)}")
        for group in self.label_conflicts[:10]:
            lines.append(f"  label conflict (identical pixels, different labels): {', '.join(group)}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append("status    " + ("OK" if self.ok else "PROBLEMS FOUND (see above)"))
        return "\n".join(lines)


def _top(counter: dict[str, int], n: int = 5) -> str:
    items = sorted(counter.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k} x{v}" for k, v in items[:n])
    return text + (f", ... ({len(items)} distinct)" if len(items) > n else "")


def _sample_type(meta: dict[str, Any]) -> str:
    """``"png 8-bit"``, ``"dicom 12-bit"``, ``"medmnist"``: the file format and stored bits per sample."""
    bits = meta.get("bits") or meta.get("bits_stored")
    fmt = str(meta.get("format") or ("dicom" if "bits_stored" in meta else "unknown"))
    return f"{fmt} {bits}-bit" if bits else fmt


def check_dataset(dataset: Dataset, *, splits: Splits | None = None, progress: bool = False) -> CheckReport:
    """Read every image once and report sizes, channels, unreadable/blank files, duplicates and imbalance.

    Duplicates across splits are judged on ``splits`` when given, else on the dataset's own split, else on
    the split ``medimg fit`` would make with its default seed (so a leak is caught before training).
    """
    if splits is None and not dataset.has_own_split:
        try:
            splits = make_splits(dataset.cases)
        except DatasetError:
            splits = None
    split_of = {c.case_id: (splits.assignment.get(c.case_id) if splits else c.split) for c in dataset.cases}
    loaded = read_cases(dataset, dataset.cases, strict=False, progress=progress, desc="checking images")
    sizes: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    by_hash: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    label_of = {c.case_id: (dataset.class_names[c.label] if c.label is not None else "?") for c in dataset.cases}
    blank: list[str] = []
    label_valued: list[tuple[str, str]] = []  # (path, spatial size) of images whose content is a label map
    image_sizes: set[str] = set()  # sizes of the images that are not label maps
    for case, array, meta in zip(loaded.cases, loaded.arrays, loaded.metas, strict=True):
        size = "x".join(map(str, array.shape[1:]))
        if case.path is not None and is_label_valued(array):
            label_valued.append((str(case.path), size))
        else:
            image_sizes.add(size)
        sizes[size] += 1
        channels[str(array.shape[0])] += 1
        dtypes[_sample_type(meta)] += 1
        if not np.isfinite(array).all() or float(array.max()) == float(array.min()):
            blank.append(case.case_id)
        digest = hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()
        by_hash[digest].append((case.case_id, split_of[case.case_id]))
    groups = [entries for entries in by_hash.values() if len(entries) > 1]
    duplicates = [[cid for cid, _ in entries] for entries in groups]
    cross = [
        [f"{cid} [{split}]" for cid, split in entries] for entries in groups if len({split for _, split in entries}) > 1
    ]
    conflicts = [
        [f"{cid} [{label_of[cid]}]" for cid, _ in entries]
        for entries in groups
        if len({label_of[cid] for cid, _ in entries}) > 1
    ]
    counts = [v for v in dataset.class_counts().values() if v > 0]
    imbalance = max(counts) / min(counts) if counts else 1.0
    masks = [path for path, size in label_valued if size in image_sizes]
    warnings: list[str] = []
    if masks:
        flagged = set(masks)
        others = [str(c.path) for c in loaded.cases if c.path is not None and str(c.path) not in flagged]
        warnings.append(
            f"{len(masks)} file(s) are label maps by their content (a few integer values, the size of other "
            f"images), i.e. segmentation masks beside the images (e.g. {masks[0]}); exclude them, e.g. "
            f"--exclude '{','.join(exclude_patterns(masks, others))}'"
        )
    if imbalance > IMBALANCE_WARNING and dataset.task == "detect":
        warnings.append(
            f"boxes per class are imbalanced ({imbalance:.1f}:1); the detector's focal loss is meant for this (no "
            "class weights are planned): look at the per-class AP in the report"
        )
    elif imbalance > IMBALANCE_WARNING:
        warnings.append(f"classes are imbalanced ({imbalance:.1f}:1); the planner will weight the loss")
    if len(sizes) > 1:
        warnings.append(f"{len(sizes)} different image sizes; images are resized to the plan's input size")
    if len(channels) > 1:
        warnings.append("mixed channel counts; images are converted to the most common channel count")
    if conflicts:
        warnings.append(
            f"{len(conflicts)} group(s) of identical images carry different labels: a model cannot learn both; fix "
            "or remove the wrong copy"
        )
    if duplicates and not cross and not conflicts:
        warnings.append(f"{len(duplicates)} group(s) of identical images within a split")
    return CheckReport(
        dataset=dataset.describe(),
        image_sizes=dict(sizes),
        channels=dict(channels),
        dtypes=dict(dtypes),
        unreadable=[{"path": p, "reason": r} for p, r in loaded.skipped],
        blank=blank,
        duplicates=duplicates,
        cross_split_duplicates=cross,
        label_conflicts=conflicts,
        suspected_masks=masks,
        imbalance_ratio=round(imbalance, 3),
        warnings=warnings,
    )


def is_label_valued(array: np.ndarray) -> bool:
    """True when an image's content is a label map: 2..:data:`MASK_MAX_VALUES` distinct integer values (0/255
    binary masks, 0/1/2 label maps), identical in every channel."""
    if array.size == 0 or not np.isfinite(array).all():
        return False
    if array.shape[0] > 1 and not all(np.array_equal(array[0], array[c]) for c in range(1, array.shape[0])):
        return False
    values = np.unique(array[0])
    return 2 <= values.size <= MASK_MAX_VALUES and bool(np.all(values == np.round(values)))


def exclude_patterns(masks: list[str], images: list[str], most: int = 3) -> list[str]:
    """``--exclude`` patterns for the mask files, from how their names extend the image names beside them.

    ``cell_01_mask_1.png`` beside ``cell_01.png`` gives ``*_mask_1.png``; a mask whose name extends no image name
    is named as it is.
    """
    stems: dict[Path, list[str]] = defaultdict(list)
    for image in images:
        stems[Path(image).parent].append(Path(image).stem)
    patterns: Counter[str] = Counter()
    for mask in masks:
        path = Path(mask)
        prefixes = [s for s in stems.get(path.parent, []) if path.stem.startswith(s) and len(s) < len(path.stem)]
        patterns["*" + path.name[len(max(prefixes, key=len)) :] if prefixes else path.name] += 1
    return [p for p, _ in patterns.most_common(most)]
