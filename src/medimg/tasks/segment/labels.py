"""Mask encodings: how the values stored in a mask file become class indices ``0..K-1``.

Masks arrive as 0/1 or 0/255 binary images, multi-class label maps (NIfTI ``0/1/2``), gray-level coded
classes (``0/128/255``), JPEG-compressed masks with a few hundred values, or colour-coded RGB images (the
Herlev ``*-d.bmp`` files). :func:`determine_label_encoding` looks at the values of *all* training masks at once
(so every file is decoded the same way) and returns a :class:`LabelEncoding` saved with the plan;
:func:`encode_mask` applies it to one file.

Pixels that must not count for loss or metrics (outside a field-of-view mask, "undefined" colours of a colour
table) get the label :data:`IGNORE` (255).

Colour tables (colour -> class) live in :mod:`medimg.data.colour_tables` (the data layer reads them with the
masks).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from medimg.data.colour_tables import COLOUR_TABLES, IGNORE, ColourTable, parse_colour_table
from medimg.data.instance_masks import INSTANCE_MIN_COUNTS, INSTANCE_MIN_MAX, OBJECT_PIECES
from medimg.errors import ConfigError, DatasetError
from medimg.io.formats import file_stem

logger = logging.getLogger(__name__)

__all__ = ["COLOUR_TABLES", "IGNORE", "ColourTable", "LabelEncoding", "parse_colour_table"]
#: The most classes a gray-level label map may hold before its values are read as intensities.
MAX_LABEL_VALUE = 32
#: A value of lossy masks is a level when it covers at least this fraction of the pixels of the largest foreground
#: level (JPEG's ringing values cover a few percent of it)...
LEVEL_MIN_SHARE = 0.1
#: ... and the values between the levels may hold at most this fraction of the foreground pixels; more, and the
#: levels cannot be told from the ringing (small structures in a many-valued label map): refused.
RINGING_MAX_SHARE = 0.15


class LabelEncoding(BaseModel):
    """How raw mask values become class indices (decided once per dataset, saved in the plan).

    ``kind``:
        ``identity``: values are class indices already (0/1 binary, NIfTI label maps 0..K-1);
        ``values``: ``values[i]`` is the raw value of class ``i`` (0/255 masks, 0/128/255 gray levels);
        ``threshold``: binary masks with many values (JPEG artefacts): ``raw >= threshold`` is class 1;
        ``colour``: an RGB colour table;
        ``mapping``: ``value_map[raw]`` is the class of each raw value (an external set's masks mapped to a run's
        classes, :mod:`medimg.tasks.segment.external`); :data:`IGNORE` leaves a value out.
    """

    kind: Literal["identity", "values", "threshold", "colour", "mapping"]
    num_classes: int = Field(ge=2)
    values: list[float] = Field(default_factory=list)
    threshold: float | None = None
    colour_table: ColourTable | None = None
    value_map: dict[float, int] = Field(default_factory=dict)
    note: str = ""
    snap: list[float] = Field(default_factory=list)
    """Levels of lossy (JPEG) masks: each raw value is first moved to the nearest level (empty: none)."""
    unused: list[int] = Field(default_factory=list)
    """Classes of an ``identity`` label map that no training mask holds (BraTS's 3, the gaps of 0/1/4/7): kept so
    that predicted masks keep the masks' values; see :func:`unused_classes` for plans saved before this field."""

    @model_serializer(mode="wrap")
    def _without_empty_value_map(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``value_map`` only for the ``mapping`` kind, ``snap`` only for lossy masks, ``unused`` only with empty
        classes, so saved plans keep their fields."""
        data: dict[str, Any] = handler(self)
        for name in ("value_map", "snap", "unused"):
            if not getattr(self, name):
                data.pop(name, None)
        return data


def snap_to_levels(values: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Each of ``values`` moved to the nearest of ``levels`` (ties to the lower one)."""
    ordered = np.asarray(sorted(levels), dtype=np.float64)
    flat = np.asarray(values, dtype=np.float64)
    index = np.clip(np.searchsorted(ordered, flat), 1, max(1, len(ordered) - 1))
    lower, upper = ordered[index - 1], ordered[np.minimum(index, len(ordered) - 1)]
    return np.where(flat - lower <= upper - flat, lower, upper).astype(np.asarray(values).dtype, copy=False)


def mask_values(raw: np.ndarray, *, limit: int = 1024) -> np.ndarray:
    """The distinct values of a gray mask ``(1, *spatial)`` (at most ``limit`` + 1 of them)."""
    values = np.unique(raw)
    return values[: limit + 1]


def is_colour_mask(raw: np.ndarray) -> bool:
    """True for a 3-channel mask whose channels differ somewhere (a gray image stored as RGB is not colour)."""
    return (
        raw.ndim >= 3 and raw.shape[0] >= 3 and not (np.array_equal(raw[0], raw[1]) and np.array_equal(raw[1], raw[2]))
    )


#: a mask whose foreground encloses at least this many times its own area is a drawn outline, not a filled region
OUTLINE_ENCLOSES = 3.0


def is_outline(mask: np.ndarray) -> bool:
    """Whether a 2D gray mask ``(H, W)`` is drawn as closed outlines: its foreground (anything above its lowest value)
    encloses at least :data:`OUTLINE_ENCLOSES` times its own area, in about one hole per drawn part (HC18's head
    ellipses, contours traced in a viewer). A network enclosing many holes per part (DRIVE's vessels: 30-110 holes
    in 1-9 parts; cell membranes) is a structure of its own. Volumes and empty masks are not outlines."""
    from scipy import ndimage

    if mask.ndim != 2:
        return False
    foreground = mask > mask.min()
    drawn = int(np.count_nonzero(foreground))
    if drawn == 0:
        return False
    enclosed = ndimage.binary_fill_holes(foreground) & ~foreground
    if int(np.count_nonzero(enclosed)) < OUTLINE_ENCLOSES * drawn:
        return False
    holes = ndimage.label(enclosed)[1]
    parts = ndimage.label(foreground, structure=np.ones((3, 3), bool))[1]
    return holes <= parts + 1


def border_value(mask: np.ndarray) -> float:
    """The value most common on the outer frame of a gray mask ``(*spatial)`` (its background, as a rule)."""
    frame = np.concatenate(
        [np.ravel(np.take(mask, index, axis=axis)) for axis in range(mask.ndim) for index in (0, -1)]
    )
    values, counts = np.unique(frame, return_counts=True)
    return float(values[int(np.argmax(counts))])


def determine_label_encoding(
    unique_values: Iterable[float],
    *,
    colour_table: ColourTable | None = None,
    has_colour: bool = False,
    background: float | None = None,
    lossy: bool = False,
    named: bool = False,
    void_named: bool = False,
) -> LabelEncoding:
    """Decide the encoding from the union of the values of every training mask.

    Rules, in order: a colour table (given, or needed for colour masks) wins; values within ``{0, 1}`` or
    integers ``0..K-1`` with ``K <= 32`` are class indices (with ``255`` beside them: Pascal VOC's ignored "void"
    border); ``{0, 255}`` is binary; two values ``{0, v}``
    are binary with a warning (ambiguous: is ``v`` a class index or "foreground"?); a few evenly spaced gray
    levels (``0/128/255``) are classes in increasing order, with a warning, or in decreasing order when the top level
    is the ``background`` (the value around every mask's border: REFUGE's and ORIGA's optic disc/cup masks, 255
    background, 128 disc, 0 cup); integer label maps with values above 32 (organ IDs up to 254: at most 32
    distinct values, or any number when the data names them, ``named``) keep their values as classes, unless the
    masks are ``lossy`` (JPEG); a few integer codes above 255 (MM-WHS's 205, 420... 850) are classes in increasing
    order; classes ``1..K`` with 255 beside them are ``0..K-1`` and unannotated pixels, unless the data names 255
    (``void_named``); anything else (hundreds of values
    from JPEG compression) is thresholded at the middle of the range, with a warning.

    Raises:
        DatasetError: colour masks without a colour table.
    """
    if colour_table is not None:
        n = len(colour_table.class_names)
        return LabelEncoding(kind="colour", num_classes=max(2, n), colour_table=colour_table)
    if has_colour:
        raise DatasetError(
            "the masks are colour-coded RGB images: pass a colour table (colour -> class), e.g. "
            f"--set colour_table=herlev (Python: colour_table='herlev'; built in: {', '.join(COLOUR_TABLES)}) or a "
            "JSON file "
            '{"colours": {"255,0,0": 0, "0,0,255": 1}, "class_names": ["background", "lesion"]}'
        )
    values = sorted({float(v) for v in unique_values})
    if not values:
        raise DatasetError("the masks hold no values")
    integral = all(v == int(v) and v >= 0 for v in values)
    if integral and values[-1] <= 1:
        return LabelEncoding(kind="identity", num_classes=2)
    if integral and values[-1] == IGNORE and values[0] == 0 and len(values) >= 3 and values[-2] <= MAX_LABEL_VALUE:
        classes = int(values[-2]) + 1  # class indices 0..K with 255 borders: Pascal VOC's "void", not a class
        note = (
            f"label map 0..{classes - 1} with the value 255 (Pascal VOC's 'void' border): 255 pixels are ignored "
            "in training and scoring"
        )
        logger.warning(note)
        return LabelEncoding(kind="identity", num_classes=max(2, classes), note=note)
    if values == [0.0, 255.0]:
        return LabelEncoding(kind="values", num_classes=2, values=[0.0, 255.0], note="binary 0/255 masks")
    if integral and values[-1] <= MAX_LABEL_VALUE and values[0] == 0 and len(values) > 2:
        return label_map_encoding(values)
    if len(values) == 2 and values[0] == 0:
        note = f"ambiguous binary masks with values 0/{values[1]:g}: read {values[1]:g} as foreground"
        logger.warning(note)
        return LabelEncoding(kind="values", num_classes=2, values=values, note=note)
    steps = np.diff(values)
    if 2 < len(values) <= 8 and values[0] == 0 and np.allclose(steps, steps.mean(), rtol=0.05, atol=1.5):
        if background == values[-1]:
            note = (
                f"gray-level coded classes {values} with {values[-1]:g} around every mask (the background, as in "
                f"REFUGE's optic disc/cup masks): read as classes 0..{len(values) - 1} in decreasing order"
            )
            values = values[::-1]
        else:
            note = f"gray-level coded classes {values}: read as classes 0..{len(values) - 1} in increasing order"
        logger.warning(note)
        return LabelEncoding(kind="values", num_classes=len(values), values=values, note=note)
    label_ids = integral and values[0] == 0 and values[-1] < IGNORE and len(values) > 2 and not lossy
    if label_ids and not named and len(values) <= MAX_LABEL_VALUE and _mostly_gaps(values):
        return _sparse_label_values(values)
    if label_ids and (len(values) <= MAX_LABEL_VALUE or named):  # organ IDs 3..52, TotalSegmentator's 1..117
        return label_map_encoding(values)
    if integral and values[0] == 0 and values[-1] > IGNORE and 2 < len(values) <= MAX_LABEL_VALUE and not lossy:
        note = (
            f"label values {', '.join(f'{v:g}' for v in values)} (codes above 255, as MM-WHS's 205..850): read as "
            f"classes 0..{len(values) - 1} in increasing order"
        )
        logger.warning(note)
        return LabelEncoding(kind="values", num_classes=len(values), values=values, note=note)
    if not void_named and _classes_from_one_with_void(values, integral=integral, lossy=lossy, background=background):
        return _void_beside_classes_from_one(values)
    if integral and values[0] > 0 and 2 < len(values) <= MAX_LABEL_VALUE and not lossy:
        return _coded_classes(values, background)
    threshold = (values[0] + values[-1]) / 2
    if label_ids:  # integers below 255: many labels rather than JPEG's ringing around 0/255
        cause = (
            f"more than {MAX_LABEL_VALUE} label values, or resampled with interpolation?): thresholded at "
            f"{threshold:g} into background/foreground; if the values are classes, name them in a dataset.json in "
            'the data folder ({"labels": {"0": "background", "1": ...}}): they are then kept as classes'
        )
    else:
        cause = (
            f"JPEG-compressed, or resampled with interpolation?): thresholded at {threshold:g} into "
            "background/foreground; store masks as PNG or integer NIfTI, resampled with nearest-neighbour, to "
            "avoid this"
        )
    note = f"masks hold {len(values)} distinct values ({values[0]:g}..{values[-1]:g}: {cause}"
    logger.warning(note)
    return LabelEncoding(kind="threshold", num_classes=2, threshold=threshold, note=note)


def _classes_from_one_with_void(
    values: Sequence[float], *, integral: bool, lossy: bool, background: float | None
) -> bool:
    """Whether lossless masks hold the classes ``1..K`` (``K >= 2``) and 255 that is not the value around every mask
    (OCELOT's tissue masks: 1 background, 2 cancer area, 255 unknown)."""
    classes = [int(v) for v in values[:-1]]
    return (
        integral
        and not lossy
        and len(values) >= 3
        and values[-1] == IGNORE
        and background != IGNORE
        and classes == list(range(1, len(classes) + 1))
        and len(classes) <= MAX_LABEL_VALUE
    )


def _void_beside_classes_from_one(values: Sequence[float]) -> LabelEncoding:
    """Classes ``1..K`` read as ``0..K-1`` (1 the background) and 255 as unannotated (:data:`IGNORE`: left out of the
    loss and the scores, never predicted), with a warning. Read as three class codes, 255 was a class the network
    learnt to predict over the unknown areas, and scored."""
    kept = list(values[:-1])
    value_map = {v: k for k, v in enumerate(kept)} | {float(IGNORE): IGNORE}
    note = (
        f"label values {', '.join(f'{v:g}' for v in kept)} with 255 beside them (as OCELOT's tissue masks: 1 "
        f"background, 2 cancer, 255 unknown): read as classes 0..{len(kept) - 1}, {kept[0]:g} the background, and "
        "255 as unannotated, left out of the loss and the scores; if 255 is a class, name the values in a "
        'dataset.json in the data folder ({"labels": {"1": "background", "2": ..., "255": ...}})'
    )
    logger.warning(note)
    return LabelEncoding(kind="mapping", num_classes=len(kept), value_map=value_map, note=note)


def _coded_classes(values: list[float], background: float | None) -> LabelEncoding:
    """A few integer codes without 0 in lossless masks (CholecSeg8k's watershed masks: 50 the background, 11
    abdominal wall, 12 fat, 21 liver...): classes in increasing order, the value around every mask's border (the
    background) first; with a warning. Thresholded, the background was foreground and every tissue background."""
    first = background if background in values else None
    ordered = values if first is None else [first, *(v for v in values if v != first)]
    codes = ", ".join(f"{v:g}" for v in values)
    note = (
        f"label codes {codes} without 0 (class codes, as CholecSeg8k's): read as classes 0..{len(values) - 1} in "
        "increasing order"
        + (f", {first:g} (the value around every mask) first, as the background" if first is not None else "")
    )
    logger.warning(note)
    return LabelEncoding(kind="values", num_classes=len(ordered), values=ordered, note=note)


#: a label map whose values below its largest are missing this many times as often as present is sparse codes...
SPARSE_GAPS = 2
#: ... when its largest value is above this (organ IDs 3..52 stay class indices, empty classes between them)
SPARSE_ABOVE = 64
#: the words of :func:`_sparse_label_values`' note that tell such an encoding (its classes named by their values)
SPARSE_MARK = "not as that many empty classes"


def _mostly_gaps(values: Sequence[float]) -> bool:
    """Whether the values of a label map leave out :data:`SPARSE_GAPS` times more of ``0..max`` than they hold
    (SPIDER's 0-4, 100, 201-203: 9 values, 195 missing) above :data:`SPARSE_ABOVE`: kept as class indices, the
    network would have 204 outputs, 195 of them never trained."""
    top = int(max(values))
    return top > SPARSE_ABOVE and top + 1 - len(values) > SPARSE_GAPS * len(values)


def _sparse_label_values(values: Sequence[float]) -> LabelEncoding:
    """Sparse label codes (:func:`_mostly_gaps`) as classes ``0..n-1`` in increasing order (the ``values`` kind:
    predicted masks are written in the masks' own values up to 255), with a warning."""
    note = (
        f"label values {', '.join(f'{v:g}' for v in values)} leave out {int(max(values)) + 1 - len(values)} of the "
        f"values up to {max(values):g} (codes, as SPIDER's 100 and 201..203): read as classes 0..{len(values) - 1} in "
        f"increasing order, each named by its value, {SPARSE_MARK}; "
        + ("predicted masks keep the masks' own values" if max(values) <= 255 else "predicted masks hold the classes")
    )
    logger.warning(note)
    return LabelEncoding(kind="values", num_classes=len(values), values=list(values), note=note)


def label_map_encoding(values: Sequence[float]) -> LabelEncoding:
    """Integer label values ``0 < ... < 255`` kept as class indices (``identity``); the values between them that
    never occur (BraTS's 3, organ IDs 3..52 with gaps) are empty classes, so that predicted masks keep the masks'
    own values (BraTS's 4 stays 4), reported without a score."""
    present = {int(v) for v in values}
    top = max(present)
    missing = sorted(set(range(top + 1)) - present)
    note = "label map"
    if missing:
        listing = ", ".join(map(str, missing)) if len(missing) <= 12 else f"{len(missing)} values below {top}"
        note = (
            f"label map with values {', '.join(f'{v:g}' for v in values)}: "
            f"{listing} never occur{'s' if len(missing) == 1 else ''} in the training masks; "
            "kept as empty classes so that predicted masks keep the masks' own values (BraTS's 4 stays 4), "
            "and reported without a score"
        )
        logger.warning(note)
    return LabelEncoding(kind="identity", num_classes=top + 1, note=note, unused=missing)


def unused_classes(encoding: LabelEncoding) -> list[int]:
    """The empty classes of a label map (:attr:`LabelEncoding.unused`); for a plan saved before that field, read
    from its note (``"label map with values 0, 1, 4, 7: ..."``)."""
    if encoding.unused or encoding.kind != "identity":
        return list(encoding.unused)
    import re

    found = re.search(r"label map with values ([0-9., ]+):", encoding.note)
    if not found:
        return []
    present = {int(float(v)) for v in found.group(1).replace(" ", "").split(",") if v}
    return [k for k in range(encoding.num_classes) if k not in present]


@dataclass
class MaskValueSurvey:
    """The values of a set's masks, and what each gray mask alone holds (binary 0/1, binary 0/255, or other), so
    that binary masks saved two ways in one set are told apart from a label map with Pascal VOC's 255 borders.

    Attributes:
        values: every distinct value over the masks (at most ``limit`` + 1 kept).
        binary_kinds: ``"0/1"``, ``"0/255"``, ``"other"`` for the masks added (an empty mask says nothing).
    """

    limit: int = 1024
    values: set[float] = field(default_factory=set)
    binary_kinds: set[str] = field(default_factory=set)
    object_counts: list[int] = field(default_factory=list)
    """Per non-empty mask holding exactly ``0..n``, or ``n`` objects a value each: ``n``; ``-1`` for any other mask
    (see :meth:`instance_maps`)."""
    borders: set[float | None] = field(default_factory=set)
    """:func:`border_value` of each mask holding more than one value (``None``: not given)."""
    lossy: bool = False
    """The masks are stored with lossy compression (JPEG, :func:`medimg.io.formats.is_lossy`): pass each mask's
    ``pixels``."""
    counts: dict[float, int] = field(default_factory=dict)
    """Pixels of each value over the masks added with their ``pixels``."""
    flat_counts: dict[float, int] = field(default_factory=dict)
    """Of those, the pixels equal to each neighbour along every axis (inside a region, not on a ringing edge)."""
    outlines: int = 0
    """Masks added as closed outlines (:func:`is_outline`)."""

    def add(
        self,
        found: Iterable[float],
        border: float | None = None,
        *,
        pixels: np.ndarray | None = None,
        outline: bool = False,
        objects: int | None = None,
    ) -> None:
        """Add one gray mask's distinct values and, when known, its :func:`border_value`; ``pixels``: the mask
        ``(*spatial)`` itself, counted for lossy masks (:meth:`lossy_levels`); ``outline``: it is a closed outline
        (:func:`is_outline`); ``objects``: how many objects it labels one value each, when its values are not
        ``0..n`` (:func:`separate_objects`)."""
        self.outlines += bool(outline)
        if pixels is not None:
            self._count(pixels)
        own = {float(v) for v in found}
        if len(own) > 1:
            self.borders.add(border)
        if own != {0.0}:
            self.binary_kinds.add("0/1" if own <= {0.0, 1.0} else "0/255" if own <= {0.0, 255.0} else "other")
            top = max(own)
            consecutive = own == {float(v) for v in range(int(top) + 1)}
            self.object_counts.append(int(top) if consecutive else objects if objects is not None else -1)
        if len(self.values) <= self.limit:
            self.values.update(own)

    def add_mask(self, mask: np.ndarray, found: np.ndarray | None = None) -> None:
        """Add one gray mask ``(*spatial)``: its distinct values (``found`` when the caller has them already), the
        value around its border, whether it is a closed outline and, for lossy masks, its pixels (:meth:`add`)."""
        values = mask_values(mask) if found is None else found
        objects = None if self.lossy else separate_objects(mask, values)
        self.add(
            values, border_value(mask), pixels=mask if self.lossy else None, outline=is_outline(mask), objects=objects
        )

    def _count(self, pixels: np.ndarray) -> None:
        flat = np.ones(pixels.shape, dtype=bool)
        for axis in range(pixels.ndim):
            if pixels.shape[axis] < 2:
                continue
            same = np.diff(pixels, axis=axis) == 0  # each pixel equal to the next one along the axis
            pad_after = [(0, 0)] * pixels.ndim
            pad_before = [(0, 0)] * pixels.ndim
            pad_after[axis] = (0, 1)
            pad_before[axis] = (1, 0)
            flat &= np.pad(same, pad_after, constant_values=True) & np.pad(same, pad_before, constant_values=True)
        for source, target in ((pixels, self.counts), (pixels[flat], self.flat_counts)):
            values, counts = np.unique(source, return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist(), strict=True):
                target[float(value)] = target.get(float(value), 0) + int(count)

    def lossy_encoding(self, named: Sequence[float] = ()) -> LabelEncoding | None:
        """For lossy (JPEG) masks whose values are small integers (a 0/1 mask, a label map), the encoding of their
        dominant levels with every value snapped to the nearest level; ``None`` when the masks are not lossy or
        hold hundreds of values (0/255 masks: thresholded, :func:`determine_label_encoding`).

        The levels are the values ``named`` (a ``dataset.json``'s), else the values filling regions: JPEG's
        ringing values lie along edges, so their pixels inside regions (:attr:`flat_counts`) are a few percent of
        a level's (below :data:`LEVEL_MIN_SHARE` of the largest foreground level's).

        Raises:
            DatasetError: the values between the levels hold more than :data:`RINGING_MAX_SHARE` of the foreground
                pixels: the levels cannot be told apart from the ringing.
        """
        values = sorted(self.values)
        if not self.lossy or len(values) <= 2 or len(values) > self.limit:
            return None
        if not all(v == int(v) and v >= 0 for v in values) or values[-1] > MAX_LABEL_VALUE:
            return None
        listing = ", ".join(f"{v:g}" for v in values)
        counts = {v: self.counts.get(v, 0) for v in values}
        background = max(values, key=lambda v: counts[v])
        foreground = [v for v in values if v != background]
        if named:
            levels = sorted({float(v) for v in named})
            source = "the values the dataset.json names"
        else:
            top = max((self.flat_counts.get(v, 0) for v in foreground), default=0)
            levels = sorted(
                [background, *(v for v in foreground if top and self.flat_counts.get(v, 0) >= LEVEL_MIN_SHARE * top)]
            )
            source = "the values filling regions"
            between = sum(counts[v] for v in foreground if v not in levels)
            total = sum(counts[v] for v in foreground)
            if not total or len(levels) < 2 or between > RINGING_MAX_SHARE * total:
                raise DatasetError(
                    f"the masks are JPEG files, and JPEG compression changes the values around every edge: they "
                    f"hold {listing}, and the label values cannot be told apart from the changed ones. Save the "
                    "masks as PNG (lossless), or name the label values in a dataset.json in the data folder "
                    '({"labels": {"0": "background", "1": ...}}): the values are then snapped to the named ones'
                )
        snapped = snap_to_levels(np.asarray(values), levels)
        moved = sum(counts[v] for v, s in zip(values, snapped.tolist(), strict=True) if v != s)
        share = moved / max(1, sum(counts[v] for v in foreground))
        encoding = determine_label_encoding(levels)
        note = (
            f"the masks are JPEG files holding {listing} (JPEG changes values around edges): read as "
            f"{', '.join(f'{v:g}' for v in levels)} ({source}), every other value snapped to the nearest "
            f"({moved} pixels, {share:.1%} of the foreground); save masks as PNG to avoid this"
        )
        logger.warning(note)
        joined = f"{note}; {encoding.note}" if encoding.note else note
        return encoding.model_copy(update={"snap": levels, "note": joined})

    def same_labels_everywhere(self) -> bool:
        """Whether every mask holding something holds exactly ``0..n``, the same ``n`` (at least two masks): a
        label map's classes, even beyond :data:`MAX_LABEL_VALUE` of them (not an intensity image's values)."""
        counts = self.object_counts
        return len(counts) >= 2 and len(set(counts)) == 1 and counts[0] >= 1

    def instance_maps(self) -> bool:
        """Whether the masks label objects, not classes (GlaS's glands, nuclei: each object its own value): every
        mask holds exactly ``0..n``, or ``n`` values each in one piece (:func:`separate_objects`), and ``n`` varies
        with the image the way object counts do, beyond the range of class indices (more than
        :data:`MAX_LABEL_VALUE` in a mask, or over the set), or over at least :data:`INSTANCE_MIN_COUNTS` different
        counts up to :data:`INSTANCE_MIN_MAX` or more. A label map's classes seldom come as ``1..n`` in every image
        with ``n`` so varied."""
        counts = self.object_counts
        if not counts or min(counts) < 1:
            return False
        top, varied = max(counts), len(set(counts))
        many_ids = len(self.values) - 1 > MAX_LABEL_VALUE  # over the set (DeepBacs' 1..44, track IDs up to 119)
        return (varied > 1 and (top > MAX_LABEL_VALUE or many_ids)) or (
            varied >= INSTANCE_MIN_COUNTS and top >= INSTANCE_MIN_MAX
        )

    def encoding(
        self,
        *,
        colour_table: ColourTable | None = None,
        has_colour: bool = False,
        named_values: bool | Iterable[float] | Mapping[int, str] = False,
        instance_files: bool = False,
    ) -> LabelEncoding:
        """The set's encoding: :meth:`lossy_encoding` for JPEG masks, :func:`mixed_binary_encoding` for binary
        masks saved two ways, :func:`instance_encoding` for objects labelled one by one (``instance_files``: the
        mask files are named for instances, :func:`named_for_instances`, and every one holds ``0..n``; unless
        ``named_values``: the data names its values as classes, in a ``dataset.json``; the values it names, their
        names, or ``True``),
        else :func:`determine_label_encoding` of the values. A value the data names as the background (``{"255":
        "background", "0": "lesion"}``) is class 0 (:func:`named_background_first`); binary masks whose top value
        surrounds every mask are warned of (:func:`inverted_binary_note`) unless the data names the values."""
        named = sorted({float(v) for v in named_values}) if not isinstance(named_values, bool) else []
        if colour_table is None and not has_colour:
            lossy = self.lossy_encoding(named)
            if lossy is not None:
                return lossy
            if self.binary_kinds == {"0/1", "0/255"}:
                return mixed_binary_encoding()
            numbered = bool(self.object_counts) and min(self.object_counts) >= 1  # each mask 0..n, or n objects
            if (self.instance_maps() or (instance_files and numbered)) and not (named or named_values is True):
                return instance_encoding(min(self.object_counts), max(self.object_counts))
        background = next(iter(self.borders)) if len(self.borders) == 1 else None
        encoding = determine_label_encoding(
            self.values,
            colour_table=colour_table,
            has_colour=has_colour,
            background=background,
            lossy=self.lossy,
            named=bool(named) or named_values is True or self.same_labels_everywhere(),
            void_named=float(IGNORE) in named,
        )
        if encoding.kind == "threshold" and (encoding.threshold or 0) > 1 and "0/1" in self.binary_kinds:
            note = "some masks are saved 0/1 among the 0..255 ones: their 1 is foreground (not thresholded away)"
            logger.warning(note)
            encoding = encoding.model_copy(update={"note": f"{encoding.note}; {note}"})
        named_map = isinstance(named_values, Mapping) and bool(named_values)
        if named_map:  # the data names its values: it has said which is the background, and which is unannotated
            assert isinstance(named_values, Mapping)
            encoding = named_ignore_left_out(named_background_first(encoding, named_values), named_values)
        inverted = "" if named_map else inverted_binary_note(encoding, background, len(self.object_counts))
        for warning in (inverted, self.outlines_note()):
            if warning:
                logger.warning(warning)
                encoding = encoding.model_copy(update={"note": f"{encoding.note}; {warning}".lstrip("; ")})
        return encoding

    def outlines_note(self) -> str:
        """A warning when most masks holding something are closed outlines (at least 3 of them), else ``""``."""
        drawn = len(self.object_counts)
        if self.outlines < 3 or self.outlines < 0.5 * drawn:
            return ""
        return (
            f"{self.outlines} of {drawn} masks are closed {OUTLINE_MARK} at least {OUTLINE_ENCLOSES:g} times their "
            "own area: HC18's head ellipses, contours traced in a viewer): the outline is trained as drawn; if the "
            "structure is the area inside, fill the masks first (scipy.ndimage.binary_fill_holes)"
        )


#: names a data set gives its background value (compared case-folded): MSD's "background", ITK-SNAP's "Clear Label"
BACKGROUND_NAMES = frozenset({"background", "bg", "backgrnd", "clear label", "unlabelled", "unlabeled", "none"})


def _values_named(value_names: Mapping[int, str], names: Collection[str]) -> list[int]:
    """The values ``value_names`` names with one of ``names`` (compared case-folded, spaces around dropped)."""
    return [v for v, name in value_names.items() if str(name).strip().casefold() in names]


def _raw_values(encoding: LabelEncoding) -> list[float] | None:
    """Each class's mask value of a label map of values (``identity`` or ``values``), ``None`` for another kind."""
    if encoding.kind == "values":
        return [float(v) for v in encoding.values]
    if encoding.kind == "identity":
        return [float(v) for v in range(encoding.num_classes)]
    return None


def named_background_first(encoding: LabelEncoding, value_names: Mapping[int, str]) -> LabelEncoding:
    """``encoding`` with the value the data names as its background (:data:`BACKGROUND_NAMES`) as class 0, the other
    values after it in increasing order, when that value is not class 0 already (inverted masks named in a
    ``dataset.json``: ``{"0": "lesion", "255": "background"}``); ``encoding`` itself otherwise (a colour, threshold
    or mapping encoding, no value named so, or several)."""
    backgrounds = _values_named(value_names, BACKGROUND_NAMES)
    raw = _raw_values(encoding)
    if len(backgrounds) != 1 or raw is None:
        return encoding
    background = float(backgrounds[0])
    if background not in raw or raw[0] == background:
        return encoding
    values = [background, *(v for v in raw if v != background)]
    others = ", ".join(f"{v:g} is class {k}" for k, v in enumerate(values[1:], start=1))
    note = f"the data names the mask value {background:g} '{value_names[backgrounds[0]]}': it is class 0, and {others}"
    logger.warning(note)
    return LabelEncoding(kind="values", num_classes=len(values), values=values, note=note)


#: the name of a mask value that is no class: unannotated voxels (nnU-Net v2's ``"ignore"`` label, its highest
#: value), left out of the loss and the scores and never predicted; ``mask_labels`` maps a value to it likewise
IGNORE_NAME = "ignore"


def named_ignore_left_out(encoding: LabelEncoding, value_names: Mapping[int, str]) -> LabelEncoding:
    """``encoding`` with the value the data names :data:`IGNORE_NAME` (nnU-Net v2's ``"labels": {..., "ignore":
    3}``: voxels nobody annotated) read as :data:`IGNORE`, the other values as the classes in their order; ``encoding``
    itself where no value is named so (or it is no label map of values: colour, threshold, mapping)."""
    ignored = _values_named(value_names, {IGNORE_NAME})
    raw = _raw_values(encoding)
    if len(ignored) != 1 or raw is None:
        return encoding
    value = float(ignored[0])
    kept = [v for v in raw if v != value]
    if value not in raw or len(kept) < 2:
        return encoding
    value_map = {v: k for k, v in enumerate(kept)} | {value: IGNORE}
    note = (
        f"the data names the mask value {value:g} '{value_names[ignored[0]]}' (unannotated voxels, as nnU-Net's ignore "
        "label): left out of the loss and the scores, never predicted"
    )
    logger.info(note)
    note = f"{encoding.note}; {note}".lstrip("; ")
    return LabelEncoding(kind="mapping", num_classes=len(kept), value_map=value_map, note=note)


#: the words of :meth:`MaskValueSurvey.outlines_note` that tell its warning in an encoding's note
OUTLINE_MARK = "outlines (the area each encloses is"
#: the words of :func:`inverted_binary_note` that tell its warning in an encoding's note
INVERTED_MARK = "surrounds the image (its border)"


def inverted_binary_note(encoding: LabelEncoding, border: float | None, masks: int) -> str:
    """A warning for binary masks whose foreground value surrounds every one of them (``border``: the value around
    each of the ``masks`` non-empty masks, when it is the same for all; at least 3): white-background masks with the
    structure in black, or a structure that fills every image. ``""`` otherwise."""
    if border is None or masks < 3 or encoding.num_classes != 2 or encoding.kind not in ("identity", "values"):
        return ""
    foreground = float(encoding.values[1]) if encoding.kind == "values" else 1.0
    background = float(encoding.values[0]) if encoding.kind == "values" else 0.0
    if border != foreground:
        return ""
    return (
        f"in every mask the value {foreground:g}, read as the structure, {INVERTED_MARK}: if "
        f"{background:g} marks the structure (masks drawn black on white), name the values in a dataset.json in the "
        f'data folder ({{"labels": {{"{background:g}": "<structure>", "{foreground:g}": "background"}}}}); '
        f"as they are, {foreground:g} is trained and scored as the structure"
    )


def separate_objects(mask: np.ndarray, values: Iterable[float]) -> int | None:
    """How many objects a 2D mask labels, one value each, when its values are not ``0..n`` (an object drawn over,
    a cropped one, the Cell Tracking Challenge's track IDs 13, 19, 22...): the count of its values above 0 when each
    lies in one piece (at most :data:`OBJECT_PIECES` pieces a value, touching diagonally counted as one); ``None``
    otherwise: a volume (not looked at), fewer than 3 values, or values in many pieces (the classes of a label map,
    the edge values of an interpolated mask)."""
    labels = sorted(float(v) for v in values if v != 0)
    if mask.ndim != 2 or len(labels) < 3 or not all(v == int(v) and v > 0 for v in labels):
        return None
    from skimage.measure import label

    pieces = int(label(mask.astype(np.int64), background=0, connectivity=2).max())  # regions of one value each
    return len(labels) if pieces <= OBJECT_PIECES * len(labels) else None


def named_for_instances(masks: Iterable[Path]) -> bool:
    """Whether every mask file is named for instances (ROBUST-MIS' ``instrument_instances.png``: each instrument its
    own value, 1..3 in an image, read as three classes by the values alone; the Cell Tracking Challenge's
    ``man_seg002.tif``: each cell its track's id, 3..40, read as 40 classes)."""
    from medimg.data.layouts.cell_tracking import TRUTH_NAME

    def cell_tracking_mask(stem: str) -> bool:
        found = TRUTH_NAME.fullmatch(stem)
        return found is not None and found.group(1) == "seg"

    stems = [file_stem(mask).lower() for mask in masks]
    return bool(stems) and all(
        {"instance", "instances"} & set(re.split(r"[^a-z]+", stem)) or cell_tracking_mask(stem) for stem in stems
    )


def instance_encoding(fewest: int, most: int) -> LabelEncoding:
    """Masks labelling each object with its own value ``1..n`` (GlaS's ``*_anno.bmp`` glands, nuclei instance maps):
    one foreground class, every object's value."""
    note = (
        f"instance-labelled masks (each object its own value above 0, {fewest}..{most} objects per image): read as one "
        "foreground class (any value above 0); if the values are classes, name them in a dataset.json in the data "
        'folder ({"labels": {"0": "background", "1": ...}})'
    )
    logger.warning(note)
    return LabelEncoding(kind="threshold", num_classes=2, threshold=0.5, note=note)


def mixed_binary_encoding() -> LabelEncoding:
    """Binary masks saved two ways in one set (some 0/1, some 0/255, as two tools or two exports write them): 1 and
    255 are both foreground (read from the union of values alone, 255 would be a class or a border)."""
    note = "binary masks saved two ways (some 0/1, some 0/255): 1 and 255 are both foreground"
    logger.warning(note)
    return LabelEncoding(kind="mapping", num_classes=2, value_map={0.0: 0, 1.0: 1, 255.0: 1}, note=note)


def encode_mask(raw: np.ndarray, encoding: LabelEncoding, source: str = "") -> np.ndarray:
    """Apply ``encoding`` to one raw mask ``(C, *spatial)`` -> ``(*spatial)`` uint8 class indices.

    Values the encoding does not know (a colour missing from the table, a label above ``num_classes - 1``)
    raise :class:`DatasetError` naming the file.
    """
    if encoding.kind == "colour":
        table = encoding.colour_table
        if table is None:
            raise ConfigError("colour encoding without a colour table")
        rgb = np.rint(raw[:3]).astype(np.int64) if raw.shape[0] >= 3 else np.repeat(np.rint(raw[:1]), 3, 0)
        rgb = rgb.astype(np.int64)
        key = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]
        out = np.full(key.shape, -1, dtype=np.int64)
        for (r, g, b), label in table.lookup().items():
            out[key == ((r << 16) | (g << 8) | b)] = label
        if (out < 0).any():
            bad = np.unique(key[out < 0])[:5]
            colours = ", ".join(f"({v >> 16},{(v >> 8) & 255},{v & 255})" for v in bad.tolist())
            raise DatasetError(
                f"mask {source}: colours {colours} are not in the colour table {table.name!r}; add them to the "
                "table (use 255 to ignore a colour)"
            )
        return out.astype(np.uint8)
    gray = raw[0] if raw.shape[0] >= 1 else raw
    if encoding.snap:
        gray = snap_to_levels(gray, encoding.snap)
    if encoding.kind == "identity":
        labels = np.rint(gray)
    elif encoding.kind == "threshold":
        threshold = float(encoding.threshold or 0.5)
        if threshold > 1 and gray.max() <= 1 and np.all((gray == 0) | (gray == 1)):
            labels = gray.astype(np.float32)  # a 0/1 mask among 0..255 ones: thresholded, it would lose its object
        else:
            labels = (gray >= threshold).astype(np.float32)
    elif encoding.kind == "mapping":
        labels = np.full(gray.shape, -1.0, dtype=np.float32)
        for value, index in encoding.value_map.items():
            labels[np.abs(gray - value) < 0.5] = index
    else:
        labels = np.full(gray.shape, -1.0, dtype=np.float32)
        for index, value in enumerate(encoding.values):
            labels[np.abs(gray - value) < 0.5] = index
    if labels.min() < 0 or (labels.max() >= encoding.num_classes and labels.max() != IGNORE):
        found = ", ".join(f"{v:g}" for v in np.unique(gray)[:8].tolist())
        raise DatasetError(
            f"mask {source}: values {found} do not match the dataset's encoding ({encoding.kind}, "
            f"{encoding.num_classes} classes{', values ' + str(encoding.values) if encoding.values else ''}); "
            "re-export this mask with the same values as the others"
        )
    return labels.astype(np.uint8)
