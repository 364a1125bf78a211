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

For segmentation (:func:`load_masks`, ``--task segment``) each mammogram's abnormalities' ROI masks (``ROI mask file
path``: in ``<case>_<n>/`` beside the abnormality's crop, the mask being the file of the mammogram's size) make one
label map, ``mass`` and ``calcification`` by the table each row comes from; for detection (:func:`load_boxes`,
``--task detect``) each connected region of those masks is a box of its class.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from medimg.data.case import Case, SegCase
from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import DetectionDataset
from medimg.data.layouts.common import read_manifest
from medimg.errors import DatasetError, ImageReadError
from medimg.io.folder_walk import walk_tree
from medimg.io.formats import is_image_file

logger = logging.getLogger(__name__)

#: the tables' names: ``{mass,calc}_case_description_{train,test}_set.csv``
TABLE = re.compile(r"^(mass|calc)_case_description_(train|test)_set\.csv$", re.IGNORECASE)
#: a mammogram's case folder: ``Calc-Test_P_00038_LEFT_CC``, and ``..._1``: its first abnormality's crop and ROI mask
CASE_FOLDER = re.compile(r"^(mass|calc)-(training|test)_p_\d+_(left|right)_(cc|mlo)(_\d+)?$", re.IGNORECASE)
PATH_COLUMN = "image_file_path"
ROI_COLUMN = "roi_mask_file_path"
#: the tables' abnormality types, as segmentation classes (values 1, 2 in this order, those present)
STRUCTURES = {"mass": "mass", "calc": "calcification"}
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

    def _candidates(self, raw_path: str) -> tuple[list[Path], str | None]:
        """The files a row's path may name (the path as written; else its series' ``jpeg/`` folder's images; else
        the DICOM files of the folder named as its first folder), and the series UID it gives."""
        parts = [p.strip() for p in re.split(r"[/\\]", raw_path.strip()) if p.strip()]
        if not parts:
            return [], None
        series = parts[-2] if len(parts) >= 3 else None
        for base in (self.root, self.root / "CBIS-DDSM"):
            if (base.joinpath(*parts)).is_file():
                return [base.joinpath(*parts)], series
        if series in self.series_folders:
            return [p for p in sorted(self.series_folders[series].iterdir()) if is_image_file(p)], series
        folder = self.case_folders.get(parts[0].lower())
        if folder is None:
            return [], series
        return sorted(p for p in walk_tree(folder) if p.is_file() and p.suffix.lower() == ".dcm"), series

    def find(self, raw_path: str) -> Path | None:
        """The mammogram of a row's ``image file path``, or ``None`` when it is not downloaded: the one file found,
        or the one of the row's series."""
        files, series = self._candidates(raw_path)
        if len(files) <= 1:
            return files[0] if files else None
        return next((f for f in files if series is not None and _series_uid(f) == series), None)

    def find_mask(self, raw_path: str, size: tuple[int, ...]) -> Path | None:
        """The ROI mask of a row's ``ROI mask file path``: of the files found, the one of the mammogram's ``size``
        (its crop, beside it in the same folder or series, is smaller; which of ``1-1``/``1-2`` is the mask varies)."""
        files, _ = self._candidates(raw_path)
        return next((f for f in files if _size(f) == size), None)


def _series_uid(file: Path) -> str | None:
    """A DICOM file's SeriesInstanceUID (header only), ``None`` when unreadable."""
    from medimg.data.layouts.dicom_masks import read_tags

    header = read_tags(file, ["SeriesInstanceUID"])
    return str(getattr(header, "SeriesInstanceUID", "") or "") or None


def _size(file: Path) -> tuple[int, ...] | None:
    """An image's spatial shape (``(rows, columns)``) from its header, ``None`` when unreadable."""
    from medimg.io.read import read_header

    try:
        return read_header(file).spatial_shape
    except ImageReadError:  # not an image: not the file a row names
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


@dataclass
class _Mammogram:
    """One downloaded mammogram of the tables: its rows' split, patient, worst pathology and ROI masks."""

    case_id: str
    file: Path
    split: str
    patient: str | None
    label: int = 0
    rois: list[tuple[str, str]] = field(default_factory=list)  # (abnormality type, the row's ROI mask path)


