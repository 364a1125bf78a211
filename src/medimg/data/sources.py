"""Readers of dataset layouts: folder-per-class, CSV manifests, MedMNIST npz. Labels and paths only."""

from __future__ import annotations

import csv
import fnmatch
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from medimg.data.case import Case, normalise_split
from medimg.data.dataset import Dataset
from medimg.data.medmnist import medmnist_label_names, medmnist_spatial_dims
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

PATH_COLUMNS = ("path", "file", "filename", "image", "image_path")
LABEL_COLUMNS = ("label", "class", "target", "diagnosis")
PATIENT_COLUMNS = ("patient_id", "patient", "subject", "subject_id")
SPLIT_COLUMNS = ("split", "fold", "subset")


NEGATIVE_CLASS_WORDS = ("normal", "negative", "benign", "healthy", "control", "no_", "no-", "none", "absent")


def order_classes(names: set[str] | list[str]) -> list[str]:
    """Class names in a stable order; for two classes, a "normal"-like class first.

    Binary metrics treat class index 1 as the positive class (sensitivity = recall of the disease), so a class
    named like normal / negative / benign / healthy / control goes first; the rest stay in numeric order when
    every name is a number, else alphabetical (MedMNIST-style integer labels keep their meaning).
    """
    try:
        return sorted(names, key=float)
    except ValueError:
        ordered = sorted(names)
    if len(ordered) != 2:
        return ordered
    negative = [n for n in ordered if n.lower().startswith(NEGATIVE_CLASS_WORDS)]
    return negative[:1] + [n for n in ordered if n not in negative[:1]]


