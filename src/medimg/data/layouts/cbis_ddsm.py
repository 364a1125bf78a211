"""CBIS-DDSM (TCIA's Curated Breast Imaging Subset of DDSM) as it ships: mammograms and four case tables.

The tables (``mass_case_description_train_set.csv``, ``mass_..._test_set.csv``, ``calc_..._train_set.csv``,
``calc_..._test_set.csv``) hold one row per abnormality: ``patient_id``, ``pathology`` (``MALIGNANT``, ``BENIGN``,
``BENIGN_WITHOUT_CALLBACK``) and ``image file path``, the full mammogram as
``Mass-Training_P_00001_LEFT_CC/<StudyInstanceUID>/<SeriesInstanceUID>/000000.dcm``. The downloaded files are named
otherwise, so those paths rarely exist as written:

- TCIA's NBIA Data Retriever with descriptive names: ``CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/07-20-2016-DDSM-74994/
  1.000000-full mammogram images-24515/1-1.dcm`` (often under a ``manifest-<number>/`` folder);
- its classic layout: ``CBIS-DDSM/<case>/<StudyInstanceUID>/<SeriesInstanceUID>/1-1.dcm``;
- Kaggle's JPEG copy: ``jpeg/<SeriesInstanceUID>/1-1.jpg`` with the tables in ``csv/``.

A row's mammogram is found as written, else by its series UID among ``jpeg/`` folders, else as the one DICOM file
(or the one of its series) in the folder named as the row's first folder: a case folder holds one mammogram (its
crops and ROI masks are in ``<case>_1``, ``<case>_2``...). Each mammogram is one image, labelled ``malignant`` when any
of its abnormalities is, else ``benign`` (``BENIGN_WITHOUT_CALLBACK``: benign, not recalled); the tables' train and
test parts are the split, ``patient_id`` the patient. Images not downloaded are left out with one warning.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.layouts.common import read_manifest
from medimg.errors import DatasetError
from medimg.io.formats import is_image_file

logger = logging.getLogger(__name__)

#: the tables' names: ``{mass,calc}_case_description_{train,test}_set.csv``
TABLE = re.compile(r"^(mass|calc)_case_description_(train|test)_set\.csv$", re.IGNORECASE)
#: a mammogram's case folder: ``Calc-Test_P_00038_LEFT_CC`` (``..._1``: an abnormality's crop and ROI mask)
CASE_FOLDER = re.compile(r"^(mass|calc)-(training|test)_p_\d+_(left|right)_(cc|mlo)$", re.IGNORECASE)
PATH_COLUMN = "image_file_path"
LABEL_COLUMN = "pathology"
CLASS_NAMES = ["benign", "malignant"]
#: how deep below the dataset's folder case folders are looked for (``manifest-1/CBIS-DDSM/<case>``)
SEARCH_DEPTH = 4


def _tables(path: Path) -> list[Path]:
    """The case tables of ``path``: the file itself, or those in the folder or in its ``csv/`` (Kaggle's copy)."""
    if path.is_file():
        return [path] if TABLE.match(path.name) else []
    folders = [path, path / "csv"]
    return sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir() if TABLE.match(p.name))


def detect(path: Path) -> bool:
    """A case table, or a folder holding them (names only)."""
    return bool(_tables(path))


def _root(path: Path) -> Path:
    """The folder the images lie under: a table's folder (its parent when that is Kaggle's ``csv/``)."""
    folder = path.parent if path.is_file() else path
    return folder.parent if folder.name.lower() == "csv" else folder


class _Mammograms:
    """Where the tables' mammograms are on disk: case folders by name and Kaggle's ``jpeg/<SeriesInstanceUID>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.case_folders: dict[str, Path] = {}
        self.series_folders: dict[str, Path] = {}
        self._index(root, 0)

    def _index(self, folder: Path, depth: int) -> None:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            return
        for child in children:
            if CASE_FOLDER.match(child.name):
                self.case_folders.setdefault(child.name.lower(), child)
            elif child.name.lower() == "jpeg":
                self.series_folders.update({p.name: p for p in child.iterdir() if p.is_dir()})
            elif depth < SEARCH_DEPTH:
                self._index(child, depth + 1)

    def find(self, raw_path: str) -> Path | None:
        """The file of a row's ``image file path``, or ``None`` when it is not downloaded."""
        parts = [p.strip() for p in re.split(r"[/\\]", raw_path.strip()) if p.strip()]
        if not parts:
            return None
        for base in (self.root, self.root / "CBIS-DDSM"):
            if (base.joinpath(*parts)).is_file():
                return base.joinpath(*parts)
        series = parts[-2] if len(parts) >= 3 else None
        if series in self.series_folders:
            images = [p for p in sorted(self.series_folders[series].iterdir()) if is_image_file(p)]
            return images[0] if len(images) == 1 else None
        folder = self.case_folders.get(parts[0].lower())
        if folder is None:
            return None
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm")
        if len(files) <= 1:
            return files[0] if files else None
        return next((f for f in files if series is not None and _series_uid(f) == series), None)


