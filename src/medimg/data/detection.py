"""Detection datasets: images with boxes (Pascal VOC, COCO, CSV boxes, boxes derived from masks), box cleaning
and box statistics.

:class:`DetectionDataset` is a :class:`~medimg.data.dataset.Dataset` whose cases carry
:attr:`~medimg.data.case.Case.boxes` (``x1, y1, x2, y2`` in pixels + class index; volumes also ``z1, z2``)
instead of a label. The layout readers (:mod:`medimg.data.layouts.voc`, :mod:`~medimg.data.layouts.coco`,
:mod:`~medimg.data.layouts.csv_boxes`) clean every image's boxes with :func:`clean_boxes` (clipped to the image,
degenerate and duplicate boxes dropped) and keep what they changed as :class:`BoxIssue` records;
:mod:`~medimg.data.layouts.mask_boxes` derives one box per connected component of each label of a segmentation
mask, in 2D or 3D. :func:`box_statistics` summarises the boxes per class for ``medimg check``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from medimg.data.case import Box, Case, TaskName
from medimg.data.dataset import Dataset
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

MIN_BOX_SIDE_PX = 1.0
"""A box narrower or lower than this (after clipping to the image) is degenerate and dropped."""

IssueKind = Literal["out_of_bounds", "degenerate", "duplicate", "crowd"]


@dataclass(frozen=True)
class BoxIssue:
    """A box a reader changed or dropped.

    Attributes:
        file: the annotation file (or manifest line) it came from.
        image: the image's case id.
        kind: ``out_of_bounds`` (clipped to the image and kept), ``degenerate`` (under
            :data:`MIN_BOX_SIDE_PX` after clipping: dropped), ``duplicate`` (same class and corners as another box
            of the image: dropped), ``crowd`` (COCO ``iscrowd`` region: dropped).
        label: the class name.
        box: the corners as annotated ``(x1, y1, x2, y2)`` (volumes: ``(x1, y1, z1, x2, y2, z2)``).
    """

    file: str
    image: str
    kind: IssueKind
    label: str
    box: tuple[float, ...]


def _plural(n: int) -> str:
    return "" if n == 1 else "es"


def clean_boxes(
    raw: Sequence[tuple[float, float, float, float, int]],
    size: tuple[int, int] | None,
    class_names: Sequence[str],
    *,
    file: str,
    image: str,
    places: Sequence[str] | None = None,
) -> tuple[tuple[Box, ...], list[BoxIssue]]:
    """Clip boxes to the image, drop degenerate and duplicate ones, and say what changed.

    Args:
        raw: ``(x1, y1, x2, y2, label)`` as annotated (corners in any order are put in order).
        size: the image's ``(height, width)``, or ``None`` when unknown (no clipping).
        class_names: names of the label indices (for the issue records).
        file: the annotation file, for the records.
        image: the image's case id.
        places: where each box of ``raw`` is written (a table's ``boxes.csv:4``), for the records instead of
            ``file``.

    Returns:
        The kept boxes and the issues.
    """
    boxes: list[Box] = []
    issues: list[BoxIssue] = []
    seen: set[tuple[float, float, float, float, int]] = set()
    for (x1, y1, x2, y2, label), place in zip(raw, places or [file] * len(raw), strict=True):
        original = (float(x1), float(y1), float(x2), float(y2))
        x1, x2 = sorted((float(x1), float(x2)))
        y1, y2 = sorted((float(y1), float(y2)))
        name = class_names[label]
        clipped_box = False
        if size is not None:
            height, width = size
            clipped = (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width))
            clipped_y2 = min(max(y2, 0.0), height)
            clipped_box = (*clipped, clipped_y2) != (x1, y1, x2, y2)
            x1, y1, x2 = clipped
            y2 = clipped_y2
        if x2 - x1 < MIN_BOX_SIDE_PX or y2 - y1 < MIN_BOX_SIDE_PX:
            # one record: a box (nearly) wholly outside the image is dropped, not clipped and dropped
            issues.append(BoxIssue(place, image, "degenerate", name, original))
            continue
        if clipped_box:
            issues.append(BoxIssue(place, image, "out_of_bounds", name, original))
        key = (x1, y1, x2, y2, int(label))
        if key in seen:
            issues.append(BoxIssue(place, image, "duplicate", name, original))
            continue
        seen.add(key)
        boxes.append(Box(x1, y1, x2, y2, int(label)))
    return tuple(boxes), issues


def image_size(path: Path) -> tuple[int, int] | None:
    """``(height, width)`` of a 2D image from its header (no pixels decoded: Pillow's for rasters, else medimg's
    header readers, a DICOM file's rows and columns), ``None`` when unknown (a volume, an unreadable header: the
    size is learnt when the pixels are read)."""
    from medimg.io.formats import VOLUME_FILE_FORMATS, detect_format
    from medimg.io.read import read_header

    try:
        fmt = detect_format(path)
        if fmt != "dicom" and fmt not in VOLUME_FILE_FORMATS:  # a raster: Pillow's header is the quickest
            from PIL import Image

            with Image.open(path) as image:
                width, height = image.size
            return int(height), int(width)
        spatial = read_header(path, fmt).spatial_shape  # DICOM (RSNA's pneumonia boxes): its rows and columns
    except Exception:  # an unreadable header (medimg's or Pillow's errors): the size is learnt from the pixels
        return None
    return (int(spatial[0]), int(spatial[1])) if len(spatial) == 2 else None


def log_issues(issues: Sequence[BoxIssue], source: Path) -> None:
    """One warning summarising what the reader changed (per kind, with the first file)."""
    by_kind: dict[str, list[BoxIssue]] = defaultdict(list)
    for issue in issues:
        by_kind[issue.kind].append(issue)
    what = {
        "out_of_bounds": "clipped to the image",
        "degenerate": "dropped (degenerate, or outside the image)",
        "duplicate": "dropped (duplicate)",
        "crowd": "dropped (crowd regions)",
    }
    for kind, found in by_kind.items():
        first = found[0]
        logger.warning(
            "%s: %d box(es) %s, e.g. %s %s in %s", source, len(found), what[kind], first.label, first.box, first.file
        )


@dataclass(repr=False)  # Dataset's one-line summary, not every case
class DetectionDataset(Dataset):
    """Images with boxes (detection): a :class:`~medimg.data.dataset.Dataset` whose cases carry ``boxes``.

    Attributes:
        task: ``"detect"``.
        source: ``"voc"``, ``"coco"``, ``"yolo"`` or ``"csv"``.
        class_names: object classes; ``Box.label`` indexes into this list.
        cases: every annotated image (``label`` is ``None``; ``boxes`` may be empty: an image without objects).
        unlabelled: images without an annotation (VOC images without XML), never in a split.
        box_issues: boxes the reader clipped or dropped (:class:`BoxIssue`).
        image_sizes: ``case_id -> (height, width)`` (volumes: ``(depth, height, width)``, the array's spatial
            shape) where the annotation, the image header or the mask gives it.
        spatial_dims: 3 for volumes (boxes with ``z1, z2``), 2 for images, ``None`` when not known yet.
    """

    task: ClassVar[TaskName] = "detect"

    box_issues: list[BoxIssue] = field(default_factory=list)
    image_sizes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def validate(self, min_classes: int = 2) -> None:
        """Raise :class:`DatasetError` when the dataset holds no image; images without any box are a warning (an
        evaluation set of normal studies; ``fit`` refuses it). ``min_classes`` (a classification setting) does not
        apply: one object class is a detection task."""
        self.merge_class_spellings()
        if not self.cases:
            raise DatasetError(
                f"no annotated images found in {self.root}: expected Pascal VOC (Annotations/*.xml + JPEGImages/), "
                "COCO JSON (annotations/instances_*.json), a CSV path,x1,y1,x2,y2,label, or images with masks "
                "(images/ + masks/ or imagesTr/ + labelsTr/: one box per connected component of each label)"
            )
        if not any(c.boxes for c in self.cases):
            # normal studies only: an evaluation set of false positives per image; fit refuses it (no box to learn)
            logger.warning(
                "%s: none of the %d annotated images has a box: usable only to evaluate a detector's false "
                "positives on normal images; a detector cannot be trained on it",
                self.root,
                len(self.cases),
            )
            return
        if not self.class_names:
            raise DatasetError(f"{self.root}: the annotations name no object class")

    def merge_class_spellings(self) -> None:
        """Class names that differ only in case or Unicode form (``Nodule`` in some VOC XML files, ``nodule`` in
        others) become one class, spelt as most of its boxes are (the first on a tie), with a warning; they were
        two classes without a word, each with part of the boxes. Run by :meth:`validate`, so every reader's
        dataset gets it."""
        from medimg.data.labels import class_key

        groups: dict[str, list[int]] = {}
        for index, name in enumerate(self.class_names):
            groups.setdefault(class_key(name), []).append(index)
        if all(len(members) == 1 for members in groups.values()):
            return
        counts = Counter(box.label for case in self.cases for box in case.boxes or ())
        chosen = {key: max(members, key=lambda i: (counts[i], -i)) for key, members in groups.items()}
        kept = [i for i in range(len(self.class_names)) if chosen[class_key(self.class_names[i])] == i]
        new_index = {old: kept.index(chosen[class_key(name)]) for old, name in enumerate(self.class_names)}
        logger.warning(
            "%s: class names that differ only in case or Unicode form are one class: %s",
            self.root,
            "; ".join(
                f"{', '.join(f'{self.class_names[i]!r} ({counts[i]} box{_plural(counts[i])})' for i in members)} -> "
                f"{self.class_names[chosen[key]]!r}"
                for key, members in groups.items()
                if len(members) > 1
            ),
        )
        self.cases = [
            replace(case, boxes=tuple(box._replace(label=new_index[box.label]) for box in case.boxes))
            if case.boxes
            else case
            for case in self.cases
        ]
        self.class_names = [self.class_names[i] for i in kept]

    @property
    def num_boxes(self) -> int:
        """Boxes over all cases."""
        return sum(len(c.boxes or ()) for c in self.cases)

    def class_counts(self, split: str | None = None) -> dict[str, int]:
        """Boxes per class, optionally within one of the dataset's own splits."""
        counts: Counter[int] = Counter(
            b.label for c in self.cases if split is None or c.split == split for b in (c.boxes or ())
        )
        return {name: counts.get(i, 0) for i, name in enumerate(self.class_names)}

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable summary (saved in a run folder)."""
        described = super().describe()
        issues = Counter(issue.kind for issue in self.box_issues)
        described.update(
            {
                "num_boxes": self.num_boxes,
                "images_without_boxes": sum(1 for c in self.cases if not c.boxes),
                "box_issues": dict(issues),
            }
        )
        return described  # "class_counts" counts boxes per class


# ------------------------------------------------------------------------------------------ statistics
@dataclass
class BoxStatistics:
    """Per-class box statistics of a detection dataset (``medimg check``).

    Attributes:
        per_class: ``class -> {images, boxes, boxes_per_image_mean, boxes_per_image_max, width_median,
            height_median, depth_median, side_min, side_max, aspect_median, out_of_bounds, duplicates,
            degenerate}`` (sizes in pixels (voxels) of the stored image; aspect = width / height; ``depth_median``
            ``None`` for 2D boxes).
        images: annotated images.
        images_without_boxes: annotated images without any box (negatives).
        unlabelled: images without an annotation.
        issues: the first box issues, as dicts.
    """

    per_class: dict[str, dict[str, Any]]
    images: int
    images_without_boxes: int
    unlabelled: int
    issues: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """Human-readable table, one line per class."""
        lines = [
            f"boxes     {sum(v['boxes'] for v in self.per_class.values())} in {self.images} annotated images "
            f"({self.images_without_boxes} without boxes, {self.unlabelled} without annotation)",
            f"{'class':14s} {'images':>6s} {'boxes':>6s} {'per img':>8s} {'w x h (x d) med':>17s} "
            f"{'side min-max':>13s} {'out':>4s} {'dup':>4s} {'degen':>5s}",
        ]
        for name, s in self.per_class.items():
            size = f"{s['width_median']:.0f} x {s['height_median']:.0f}" if s["boxes"] else "-"
            if s["boxes"] and s.get("depth_median") is not None:
                size += f" x {s['depth_median']:.0f}"
            side = f"{s['side_min']:.0f}-{s['side_max']:.0f}" if s["boxes"] else "-"
            lines.append(
                f"{name[:14]:14s} {s['images']:6d} {s['boxes']:6d} {s['boxes_per_image_mean']:8.1f} {size:>17s} "
                f"{side:>13s} {s['out_of_bounds']:4d} {s['duplicates']:4d} {s['degenerate']:5d}"
            )
        for issue in self.issues[:10]:
            lines.append(f"  {issue['kind']}: {issue['label']} {issue['box']} in {issue['file']}")
        return "\n".join(lines)


def box_statistics(dataset: DetectionDataset, max_issues: int = 50) -> BoxStatistics:
    """Per class: images holding it, boxes, boxes per image, box sizes, and the boxes the reader fixed."""
    per_class: dict[str, dict[str, Any]] = {}
    issues = Counter((issue.label, issue.kind) for issue in dataset.box_issues)
    for index, name in enumerate(dataset.class_names):
        widths, heights, depths, per_image = [], [], [], []
        for case in dataset.cases:
            mine = [b for b in case.boxes or () if b.label == index]
            if mine:
                per_image.append(len(mine))
            widths += [b.x2 - b.x1 for b in mine]
            heights += [b.y2 - b.y1 for b in mine]
            depths += [b.z2 - b.z1 for b in mine if b.z1 is not None and b.z2 is not None]
        w, h = np.asarray(widths, dtype=np.float64), np.asarray(heights, dtype=np.float64)
        d = np.asarray(depths, dtype=np.float64)
        any_box = bool(len(w))
        sides = [w, h, d] if len(d) == len(w) and len(d) else [w, h]
        per_class[name] = {
            "images": len(per_image),
            "boxes": len(w),
            "boxes_per_image_mean": float(np.mean(per_image)) if per_image else 0.0,
            "boxes_per_image_max": int(max(per_image)) if per_image else 0,
            "width_median": float(np.median(w)) if any_box else None,
            "height_median": float(np.median(h)) if any_box else None,
            "depth_median": float(np.median(d)) if len(sides) == 3 else None,
            "side_min": float(np.min(sides, axis=0).min()) if any_box else None,
            "side_max": float(np.max(sides, axis=0).max()) if any_box else None,
            "aspect_median": float(np.median(w / h)) if any_box else None,
            "out_of_bounds": issues.get((name, "out_of_bounds"), 0),
            "duplicates": issues.get((name, "duplicate"), 0),
            "degenerate": issues.get((name, "degenerate"), 0),
        }
    return BoxStatistics(
        per_class=per_class,
        images=len(dataset.cases),
        images_without_boxes=sum(1 for c in dataset.cases if not c.boxes),
        unlabelled=len(dataset.unlabelled),
        issues=[asdict(issue) for issue in dataset.box_issues[:max_issues]],
    )


def case_boxes(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """A case's boxes as ``(N, 4)`` float32 corners and ``(N,)`` int64 labels (empty arrays when none)."""
    boxes = case.boxes or ()
    if not boxes:
        return np.zeros((0, 4), dtype=np.float32), np.zeros((0,), dtype=np.int64)
    array = np.asarray([(b.x1, b.y1, b.x2, b.y2) for b in boxes], dtype=np.float32)
    return array, np.asarray([b.label for b in boxes], dtype=np.int64)


def volume_boxes(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """A volume case's boxes in array-axis order (MONAI's ``xyzxyz`` with ``indexing="ij"``): ``(N, 6)`` float32
    ``[d1, h1, w1, d2, h2, w2]`` = ``[z1, y1, x1, z2, y2, x2]`` and ``(N,)`` int64 labels.

    Raises:
        DatasetError: a box of the case has no ``z1, z2`` (a 2D box).
    """
    boxes = case.boxes or ()
    if not boxes:
        return np.zeros((0, 6), dtype=np.float32), np.zeros((0,), dtype=np.int64)
    if not all(b.is_3d for b in boxes):
        raise DatasetError(f"{case.case_id}: a 2D box (no z1, z2) in a volume; 3D detection needs 3D boxes")
    array = np.asarray([(b.z1, b.y1, b.x1, b.z2, b.y2, b.x2) for b in boxes], dtype=np.float32)
    return array, np.asarray([b.label for b in boxes], dtype=np.int64)


def box_from_array_order(corners: Sequence[float], label: int) -> Box:
    """The :class:`Box` of corners in array-axis order: ``[d1, h1, w1, d2, h2, w2]`` (3D) or ``[h1, w1, h2, w2]``
    (2D, the order of a ``(C, H, W)`` array's axes)."""
    values = [float(v) for v in corners]
    if len(values) == 6:
        d1, h1, w1, d2, h2, w2 = values
        return Box(w1, h1, w2, h2, int(label), z1=d1, z2=d2)
    if len(values) == 4:
        h1, w1, h2, w2 = values
        return Box(w1, h1, w2, h2, int(label))
    raise ValueError(f"expected 4 or 6 corners, got {len(values)}")