def _selected(name: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    lower = name.lower()
    if include and not any(fnmatch.fnmatch(lower, p.lower()) for p in include):
        return False
    return not any(fnmatch.fnmatch(lower, p.lower()) for p in exclude)


def _image_files(folder: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> list[Path]:
    from medimg.io.formats import is_image_file

    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and _selected(p.name, include, exclude)
    ]
    return [p for p in files if (include and p.suffix) or is_image_file(p)]


def load_folder(root: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Dataset:
    """``root/<class>/<files>`` or ``root/{train,val,test}/<class>/<files>`` (nested split folders honoured).

    Files in sub-sub-folders of a class folder belong to that class. Hidden files are ignored.
    """
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_dirs = {p: normalise_split(p.name) for p in subdirs}
    if subdirs and all(split_dirs.values()):
        groups = [(split_dirs[d], d) for d in subdirs]
    else:
        if any(split_dirs.values()):
            named = [d.name for d, s in split_dirs.items() if s]
            logger.warning(
                "%s mixes split folders (%s) with class folders; treating every sub-folder as a class",
                root,
                ", ".join(named),
            )
        groups = [(None, root)]
    class_names = order_classes({c.name for _, parent in groups for c in parent.iterdir() if c.is_dir()})
    if not class_names:
        raise DatasetError(
            f"{root} has no class sub-folders: arrange images as {root}/<class name>/<image files> "
            "(or use a CSV manifest with path,label columns)"
        )
    index = {name: i for i, name in enumerate(class_names)}
    cases: list[Case] = []
    for split, parent in groups:
        for class_dir in sorted(c for c in parent.iterdir() if c.is_dir()):
            for file in _image_files(class_dir, include, exclude):
                rel = file.relative_to(root).as_posix()
                cases.append(Case(case_id=rel, label=index[class_dir.name], split=split, path=file))
    class_names, cases = _drop_empty_classes(class_names, cases, root)
    return Dataset(name=root.name, root=root, source="folder", class_names=class_names, cases=cases)


def _drop_empty_classes(class_names: list[str], cases: list[Case], root: Path) -> tuple[list[str], list[Case]]:
    """Remove class folders that hold no images and renumber labels so they stay contiguous."""
    used = sorted({c.label for c in cases if c.label is not None})
    if len(used) == len(class_names):
        return class_names, cases
    empty = [n for i, n in enumerate(class_names) if i not in used]
    logger.warning("%s: class folders without images are ignored: %s", root, ", ".join(empty))
    remap = {old: new for new, old in enumerate(used)}
    renumbered = [replace(c, label=remap[c.label]) if c.label is not None else c for c in cases]
    return [class_names[i] for i in used], renumbered


def load_csv_manifest(manifest: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Dataset:
    """A CSV with columns ``path,label[,patient_id,split]``; relative paths are relative to the CSV's folder.

    Raises:
        DatasetError: a required column is missing, or rows point to files that do not exist (all listed).
    """
    delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = {c.strip().lower(): c for c in (reader.fieldnames or [])}
        rows = list(reader)

    def column(options: tuple[str, ...], required: bool) -> str | None:
        for option in options:
            if option in columns:
                return columns[option]
        if required:
            raise DatasetError(
                f"{manifest} has no {options[0]!r} column (found: {', '.join(columns) or 'none'}); "
                "the manifest needs a header row path,label[,patient_id,split]"
            )
        return None

    path_col = column(PATH_COLUMNS, True)
    label_col = column(LABEL_COLUMNS, True)
    patient_col = column(PATIENT_COLUMNS, False)
    split_col = column(SPLIT_COLUMNS, False)
    assert path_col is not None and label_col is not None  # required=True guarantees it
    base = manifest.parent
    labels_raw = [str(r.get(label_col) or "").strip() for r in rows]
    class_names = order_classes({lab for lab in labels_raw if lab})
    index = {name: i for i, name in enumerate(class_names)}
    cases: list[Case] = []
    missing: list[str] = []
    unlabelled: list[int] = []
    bad_split: list[str] = []
    for line, (row, label) in enumerate(zip(rows, labels_raw, strict=True), start=2):
        raw_path = str(row.get(path_col) or "").strip()
        if not raw_path:
            missing.append(f"line {line}: empty path")
            continue
        file = Path(raw_path).expanduser()
        file = file if file.is_absolute() else base / file
        if not _selected(file.name, include, exclude):
            continue
        if not file.is_file():
            missing.append(f"line {line}: {file}")
            continue
        if not label:
            unlabelled.append(line)
            continue
        split_raw = row.get(split_col) if split_col else None
        split = normalise_split(split_raw)
        if split_raw and split is None:
            bad_split.append(f"line {line}: {split_raw!r}")
        patient = str(row.get(patient_col) or "").strip() if patient_col else ""
        cases.append(
            Case(
                case_id=raw_path,
                label=index[label],
                split=split,
                patient_id=patient or None,
                path=file,
            )
        )
    if missing:
        shown = "\n  ".join(missing[:10]) + (f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DatasetError(
            f"{manifest}: {len(missing)} row(s) point to files that do not exist:\n  {shown}\n"
            "Fix the paths (relative paths are resolved against the CSV's folder) or remove those rows."
        )
    if bad_split:
        raise DatasetError(
            f"{manifest}: unknown split value(s) {', '.join(bad_split[:5])}; use train, val or test (or leave empty)"
        )
    if unlabelled:
        logger.warning(
            "%s: %d row(s) without a label are ignored (lines %s)",
            manifest,
            len(unlabelled),
            ", ".join(map(str, unlabelled[:10])),
        )
    if cases and any(c.split for c in cases) and not all(c.split for c in cases):
        raise DatasetError(
            f"{manifest}: some rows have a split and others do not; fill the split column for every row "
            "or leave it empty everywhere"
        )
    return Dataset(name=manifest.stem, root=manifest, source="csv", class_names=class_names, cases=cases)


def load_medmnist_npz(path: Path) -> Dataset:
    """A MedMNIST v2 ``.npz`` (``{train,val,test}_images`` / ``_labels``) with its official split.

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
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read {path} as an .npz file: {error}") from error
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
