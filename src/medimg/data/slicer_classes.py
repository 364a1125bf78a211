"""One class per segment name across 3D Slicer segmentation files (``.seg.nrrd``).

A Slicer segmentation stores each segment under a value (and a layer, when segments overlap) that is its place in
that file's segment list (:mod:`medimg.io.slicer_segments`). Across the cases of a data set the same name can
therefore have different values: read as plain label maps, "tumour" would be class 1 in one case and class 2 in
another, and a model would be trained and scored on a mix of both. Here every segment name (compared in composed
Unicode, case folded) becomes one class, numbered in the order the names usually come in the files' segment lists
(ties: alphabetically), and each case keeps the recipe to paint its file's segments with those classes
(:attr:`medimg.data.case.SegCase.segments`). Where segments overlap (layered files), the larger is painted first, so
a lesion inside its organ keeps its class.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from medimg.data.case import SegCase
from medimg.errors import ImageReadError
from medimg.io.slicer_segments import Segment, segments_of

logger = logging.getLogger(__name__)


def slicer_classes(cases: Sequence[SegCase]) -> tuple[list[SegCase], dict[int, str]]:
    """``cases`` with :attr:`~medimg.data.case.SegCase.segments` set for each mask that is a Slicer segmentation,
    and ``{class value: name}`` (0 background) of the segment names; ``cases`` unchanged and ``{}`` when no mask is.
    Reads the masks' headers only."""
    found = {case.mask: segments_of(case.mask) for case in cases if case.mask is not None}
    named = {mask: segments for mask, segments in found.items() if segments}
    if not named:
        return list(cases), {}
    places: dict[str, Counter[int]] = {}
    spelling: dict[str, str] = {}
    for segments in named.values():
        for segment in segments:
            places.setdefault(segment.key, Counter())[segment.index] += 1
            spelling.setdefault(segment.key, segment.name)
    order = sorted(places, key=lambda key: (_usual_place(places[key]), key))
    class_of = {key: value for value, key in enumerate(order, start=1)}
    value_names = {0: "background", **{class_of[key]: spelling[key] for key in order}}
    _say(named, class_of, value_names, plain=len(found) - len(named))
    updated = [
        replace(case, segments=tuple((s.layer, s.value, class_of[s.key]) for s in named[case.mask]))
        if case.mask in named
        else case
        for case in cases
    ]
    return updated, value_names


def _usual_place(places: Counter[int]) -> int:
    """The place in the segment lists a name holds most often (the first of equally common ones)."""
    most = max(places.values())
    return min(place for place, count in places.items() if count == most)


def _say(
    named: dict[Path, tuple[Segment, ...]], class_of: dict[str, int], value_names: dict[int, str], *, plain: int
) -> None:
    """Log the classes read from the segment names: a warning when one name has several values across the files
    (the case this module exists for) or when plain label maps are mixed in, else an INFO line."""
    classes = ", ".join(f"{name} = {value}" for value, name in value_names.items() if value)
    stored: dict[str, dict[tuple[int, int], Path]] = {}
    for mask, segments in named.items():
        for segment in segments:
            stored.setdefault(segment.key, {}).setdefault((segment.layer, segment.value), mask)
    differing = next((key for key in class_of if len(stored[key]) > 1), None)
    if differing is not None:
        (place_a, file_a), (place_b, file_b) = list(stored[differing].items())[:2]
        logger.warning(
            "the 3D Slicer segmentations give one segment different values: '%s' is %s in %s and %s in %s (each file "
            "numbers its segments in its own order): every segment name is read as one class (%s)",
            value_names[class_of[differing]],
            _where(place_a),
            file_a,
            _where(place_b),
            file_b,
            classes,
        )
    else:
        logger.info("classes from the 3D Slicer segment names of %d mask(s): %s", len(named), classes)
    if plain:
        logger.warning(
            "%d mask(s) are plain label maps beside %d 3D Slicer segmentation(s): their values are read as the "
            "classes of the segment names (%s); export them from Slicer as segmentations too if they number "
            "their labels otherwise",
            plain,
            len(named),
            classes,
        )


def _where(place: tuple[int, int]) -> str:
    layer, value = place
    return f"value {value}" + (f" of layer {layer}" if layer else "")


def painted(array: np.ndarray, segments: Sequence[tuple[int, int, int]], path: Path) -> np.ndarray:
    """The label map ``(1, *spatial)`` of a Slicer segmentation's ``array`` (``(layers, *spatial)``, as read) with
    each segment ``(layer, value, class)`` painted as its class: larger segments first, so where segments overlap
    the smaller one (a lesion in its organ) keeps its class; 0 elsewhere.

    Raises:
        ImageReadError: the header names a layer the file does not have.
    """
    regions: list[tuple[int, int, np.ndarray]] = []
    for layer, value, label in segments:
        if layer >= array.shape[0]:
            raise ImageReadError(
                path,
                f"its header puts a segment in layer {layer}, but the file has {array.shape[0]} layer(s): it is "
                "damaged or was edited by hand; save the segmentation again from 3D Slicer",
            )
        region = array[layer] == value
        regions.append((int(np.count_nonzero(region)), label, region))
    labels = np.zeros(array.shape[1:], np.float32)
    for _, label, region in sorted(regions, key=lambda item: -item[0]):
        labels[region] = label
    stray = int(np.count_nonzero(np.any(array != 0, axis=0) & (labels == 0)))
    if stray:
        logger.warning(
            "%s: %d labelled voxel(s) hold values its header names no segment for: read as background (its "
            "segments: %s)",
            path,
            stray,
            ", ".join(f"layer {layer} value {value}" for layer, value, _ in segments),
        )
    return labels[None]
