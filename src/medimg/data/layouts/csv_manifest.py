"""CSV manifest of a classification set: ``path,label[,patient_id,split]``, paths relative to the CSV's folder.

A path may name a folder of DICOM slices: that row is one volume (the series), for classifying CT or MR studies.

Column names are matched case-insensitively, with synonyms (:data:`PATH_COLUMNS`, :data:`LABEL_COLUMNS`...).
A row whose ``label`` cell is empty is an unlabelled image: it is kept in ``Dataset.unlabelled`` (never a
class, never in a split). With ``unlabelled=True`` the ``label`` column may be absent altogether (a manifest of
an unlabelled pool).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from medimg.data.case import Case, normalise_split
from medimg.data.dataset import Dataset
from medimg.data.layouts.common import is_manifest, name_selected, order_classes, read_manifest
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

PATH_COLUMNS = ("path", "file", "filename", "image", "image_path")
LABEL_COLUMNS = ("label", "class", "target", "diagnosis")
PATIENT_COLUMNS = ("patient_id", "patient", "subject", "subject_id")
SPLIT_COLUMNS = ("split", "fold", "subset")


def _resolve(raw_path: str, base: Path) -> Path:
    """A row's file: absolute, or relative to the CSV's folder; Windows separators (``imgs\\a.png``) work too."""
    file = Path(raw_path).expanduser()
    file = file if file.is_absolute() else base / file
    if not file.exists() and "\\" in raw_path:
        windows = Path(raw_path.replace("\\", "/")).expanduser()
        file = windows if windows.is_absolute() else base / windows
    return file


def _is_series_folder(path: Path) -> bool:
    """A folder holding DICOM slices: a row naming it is one volume (a DICOM series)."""
    if not path.is_dir():
        return False
    from medimg.io.dicom_survey import looks_like_dicom  # what read_dicom_series takes for a slice

    return any(f.is_file() and looks_like_dicom(f) for f in sorted(path.iterdir())[:20])


def _merge_case_variants(labels: list[str], manifest: Path) -> list[str]:
    """Labels that differ only in case (``NORMAL``, ``normal``) become one class, spelled as most rows spell it,
    with a warning naming the spellings."""
    spellings: dict[str, Counter[str]] = {}
    for label in labels:
        if label:
            spellings.setdefault(label.casefold(), Counter())[label] += 1
    chosen: dict[str, str] = {}
    for counts in spellings.values():
        name = counts.most_common(1)[0][0]
        if len(counts) > 1:
            listed = ", ".join(f"{spelling!r} ({n} rows)" for spelling, n in counts.most_common())
            logger.warning("%s: labels %s differ only in case: read as one class %r", manifest, listed, name)
        chosen.update(dict.fromkeys(counts, name))
    return [chosen.get(label, label) for label in labels]


def detect(path: Path) -> bool:
    """A ``.csv``/``.tsv`` file (registered after the image/mask manifest, which claims ``image,mask`` headers)."""
    return is_manifest(path)


def load(
    path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = (), unlabelled: bool = False
) -> Dataset:
    """Read a ``path,label[,patient_id,split]`` manifest (labels and paths only).

    Args:
        path: the CSV (or TSV) file.
        include: file-name patterns a row's file must match to be kept.
        exclude: file-name patterns of rows to skip.
        unlabelled: allow a manifest without a ``label`` column (every row unlabelled).

    Raises:
        DatasetError: a required column is missing, rows point to files that do not exist (all listed), or
            split values are unknown or set on some rows only.
    """
    manifest = path
    if not manifest.is_file():
        raise DatasetError(f"{manifest} is not a file: a manifest is a CSV with columns path,label")
    columns, rows = read_manifest(manifest)

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

    path_col = column(PATH_COLUMNS, True) or ""
    label_col = column(LABEL_COLUMNS, not unlabelled)
    patient_col = column(PATIENT_COLUMNS, False)
    split_col = column(SPLIT_COLUMNS, False)
    base = manifest.parent
    written = [str(r.get(label_col) or "").strip() if label_col else "" for r in rows]
    labels_raw = _merge_case_variants(written, manifest)
    class_names = order_classes({lab for lab in labels_raw if lab})
    index = {name: i for i, name in enumerate(class_names)}
    cases: list[Case] = []
    pool: list[Case] = []
    missing: list[str] = []
    bad_split: list[str] = []
    for line, (row, label) in enumerate(zip(rows, labels_raw, strict=True), start=2):
        raw_path = str(row.get(path_col) or "").strip()
        if not raw_path:
            missing.append(f"line {line}: empty path")
            continue
        file = _resolve(raw_path, base)
        if not name_selected(file.name, include, exclude):
            continue
        if not (file.is_file() or _is_series_folder(file)):
            missing.append(f"line {line}: {file}" + (" (a folder without DICOM slices)" if file.is_dir() else ""))
            continue
        split_raw = row.get(split_col) if split_col else None
        split = normalise_split(split_raw)
        if split_raw and split is None:
            bad_split.append(f"line {line}: {split_raw!r}")
        patient = str(row.get(patient_col) or "").strip() if patient_col else ""
        case = Case(
            case_id=raw_path,
            label=index[label] if label else None,
            split=split,
            patient_id=patient or None,
            path=file,
        )
        (cases if label else pool).append(case)
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
    if pool and cases:
        logger.info("%s: %d row(s) without a label are kept as unlabelled images", manifest, len(pool))
    if cases and any(c.split for c in cases) and not all(c.split for c in cases):
        raise DatasetError(
            f"{manifest}: some rows have a split and others do not; fill the split column for every row "
            "or leave it empty everywhere"
        )
    return Dataset(
        name=manifest.stem,
        root=manifest,
        source="csv",
        class_names=class_names,
        cases=cases,
        unlabelled=pool,
        options={"unlabelled": True} if unlabelled else {},
    )