def _series_uid(file: Path) -> str | None:
    """A DICOM file's SeriesInstanceUID (header only), ``None`` when unreadable."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        header = pydicom.dcmread(file, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
        return str(header.SeriesInstanceUID)
    except (OSError, InvalidDicomError, AttributeError, ValueError):  # not the file a row names
        return None


def _label(pathology: str, table: Path, raw_path: str) -> int:
    """``0`` benign, ``1`` malignant, from a row's ``pathology``.

    Raises:
        DatasetError: a value that is neither.
    """
    value = pathology.strip().upper()
    if value.startswith("MALIGNANT"):
        return 1
    if value.startswith("BENIGN"):
        return 0
    raise DatasetError(
        f"{table}: the row of {raw_path} has pathology {pathology!r}; CBIS-DDSM's values are MALIGNANT, BENIGN and "
        "BENIGN_WITHOUT_CALLBACK (correct the table or remove the row)"
    )


def load(path: Path) -> Dataset:
    """Every downloaded mammogram the tables list, one case each (see the module docstring).

    Raises:
        DatasetError: a table lacks its columns or has an unknown pathology, or none of the listed mammograms is
            on disk (the message says where they were looked for).
    """
    tables = _tables(path)
    root = _root(path)
    mammograms = _Mammograms(root)
    labels: dict[Path, int] = {}
    cases: dict[Path, Case] = {}
    missing: list[str] = []
    pathologies: Counter[str] = Counter()
    for table in tables:
        columns, rows = read_manifest(table)
        absent = [c for c in ("patient_id", LABEL_COLUMN, PATH_COLUMN) if c not in columns]
        if absent:
            raise DatasetError(
                f"{table}: a CBIS-DDSM case table needs the columns patient_id, pathology and image file path "
                f"(missing: {', '.join(absent)})"
            )
        split = TABLE.match(table.name).group(2).lower()  # type: ignore[union-attr]
        for row in rows:
            raw = str(row.get(columns[PATH_COLUMN]) or "")
            file = mammograms.find(raw)
            if file is None:
                missing.append(raw.strip())
                continue
            pathology = str(row.get(columns[LABEL_COLUMN]) or "")
            pathologies[pathology.strip().upper()] += 1
            labels[file] = max(labels.get(file, 0), _label(pathology, table, raw))
            patient = str(row.get(columns["patient_id"]) or "").strip() or None
            cases.setdefault(
                file, Case(case_id=str(file.relative_to(root)), label=0, split=split, patient_id=patient, path=file)
            )
    if not cases:
        example = missing[0] if missing else "(no rows)"
        raise DatasetError(
            f"{path}: none of the {len(missing)} mammograms its CBIS-DDSM tables list is on disk (e.g. {example}); "
            f"looked for the paths as written, for folders named as their first folder (Mass-Training_P_00001_LEFT_CC) "
            f"up to {SEARCH_DEPTH} levels below {root}, and for jpeg/<SeriesInstanceUID>/ folders: download the "
            "images into this folder (TCIA's NBIA Data Retriever) or pass the folder that holds them and the tables"
        )
    if missing:
        logger.warning(
            "%s: %d of the rows' mammograms are not on disk (a partial download?), e.g. %s: left out",
            path,
            len(missing),
            missing[0],
        )
    logger.info(
        "%s: %d mammograms from %d rows of %s, each malignant when any of its abnormalities is (pathology values: "
        "%s; BENIGN_WITHOUT_CALLBACK is benign)",
        path,
        len(cases),
        sum(pathologies.values()),
        ", ".join(t.name for t in tables),
        ", ".join(f"{k} {v}" for k, v in sorted(pathologies.items())),
    )
    chosen = [replace(case, label=labels[file]) for file, case in cases.items()]
    return Dataset(name=root.name, root=root, source="cbis-ddsm", class_names=list(CLASS_NAMES), cases=chosen)
