"""MURA (Stanford's musculoskeletal radiographs) as it ships: studies labelled normal or abnormal by two tables.

``MURA-v1.1/`` holds ``train/XR_WRIST/patient00001/study1_positive/image1.png``... and, without a header,
``train_labeled_studies.csv`` and ``valid_labeled_studies.csv``: a study folder
(``MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/``) and its label (``1`` abnormal, ``0`` normal) per
row. Every image of a study gets the study's label; the patient folder is the patient (one patient's studies of
several body parts stay together). MURA's test set is hidden, and its public ``valid`` set is where results are
reported, so ``valid`` is the test split and the validation images are carved from ``train`` by patient. Read as
class folders, the body parts (``XR_WRIST``...) were the classes. ``--include XR_WRIST`` keeps one body part
(patterns match the body part's folder, or with a ``/`` the image's path).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import nothing_listed_error
from medimg.errors import DatasetError
from medimg.io.formats import is_image_file
from medimg.io.inputs import name_selected

logger = logging.getLogger(__name__)

#: the label tables: ``train_labeled_studies.csv`` and ``valid_labeled_studies.csv``
TABLES = {"train": "train_labeled_studies.csv", "test": "valid_labeled_studies.csv"}
CLASS_NAMES = ["normal", "abnormal"]
BODY_PART = re.compile(r"^XR_[A-Z]+$", re.IGNORECASE)


def _folder(path: Path) -> Path | None:
    """The folder holding the tables: ``path`` itself or its ``MURA-v1.1/`` (any one sub-folder holding them)."""
    if not path.is_dir():
        return None
    candidates = [path, *sorted(p for p in path.iterdir() if p.is_dir() and p.name.lower().startswith("mura"))]
    return next((c for c in candidates if any((c / t).is_file() for t in TABLES.values())), None)


def detect(path: Path) -> bool:
    """A folder holding MURA's study tables, or holding the ``MURA-*`` folder that does (names only)."""
    return _folder(path) is not None


def _study_folder(root: Path, written: str) -> Path | None:
    """A table's study path (``MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/``) under ``root``, the folder
    of the tables: as written from ``root``'s parent, or from ``root`` itself."""
    parts = [p for p in re.split(r"[/\\]", written.strip()) if p]
    for start in range(len(parts)):
        candidate = root.joinpath(*parts[start:])
        if candidate.is_dir():
            return candidate
    return None


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Dataset:
    """Every image of the studies the tables list, labelled by its study (see the module docstring).

    Raises:
        DatasetError: a row is not ``study folder,0|1``, or no listed study folder holds an image.
    """
    root = _folder(path)
    assert root is not None
    cases: list[Case] = []
    absent: list[str] = []
    for split, name in TABLES.items():
        table = root / name
        if not table.is_file():
            continue
        for number, line in enumerate(table.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            written, _, label = line.rpartition(",")
            if label.strip() not in ("0", "1") or not written.strip():
                raise DatasetError(
                    f"{table}, line {number}: {line!r} is not 'study folder,label' with label 0 (normal) or 1 "
                    "(abnormal), as MURA writes its study tables; restore the file from the download"
                )
            study = _study_folder(root, written)
            if study is None:
                absent.append(written.strip())
                continue
            patient = study.parent.name
            body_part = next((p for p in study.parts if BODY_PART.match(p)), study.parent.parent.name)
            for image in sorted(p for p in study.iterdir() if p.is_file() and is_image_file(p)):
                relative = image.relative_to(root).as_posix()
                if not name_selected(body_part, include, exclude, relative=relative):
                    continue
                cases.append(Case(relative, int(label.strip()), split=split, patient_id=patient, path=image))
    if not cases:
        missing = [f"{absent[0]} is not under {root}"] if absent else []
        what = "no image in the study folders its tables list"
        raise nothing_listed_error(root, what, missing, include + exclude, "pass the unpacked MURA-v1.1 folder")
    if absent:
        logger.warning(
            "%s: %d study folder(s) the tables list are missing (e.g. %s): left out", root, len(absent), absent[0]
        )
    logger.info(
        "%s: %d images of %d studies, labelled by study (normal / abnormal); MURA's valid set is the test split (its "
        "own test set is not public), validation is carved from train by patient",
        root,
        len(cases),
        len({Path(c.case_id).parent for c in cases}),
    )
    return Dataset(name=dataset_name(root), root=root, source="mura", class_names=list(CLASS_NAMES), cases=cases)
