"""``medimg check`` for image/mask pairs: what is in a segmentation dataset and what is wrong with it.

Every case is read once, one at a time (a folder of CT volumes never sits in memory at once): image sizes,
spacings and channels; the values of the masks and the classes ``fit`` will make of them (the same decision as
training, :func:`~medimg.tasks.segment.labels.determine_label_encoding`, with the names of a ``dataset.json``);
how many cases hold each class; and the problems: unreadable files, masks whose size differs from their image's,
masks without an image, empty masks (no foreground at all) and the same image in several splits.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medimg.data.dataset import SegmentationDataset
from medimg.data.quality import mixed_channels_warning, patients_in_several_splits, pixel_digest, top_counts
from medimg.errors import DatasetError, ImageReadError
from medimg.io.formats import is_lossy
from medimg.io.read_notes import exif_warning, transparency_warning
from medimg.tasks.segment.labels import (
    INVERTED_MARK,
    OUTLINE_MARK,
    LabelEncoding,
    MaskValueSurvey,
    encode_mask,
    is_colour_mask,
    mask_values,
    named_for_instances,
    unused_classes,
)

#: the encoding phrases of masks fit cannot turn into classes (colour masks without a table, no readable mask)
NOT_CLASSES = "not readable as classes"
NO_MASK = "no mask could be read"
UNDECODABLE = (NOT_CLASSES, NO_MASK)
#: more distinct mask values than this: not a label map (a photograph or a soft mask), reported as such
MAX_MASK_VALUES = 1024


def mixed_dimensions(first: dict[int, str], counts: dict[int, int] | None = None) -> str:
    """Why cases of several dimensionalities cannot train one network, and the fix: ``first`` maps a number of
    spatial axes to its first case, ``counts`` (when known) to its number of cases (CAMUS ships 2D+time sequences,
    ``*_half_sequence.nii.gz``, beside its 2D frames)."""
    kinds = {2: "2D images", 3: "3D volumes"}
    parts = [
        f"{f'{counts[n]} ' if counts else ''}{kinds.get(n, f'{n}D arrays')} (e.g. {case})"
        for n, case in sorted(first.items())
    ]
    return (
        f"the data mixes {' and '.join(parts)}: one network reads one kind; leave the others out with --exclude "
        "and a pattern of their names (e.g. --exclude '*sequence*'), or keep them in separate folders"
    )


@dataclass
class SegCheckReport:
    """The result of :func:`check_segmentation`; ``to_dict()`` is the JSON, ``summary()`` the human text."""

    dataset: dict[str, Any]
    image_sizes: dict[str, int]
    spacings: dict[str, int]
    channels: dict[str, int]
    mask_values: list[float]
    colour_masks: int
    encoding: str
    class_names: list[str]
    cases_per_class: dict[str, int]
    unreadable: list[dict[str, str]] = field(default_factory=list)
    size_mismatches: list[dict[str, str]] = field(default_factory=list)
    empty_masks: list[str] = field(default_factory=list)
    cross_split_duplicates: list[list[str]] = field(default_factory=list)
    #: patients whose images lie in several of the data's own splits (QaTa-COV19's BIMCV subjects in Train and Test)
    cross_split_patients: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mixed_dimensions: str | None = None

    @property
    def no_foreground(self) -> bool:
        """Every mask read is empty: nothing to learn (LIDC outlines naming no slice of their series)."""
        return bool(self.empty_masks) and len(self.empty_masks) >= sum(self.image_sizes.values())

    @property
    def ok(self) -> bool:
        """True when nothing would silently harm training or evaluation (empty masks are only a warning: a case
        without the structure is legitimate, e.g. a healthy scan)."""
        return not (
            self.unreadable
            or self.no_foreground
            or self.size_mismatches
            or self.cross_split_duplicates
            or self.cross_split_patients
            or self.mixed_dimensions
            or self.dataset["unpaired_masks"]
            or self.encoding in UNDECODABLE
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dataset": self.dataset,
            "image_sizes": self.image_sizes,
            "spacings_mm": self.spacings,
            "channels": self.channels,
            "mask_values": self.mask_values,
            "colour_masks": self.colour_masks,
            "encoding": self.encoding,
            "class_names": self.class_names,
            "cases_per_class": self.cases_per_class,
            "unreadable": self.unreadable,
            "size_mismatches": self.size_mismatches,
            "empty_masks": self.empty_masks,
            "cross_split_duplicates": self.cross_split_duplicates,
            "cross_split_patients": self.cross_split_patients,
            "mixed_dimensions": self.mixed_dimensions,
            "warnings": self.warnings,
        }

    def summary(self) -> str:
        d = self.dataset
        shown = ", ".join(f"{v:g}" for v in self.mask_values[:12])
        more = f", ... ({len(self.mask_values)} distinct)" if len(self.mask_values) > 12 else ""
        lines = [
            f"dataset   {d['name']} ({d['source']}, {d['num_cases']} image/mask pairs, segmentation)",
            "splits    " + (", ".join(f"{k}: {v}" for k, v in d["split_counts"].items()) or "none"),
            "sizes     " + top_counts(self.image_sizes),
            *(["spacing   " + top_counts(self.spacings) + " (mm)"] if self.spacings else []),
            "channels  " + top_counts(self.channels),
            "masks     "
            + (f"values {shown}{more}" if self.mask_values else "")
            + (f"{'; ' if self.mask_values else ''}{self.colour_masks} colour-coded" if self.colour_masks else "")
            + f" -> {self.encoding}",
            "classes   " + ", ".join(f"{name} in {n} case(s)" for name, n in self.cases_per_class.items()),
            f"unreadable {len(self.unreadable)}, size mismatches {len(self.size_mismatches)}, masks without an "
            f"image {len(d['unpaired_masks'])}, empty masks {len(self.empty_masks)}, same image across splits "
            f"{len(self.cross_split_duplicates)}",
        ]
        lines += [f"  unreadable: {u['case']}: {u['reason']}" for u in self.unreadable[:10]]
        lines += [f"  size mismatch: {m['reason']}" for m in self.size_mismatches[:10]]
        lines += [f"  mask without an image: {m}" for m in d["unpaired_masks"][:10]]
        lines += [f"  same image in several splits: {', '.join(g)}" for g in self.cross_split_duplicates[:10]]
        lines += [f"  one patient in several splits: {p}" for p in self.cross_split_patients[:10]]
        lines += [f"  {self.mixed_dimensions}"] if self.mixed_dimensions else []
        lines += (
            ["  every mask is empty: no foreground to learn (do the masks land on their images?)"]
            if self.no_foreground
            else []
        )
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append("status    " + ("OK" if self.ok else "PROBLEMS FOUND (see above)"))
        return "\n".join(lines)


def _mask_of(dataset: SegmentationDataset, case_id: str) -> str:
    """The mask file of a case as the warnings name it (the empty-mask warning named the image alone)."""
    from medimg.data.identical_files import shown_under

    mask = next(c.mask for c in dataset.cases if c.case_id == case_id)
    return shown_under(mask, dataset.root) if mask is not None else case_id


def check_segmentation(dataset: SegmentationDataset, *, progress: bool = False) -> SegCheckReport:
    """Read every case once and report what :class:`SegCheckReport` holds (see the module docstring)."""
    from tqdm.auto import tqdm

    from medimg.terminal import show_bars

    sizes: Counter[str] = Counter()
    spacings: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    survey = MaskValueSurvey(limit=MAX_MASK_VALUES, lossy=any(is_lossy(case.mask) for case in dataset.cases))
    values = survey.values
    distinct_per_case: list[np.ndarray] = []  # each mask's distinct values (1, 1, N) or colours (3, 1, N)
    grey_values: dict[str, np.ndarray] = {}  # a grey mask's distinct values, by case
    colour_masks = 0
    unreadable: list[dict[str, str]] = []
    mismatches: list[dict[str, str]] = []
    empty: list[str] = []
    digests: dict[str, list[tuple[str, str]]] = defaultdict(list)
    turned: list[str] = []
    transparent: list[tuple[str, float]] = []  # images with pixels not fully opaque, and their share
    resized: list[str] = []
    other_geometry: list[str] = []  # cases whose label's header gives another spacing or origin than the image's
    placed: list[str] = []  # cases whose mask volume covers a box of the image's grid (placed there)
    first_of: dict[int, str] = {}  # number of spatial axes -> its first case
    axes: Counter[int] = Counter()
    channel_counts: list[tuple[str, int, int]] = []  # (image, channels, spatial axes) per case
    for case in tqdm(dataset.cases, desc="checking cases", disable=not show_bars(progress), leave=False):
        try:
            sample = dataset.read(case)
        except ImageReadError as error:
            unreadable.append({"case": case.case_id, "reason": f"{error.path}: {error.reason}"})
            continue
        except DatasetError as error:  # the mask's size differs from its image's
            mismatches.append({"case": case.case_id, "reason": str(error)})
            continue
        image = sample.image
        if image.meta.get("exif_orientation"):
            turned.append(str(case.image))
        if image.meta.get("transparent"):
            transparent.append((str(case.image), float(image.meta["transparent"])))
        if image.meta.get("mask_resized_from"):
            resized.append(case.case_id)
        if image.meta.get("mask_geometry"):
            other_geometry.append(case.case_id)
        if image.meta.get("mask_placed"):
            placed.append(case.case_id)
        sizes["x".join(map(str, image.spatial_shape))] += 1
        first_of.setdefault(len(image.spatial_shape), case.case_id)
        axes[len(image.spatial_shape)] += 1
        channels[str(image.array.shape[0])] += 1
        channel_counts.append((str(case.image), int(image.array.shape[0]), len(image.spatial_shape)))
        if image.spacing_mm is not None:
            spacings["x".join(f"{v:.2f}" for v in image.spacing_mm)] += 1
        split = case.split or "none"
        digests[pixel_digest(image.array)].append((case.case_id, split))
        if sample.mask is None:
            continue
        if is_colour_mask(sample.mask):
            colour_masks += 1
            colours = np.unique(np.rint(sample.mask[:3]).reshape(3, -1).T, axis=0)  # (N, 3)
            distinct_per_case.append(colours.T[:, None, :].astype(np.float32))
            if len(colours) == 1:
                empty.append(case.case_id)
            continue
        found = mask_values(sample.mask[0], limit=MAX_MASK_VALUES)
        distinct_per_case.append(found.astype(np.float32).reshape(1, 1, -1))
        grey_values[case.case_id] = found
        survey.add_mask(sample.mask[0], found)
        if len(found) == 1:
            empty.append(case.case_id)
    encoding, names, per_class, warnings = _classes(dataset, survey, distinct_per_case, colour_masks)
    warnings += stray_label_values(grey_values, lambda case_id: _mask_of(dataset, case_id))
    cross = [sorted(c for c, _ in group) for group in digests.values() if len({split for _, split in group}) > 1]
    if empty:
        warnings.append(
            f"{len(empty)} mask(s) hold a single value (no structure at all), e.g. {_mask_of(dataset, empty[0])} (of "
            f"{empty[0]}); fine for cases without the structure, a wrong mask otherwise"
        )
    if resized:
        warnings.append(
            f"{len(resized)} mask(s) have another resolution than their images over the same field of view (e.g. "
            f"{resized[0]}): resized onto the images' grids by nearest neighbour for training and evaluation"
        )
    if placed:
        warnings.append(
            f"{len(placed)} mask volume(s) cover a box of their images' voxel grids, as their headers place them (e.g. "
            f"{placed[0]}; 3D Slicer saves a segmentation cropped to its segments): put there, background elsewhere"
        )
    if other_geometry:
        warnings.append(
            f"{len(other_geometry)} label(s) have another voxel spacing or origin in their header than their images "
            f"(e.g. {other_geometry[0]}): used voxel for voxel on the images' grids; give them the images' headers "
            "if only the headers are wrong, resample them onto the images if they were drawn on another grid"
        )
    mixed = mixed_channels_warning(channel_counts)
    if mixed:
        warnings.append(mixed)
    if turned:
        warnings.append(exif_warning(turned))
    if transparent:
        warnings.append(transparency_warning(*zip(*transparent, strict=True)))
    return SegCheckReport(
        dataset=dataset.describe(),
        image_sizes=dict(sizes),
        spacings=dict(spacings),
        channels=dict(channels),
        mask_values=sorted(values)[: MAX_MASK_VALUES + 1],
        colour_masks=colour_masks,
        encoding=encoding,
        class_names=names,
        cases_per_class=per_class,
        unreadable=unreadable,
        size_mismatches=mismatches,
        empty_masks=empty,
        cross_split_duplicates=cross,
        cross_split_patients=patients_in_several_splits(dataset.cases, {c.case_id: c.split for c in dataset.cases}),
        warnings=warnings,
        mixed_dimensions=mixed_dimensions(first_of, dict(axes)) if len(first_of) > 1 else None,
    )


#: masks a set needs before one value in one of them is judged a stray among the codes the others share
STRAY_MIN_MASKS = 5
#: a label code below this is a class index (a rare class 3 beside a common 2 is no slip)
STRAY_MIN_CODE = 10


def stray_label_values(values_of: Mapping[str, np.ndarray], mask_of: Callable[[str], str]) -> list[str]:
    """Warnings of a label code in one mask only, one away from a code most masks hold, among codes spaced apart
    (MM-WHS's 205, 420, 500... with 421 in one mask: a slip of the annotation tool, trained as a class of its own that
    shifted every class above it); ``mask_of`` names a case's mask file."""
    if len(values_of) < STRAY_MIN_MASKS:
        return []
    holding: dict[float, list[str]] = {}
    for case_id, values in values_of.items():
        for value in {float(v) for v in values}:
            holding.setdefault(value, []).append(case_id)
    common = sorted(v for v, cases in holding.items() if len(cases) > 1)
    if any(b - a <= 1 for a, b in itertools.pairwise(common)):  # consecutive ids (organs 1..117)
        return []
    warnings = []
    for value, cases in sorted(holding.items()):
        near = next(
            (n for n in (value - 1, value + 1) if len(holding.get(n, ())) >= len(values_of) / 2),
            None,
        )
        if len(cases) == 1 and value == int(value) and value >= STRAY_MIN_CODE and near is not None:
            warnings.append(
                f"mask value {value:g} is in 1 of {len(values_of)} masks only ({mask_of(cases[0])}), beside {near:g} "
                f"in {len(holding[near])}: a slip for {near:g}? It is read as a class of its own; set it to "
                f"{near:g} in that mask if it is one"
            )
    return warnings


