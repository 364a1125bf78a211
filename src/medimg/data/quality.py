"""``medimg check``: what is in a dataset and what is wrong with it, before any training."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.detection import MIN_BOX_SIDE_PX
from medimg.data.labels import (
    classes_of_one,
    id_classes_problem,
    keep_classes,
    label_text,
    measurement_warning,
    name_labels_problem,
    numbered_alike,
    plane_classes_problem,
    same_cases_problem,
    shared_file_names,
)
from medimg.data.loading import iter_images, other_dimensions
from medimg.data.name_patients import group_by_name_patient
from medimg.data.near_duplicates import Signature, near_duplicate_groups, signature
from medimg.data.shortcuts import shortcut_warnings
from medimg.data.splits import Splits, make_splits, patients_in_several_splits
from medimg.errors import DatasetError
from medimg.io.frames import is_colour
from medimg.io.inputs import shell_quoted
from medimg.io.read_notes import exif_warning, transparency_warning
from medimg.io.windowing import header_window, unused_window_warning

logger = logging.getLogger(__name__)

CLIPPED_BOXES_WARNING = 0.5
"""Detection: a warning when at least this share of the boxes had to be clipped to their image."""
IMBALANCE_WARNING = 3.0
#: An image with at most this many distinct integer values (and at least two) is label-valued: a mask, not a
#: photograph or scan (whose noise alone gives hundreds of values).
MASK_MAX_VALUES = 8
#: Why ``fit`` leaves an image out (recorded with it in ``dataset.json`` and the run's training summary).
CONFLICT_REASON = "identical pixels to an image with another label (label conflict)"
MASK_REASON = "a segmentation mask by its content (a few integer values or colours, the size of the images beside it)"
BLANK_REASON = "blank: one value everywhere (but a few pixels at most), nothing to classify"
#: What "nearly identical images" are, as the warnings about them say (the copies ``near_duplicate_groups`` finds).
NEAR_COPIES = (
    "nearly identical images (one picture re-saved, resized, cropped, mirrored, at another bit depth or with text "
    "burned in)"
)


@dataclass
class CheckReport:
    """The result of :func:`check_dataset`; ``to_dict()`` is the JSON, ``summary()`` the human text."""

    dataset: dict[str, Any]
    image_sizes: dict[str, int]
    channels: dict[str, int]
    dtypes: dict[str, int]
    unreadable: list[dict[str, str]] = field(default_factory=list)
    blank: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    cross_split_duplicates: list[list[str]] = field(default_factory=list)
    near_duplicates: list[list[str]] = field(default_factory=list)
    cross_split_near_duplicates: list[list[str]] = field(default_factory=list)
    cross_split_patients: list[str] = field(default_factory=list)
    label_conflicts: list[list[str]] = field(default_factory=list)
    label_conflict_ids: list[list[str]] = field(default_factory=list)
    #: groups of nearly identical images (one picture re-saved, resized...) whose labels differ: ``"<id> [<label>]"``
    near_label_conflicts: list[list[str]] = field(default_factory=list)
    #: the groups of identical images (case ids) in one split with one label: neither across splits nor conflicts
    within_split_duplicates: list[list[str]] = field(default_factory=list)
    suspected_masks: list[str] = field(default_factory=list)
    #: images whose channels cannot be converted to the others' (a 4D volume's frames among 3D volumes): path, reason
    unconvertible: list[dict[str, str]] = field(default_factory=list)
    #: classification: every class is one patient's images or one image (:func:`~medimg.data.labels.classes_of_one`),
    #: or every class name an id (:func:`~medimg.data.labels.id_classes_problem`), or every class folder's images
    #: labelled 0/1 by their names (:func:`~medimg.data.labels.name_labels_problem`), or every class a plane of the
    #: same scans (:func:`~medimg.data.labels.plane_classes_problem`): fit refuses
    classes_of_one: str = ""
    #: detection: boxes clipped to their image when so many were that the box columns are likely misread
    misread_boxes: int = 0
    #: detection: boxes the data gives, every one of them dropped (degenerate, outside the image, duplicate, crowd)
    lost_boxes: int = 0
    imbalance_ratio: float = 1.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing would silently harm training or evaluation."""
        return not (
            self.unreadable
            or self.blank
            or self.cross_split_duplicates
            or self.cross_split_near_duplicates
            or self.cross_split_patients
            or self.label_conflicts
            or self.near_label_conflicts
            or self.suspected_masks
            or self.misread_boxes
            or self.lost_boxes
            or self.unconvertible
            or self.classes_of_one
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dataset": self.dataset,
            "image_sizes": self.image_sizes,
            "channels": self.channels,
            "dtypes": self.dtypes,
            "imbalance_ratio": self.imbalance_ratio,
            "unreadable": self.unreadable,
            "blank": self.blank,
            "duplicates": self.duplicates,
            "cross_split_duplicates": self.cross_split_duplicates,
            "near_duplicates": self.near_duplicates,
            "cross_split_near_duplicates": self.cross_split_near_duplicates,
            "cross_split_patients": self.cross_split_patients,
            "label_conflicts": self.label_conflicts,
            "label_conflict_ids": self.label_conflict_ids,
            "near_label_conflicts": self.near_label_conflicts,
            "suspected_masks": self.suspected_masks,
            "unconvertible": self.unconvertible,
            "classes_of_one": self.classes_of_one,
            "misread_boxes": self.misread_boxes,
            "lost_boxes": self.lost_boxes,
            "warnings": self.warnings,
        }

    def summary(self) -> str:
        d = self.dataset
        multi = bool(d.get("multi_label"))
        kind = "findings (multi-label)" if multi else "classes"
        lines = [
            f"dataset   {d['name']} ({d['source']}, {d['num_cases']} images, {len(d['class_names'])} {kind})",
            ("boxes     " if d.get("task") == "detect" else "findings  " if multi else "classes   ")
            + ", ".join(f"{k}: {v}" for k, v in d["class_counts"].items())
            + (f"; {d['images_without_findings']} image(s) without any" if multi else ""),
            "splits    " + (", ".join(f"{k}: {v}" for k, v in d["split_counts"].items()) or "none"),
            "sizes     " + top_counts(self.image_sizes),
            "channels  " + top_counts(self.channels),
            "types     " + top_counts(self.dtypes),
            f"imbalance {self.imbalance_ratio:.2f} (largest / smallest class"
            + (" by boxes)" if d.get("task") == "detect" else ")"),
            f"unreadable {len(self.unreadable)}, blank {len(self.blank)}, duplicate groups "
            f"{len(self.duplicates)}, across splits {len(self.cross_split_duplicates)}, near-identical groups "
            f"{len(self.near_duplicates)}, across splits {len(self.cross_split_near_duplicates)}, label conflicts "
            f"{len(self.label_conflicts)}"
            + (
                f", nearly identical with different labels {len(self.near_label_conflicts)}"
                if self.near_label_conflicts
                else ""
            ),
        ]
        for item in self.unreadable[:10]:
            lines.append(f"  unreadable: {item['path']}: {item['reason']}")
        for item in self.unconvertible[:10]:
            lines.append(f"  channels not convertible: {item['reason']}")
        for case_id in self.blank[:10]:
            lines.append(f"  blank: {case_id}")
        for group in self.cross_split_duplicates[:10]:
            lines.append(f"  same image in several splits: {', '.join(group)}")
        for group in self.cross_split_near_duplicates[:10]:
            lines.append(f"  nearly the same image in several splits: {', '.join(group)}")
        if self.classes_of_one:
            lines.append(f"  classes of one: {self.classes_of_one}")
        for patient in self.cross_split_patients[:10]:
            lines.append(f"  one patient in several splits: {patient}")
        for group in self.label_conflicts[:10]:
            lines.append(f"  label conflict (identical pixels, different labels): {', '.join(group)}")
        for group in self.near_label_conflicts[:10]:
            lines.append(f"  label conflict (nearly the same picture, different labels): {', '.join(group)}")
        for group in self.within_split_duplicates[:10]:
            lines.append(f"  identical images (same split): {', '.join(group)}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append("status    " + ("OK" if self.ok else "PROBLEMS FOUND (see above)"))
        return "\n".join(lines)


def mixed_channels_warning(
    images: Sequence[tuple[str, int, int]], unconvertible: Sequence[str] | dict[str, str] = ()
) -> str | None:
    """The check's warning when images differ in channel count, naming one of the others (``images``: path,
    channels and number of spatial axes of each), or ``None`` when they agree. Volumes with a few channels are
    often 4D files (time points, sequences) among 3D ones: said so. ``unconvertible``: the paths of those that
    cannot be converted (:func:`unconvertible_channels`, listed as problems), of which it says so."""
    counts = Counter(channels for _, channels, _ in images)
    if len(counts) < 2:
        return None
    common = counts.most_common(1)[0][0]
    odd = [image for image in images if image[1] != common]
    path, channels, _ = next((image for image in odd if image[0] not in unconvertible), odd[0])
    listed = ", ".join(f"{n} image(s) with {c}" for c, n in counts.most_common())
    series = any(d == 3 and c > 1 for _, c, d in images if c != common)
    converted = sum(1 for image in odd if image[0] not in unconvertible)
    stuck = len(odd) - converted
    return (
        f"mixed channel counts ({listed}; e.g. {path} has {channels})"
        + (": a volume with several channels is a 4D file, e.g. time points or sequences" if series else "")
        + (f"; images are converted to the most common channel count ({common})" if converted else "")
        + (f"; {stuck} of them cannot be converted to {common} channel(s) (see above)" if stuck else "")
    )


def unconvertible_channels(records: Sequence[_ImageRecord]) -> dict[str, str]:
    """Path -> why, of the images whose channels cannot be converted to the most common channel count (the one
    the plan takes): a 4D volume's frames (time points, echoes) among 3D volumes are not averaged into one, nor is
    any count that is not colour against grey (:func:`~medimg.io.frames.converts`)."""
    from medimg.io.frames import converts, exclude_hint, frames_refusal

    counts = Counter(r.channels for r in records)
    if len(counts) < 2:
        return {}
    common = counts.most_common(1)[0][0]
    found = {}
    for r in records:
        if not converts(r.channels, common, r.colour):
            found[r.path] = (
                (
                    frames_refusal(r.path, r.channels, common)
                    if r.channels > common and not r.colour
                    else f"{r.path}: {r.channels} channels where the other images have {common}: it cannot be converted"
                )
                + f" ({counts[common]} of the {len(records)} images have {common})"
                + exclude_hint(r.path)
            )
    return found


def refuse_unconvertible(report: CheckReport) -> None:
    """Refuse, before training, data with images whose channels cannot be converted (:attr:`CheckReport.
    unconvertible`): read when its split is prepared, such an image stopped the fit, after training for a test image.

    Raises:
        DatasetError: naming the first image, its fix and ``--exclude``.
    """
    if not report.unconvertible:
        return
    more = len(report.unconvertible) - 1
    others = f" (and {more} more image(s) so: medimg check DATA lists them)" if more else ""
    raise DatasetError(report.unconvertible[0]["reason"] + others)


def top_counts(counter: dict[str, int], n: int = 5) -> str:
    items = sorted(counter.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k} x{v}" for k, v in items[:n])
    return text + (f", ... ({len(items)} distinct)" if len(items) > n else "")


def _sample_type(meta: dict[str, Any]) -> str:
    """``"png 8-bit"``, ``"dicom 12-bit"``, ``"medmnist"``: the file format and stored bits per sample."""
    bits = meta.get("bits") or meta.get("bits_stored")
    fmt = str(meta.get("format") or ("dicom" if "bits_stored" in meta else "unknown"))
    return f"{fmt} {bits}-bit" if bits else fmt


def _raster_bits(meta: dict[str, Any]) -> int | None:
    """Bits per sample of a raster file (PNG, JPEG, TIFF...); ``None`` for DICOM, whose values are rescaled to
    physical units, and for files that record no depth (MedMNIST arrays)."""
    if "bits_stored" in meta or meta.get("format") == "dicom":
        return None
    bits = meta.get("bits")
    return int(bits) if bits else None


def mixed_raster_depths(depths: dict[int, int]) -> str | None:
    """A warning when raster images are stored at different bit depths (``depths``: images per bit depth, from
    :func:`_raster_bits`; 8-bit beside 16-bit PNGs): their values are on different scales, so the one intensity
    normalisation planned from all of them fits neither."""
    if len(depths) < 2:
        return None
    found = ", ".join(f"{count} at {bits}-bit" for bits, count in sorted(depths.items()))
    scales = f" (up to {2 ** min(depths) - 1} against up to {2 ** max(depths) - 1})" if max(depths) <= 16 else ""
    return (
        f"images are stored at different bit depths ({found}): their pixel values are on different scales{scales}, "
        "and the intensity normalisation planned from all of them fits neither (the low-depth images look nearly "
        "black beside the others); convert them to one bit depth before training"
    )


@dataclass(frozen=True)
class _ImageRecord:
    """What the check keeps of one image read (the pixels are not kept)."""

    case_id: str
    path: str
    has_path: bool
    shape: tuple[int, ...]
    channels: int
    sample_type: str
    colour: bool
    raster_bits: int | None
    turned: bool
    transparent: float
    blank: bool
    #: the share of the pixels that hold the image's most common value (near 1: a text label, an empty frame)
    dominant_share: float
    label_valued: bool
    #: a CT file's display window, from its header, not applied (:func:`~medimg.io.windowing.header_window`)
    window: tuple[float, float] | None
    digest: str
    signature: Signature | None

    @classmethod
    def of(cls, case: Case, array: np.ndarray, meta: dict[str, Any]) -> _ImageRecord:
        blank = is_blank(array)
        return cls(
            case_id=case.case_id,
            path=str(case.path or case.case_id),
            has_path=case.path is not None,
            shape=tuple(int(v) for v in array.shape[1:]),
            channels=int(array.shape[0]),
            sample_type=_sample_type(meta),
            colour=is_colour(meta, array.ndim - 1),
            raster_bits=_raster_bits(meta),
            turned=bool(meta.get("exif_orientation")),
            transparent=float(meta.get("transparent") or 0.0),
            blank=blank,
            dominant_share=dominant_share(array),
            label_valued=case.path is not None and not blank and is_label_valued(array),
            window=header_window(meta),
            digest=pixel_digest(array),
            signature=None if blank else signature(array),
        )


def check_dataset(
    dataset: Dataset,
    *,
    splits: Splits | None = None,
    progress: bool = False,
    split_options: dict[str, Any] | None = None,
) -> CheckReport:
    """Read every image once and report sizes, channels, unreadable/blank files, duplicates and imbalance.

    Duplicates across splits are judged on ``splits`` when given, else on the dataset's own split, else on
    the split ``medimg fit`` would make (with ``split_options``: its ``val_fraction``, ``test_fraction`` and
    ``seed``; its defaults without), so a leak is caught before training. A split that cannot be made (too few
    patients for the fractions) is fit's to say: the check reports the rest.
    """
    made_here = splits is None and not dataset.has_own_split
    fractions = dict(split_options or {})
    if made_here:
        try:
            splits = make_splits(dataset.cases, warn=False, **fractions)  # fit says which classes are too small, once
        except DatasetError:
            splits = None
    split_of = {c.case_id: (splits.assignment.get(c.case_id) if splits else c.split) for c in dataset.cases}
    straddling = patients_in_several_splits(dataset.cases, split_of)
    records: list[_ImageRecord] = []
    unreadable: list[tuple[str, str]] = []
    for case, array, meta, reason in iter_images(dataset, dataset.cases, progress=progress, desc="checking images"):
        if array is None:  # one image at a time: a large set is never held
            unreadable.append((str(case.path or case.case_id), str(reason)))
        else:
            records.append(_ImageRecord.of(case, array, meta))
    dims = Counter(len(r.shape) for r in records)
    expected = dims.most_common(1)[0][0] if dims else None
    unreadable += [(r.path, other_dimensions(r.shape, expected)) for r in records if len(r.shape) != expected]
    records = [r for r in records if len(r.shape) == expected]
    unconvertible = unconvertible_channels(records)
    mixed = mixed_channels_warning([(r.path, r.channels, len(r.shape)) for r in records], unconvertible)
    records = [r for r in records if r.path not in unconvertible]
    unread_classes = classes_without_readable_images(dataset, [path for path, _ in unreadable])
    sizes: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    raster_depths: Counter[int] = Counter()
    by_hash: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    label_of = _label_names(dataset)
    blank: list[str] = []
    label_valued: list[tuple[str, str]] = []  # (path, spatial size) of images whose content is a label map
    image_sizes: set[str] = set()  # sizes of the images that are not label maps
    turned: list[str] = []  # images whose EXIF says viewers show them turned or mirrored
    transparent: list[tuple[str, float]] = []  # images with pixels not fully opaque, and their share
    for record in records:
        size = "x".join(map(str, record.shape))
        if record.label_valued:
            label_valued.append((record.path, size))
        else:
            image_sizes.add(size)
        sizes[size] += 1
        channels[str(record.channels)] += 1
        dtypes[record.sample_type] += 1
        if record.raster_bits is not None:
            raster_depths[record.raster_bits] += 1
        if record.turned:
            turned.append(record.path)
        if record.transparent:
            transparent.append((record.path, record.transparent))
        if record.blank:  # listed as blank: two empty files are not a duplicate, nor a label conflict
            blank.append(record.case_id)
        else:
            by_hash[record.digest].append((record.case_id, split_of[record.case_id]))
    groups = [entries for entries in by_hash.values() if len(entries) > 1]
    duplicates = [[cid for cid, _ in entries] for entries in groups]
    near = near_duplicate_groups({r.case_id: r.signature for r in records if r.signature is not None}, duplicates)
    near_entries = [[(cid, split_of[cid]) for cid in group] for group in near]
    if made_here and splits is not None and (duplicates or near):  # fit's split keeps copies together
        try:
            regrouped = make_splits(
                group_identical_images(dataset, [*duplicates, *near]).cases, warn=False, **fractions
            )
        except DatasetError:  # copies kept together leave too few groups for the fractions: fit says so
            regrouped = splits
        groups = [[(cid, regrouped.assignment.get(cid)) for cid, _ in entries] for entries in groups]
        near_entries = [[(cid, regrouped.assignment.get(cid)) for cid in group] for group in near]
    cross, near_cross = _in_several_splits(groups), _in_several_splits(near_entries)
    conflict_ids = _conflicting(duplicates, label_of)
    conflicts = [_labelled(group, label_of) for group in conflict_ids]
    patient_of = {c.case_id: c.patient_id for c in dataset.cases}
    near_conflicts = [  # one patient's (adjacent slices of a series, labelled slice by slice) may differ
        _labelled(group, label_of)
        for group in _conflicting(near, label_of)
        if len({patient_of[cid] for cid in group}) > 1 or not patient_of[group[0]]
    ]
    counts = [v for name, v in dataset.class_counts().items() if v > 0 and name not in unread_classes]
    imbalance = max(counts) / min(counts) if counts else 1.0
    masks = [path for path, size in label_valued if size in image_sizes]
    by_content = set(masks)
    masks += [
        path for path in masks_by_name({r.path: r.channels for r in records if r.has_path}) if path not in by_content
    ]
    warnings: list[str] = []
    misread = lost = 0
    if masks:
        flagged = set(masks)
        others = [r.path for r in records if r.has_path and r.path not in flagged]
        warnings.append(
            f"{len(masks)} file(s) are label maps by their content (a few integer values or colours, the size of other "
            "images) or by their names (a grey <image>_mask beside a colour image), i.e. segmentation masks beside the "
            f"images (e.g. {masks[0]}); "
            f"exclude them, e.g. --exclude '{','.join(exclude_patterns(masks, others))}'"
        )
    if unread_classes:
        warnings.append(
            f"no image of class(es) {', '.join(unread_classes)} could be read: a model cannot learn them; `medimg "
            "fit` leaves these classes out (fix or replace the files to keep them)"
        )
    if dataset.task == "detect":  # a class without boxes: nothing to learn, its AP undefined; imbalance skips it
        boxes = dataset.class_counts()
        own_train = dataset.has_own_split and any(c.split == "train" for c in dataset.cases)
        trained = dataset.class_counts("train") if own_train else boxes
        unboxed = [name for name, n in boxes.items() if n == 0]
        untrained = [name for name, n in trained.items() if n == 0 and name not in unboxed]
        if unboxed:
            warnings.append(
                f"class(es) {', '.join(unboxed)} have no box in any image: a detector cannot learn them and their AP "
                "is undefined; annotate some, or leave them out of the class list (YOLO: data.yaml 'names', then "
                "renumber the labels' class ids)"
            )
        if untrained:
            warnings.append(
                f"class(es) {', '.join(untrained)} have no box in the training split, only in the others: a "
                "detector cannot learn them; move some of their images into training"
            )
        issues = getattr(dataset, "box_issues", ())
        dropped = sum(1 for issue in issues if issue.kind != "out_of_bounds")
        if dropped and not sum(boxes.values()):
            lost = dropped
            warnings.append(
                f"all {dropped} box(es) the data gives were dropped (degenerate: a side under {MIN_BOX_SIDE_PX:g} px, "
                "or wholly outside the image; duplicates; crowd regions): none is left for a detector to learn from. "
                "Look at the box columns against a few images (corners x1,y1,x2,y2 against x,y,width,height, "
                "coordinates of another image size); the dropped boxes are listed below"
            )
        clipped = sum(1 for issue in issues if issue.kind == "out_of_bounds")
        if clipped and clipped >= CLIPPED_BOXES_WARNING * sum(boxes.values()):
            misread = clipped
            warnings.append(
                f"{clipped} of {sum(boxes.values())} boxes ran outside their image and were clipped: the box columns "
                "or coordinates are likely misread (corners x1,y1,x2,y2 against x,y,width,height, the image's "
                "width/height read as the box's, boxes made on images of another size); look at a few against "
                "their images before training"
            )
    if imbalance > IMBALANCE_WARNING and dataset.task == "detect":
        warnings.append(
            f"boxes per class are imbalanced ({imbalance:.1f}:1); the detector's focal loss is meant for this (no "
            "class weights are planned): look at the per-class AP in the report"
        )
    elif imbalance > IMBALANCE_WARNING and getattr(dataset, "multi_label", False):
        warnings.append(
            f"findings are imbalanced ({imbalance:.1f}:1 images with the most / fewest common one); each finding's "
            "operating point is chosen on validation: look at the per-finding results in the report"
        )
    elif imbalance > IMBALANCE_WARNING:
        warnings.append(f"classes are imbalanced ({imbalance:.1f}:1); the planner will weight the loss")
    measured = measurement_warning(dataset.class_names) if dataset.task == "classify" else None
    if measured:
        warnings.append(measured)
    sparse = [r for r in records if not r.blank and not r.label_valued and r.dominant_share >= NEARLY_EMPTY]
    if sparse:
        warnings.append(nearly_empty_warning(sparse, len(records)))
    warnings += odd_size_warnings([(r.case_id, r.shape) for r in records])
    unused_window = unused_window_warning([r.window for r in records]) if dataset.window is None else None
    if unused_window:
        warnings.append(unused_window)
    if turned:
        warnings.append(exif_warning(turned))
    if transparent:
        warnings.append(transparency_warning(*zip(*transparent, strict=True)))
    if len(sizes) > 1:
        warnings.append(f"{len(sizes)} different image sizes; images are resized to the plan's input size")
    if mixed:
        warnings.append(mixed)
    depths = mixed_raster_depths(raster_depths)
    if depths:
        warnings.append(depths)
    if conflicts:
        warnings.append(
            f"{len(conflicts)} group(s) of identical images carry different labels: a model cannot learn both; fix "
            "or remove the wrong copy (`medimg fit` leaves every image of such a group out unless --keep-conflicts)"
        )
    if near_conflicts:
        warnings.append(
            f"{len(near_conflicts)} group(s) of {NEAR_COPIES} carry different labels (e.g. "
            f"{', '.join(near_conflicts[0][:2])}): a model cannot learn both; fix the wrong label or remove the wrong "
            "copy (`medimg fit` keeps such copies in one split but trains on both labels)"
        )
    if straddling:
        fix = (
            "give each patient's rows one value in the split column, or drop the column and let medimg split by patient"
            if dataset.source == "csv"
            else "move each patient's images into one split folder, or merge the split folders and let medimg split "
            "by patient"
        )
        warnings.append(
            f"{len(straddling)} patient(s) have images in several splits (e.g. {straddling[0]}): the test score would "
            f"measure patients seen in training; {fix}"
        )
    where = (
        "of the split fit would make (too few groups for its fractions once copies are kept together: fit says so)"
        if made_here
        else "of the data's own split"
    )
    if cross:
        warnings.append(
            f"{len(cross)} group(s) of identical images lie in several splits {where} (e.g. "
            f"{', '.join(cross[0][:2])}): the test score would count images seen in training; remove the copies "
            "from all but one split"
        )
    within = [  # neither across splits nor a label conflict (both said below)
        [cid for cid, _ in entries]
        for entries in groups
        if len({split for _, split in entries}) == 1 and len({label_of[cid] for cid, _ in entries}) == 1
    ]
    if within:
        warnings.append(
            f"{len(within)} group(s) of identical images within a split (e.g. {', '.join(within[0][:2])}): each copy "
            "weighs its picture twice in training; keep one file of each group (medimg keeps copies in one split)"
        )
    if near_cross:
        warnings.append(
            f"{len(near_cross)} group(s) of {NEAR_COPIES} lie in several splits {where} "
            f"(e.g. {', '.join(near_cross[0][:2])}): the test "
            "score would count pictures seen in training; remove the copies from all but one split"
        )
    if dataset.task == "classify" and (same_names := same_names_in_every_class(dataset)):
        warnings.append(same_names)
    # a table labels each image (RSNA mammography's cancer per breast: a patient's two breasts in two classes)
    if (
        dataset.task == "classify"
        and dataset.source == "folder"
        and (shared := patients_shared_by_classes(dataset.class_names, dataset.cases))
    ):
        warnings.append(shared)
    if dataset.task == "classify":
        warnings += shortcut_warnings(
            {
                "file type": [(label_of[r.case_id], r.sample_type) for r in records],
                "image size": [(label_of[r.case_id], "x".join(map(str, r.shape))) for r in records],
                "colour mode": [(label_of[r.case_id], "colour" if r.channels >= 3 else "grey") for r in records],
            }
        )
    return CheckReport(
        dataset=dataset.describe(),
        image_sizes=dict(sizes),
        channels=dict(channels),
        dtypes=dict(dtypes),
        unreadable=[{"path": p, "reason": r} for p, r in unreadable],
        blank=blank,
        duplicates=duplicates,
        cross_split_duplicates=cross,
        near_duplicates=near,
        cross_split_near_duplicates=near_cross,
        cross_split_patients=straddling,
        label_conflicts=conflicts,
        label_conflict_ids=conflict_ids,
        near_label_conflicts=near_conflicts,
        within_split_duplicates=within,
        suspected_masks=masks,
        misread_boxes=misread,
        lost_boxes=lost,
        unconvertible=[{"path": path, "reason": reason} for path, reason in unconvertible.items()],
        classes_of_one=(
            classes_of_one(dataset.class_names, dataset.cases)
            or id_classes_problem(dataset.class_names, dataset.cases)
            or (name_labels_problem(dataset.class_names, dataset.cases) if dataset.source == "folder" else None)
            or plane_classes_problem(dataset.class_names, dataset.cases)
            or same_cases_problem(dataset.class_names, dataset.cases)
            or ""
            if dataset.task == "classify"
            else ""
        ),
        imbalance_ratio=round(imbalance, 3),
        warnings=warnings,
    )


#: two classes hold the same patients when at least this share of the smaller one's patients (of at least
#: :data:`SHARED_PATIENTS_MIN`) are the other's too
SHARED_PATIENTS_SHARE = 0.8
SHARED_PATIENTS_MIN = 5


def patients_shared_by_classes(class_names: Sequence[str], cases: Sequence[Case]) -> str:
    """A warning when two classes hold (nearly) the same patients (OCTA-500's ``OCT/10001/`` and ``OCTA/10001/``,
    the two modalities of each eye, were two classes, status OK: a model told OCT from OCTA, and the eyes'
    diagnoses in ``Text labels.xlsx`` went unread); ``""`` otherwise. A patient's images in two classes are not
    unusual (two lesions, two eyes); nearly all of them are forms of one case, or timepoints."""
    patients: dict[int, set[str]] = defaultdict(set)
    for case in cases:
        if case.patient_id and isinstance(case.label, int):
            patients[case.label].add(case.patient_id)
    labels = sorted(label for label, ids in patients.items() if len(ids) >= SHARED_PATIENTS_MIN)
    for i, first in enumerate(labels):
        for second in labels[i + 1 :]:
            shared = patients[first] & patients[second]
            if len(shared) >= SHARED_PATIENTS_SHARE * min(len(patients[first]), len(patients[second])):
                return (
                    f"the classes {class_names[first]} and {class_names[second]} hold the same {len(shared)} patients "
                    f"(e.g. {sorted(shared)[0]} in each): if they are forms, modalities or timepoints of the same "
                    "cases, a model learns to tell those apart, not a diagnosis; the cases' labels are then elsewhere "
                    "(a table beside them: medimg fit TABLE --label-column COLUMN)"
                )
    return ""


def same_names_in_every_class(dataset: Dataset) -> str:
    """A warning when every class folder holds the same file names numbered alike (OCELOT's ``cell/000.jpg`` and
    ``tissue/000.jpg``): perhaps two stains or views of each case taken for classes, perhaps each folder numbering
    its own images; ``""`` otherwise. Other names the same in every class are a problem fit refuses
    (:func:`~medimg.data.labels.same_cases_problem`)."""
    shared = shared_file_names(dataset.cases)
    if shared is None or not numbered_alike(shared[1]):
        return ""
    labels, names = shared
    folders = ", ".join(dataset.class_names[k] for k in labels)
    return (
        f"every class ({folders}) holds the same {len(names)} file names (e.g. {names[0]} in each): "
        "if they are views, stains or modalities of the same cases, they are not classes, and a model tells the views "
        "apart; the cases' labels are elsewhere (a table, the file names)"
    )


def pixel_digest(array: np.ndarray) -> str:
    """A digest of an image's decoded pixels (identical pixels, identical digest, whatever the file format)."""
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


def _label_names(dataset: Dataset) -> dict[str, str]:
    """``case_id -> class name`` (``"?"`` for a case without a label)."""
    return {c.case_id: label_text(c, dataset.class_names) for c in dataset.cases}


def _labelled(group: Sequence[str], label_of: dict[str, str]) -> list[str]:
    """A group's case ids as the report lists a label conflict: ``"<id> [<label>]"``."""
    return [f"{cid} [{label_of[cid]}]" for cid in group]


def _conflicting(groups: Sequence[Sequence[str]], label_of: dict[str, str]) -> list[list[str]]:
    """The groups of identical images (case ids) whose labels differ."""
    return [list(group) for group in groups if len({label_of[cid] for cid in group}) > 1]


def find_label_conflicts(dataset: Dataset, *, progress: bool = False) -> list[list[str]]:
    """Case ids of identical images (the same decoded pixels) that carry different labels, one list per group.

    Reads every image once, one at a time (unreadable ones are left to training, which skips or refuses them).
    """
    by_hash: dict[str, list[str]] = defaultdict(list)
    for case, array, _, _ in iter_images(dataset, dataset.cases, progress=progress, desc="looking for label conflicts"):
        if array is not None:  # one image at a time: a large set is never held
            by_hash[pixel_digest(array)].append(case.case_id)
    return _conflicting([group for group in by_hash.values() if len(group) > 1], _label_names(dataset))


def drop_label_conflicts(
    dataset: Dataset,
    *,
    keep: bool = False,
    strict: bool = False,
    known: Sequence[Sequence[str]] | None = None,
    progress: bool = False,
) -> Dataset:
    """The dataset without every image of each group of identical images that carry different labels.

    A model cannot learn both labels of one image, and whichever copy lands in the test split scores the other
    as an error; without knowing which label is right, every copy is left out of training, validation and test.
    The returned dataset lists them in ``excluded`` (saved in ``dataset.json`` and the run's training summary);
    a warning names each file.

    Args:
        dataset: classification data (other tasks have no image label to conflict; returned as given).
        keep: keep them all (``fit --keep-conflicts``): the data is returned as given (with a warning when
            ``known`` names conflicts; nothing is read).
        strict: refuse them instead (``fit --strict``, which refuses every problem of the check, ``keep`` or not).
        known: the conflicting groups (case ids) when already found (``CheckReport.label_conflict_ids``);
            ``None``: found here, reading every image once (:func:`find_label_conflicts`).
        progress: show a progress bar while reading.

    Raises:
        DatasetError: ``strict`` and such images exist (the message names them).
    """
    if dataset.task != "classify" or not dataset.cases or (keep and not strict and known is None):
        return dataset
    groups = [list(g) for g in known] if known is not None else find_label_conflicts(dataset, progress=progress)
    if not groups:
        return dataset
    label_of, path_of = _label_names(dataset), {c.case_id: str(c.path or c.case_id) for c in dataset.cases}
    named = [", ".join(f"{path_of[cid]} [{label_of[cid]}]" for cid in group if cid in path_of) for group in groups]
    listing = "\n  ".join(named[:20]) + (f"\n  ... ({len(named) - 20} more groups)" if len(named) > 20 else "")
    if strict:
        raise DatasetError(
            f"{dataset.root}: {len(groups)} group(s) of identical images carry different labels (strict refuses "
            f"them):\n  {listing}\nFix the wrong label or remove the wrong copy, or drop --strict to leave them out"
        )
    if keep:
        logger.warning(
            "%d group(s) of identical images carry different labels; kept as asked (--keep-conflicts):\n  %s",
            len(groups),
            listing,
        )
        return dataset
    conflicting = {cid: CONFLICT_REASON for group in groups for cid in group if cid in path_of}
    logger.warning(
        "left out %d image(s) of training, validation and test: %d group(s) of identical images carry different "
        "labels (a model cannot learn both; fix the wrong label, or keep them with --keep-conflicts):\n  %s",
        len(conflicting),
        len(groups),
        listing,
    )
    return _without(dataset, conflicting)


def _without(dataset: Dataset, reason_of: dict[str, str]) -> Dataset:
    """``dataset`` without the cases of ``reason_of`` (case id -> why), each recorded in ``excluded``."""
    label_of = _label_names(dataset)
    excluded = [
        {"case_id": c.case_id, "path": str(c.path or c.case_id), "label": label_of[c.case_id], "reason": why}
        for c in dataset.cases
        if (why := reason_of.get(c.case_id)) is not None
    ]
    return dataclasses.replace(
        dataset, cases=[c for c in dataset.cases if c.case_id not in reason_of], excluded=[*dataset.excluded, *excluded]
    )


def _in_several_splits(groups: Sequence[Sequence[tuple[str, str | None]]]) -> list[list[str]]:
    """The groups of ``(case id, split)`` whose members lie in more than one split, as ``"<case id> [<split>]"``,
    the first two in two splits (an example shows the straddling)."""
    found = []
    for group in groups:
        if len({s for _, s in group}) > 1:
            other = next(i for i, (_, split) in enumerate(group) if split != group[0][1])
            ordered = [group[0], group[other], *(entry for i, entry in enumerate(group) if i not in (0, other))]
            found.append([f"{cid} [{split}]" for cid, split in ordered])
    return found


def group_identical_images(
    dataset: Dataset, duplicates: Sequence[Sequence[str]], *, warn_own_split: bool = False
) -> Dataset:
    """``dataset`` with each group of identical images (``duplicates``: case ids, as :func:`check_dataset` found
    them) marked ``same_image``, so a split medimg makes keeps the copies together as it keeps a patient's images:
    ``x.png`` and ``x_copy.png`` in train and test would score the model on an image it trained on. The data's own
    split is left as it is (``check`` reports its leaks; with ``warn_own_split``, as ``fit`` trains, a warning
    names the copies it keeps in several splits)."""
    present = {c.case_id for c in dataset.cases}
    key_of = {}
    for group in duplicates:
        members = [cid for cid in group if cid in present]
        if len(members) > 1:
            key_of.update(dict.fromkeys(members, members[0]))
    if not key_of:
        return dataset
    own = any(c.split for c in dataset.cases)
    logger.info(
        "%d group(s) of identical or nearly identical images (%d files, e.g. %s): %s",
        len(set(key_of.values())),
        len(key_of),
        next(iter(key_of)),
        # the data's own split keeps its copies where they are (check warns of those in several splits)
        "the data's own split is kept as it is" if own else "each kept in one split",
    )
    if own and warn_own_split:
        split_of = {c.case_id: c.split for c in dataset.cases}
        copies: dict[str, list[tuple[str, str | None]]] = {}
        for cid, key in key_of.items():
            copies.setdefault(key, []).append((cid, split_of[cid]))
        straddling = _in_several_splits(list(copies.values()))
        if straddling:
            logger.warning(
                "%d group(s) of identical or nearly identical images lie in several of the data's own splits (e.g. "
                "%s): the test score counts pictures seen in training; remove the copies from all but one split",
                len(straddling),
                ", ".join(straddling[0][:2]),
            )
    cases = [dataclasses.replace(c, same_image=key_of[c.case_id]) if c.case_id in key_of else c for c in dataset.cases]
    return dataclasses.replace(dataset, cases=cases)


def classes_without_readable_images(dataset: Dataset, unreadable: Sequence[str]) -> list[str]:
    """Names of the classes of single-label classification data none of whose images can be read (every file
    among ``unreadable``, paths as :func:`check_dataset` reports them): a folder of broken downloads."""
    if dataset.task != "classify" or getattr(dataset, "multi_label", False) or not unreadable:
        return []
    broken = set(unreadable)
    readable = Counter(c.label for c in dataset.cases if str(c.path or c.case_id) not in broken)
    present = {c.label for c in dataset.cases}
    return [name for i, name in enumerate(dataset.class_names) if i in present and not readable[i]]


def drop_unreadable_classes(dataset: Dataset, unreadable: Sequence[str]) -> Dataset:
    """The dataset without the classes none of whose images can be read (:func:`classes_without_readable_images`):
    their images are listed in ``excluded`` and the other classes renumbered, so the model does not learn a class
    it never saw (a warning names them)."""
    names = classes_without_readable_images(dataset, unreadable)
    if not names:
        return dataset
    dropped = {dataset.class_names.index(name) for name in names}
    reason = "unreadable, and no image of its class could be read: the class is left out"
    without = _without(dataset, {c.case_id: reason for c in dataset.cases if c.label in dropped})
    logger.warning(
        "class(es) %s left out: none of their %d image(s) could be read (see the unreadable files above)",
        ", ".join(names),
        len(without.excluded) - len(dataset.excluded),
    )
    kept = [i for i in range(len(dataset.class_names)) if i not in dropped]
    class_names, cases = keep_classes(dataset.class_names, without.cases, kept)
    return dataclasses.replace(without, class_names=class_names, cases=cases)


def drop_non_images(
    dataset: Dataset, masks: Sequence[str], blank: Sequence[str] = (), *, strict: bool = False
) -> Dataset:
    """Classification data without the files :func:`check_dataset` found are not images of their class: the
    segmentation masks stored among the images (``masks``, paths: BUSI's ``<class>/<image> (1)_mask.png`` beside
    ``<image> (1).png``) and the blank files (``blank``, case ids: one value everywhere, e.g. the empty mask of a
    "normal" case). Neither holds anything to classify and both can give the class away: they are left out of
    training, validation and test and listed in ``excluded``.

    Raises:
        DatasetError: ``strict`` and masks are among the images (the message gives the ``--exclude``).
    """
    flagged, empty = set(masks), set(blank)
    if dataset.task != "classify" or not (flagged or empty):
        return dataset
    reason_of = {
        c.case_id: MASK_REASON if str(c.path or c.case_id) in flagged else BLANK_REASON
        for c in dataset.cases
        if str(c.path or c.case_id) in flagged or c.case_id in empty
    }
    if not reason_of:
        return dataset
    kept = [c for c in dataset.cases if c.case_id not in reason_of]
    dropped = [c for c in dataset.cases if c.case_id in reason_of]
    patterns = exclude_patterns(sorted(flagged), [str(c.path) for c in kept if c.path is not None])
    if strict and flagged:
        raise DatasetError(
            f"{dataset.root}: {len(flagged)} file(s) are segmentation masks by their content (e.g. "
            f"{sorted(flagged)[0]}): exclude them (--exclude '{','.join(patterns)}') or drop --strict to leave them out"
        )
    for reason in (MASK_REASON, BLANK_REASON):
        these = [c for c in dropped if reason_of[c.case_id] == reason]
        if these:
            hint = f"; --exclude '{','.join(patterns)}' says so explicitly" if reason == MASK_REASON else ""
            example = these[0].path or these[0].case_id  # an array's image has no path: its id (array[3])
            logger.warning("left out %d file(s) (e.g. %s): %s%s", len(these), example, reason, hint)
    without = _without_emptied_classes(dataset, _without(dataset, reason_of), len(dropped))
    # the masks' names (Herlev's <patient>-<cell>-d.bmp) hid the patients the images' names give
    return dataclasses.replace(without, cases=group_by_name_patient(without.cases, dataset.root))


def _without_emptied_classes(before: Dataset, after: Dataset, dropped: int) -> Dataset:
    """``after`` (``before`` less its ``dropped`` masks and blank files) without the classes that held nothing else
    (a warning names them, the others renumbered); one class left is an error: the folder is likely a segmentation
    set whose mask folder was taken for a class (ISLES' BIDS ``rawdata/`` + ``derivatives/``); with none left,
    fit's own error says so."""
    if not all(isinstance(c.label, int) for c in before.cases if c.label is not None):
        return after  # multi-label rows
    had = {c.label for c in before.cases if c.label is not None}
    has = {c.label for c in after.cases if c.label is not None}
    emptied = [before.class_names[i] for i in sorted(had - has)]
    if not emptied:
        return after
    said = ", ".join(repr(name) for name in emptied)
    if len(has) == 1:  # none left: fit says there is nothing to train on
        (left,) = has
        raise DatasetError(
            f"{before.root}: once the {dropped} masks and blank files among its images are left out, class(es) {said} "
            f"hold no image and one class is left ({before.class_names[left]!r}): if the folder holds images and "
            f"their segmentation masks, segment: medimg fit {shell_quoted(before.root)} --task segment (masks in a "
            "masks/ or labels/ folder beside images/, or a CSV manifest with image,mask columns); else give the other "
            "classes images with something to classify"
        )
    logger.warning("class(es) %s left out: every file of theirs is a mask or blank, no image to classify", said)
    kept = sorted(has)
    class_names, cases = keep_classes(after.class_names, after.cases, kept)
    return dataclasses.replace(after, class_names=class_names, cases=cases)


#: pixels that may differ from the one value of an image that still counts as blank (a white export with one
#: anti-aliased pixel, a black frame with a burned-in "L" marker of a few pixels)
NEAR_BLANK_PIXELS = 8


def is_blank(array: np.ndarray) -> bool:
    """True for an image with nothing to classify: not finite, or one value everywhere but at most
    :data:`NEAR_BLANK_PIXELS` pixels (``(C, *spatial)``)."""
    if array.size == 0 or not np.isfinite(array).all():
        return True
    if float(array.max()) == float(array.min()):
        return True
    flat = array.reshape(-1)
    dominant = np.median(flat)  # the value nearly every pixel has, if there is one
    return int(np.count_nonzero(flat != dominant)) <= NEAR_BLANK_PIXELS * array.shape[0]


def nearly_empty_warning(sparse: Sequence[_ImageRecord], total: int) -> str:
    """The warning for images one value of which covers most pixels: a few among many are likely scanned labels or
    empty frames (leave them out, by file name where they have one); most of the data alike is its kind (binary
    shape masks such as AdrenalMNIST3D's, sparse fluorescence), where excluding them would empty it."""
    first = sparse[0]
    what = (
        f"{len(sparse)} of {total} image(s) are nearly empty: one value covers {NEARLY_EMPTY:.0%} or more of their "
        f"pixels (e.g. {first.case_id}: {first.dominant_share:.1%})"
    )
    if len(sparse) > total / 2:
        return (
            f"{what}: most of the data, so likely its kind (binary shape masks, sparse microscopy, mostly dark "
            "frames); nothing to do if that is what you classify, else check how the images were exported"
        )
    fix = f" (e.g. --exclude '{Path(first.path).name}')" if first.has_path else ""
    return (
        f"{what}: a scanned label or text page, an empty frame; look at them and leave out those with nothing to "
        f"classify{fix}"
    )


#: an image one value of which covers at least this share of the pixels is nearly empty (a warning: a text label
#: on white, an empty frame; a radiograph's black border or a mammogram's background covers far less)
NEARLY_EMPTY = 0.95


def dominant_share(array: np.ndarray) -> float:
    """The share of the pixels holding the median value: the most common value's share whenever it is over half."""
    if array.size == 0 or not np.isfinite(array).all():
        return 1.0
    flat = array.reshape(-1)
    return float(np.count_nonzero(flat == np.median(flat))) / flat.size


#: an image whose shorter side is this many times smaller, or whose longer side is this many times larger, than the
#: median image's is named in a warning (a thumbnail or icon among scans; a full-resolution export among previews)
ODD_SIZE_FACTOR = 4


def odd_size_warnings(images: Sequence[tuple[str, tuple[int, ...]]]) -> list[str]:
    """Warnings naming the 2D images (path, spatial shape) far smaller or far larger than the median image."""
    flat = [(path, shape) for path, shape in images if len(shape) == 2]
    if len(flat) < 4:
        return []
    short = float(np.median([min(shape) for _, shape in flat]))
    long = float(np.median([max(shape) for _, shape in flat]))
    typical = f"{int(short)}x{int(long)} px" if short != long else f"{int(short)}x{int(short)} px"
    tiny = [(p, s) for p, s in flat if min(s) * ODD_SIZE_FACTOR <= short]
    huge = [(p, s) for p, s in flat if max(s) >= ODD_SIZE_FACTOR * long]
    found = []
    if tiny:
        path, shape = tiny[0]
        found.append(
            f"{len(tiny)} image(s) are {ODD_SIZE_FACTOR}x or more smaller than the others (e.g. {path}: "
            f"{'x'.join(map(str, shape))} px, against a median of {typical}): a thumbnail, icon or crop, enlarged to "
            "the input size with no detail to learn; replace it with the full image or leave it out"
        )
    if huge:
        path, shape = huge[0]
        found.append(
            f"{len(huge)} image(s) are {ODD_SIZE_FACTOR}x or more larger than the others (e.g. {path}: "
            f"{'x'.join(map(str, shape))} px, against a median of {typical}): another source or resolution, "
            "shrunk to the input size, and slow to read; check it belongs with the others"
        )
    return found


def is_label_valued(array: np.ndarray) -> bool:
    """True when an image's content is a label map: 2..:data:`MASK_MAX_VALUES` distinct integer values (0/255
    binary masks, 0/1/2 label maps) or colours (Herlev's colour-coded ``*-d.bmp``: 3 to 5 colours, against
    thousands in a photograph) over its channels ``(C, *spatial)``."""
    if array.size == 0 or not np.isfinite(array).all():
        return False
    if any(np.unique(channel.ravel()[::97]).size > MASK_MAX_VALUES for channel in array):  # a photograph, at once
        return False
    levels = []
    for channel in array:
        values = np.unique(channel)
        if values.size > MASK_MAX_VALUES or not np.all(values == np.round(values)):
            return False
        levels.append(values)
    colours = sum(  # each pixel's colour as one number: its level index in each channel, base MASK_MAX_VALUES
        np.searchsorted(v, channel).astype(np.int64) * MASK_MAX_VALUES**c
        for c, (v, channel) in enumerate(zip(levels, array, strict=True))
    )
    return 2 <= np.unique(colours).size <= MASK_MAX_VALUES


def exclude_patterns(masks: list[str], images: list[str], most: int = 3) -> list[str]:
    """``--exclude`` patterns for the mask files, from how their names extend the image names beside them.

    ``cell_01_mask_1.png`` beside ``cell_01.png`` gives ``*_mask_1.png``; a mask named as an image elsewhere
    (TNBC's ``GT_01/01_1.png`` for ``Slide_01/01_1.png``) gives its folder, ``GT_01/*``; any other mask is named as it
    is.
    """
    stems: dict[Path, list[str]] = defaultdict(list)
    for image in images:
        stems[Path(image).parent].append(Path(image).stem)
    image_names = {Path(image).name for image in images}
    patterns: Counter[str] = Counter()
    for mask in masks:
        path = Path(mask)
        prefixes = [s for s in stems.get(path.parent, []) if path.stem.startswith(s) and len(s) < len(path.stem)]
        if prefixes:
            patterns["*" + path.name[len(max(prefixes, key=len)) :]] += 1
        else:
            patterns[f"{path.parent.name}/*" if path.name in image_names else path.name] += 1
    return [p for p, _ in patterns.most_common(most)]


#: the end of a mask's name after its image's (DigestPath's ``<name>_mask.jpg`` beside ``<name>.jpg``)
_MASK_NAME = re.compile(r"^(.+)[-_. ](?:mask|masks|seg|segmentation|gt|label)$", re.IGNORECASE)


def masks_by_name(channels: dict[str, int]) -> list[str]:
    """The files (of ``channels``: path -> channel count) named as the mask of a colour image of their folder and
    grey themselves (``<name>_mask.jpg`` beside ``<name>.jpg``): masks among a class's images, however lossy (a JPEG
    mask's values are no label map by content). A grey image named so beside a grey image is not taken for one."""
    by_stem: dict[tuple[str, str], int] = {}
    for path, count in channels.items():
        by_stem[(str(Path(path).parent), Path(path).stem.lower())] = count
    found = []
    for path, count in channels.items():
        named = _MASK_NAME.match(Path(path).stem)
        image = by_stem.get((str(Path(path).parent), named.group(1).lower())) if named else None
        if image is not None and image >= 3 and count == 1:
            found.append(path)
    return found


def usable_training_images(
    dataset: Dataset,
    check: CheckReport | None = None,
    *,
    strict: bool = False,
    keep_conflicts: bool = False,
    progress: bool = False,
    split_options: dict[str, Any] | None = None,
) -> Dataset:
    """Classification data as ``fit`` trains it (and ``plan`` fingerprints it): without the segmentation masks and
    blank files stored among its images, the classes none of whose images can be read, and its identical images
    that carry different labels (unless ``keep_conflicts``), as ``check`` found them (``None``: checked here,
    reading every image once, on the split ``split_options`` make: fit's fractions and seed); the identical images
    left are marked to stay in one split. Detection data: its identical and nearly identical images marked to stay
    in one split (as ``check`` says they are). Other tasks' data is returned as it is."""
    if getattr(dataset, "task", None) == "detect" and dataset.cases:
        check = check or check_dataset(dataset, progress=progress, split_options=split_options)
        return group_identical_images(dataset, [*check.duplicates, *check.near_duplicates], warn_own_split=True)
    if getattr(dataset, "task", None) != "classify" or not dataset.cases:
        return dataset
    if check is None:  # `medimg check` lists the unreadable files before the CLI's fit; here nothing did
        check = check_dataset(dataset, progress=progress, split_options=split_options)
        _list_unreadable_classes_files(dataset, check.unreadable)
    refuse_unconvertible(check)  # before training: preparing the test split would stop the fit after it
    if check.classes_of_one:
        raise DatasetError(f"{dataset.root}: {check.classes_of_one}")
    dataset = drop_unreadable_classes(dataset, [item["path"] for item in check.unreadable])
    dataset = drop_non_images(dataset, check.suspected_masks, check.blank, strict=strict)
    label_of = {c.case_id: c.label for c in dataset.cases}  # conflict groups among the images left
    groups = ([cid for cid in group if cid in label_of] for group in check.label_conflict_ids)
    known = [g for g in groups if len({label_of[cid] for cid in g}) > 1]
    before = dataset
    dataset = drop_label_conflicts(dataset, keep=keep_conflicts, strict=strict, known=known, progress=progress)
    _refuse_emptied_classes(before, dataset)
    return group_identical_images(dataset, [*check.duplicates, *check.near_duplicates], warn_own_split=True)


def _refuse_emptied_classes(before: Dataset, after: Dataset) -> None:
    """Raise when leaving out the label conflicts left a class without an image (BCS-DBT's table, one row per view,
    read onto each patient's folder of both views: every cancer patient's images were conflicts, and a cancer model
    trained on no cancer reported accuracy 1.0, exit 0).

    Raises:
        DatasetError: naming the emptied classes, how many of their images conflicted, and the ways on.
    """
    counts_before = Counter(c.label for c in before.cases if isinstance(c.label, int))
    counts_after = Counter(c.label for c in after.cases if isinstance(c.label, int))
    emptied = [label for label in sorted(counts_before) if not counts_after.get(label)]
    if not emptied:
        return
    names = ", ".join(f"{before.class_names[label]!r} ({counts_before[label]})" for label in emptied)
    raise DatasetError(
        f"{before.root}: no image of the class(es) {names} is left once the images in label conflicts are left out "
        "(identical images carrying different labels, listed above): a model would never see them. Often a table "
        "gives each row's label to one file that several rows name (a patient's or a study's folder, not each "
        "view's image); fix the labels or the paths, or keep the conflicts with --keep-conflicts"
    )


def _list_unreadable_classes_files(dataset: Dataset, unreadable: Sequence[dict[str, str]], shown: int = 5) -> None:
    """Log the unreadable files of the classes none of whose images can be read (their images are otherwise never
    read, so never listed as skipped), before :func:`drop_unreadable_classes` says it leaves those classes out
    "(see the unreadable files above)"."""
    reason_of = {item["path"]: item["reason"] for item in unreadable}
    names = classes_without_readable_images(dataset, list(reason_of))
    if not names:
        return
    dropped = {dataset.class_names.index(name) for name in names}
    files = [str(c.path or c.case_id) for c in dataset.cases if c.label in dropped]
    listed = [f"{path} ({reason_of[path]})" for path in files if path in reason_of]
    more = f"; and {len(listed) - shown} more" if len(listed) > shown else ""
    logger.warning("unreadable image(s) of %s: %s%s", ", ".join(names), "; ".join(listed[:shown]), more)
