"""The figshare brain tumour set (Cheng et al. 2015; 3,064 T1-weighted contrast-enhanced slices of 233 patients):
MATLAB 7.3 files ``1.mat`` ... ``3064.mat`` (often in ``brainTumorDataPublic_1-766/`` and three more folders), each a
``cjdata`` struct holding the slice (``image``, 512 x 512 int16), its class (``label``: 1 meningioma, 2 glioma, 3
pituitary tumour), the patient (``PID``), the tumour's outline (``tumorBorder``) and mask (``tumorMask``).

The images live inside the MATLAB files, so each slice (16-bit PNG) and its tumour mask are written once into the
cache (:mod:`.drawn_masks`) and read from there. Two readings: :func:`load_classes` (the default: the three tumour
classes, each slice's patient its ``PID``, so a patient's slices never straddle the split, the set's known leak) and
:func:`load_masks` (``task="segment"``: the tumour masks).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medimg.data.case import Case, SegCase
from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import path_selected, problems_error, walk_files
from medimg.data.layouts.drawn_masks import cache_folder, mask_file, write_mask, write_png
from medimg.data.layouts.matlab_masks import is_hdf5_mat, mat_variables
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

CLASS_NAMES = ("meningioma", "glioma", "pituitary")
DETECT_ENTRIES = 200
DETECT_FILES = 3


def _is_cjdata(file: Path) -> bool:
    """A MATLAB 7.3 file holding a ``cjdata`` struct (its HDF5 header only)."""
    return file.suffix.lower() == ".mat" and is_hdf5_mat(file) and "cjdata" in mat_variables(file)


def detect(path: Path) -> bool:
    """A folder whose first ``.mat`` files hold a ``cjdata`` struct, all but one at most (the set's ``cvind.mat`` of
    cross-validation indices among them; HDF5 headers only)."""
    if not path.is_dir():
        return False
    mats = [p for p in walk_files(path, DETECT_ENTRIES) if p.suffix.lower() == ".mat"][: DETECT_FILES + 1]
    found = sum(map(_is_cjdata, mats))
    return found > 0 and found >= len(mats) - 1


@dataclass(frozen=True)
class _Slice:
    case_id: str
    image: Path
    mask: Path
    label: int
    patient: str


def _slices(root: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> list[_Slice]:
    """Every ``cjdata`` file under ``root``, its image and mask written to the cache when not yet there.

    Raises:
        DatasetError: no such file, or unreadable ones (listed).
    """
    import h5py
    from tqdm.auto import tqdm

    from medimg.terminal import show_bars

    files = sorted(
        (p for p in walk_files(root) if p.suffix.lower() == ".mat" and path_selected(p, include, exclude, root)),
        key=lambda p: (int(p.stem) if p.stem.isdigit() else 0, p.name),
    )
    if not files:
        raise DatasetError(f"{root} holds no .mat files of the figshare brain tumour set")
    cache = cache_folder(files)
    slices: list[_Slice] = []
    problems: list[str] = []
    others: list[str] = []  # MATLAB files without a cjdata struct beside the slices
    for file in tqdm(
        files, desc="reading brain tumour .mat files", leave=False, disable=len(files) < 100 or not show_bars(True)
    ):
        within = file.relative_to(root).as_posix()  # part1/1.mat and part2/1.mat are two slices
        image_path, mask_path = mask_file(cache, f"{within}.image"), mask_file(cache, within)
        try:
            with h5py.File(file, "r") as handle:
                data = handle["cjdata"]
                label = int(np.asarray(data["label"]).ravel()[0])
                patient = "".join(chr(int(c)) for c in np.asarray(data["PID"]).ravel() if int(c))
                if not mask_path.is_file():
                    pixels = np.clip(np.asarray(data["image"]).T, 0, 65535).astype(np.uint16)  # MATLAB: column-major
                    write_png(image_path, pixels)
                    write_mask(mask_path, (np.asarray(data["tumorMask"]).T > 0).astype(np.uint8))
        except (OSError, KeyError, ValueError, IndexError) as error:
            # cvind.mat, the set's cross-validation folds: MATLAB 7.3 without cjdata, or an older MATLAB file
            if not _is_cjdata(file) and (isinstance(error, KeyError) or mat_variables(file)):
                others.append(file.relative_to(root).as_posix())
                continue
            problems.append(f"{file}: not a readable cjdata file ({type(error).__name__}: {error})")
            continue
        if label not in (1, 2, 3):
            problems.append(f"{file}: label {label} is none of 1 (meningioma), 2 (glioma), 3 (pituitary)")
            continue
        case_id = file.relative_to(root).as_posix()
        slices.append(_Slice(case_id, image_path, mask_path, label, patient or case_id))
    if problems:
        raise problems_error(root, problems, "brain tumour file problem(s)")
    if others:
        logger.info(
            "%s: %d .mat file(s) without a cjdata struct left out (e.g. %s: the set's cross-validation indices, "
            "not a slice)",
            root,
            len(others),
            others[0],
        )
    return slices


def load_classes(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Dataset:
    """The slices with their tumour class, grouped by patient."""
    slices = _slices(path, include, exclude)
    cases = [Case(s.case_id, s.label - 1, None, s.patient, s.image) for s in slices]
    logger.info("%s: %d slices of %d patients", path, len(cases), len({s.patient for s in slices}))
    return Dataset(
        name=dataset_name(path),
        root=path,
        source="brain_tumour_mat",
        class_names=list(CLASS_NAMES),
        cases=cases,
    )


def load_masks(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """The slices with their tumour masks, grouped by patient."""
    slices = _slices(path, include, exclude)
    return SegmentationDataset(
        name=dataset_name(path),
        root=path,
        source="brain_tumour_mat",
        cases=[SegCase(s.case_id, s.image, s.mask, patient_id=s.patient) for s in slices],
        value_names={0: "background", 1: "tumour"},
    )
