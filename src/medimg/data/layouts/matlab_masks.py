"""Nuclei label maps saved as MATLAB ``.mat`` files beside their images, the way the computational pathology sets of
HoVer-Net's lineage ship them: CoNSeP (``Train/Images/train_1.png`` + ``Train/Labels/train_1.mat`` with ``inst_map``,
``type_map``, ``inst_type``), Lizard (``Lizard_Images1/consep_1.png`` + ``Lizard_Labels/Labels/consep_1.mat`` with
``inst_map`` and per-nucleus ``id``/``class``), and Kumar, CPM-17 and MoNuSeg as HoVer-Net's authors redistributed
them (``inst_map`` alone).

Each ``.mat`` names its image by its own name, anywhere under the data folder. What a file holds decides the
classes: a ``type_map`` is the label map itself; an ``inst_map`` with a class per nucleus (CoNSeP's ``inst_type``
for nuclei ``1..n``, Lizard's ``class`` for the nuclei its ``id`` lists) is drawn into one; an ``inst_map`` alone is
one class, ``nucleus``. The class names are CoNSeP's or Lizard's published ones when the files are theirs, else
``type_<k>``. The maps are written once as PNG masks in a cache outside the data (:mod:`.drawn_masks`), and read
like any mask from then on. Folders named for a split (CoNSeP's ``Train``/``Test``) give the split. Images
without a ``.mat`` of their name are unlabelled. MATLAB 7.3 files (HDF5) are read too (h5py; their arrays come
transposed, MATLAB's column-major order, and are turned back).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from medimg.data.case import SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.layouts.common import (
    file_stem,
    folder_splits,
    images_named_like,
    problems_error,
    split_of,
    walk_files,
)
from medimg.data.layouts.drawn_masks import cache_folder, mask_file, write_mask
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

#: how many entries :func:`detect` looks at, and how many ``.mat`` files it opens
DETECT_ENTRIES = 2000
DETECT_FILES = 3
MAP_KEYS = ("type_map", "inst_map")
HDF5_MAGIC = b"\x89HDF"
#: CoNSeP's nucleus types (Graham et al. 2019, HoVer-Net), ``type_map`` values 1..7
CONSEP_TYPES = {
    1: "other",
    2: "inflammatory",
    3: "healthy_epithelial",
    4: "malignant_epithelial",
    5: "fibroblast",
    6: "muscle",
    7: "endothelial",
}
#: Lizard's nucleus classes (Graham et al. 2021), per-nucleus ``class`` values 1..6
LIZARD_CLASSES = {1: "neutrophil", 2: "epithelial", 3: "lymphocyte", 4: "plasma", 5: "eosinophil", 6: "connective"}


def mat_variables(mat: Path) -> list[str]:
    """The names of the arrays a ``.mat`` file holds (headers only), empty when it is not one."""
    try:
        with mat.open("rb") as handle:
            start = handle.read(4)
        if start == HDF5_MAGIC[:4] or is_hdf5_mat(mat):
            import h5py

            with h5py.File(mat, "r") as handle:
                return list(handle.keys())
        from scipy.io import whosmat

        return [name for name, _, _ in whosmat(str(mat))]
    except Exception:  # not a MATLAB file scipy or h5py reads: not this layout's
        return []


def is_hdf5_mat(mat: Path) -> bool:
    """MATLAB 7.3 files put a 512-byte text header before the HDF5 signature."""
    try:
        with mat.open("rb") as handle:
            handle.seek(512)
            return handle.read(4) == HDF5_MAGIC
    except OSError:
        return False


def detect(path: Path) -> bool:
    """True for a folder holding ``.mat`` files with an ``inst_map`` or ``type_map`` (among its first entries) and
    an image named like one."""
    if not path.is_dir():
        return False
    files = walk_files(path, DETECT_ENTRIES)
    mats = [p for p in files if p.suffix.lower() == ".mat"][:DETECT_FILES]
    stems = {file_stem(p) for p in files if file_suffix(p) in IMAGE_SUFFIXES}
    return any(m.stem in stems and set(MAP_KEYS) & set(mat_variables(m)) for m in mats)


def _arrays(mat: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``.mat`` file (MATLAB 7.3 ones transposed back to row-major).

    Raises:
        DatasetError: the file cannot be read (the message names it).
    """
    try:
        if is_hdf5_mat(mat):
            import h5py

            with h5py.File(mat, "r") as handle:
                return {k: np.asarray(v).T for k, v in handle.items() if hasattr(v, "shape")}
        from scipy.io import loadmat

        return {k: np.asarray(v) for k, v in loadmat(str(mat)).items() if not k.startswith("__")}
    except Exception as error:  # scipy and h5py raise many kinds on a damaged file
        why = f"{type(error).__name__}: {error}"
        raise DatasetError(f"{mat}: not a readable MATLAB file ({why}); fix or remove it") from error