def _read_tables(path: Path) -> tuple[_Mammograms, list[_Mammogram]]:
    """The downloaded mammograms the tables list, with where the files are.

    Raises:
        DatasetError: a table lacks its columns or has an unknown pathology, or none of the listed mammograms is
            on disk (the message says where they were looked for).
    """
    tables = _tables(path)
    root = _root(path)
    files = _Mammograms(root)
    found: dict[Path, _Mammogram] = {}
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
        kind, split = (g.lower() for g in TABLE.match(table.name).groups())  # type: ignore[union-attr]
        for row in rows:
            raw = str(row.get(columns[PATH_COLUMN]) or "")
            file = files.find(raw)
            if file is None:
                missing.append(raw.strip())
                continue
            pathology = str(row.get(columns[LABEL_COLUMN]) or "")
            pathologies[pathology.strip().upper()] += 1
            patient = str(row.get(columns["patient_id"]) or "").strip() or None
            mammogram = found.setdefault(file, _Mammogram(str(file.relative_to(root)), file, split, patient))
            mammogram.label = max(mammogram.label, _label(pathology, table, raw))
            if ROI_COLUMN in columns:
                mammogram.rois.append((kind, str(row.get(columns[ROI_COLUMN]) or "")))
    if not found:
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
        "%s: %d mammograms from %d rows of %s (pathology values: %s)",
        path,
        len(found),
        sum(pathologies.values()),
        ", ".join(t.name for t in tables),
        ", ".join(f"{k} {v}" for k, v in sorted(pathologies.items())),
    )
    return files, list(found.values())


def load(path: Path) -> Dataset:
    """Every downloaded mammogram the tables list, one case each, malignant when any of its abnormalities is (see
    the module docstring).

    Raises:
        DatasetError: as :func:`_read_tables`.
    """
    files, mammograms = _read_tables(path)
    logger.info("%s: a mammogram is malignant when any of its abnormalities is (BENIGN_WITHOUT_CALLBACK: benign)", path)
    cases = [Case(m.case_id, m.label, split=m.split, patient_id=m.patient, path=m.file) for m in mammograms]
    return Dataset(
        name=dataset_name(files.root), root=files.root, source="cbis-ddsm", class_names=list(CLASS_NAMES), cases=cases
    )


def load_masks(path: Path) -> SegmentationDataset:
    """Every downloaded mammogram with its abnormalities' ROI masks as one label map: ``mass`` and
    ``calcification`` (the tables' types present, in that order); a mammogram whose masks are not all on disk
    is left out with a warning (an unmasked lesion would be taught as background).

    Raises:
        DatasetError: as :func:`_read_tables`, or no mammogram has its masks.
    """
    files, mammograms = _read_tables(path)
    kinds = [k for k in STRUCTURES if any(kind == k for m in mammograms for kind, _ in m.rois)]
    value = {kind: i + 1 for i, kind in enumerate(kinds)}
    cases: list[SegCase] = []
    unmasked: list[str] = []
    for mammogram in mammograms:
        size = _size(mammogram.file)
        masks = [(value[kind], files.find_mask(raw, size)) for kind, raw in mammogram.rois] if size else []
        chosen = tuple((v, mask) for v, mask in masks if mask is not None)
        if not chosen or len(chosen) < len(mammogram.rois):
            unmasked.append(mammogram.case_id)
            continue
        cases.append(
            SegCase(
                mammogram.case_id,
                mammogram.file,
                chosen[0][1],
                patient_id=mammogram.patient,
                split=mammogram.split,
                structures=chosen,
            )
        )
    if not cases:
        raise DatasetError(
            f"{path}: none of the {len(mammograms)} mammograms has its ROI masks on disk (the tables' ROI mask file "
            "path: a mask of the mammogram's size in the folder or series it names): download the 'ROI mask images' "
            "series too"
        )
    if unmasked:
        logger.warning(
            "%s: %d mammogram(s) without all their ROI masks on disk left out (their lesions would be taught as "
            "background), e.g. %s",
            path,
            len(unmasked),
            unmasked[0],
        )
    return SegmentationDataset(
        name=dataset_name(files.root),
        root=files.root,
        source="cbis-ddsm",
        cases=cases,
        value_names={0: "background", **{v: STRUCTURES[k] for k, v in value.items()}},
    )


def load_boxes(path: Path, *, label_names: dict[str, str] | None = None, min_size: int = 1) -> DetectionDataset:
    """The mammograms of :func:`load_masks` with one box per connected region of each ROI mask (``mass``,
    ``calcification``): lesion detection (``--task detect``).

    Raises:
        DatasetError: as :func:`load_masks`.
    """
    from medimg.data.layouts.mask_boxes import boxes_of

    masks = load_masks(path)
    names = label_names or {str(v): n for v, n in masks.value_names.items() if v}
    return boxes_of(masks, path, names, min_size=min_size, source="cbis-ddsm")
