"""Detection boxes derived from segmentation masks: one box per connected component of each foreground label.

Any folder (or CSV manifest) the :mod:`~medimg.data.layouts.image_mask_pairs` layout reads (``images/`` +
``masks/``, ``imagesTr/`` + ``labelsTr/``, ``<name>_mask.png`` beside ``<name>.png``, CSV ``image,mask``) can be
read for detection (``Dataset.load(path, task="detect")``, CLI ``--task detect``): the pairs are found by that
layout, then every *mask* is read (the images are not) and each foreground label value's connected components
(:func:`scipy.ndimage.label` with full connectivity: pixels/voxels touching at an edge or a corner are one
object) become one :class:`~medimg.data.case.Box` each, the tight box around the component, in 2D or 3D (see
:class:`~medimg.data.case.Box` for the axis order against the array's ``(D, H, W)``).

Classes are the foreground label values found in the masks (0 is background), in increasing order. Their names
come from ``label_names`` (``{value: name}`` or a list indexed by value), else from what the data names (3D Slicer's
segment names: :mod:`medimg.data.slicer_classes`; BraTS's labels), else from a ``dataset.json`` in the folder
or its parent (the Medical Segmentation Decathlon's ``"labels": {"1": "Anterior", ...}`` or nnU-Net v2's
``"labels": {"Anterior": 1, ...}``), else ``label_<value>`` (``foreground`` for binary masks).

Masks must be gray label maps of integer values; a colour mask or one with fractional values is a
:class:`~medimg.errors.DatasetError` naming the file. Components smaller than ``min_size`` pixels/voxels are
dropped and reported as degenerate boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import Box, Case, SegCase
from medimg.data.dataset import SegmentationDataset, read_case_mask
from medimg.data.detection import BoxIssue, DetectionDataset, box_from_array_order, log_issues
from medimg.data.instance_masks import INSTANCE_MIN_COUNTS, INSTANCE_MIN_MAX, OBJECT_PIECES
from medimg.data.layouts import image_mask_pairs
from medimg.errors import DatasetError, ImageReadError
from medimg.io.formats import VOLUME_FILE_FORMATS, is_lossy

logger = logging.getLogger(__name__)

READ_WORKERS = 4
"""Threads reading masks."""
LOSSY_THRESHOLD = 127
"""A JPEG mask's foreground: values above this (the middle of 0..255), one class, as segmentation reads a binary
JPEG mask; its ringing values would otherwise each be a class of speckle boxes (Kvasir-SEG: 27 classes)."""


def detect(path: Path) -> bool:
    """The image/mask pair layouts (names only): a mask folder holding images, ``*_mask`` files, CSV image,mask."""
    return image_mask_pairs.detect(path)


def detect_asked(path: Path) -> bool:
    """Asked for by ``--task detect``: also class folders with masks beside their images (BUSI)."""
    return image_mask_pairs.detect_asked(path)


def read_label_map(root: Path) -> dict[int, str]:
    """``{value: name}`` from the ``labels`` of a ``dataset.json`` in ``root`` (or its parent); empty when none
    (:func:`~medimg.data.layouts.dataset_json.read_dataset_json`).

    Raises:
        DatasetError: the file exists but is not JSON with a ``labels`` mapping.
    """
    from medimg.data.layouts.dataset_json import read_dataset_json

    found = read_dataset_json(root)
    return dict(found.labels) if found is not None else {}


def _label_names(labels: Mapping[Any, Any] | Sequence[str], source: str) -> dict[int, str]:
    """``{value: name}`` from ``{value: name}`` (MSD), ``{name: value}`` (nnU-Net v2) or a list by value."""
    if not isinstance(labels, Mapping):
        return {i: str(name) for i, name in enumerate(labels)}
    names: dict[int, str] = {}
    for key, value in labels.items():
        try:
            if str(key).strip().lstrip("-").isdigit():
                names[int(key)] = str(value)
            elif isinstance(value, int | float) or str(value).strip().isdigit():
                names[int(value)] = str(key)
        except (TypeError, ValueError) as error:
            raise DatasetError(f"{source}: label {key!r}: {value!r} is not value -> name") from error
    return names


#: ``(value, corners)`` per connected component of a mask (:func:`components`)
Components = list[tuple[int, list[float]]]


def components(mask: np.ndarray, min_size: int = 1) -> tuple[Components, Components]:
    """Connected components of each foreground value of ``mask`` (``(*spatial)`` integers, 0 = background).

    Returns:
        ``(kept, dropped)``: ``(value, corners)`` per component, corners in array-axis order
        (``[d1, h1, w1, d2, h2, w2]`` or ``[h1, w1, h2, w2]``, the stop exclusive); ``dropped`` are those under
        ``min_size`` pixels/voxels.
    """
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    kept: list[tuple[int, list[float]]] = []
    dropped: list[tuple[int, list[float]]] = []
    for value in np.unique(mask):
        if value == 0:
            continue
        labelled, count = ndimage.label(mask == value, structure=structure)
        sizes = np.bincount(labelled.ravel(), minlength=count + 1)
        for index, slices in enumerate(ndimage.find_objects(labelled), start=1):
            if slices is None:
                continue
            corners = [float(s.start) for s in slices] + [float(s.stop) for s in slices]
            (kept if sizes[index] >= min_size else dropped).append((int(value), corners))
    return kept, dropped


def _read_mask(case: SegCase) -> np.ndarray:
    """The mask of ``case`` as ``(*spatial)`` int64 label values.

    Raises:
        DatasetError: unreadable, colour, or not integer values (the message names the file).
    """
    assert case.mask is not None
    image_affine, image_shape = _image_grid(case)
    try:
        raw = read_case_mask(case, image_affine=image_affine, image_shape=image_shape)
    except ImageReadError as error:
        raise DatasetError(f"mask {case.mask} cannot be read: {error.reason}") from error
    assert raw is not None  # the case has a mask
    if raw.shape[0] != 1 and not all(np.array_equal(raw[0], raw[c]) for c in range(1, raw.shape[0])):
        raise DatasetError(
            f"mask {case.mask} has {raw.shape[0]} different channels (a colour mask): boxes are derived from gray "
            "label maps (0 = background, 1, 2, ... = classes); convert it to a label map"
        )
    values = raw[0]
    if is_lossy(case.mask):  # JPEG: ringing values around every edge, no labels
        return (values > (LOSSY_THRESHOLD if values.max() > 1 else 0)).astype(np.int64)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)) or values.min() < 0:
        raise DatasetError(
            f"mask {case.mask} holds non-integer or negative values: boxes are derived from label maps of integers "
            "(0 = background); store the mask without interpolation or compression (PNG or NIfTI)"
        )
    return values.astype(np.int64)


def _image_grid(case: SegCase) -> tuple[np.ndarray | None, tuple[int, ...] | None]:
    """The affine and spatial shape of ``case``'s image from its header, where the mask is a volume file with a
    geometry of its own and the image a NIfTI, MetaImage or NRRD file: a mask stored in another voxel orientation,
    or 3D Slicer's segmentation cropped to its segments, is then put on the image's grid (its boxes would otherwise
    lie in the mask file's voxels, not the image's). ``(None, None)`` otherwise: a DICOM series is not read for it
    (the masks drawn from its RT Structure Sets and SEG objects are on its grid already), and an unreadable image is
    reported when it is read."""
    from medimg.io.formats import detect_format
    from medimg.io.read import read_geometry

    assert case.mask is not None
    if case.page is not None or detect_format(case.mask) not in VOLUME_FILE_FORMATS:
        return None, None
    try:
        geometry = read_geometry(case.image)
    except ImageReadError:
        return None, None
    return (None, None) if geometry is None else geometry


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    label_names: Mapping[Any, str] | Sequence[str] | None = None,
    min_size: int = 1,
    strict: bool = False,
) -> DetectionDataset:
    """Find the image/mask pairs under ``path``, read the masks and derive one box per connected component.

    Args:
        path: a folder of images with masks, or a CSV manifest ``image,mask[,roi,patient_id,split]``.
        include: file-name patterns an image or mask must match (folders only).
        exclude: file-name patterns to skip.
        label_names: names of the mask values: ``{value: name}`` or a list indexed by value (default: the
            ``dataset.json`` labels, else ``label_<value>``).
        min_size: components with fewer pixels/voxels are dropped (and reported).
        strict: raise on masks without an image instead of warning.

    Raises:
        DatasetError: no pairs, an unreadable or colour mask, masks of different dimensionality, or no
            foreground in any mask; the message names the file and the fix.
    """
    pairs = _segmentation_of(path, include, exclude, strict)
    return boxes_of(pairs, path, label_names, min_size=min_size)


def _segmentation_of(
    path: Path, include: tuple[str, ...], exclude: tuple[str, ...], strict: bool
) -> SegmentationDataset:
    """The image/mask pairs at ``path`` as segmentation reads them: by the segmentation layout that detects it
    (TotalSegmentator's one file per structure, :mod:`.structure_masks`, whose masks are named for structures, not
    for their image), else as image/mask pairs."""
    from medimg.data.layouts import detect_layout

    found = detect_layout(path)
    if found is not None and found.task == "segment" and found.name != "image_mask_pairs":
        options = {"include": include, "exclude": exclude}
        dataset = found.load(path, **{key: value for key, value in options.items() if key in found.options})
        if isinstance(dataset, SegmentationDataset):
            return dataset
    return image_mask_pairs.load(path, include=include, exclude=exclude, strict=strict)


def boxes_of(
    pairs: SegmentationDataset,
    path: Path,
    label_names: Mapping[Any, str] | Sequence[str] | None = None,
    *,
    min_size: int = 1,
    source: str = "masks",
) -> DetectionDataset:
    """The detection dataset of ``pairs``' masks: one box per connected component of each label value, named by
    ``label_names`` (else the ``dataset.json`` beside ``path``); see :func:`load`.

    Raises:
        DatasetError: as :func:`load`.
    """
    labelled = [c for c in pairs.cases if c.mask is not None]

    def objects(case: SegCase) -> tuple[tuple[int, ...], Components, Components]:
        """A mask's shape and components: each mask is dropped once read (a set of full-size mammogram masks, or
        of CT label maps, does not fit in memory at once)."""
        mask = _read_mask(case)
        return tuple(int(s) for s in mask.shape), *components(mask, min_size=int(min_size))

    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        read = list(pool.map(objects, labelled))
    dims = {len(shape) for shape, _, _ in read}
    if len(dims) > 1:
        raise DatasetError(
            f"{path}: the masks mix 2D and 3D ({sorted(dims)}); read 2D images and volumes as separate datasets"
        )
    found = [(case, shape, kept, dropped) for case, (shape, kept, dropped) in zip(labelled, read, strict=True)]
    lossy = sum(is_lossy(case.mask) for case in labelled)
    if lossy:
        logger.info(
            "%s: %d JPEG mask(s) read as binary (values above %d are the foreground): JPEG changes a mask's values "
            "around every edge; save multi-class masks as PNG",
            path,
            lossy,
            LOSSY_THRESHOLD,
        )
    values = {v for _, _, kept, _ in found for v, _ in kept}
    if not values:
        raise DatasetError(
            f"{path}: no mask holds a foreground value (all zeros): there is nothing to derive boxes from"
        )
    if label_names is not None:
        named = _label_names(label_names, "label_names")
    else:  # the names the masks' own format gives (3D Slicer's segment names), else a dataset.json's
        named = {value: name for value, name in pairs.value_names.items() if value} or read_label_map(path)
    ordered = sorted(values)
    default = {ordered[0]: "foreground"} if len(ordered) == 1 else {}
    counts = [] if named or label_names is not None else _object_counts(found)
    if counts:  # GlaS's *_anno.bmp: gland 1..13 of each image, 13 classes label_1.. before, each box its own class
        logger.warning(
            "%s: instance-labelled masks (each object its own value above 0, %d..%d objects per image): one class, "
            "foreground, a box per object; if the values are classes, name them in a dataset.json in the data folder",
            path,
            min(counts),
            max(counts),
        )
        default = dict.fromkeys(ordered, "foreground")
    name_of = {v: named.get(v) or default.get(v) or f"label_{v}" for v in ordered}
    class_names = list(dict.fromkeys(name_of.values()))  # values of one name are one class (the objects' values)
    index = {v: class_names.index(name) for v, name in name_of.items()}
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    sizes: dict[str, tuple[int, ...]] = {}
    for case, shape, kept, dropped in found:
        boxes: tuple[Box, ...] = tuple(box_from_array_order(corners, index[v]) for v, corners in kept)
        for value, corners in dropped:
            box = box_from_array_order(corners, index.get(value, 0))
            issues.append(
                BoxIssue(str(case.mask), case.case_id, "degenerate", named.get(value) or f"label_{value}", _xyz(box))
            )
        sizes[case.case_id] = shape
        cases.append(
            Case(
                case_id=case.case_id,
                label=None,
                split=case.split,
                patient_id=case.patient_id,
                path=case.image,
                mask=case.mask,
                roi=case.roi,
                boxes=boxes,
            )
        )
    log_issues(issues, path)
    root = pairs.root
    unlabelled = [
        Case(case_id=rel, label=None, path=(root if root.is_dir() else root.parent) / rel) for rel in pairs.unlabelled
    ]
    return DetectionDataset(
        name=pairs.name,
        root=path,
        source=source,
        class_names=class_names,
        cases=cases,
        spatial_dims=next(iter(dims)),
        unlabelled=unlabelled,
        box_issues=issues,
        image_sizes=sizes,
        options={"label_names": {str(v): n for v, n in name_of.items()}, "min_size": min_size},
    )


def _object_counts(found: Sequence[tuple[SegCase, tuple[int, ...], Components, Components]]) -> list[int]:
    """The objects of each 2D mask when the masks label objects, not classes (each object its own value ``1..n``,
    or ``n`` values each in one piece, ``n`` varying as object counts do); else ``[]``. Volumes are not looked at:
    a CT label map's structures each lie in one piece too."""
    counts = []
    for _, shape, kept, _ in found:
        values = {value for value, _ in kept}
        if len(shape) != 2:
            return []
        if not values:
            continue
        if values != set(range(1, len(values) + 1)) and len(kept) > OBJECT_PIECES * len(values):
            return []
        counts.append(len(values))
    varied = len(set(counts)) >= INSTANCE_MIN_COUNTS and max(counts, default=0) >= INSTANCE_MIN_MAX
    return counts if varied else []


def _xyz(box: Box) -> tuple[float, ...]:
    """A box's corners for a report: ``(x1, y1, x2, y2)`` or ``(x1, y1, z1, x2, y2, z2)``."""
    if box.is_3d:
        return (box.x1, box.y1, float(box.z1 or 0.0), box.x2, box.y2, float(box.z2 or 0.0))
    return (box.x1, box.y1, box.x2, box.y2)