def _label_map(arrays: dict[str, np.ndarray], mat: Path) -> tuple[np.ndarray, str]:
    """The file's label map and what it was made from (``"type_map"``, ``"per-nucleus classes"``, ``"inst_map"``).

    Raises:
        DatasetError: no ``type_map`` or ``inst_map``, or per-nucleus classes that do not fit the instance map.
    """
    if "type_map" in arrays:
        return np.asarray(arrays["type_map"]).astype(np.int64), "type_map"
    if "inst_map" not in arrays:
        held = ", ".join(arrays) or "nothing"
        raise DatasetError(f"{mat} holds neither a type_map nor an inst_map (it holds: {held})")
    instances = np.asarray(arrays["inst_map"]).astype(np.int64)
    if "inst_type" in arrays:  # CoNSeP: the type of nucleus k (1..n) in row k-1
        types = np.asarray(arrays["inst_type"]).ravel().astype(np.int64)
        ids = np.arange(1, len(types) + 1)
    elif "class" in arrays:  # Lizard: the class of nucleus id[k] in row k
        types = np.asarray(arrays["class"]).ravel().astype(np.int64)
        ids = np.asarray(arrays.get("id", np.arange(1, len(types) + 1))).ravel().astype(np.int64)
    else:
        return (instances > 0).astype(np.int64), "inst_map"
    if len(ids) != len(types):
        raise DatasetError(f"{mat}: {len(ids)} nucleus ids but {len(types)} classes; the file is inconsistent")
    lookup = np.zeros(max(int(instances.max()), int(ids.max(initial=0))) + 1, np.int64)
    lookup[ids] = types
    return lookup[instances], "per-nucleus classes"


def _class_names(values: set[int], source: set[str], mats: list[Path], root: Path) -> dict[int, str]:
    if source == {"inst_map"}:
        return {1: "nucleus"}
    text = f"{root.resolve()} {' '.join(m.stem for m in mats[:20])}".lower()
    if "lizard" in text and values <= set(LIZARD_CLASSES):
        return dict(LIZARD_CLASSES)
    if "consep" in text and values <= set(CONSEP_TYPES):
        return dict(CONSEP_TYPES)
    return {v: f"type_{v}" for v in range(1, max(values, default=1) + 1)}


def load(path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SegmentationDataset:
    """The images with a ``.mat`` label file of their name, their label maps written once as PNG masks (cached).

    Args:
        include, exclude: file-name patterns an image must match / must not match.

    Raises:
        DatasetError: no ``.mat`` names an image, a file is unreadable or holds no map, or a map's size differs from
            its image's; the message names the files.
    """
    from medimg.io.read import read_header

    root = path
    files = walk_files(root)
    mats = sorted(p for p in files if p.suffix.lower() == ".mat")
    paired, images = images_named_like(files, mats, include, exclude, f"a .mat label file in {root}")
    cache = cache_folder([mat for mat, _ in paired])
    cases: list[SegCase] = []
    problems: list[str] = []
    values: set[int] = set()
    sources: set[str] = set()
    for mat, image in paired:
        case_id = image.relative_to(root).as_posix()
        target = mask_file(cache, case_id)
        try:
            labels, source = _label_map(_arrays(mat), mat)
        except DatasetError as error:
            problems.append(str(error))
            continue
        sources.add(source)
        values |= {int(v) for v in np.unique(labels) if v > 0}
        shape = tuple(int(n) for n in read_header(image).spatial_shape)
        if labels.shape != shape:
            size = f"{shape[-1]}x{shape[0]}"
            problems.append(f"{mat}: a {labels.shape[1]}x{labels.shape[0]} map for {image.name} of {size}")
            continue
        if labels.max(initial=0) > 255:
            problems.append(f"{mat}: class values up to {labels.max()} (at most 255 classes)")
            continue
        if not target.is_file():
            write_mask(target, labels.astype(np.uint8))
        cases.append(SegCase(case_id=case_id, image=image, mask=target, split=split_of(root, image)))
    if problems:
        raise problems_error(root, problems, "label file problem(s)")
    cases = folder_splits(cases, root)
    annotated = {mat.stem for mat, _ in paired}
    unlabelled = [p.relative_to(root).as_posix() for stem, ps in images.items() if stem not in annotated for p in ps]
    names = _class_names(values, sources, [mat for mat, _ in paired], root)
    logger.info(
        "%s: %d .mat label file(s) (%s) written or reused as masks in %s",
        root,
        len(cases),
        ", ".join(sorted(sources)),
        cache,
    )
    return SegmentationDataset(
        name=dataset_name(root),
        root=root,
        source="mat",
        cases=cases,
        unlabelled=sorted(unlabelled),
        value_names={0: "background", **names},
    )