def _classes(
    dataset: SegmentationDataset, survey: MaskValueSurvey, distinct_per_case: Sequence[np.ndarray], colour_masks: int
) -> tuple[str, list[str], dict[str, int], list[str]]:
    """How fit will read the masks (a phrase), the class names, cases holding each foreground class, warnings."""
    from medimg.tasks.segment.class_names import class_names_for, value_names_of
    from medimg.tasks.segment.external import describe_encoding

    if not survey.values and not colour_masks:
        return NO_MASK, [], {}, []
    value_names = value_names_of(dataset)
    try:
        encoding = survey.encoding(
            colour_table=dataset.colour_table,
            has_colour=colour_masks > 0,
            named_values=value_names,
            instance_files=named_for_instances(c.mask for c in dataset.cases if c.mask is not None),
        )
    except DatasetError as error:
        return NOT_CLASSES, [], {}, [str(error)]
    names = class_names_for(encoding, value_names)
    unused = set(unused_classes(encoding))  # the empty classes between 0/1/4/7: the encoding's note names them
    listed = set() if len(unused) > 8 else unused  # not 45 of them between organ IDs 3..52
    per_class: dict[str, int] = {n: 0 for k, n in enumerate(names) if k and (k not in unused or k in listed)}
    for distinct in distinct_per_case:
        for k in _classes_of(distinct, encoding) - {0}:
            if k < len(names) and names[k] in per_class:
                per_class[names[k]] += 1
    plain = encoding.kind == "identity" or encoding.values == [0.0, 255.0]
    # plain: no assumption to flag (snapped values, gaps, a structure around every mask)
    flagged = INVERTED_MARK in encoding.note or OUTLINE_MARK in encoding.note
    described = plain and not encoding.snap and not unused and not flagged
    warnings = [encoding.note] if encoding.note and not described else []
    absent = [n for n, count in per_class.items() if count == 0 and names.index(n) not in unused]
    if absent:
        warnings.append(f"class(es) {', '.join(absent)} appear in no mask")
    return f"{encoding.num_classes} classes, {describe_encoding(encoding)}", names, per_class, warnings


def _classes_of(distinct: np.ndarray, encoding: LabelEncoding) -> set[int]:
    """The class indices of a mask whose distinct values (colours) are ``distinct`` (none when they do not fit)."""
    if distinct.size == 0:
        return set()
    try:
        return {int(k) for k in encode_mask(distinct, encoding).ravel()}
    except DatasetError:
        return set()
