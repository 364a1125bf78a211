"""Images annotated with labelled shapes in pixels (polygons, rectangles, ellipses, region masks), as annotation tools
save them (:mod:`.labelme`: one JSON per image; :mod:`.cvat`: one XML for a task), turned into a segmentation dataset
(the shapes drawn into one label map per image, cached by :mod:`.drawn_masks`) or a detection dataset (each shape's
box).

Classes are the shapes' labels in alphabetical order (``0`` background for masks); larger shapes are drawn first, so a
small lesion inside its organ stays visible. A tool's reader makes :class:`Outlined` images; an
:class:`AnnotationTool` turns them into either dataset the same way for every tool, and tells which its files hold: a
path whose shapes include any polygon, ellipse or mask is segmentation data by itself, one of boxes alone detection
data.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from medimg.data.case import Case, SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.detection import BoxIssue, DetectionDataset, clean_boxes, log_issues
from medimg.data.layouts.common import path_selected, problems_error, text_head, walk_files
from medimg.data.layouts.drawn_masks import DrawnObject, cache_folder, draw_label_map, mask_file, write_mask
from medimg.errors import DatasetError
from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

logger = logging.getLogger(__name__)

#: shape kinds that outline an area; those outlining areas beyond boxes make a folder segmentation data by itself
AREA_KINDS = ("polygon", "rectangle", "ellipse", "mask")
OUTLINE_KINDS = frozenset({"polygon", "ellipse", "mask"})
ELLIPSE_POINTS = 32
T = TypeVar("T")


@dataclass
class Shape:
    """One labelled shape in pixels: ``polygon`` (its vertices), ``rectangle`` (two corners), ``ellipse`` (centre and
    the corner ``(cx + rx, cy + ry)``), ``mask`` (``region``: a boolean patch whose top-left pixel is ``points[0]``)."""

    label: str
    kind: str
    points: list[tuple[float, float]]
    region: np.ndarray | None = None

    def outline(self) -> list[tuple[float, float]]:
        """The area's outline as a polygon (a rectangle's four corners, an ellipse's 32 points, a mask's box)."""
        if self.kind == "ellipse" and len(self.points) >= 2:
            (cx, cy), (ex, ey) = self.points[0], self.points[1]
            rx, ry = abs(ex - cx), abs(ey - cy)
            steps = [2 * math.pi * k / ELLIPSE_POINTS for k in range(ELLIPSE_POINTS)]
            return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in steps]
        if self.kind == "mask" and self.region is not None and self.points:
            (x1, y1), (height, width) = self.points[0], self.region.shape
            return [(x1, y1), (x1 + width, y1), (x1 + width, y1 + height), (x1, y1 + height)]
        if self.kind in ("rectangle", "mask") and len(self.points) >= 2:
            (x1, y1), (x2, y2) = self.points[0], self.points[1]
            return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        return list(self.points)

    def drawn(self, value: int, size: tuple[int, int]) -> DrawnObject | None:
        """The shape as a :class:`DrawnObject` of class ``value`` on an image of ``size``; ``None`` when it has no
        area."""
        if self.kind == "mask" and self.region is not None and self.points:
            full = np.zeros(size, bool)
            top, left = round(self.points[0][1]), round(self.points[0][0])
            part = self.region[: max(0, size[0] - top), : max(0, size[1] - left)]
            full[top : top + part.shape[0], left : left + part.shape[1]] = part
            return DrawnObject(value, mask=full)
        outline = self.outline()
        if len(outline) < 3:
            return None
        return DrawnObject(value, polygons=[[c for point in outline for c in point]])


@dataclass
class Outlined:
    """One annotated image: the annotation file it came from, the image, its ``(height, width)`` (``None`` when
    unknown), its area shapes, its case id, split and patient (when the annotation names one)."""

    annotation: Path
    image: Path
    size: tuple[int, int] | None
    case_id: str
    shapes: list[Shape] = field(default_factory=list)
    split: str | None = None
    patient: str | None = None


@dataclass
class Reading:
    """What a tool's reader gathers over its annotation files: the annotated images, the problems (reported together
    at the end, so a user fixes them in one pass) and the shapes left out, by kind."""

    items: list[Outlined] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def shapes(
        self,
        elements: Iterable[T],
        parse: Callable[[T], Shape | Sequence[Shape] | None],
        kind_of: Callable[[T], str],
        where: str,
    ) -> list[Shape]:
        """The shapes ``parse`` makes of ``elements`` (one each, or several: a multi-polygon's parts); one it cannot
        parse is a problem (named with ``where``), one that outlines no area (``parse`` gives ``None`` or none) is
        counted by its kind."""
        found: list[Shape] = []
        for element in elements:
            try:
                shape = parse(element)
            except (TypeError, ValueError, KeyError, IndexError, OSError) as error:
                self.problems.append(f"{where}: a {kind_of(element)} shape is malformed ({error})")
                continue
            if not shape:
                self.skipped[kind_of(element)] += 1
            elif isinstance(shape, Shape):
                found.append(shape)
            else:
                found.extend(shape)
        return found

    def finish(self, path: Path, what: str) -> list[Outlined]:
        """The images read; one log line counting the shapes left out.

        Raises:
            DatasetError: the problems found (``what``: "LabelMe file problem(s)"), all of them.
        """
        if self.problems:
            raise problems_error(path, self.problems, what)
        if any(self.skipped.values()):
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items()) if n)
            logger.info("%s: shapes that outline no area are left out: %s", path, counts)
        return self.items


def class_names(items: Sequence[Outlined]) -> list[str]:
    """The shapes' labels, alphabetically."""
    return sorted({shape.label for item in items for shape in item.shapes})


def unlabelled_images(root: Path, used: set[Path], include: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    """The images under ``root`` no annotation names (relative paths)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in walk_files(root)
        if file_suffix(p) in IMAGE_SUFFIXES and p not in used and path_selected(p, include, exclude, root)
    )


def _own_split(items: Sequence[Outlined]) -> bool:
    """A split counts only when every image has one."""
    return bool(items) and all(item.split for item in items)


def masks_dataset(
    root: Path, items: Sequence[Outlined], cache: Path, source: str, unlabelled: list[str]
) -> SegmentationDataset:
    """The images with their shapes drawn into one label map each, written once into ``cache``.

    Raises:
        DatasetError: an image whose size is neither in its annotation nor in its header.
    """
    names = class_names(items)
    value_of = {name: k + 1 for k, name in enumerate(names)}
    split = _own_split(items)
    cases: list[SegCase] = []
    problems: list[str] = []
    for item in items:
        target = mask_file(cache, item.case_id)
        if not target.is_file():
            if item.size is None:
                problems.append(f"{item.annotation}: the size of {item.image} is neither given nor in its header")
                continue
            size = item.size
            objects = [o for s in item.shapes if (o := s.drawn(value_of[s.label], size)) is not None]
            write_mask(target, draw_label_map(size, objects))
        cases.append(
            SegCase(item.case_id, item.image, target, split=item.split if split else None, patient_id=item.patient)
        )
    if problems:
        raise problems_error(root, problems, "annotation problem(s)")
    logger.info("%s: %d %s annotation(s) drawn or reused as masks in %s", root, len(cases), source, cache)
    return SegmentationDataset(
        name=dataset_name(root),
        root=root,
        source=source,
        cases=cases,
        unlabelled=unlabelled,
        value_names={0: "background", **{value: name for name, value in value_of.items()}},
    )


def boxes_dataset(root: Path, items: Sequence[Outlined], source: str) -> DetectionDataset:
    """The images with each shape's bounding box (clipped to the image, degenerate ones dropped and reported)."""
    names = class_names(items)
    index = {name: k for k, name in enumerate(names)}
    split = _own_split(items)
    cases: list[Case] = []
    issues: list[BoxIssue] = []
    sizes: dict[str, tuple[int, int]] = {}
    for item in items:
        raw = []
        for shape in item.shapes:
            outline = shape.outline()
            if outline:
                xs, ys = zip(*outline, strict=True)
                raw.append((min(xs), min(ys), max(xs), max(ys), index[shape.label]))
        boxes, found = clean_boxes(raw, item.size, names, file=str(item.annotation), image=item.case_id)
        issues += found
        if item.size is not None:
            sizes[item.case_id] = item.size
        split_of_item = item.split if split else None
        cases.append(Case(item.case_id, None, split_of_item, item.patient, item.image, boxes=boxes))
    log_issues(issues, root)
    return DetectionDataset(
        name=dataset_name(root),
        root=root,
        source=source,
        class_names=names,
        cases=cases,
        box_issues=issues,
        image_sizes=sizes,
    )


#: how much of an annotation file :func:`kinds_named` reads
SNIFF_CHARS = 1 << 20


def kinds_named(files: Sequence[Path], tokens: Mapping[str, str]) -> set[str]:
    """The shape kinds whose ``tokens`` (text -> kind: ``'<polygon '`` -> ``polygon``) appear in the first megabyte
    of the first three ``files``."""
    return {kind for file in files[:3] for token, kind in tokens.items() if token in text_head(file, SNIFF_CHARS)}


#: ``one(file, cache, reading) -> the image file annotates and its shapes`` (or the images, when a file annotates
#: several: DDTI's case XML), problems added to ``reading``
PerFile = Callable[[Path, Path, "Reading"], "Outlined | Sequence[Outlined] | None"]


def outlined_per_file(
    root: Path,
    files: Sequence[Path],
    one: PerFile,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    names: tuple[str, str],
) -> tuple[list[Outlined], Path, Path]:
    """A tool's annotation ``files`` (one per image, or per case of several) read by ``one`` into annotated images
    (those ``include`` and ``exclude`` select), with the cache their masks go to and the data's root; the problems of
    every file are reported together.

    Raises:
        DatasetError: no file, or the problems; ``names``: what was looked for and what the problems are called
            (``("LabelMe JSON files", "LabelMe file problem(s)")``).
    """
    none_found, what = names
    if not files:
        raise DatasetError(f"{root} holds no {none_found}")
    cache = cache_folder(files)
    reading = Reading()
    for file in files:
        found = one(file, cache, reading)
        items = [] if found is None else [found] if isinstance(found, Outlined) else found
        reading.items += [item for item in items if path_selected(item.image, include, exclude, root)]
    return reading.finish(root, what), cache, root


#: ``read(path, include, exclude) -> (annotated images, their mask cache, the data's root)``
Reader = Callable[[Path, tuple[str, ...], tuple[str, ...]], tuple[list[Outlined], Path, Path]]


@dataclass(frozen=True)
class AnnotationTool:
    """One annotation tool's files as the two layouts the registry holds (``<tool>_masks``, ``<tool>_boxes``):
    ``kinds`` says which shape kinds a path's files hold (cheap: text, never pixels), ``read`` reads them."""

    source: str
    kinds: Callable[[Path], set[str]]
    read: Reader

    def detect_masks(self, path: Path) -> bool:
        """The tool's files with a shape beyond boxes (a polygon, ellipse or mask)."""
        return bool(self.kinds(path) & OUTLINE_KINDS)

    def detect_boxes(self, path: Path) -> bool:
        """The tool's files with area shapes (boxes alone: detection data by itself)."""
        return bool(self.kinds(path))

    def load_masks(
        self, path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
    ) -> SegmentationDataset:
        """The shapes drawn into one label map per image (cached); images no file names are unlabelled.

        Raises:
            DatasetError: no annotation file, an unreadable one, an image that is nowhere or of unknown size.
        """
        items, cache, root = self.read(path, include, exclude)
        unlabelled = unlabelled_images(root, {item.image for item in items}, include, exclude)
        return masks_dataset(root, items, cache, self.source, unlabelled)

    def load_boxes(
        self, path: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
    ) -> DetectionDataset:
        """Each shape's bounding box.

        Raises:
            DatasetError: no annotation file, an unreadable one, or an image that is nowhere.
        """
        items, _, root = self.read(path, include, exclude)
        return boxes_dataset(root, items, self.source)
