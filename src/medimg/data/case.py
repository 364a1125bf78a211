"""One item of a dataset: where its pixels are and what we know about it (a label, a mask, boxes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

#: The tasks a dataset can serve; a layout reader declares one (see :mod:`medimg.data.layouts`).
TaskName = Literal["classify", "segment", "detect"]

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "trainval": "train",  # TN3K's trainval-image/: training and validation images, the validation part ours to carve
    "val": "val",
    "valid": "val",
    "validation": "val",
    "validate": "val",  # MIMIC-CXR's split table
    "dev": "val",
    "evaluation": "val",  # RFMiD's Evaluation_Set/ (its validation set; its Test_Set/ is the test)
    "leaderboard": "val",  # NCI-ISBI 2013's Leaderboard/ beside Training/ and Test/: a challenge's validation phase
    "test": "test",
    "testing": "test",
}


#: a split word opening a name written in CamelCase (SUN-SEG's ``TestEasyDataset``, ``TrainDataset``)
CAMEL_SPLIT = re.compile(r"^(Train|Training|Test|Testing|Val|Valid|Validation)(?=[A-Z])")
#: an enumeration before a folder's name (IDRiD's ``a. Training Set``, ``1. Microaneurysms``; a number also without
#: a space before a letter: WSSS4LUAD's ``1.training``, ``2.validation``, ``3.testing``)
ENUMERATION = re.compile(r"^\s*(?:[0-9a-z]{1,2}[.)]\s+|[0-9]{1,2}[.)](?=[a-z]))", re.IGNORECASE)


#: how a table writes a cell without a value, compared case-insensitively after stripping: an empty or blank cell and
#: every default missing-value marker of ``pandas.read_csv`` (``NA`` as R's ``write.csv`` writes it, ``nan`` and
#: ``<NA>`` as pandas writes one with ``astype(str)``, ``N/A``, ``NULL``, ``None``, spreadsheets' ``#N/A``...). The
#: one definition of a missing label, split, patient or run cell, whichever reader meets it.
MISSING_VALUES = frozenset(
    {"", "na", "n/a", "nan", "-nan", "<na>", "null", "none", "#n/a", "#n/a n/a", "#na", "1.#ind", "-1.#ind",
     "1.#qnan", "-1.#qnan"}
)  # fmt: skip

#: label values that are no missing-value marker but often stand for "not known" (a question mark, a dash,
#: ``unknown``): read as the class they name, with a warning (ISIC 2020's ``unknown`` diagnosis is a class; a
#: table of ``+``/``-`` results names its negative class ``-``)
PLACEHOLDER_LABELS = frozenset(
    {"?", "??", "-", "--", "unknown", "missing", "n.a.", "not available", "undefined", "tbd", "not applicable"}
)


def is_missing_value(text: object) -> bool:
    """Whether a table cell says "no value" (:data:`MISSING_VALUES`): ``None``, ``"NA"``, ``" n/a "``, ``"NaN"``..."""
    return text is None or str(text).strip().casefold() in MISSING_VALUES


def normalise_split(name: str | None) -> str | None:
    """Map a user's split name (``"Validation"``, ``"testing"``, Kaggle's ``"training_set"``, ``"test_masks"``,
    TN3K's ``"trainval-image"``, ISBI 2015's ``"Test1Data"``,
    IDRiD's enumerated ``"a. Training Set"``...) to ``train``/``val``/``test`` or ``None``."""
    if name is None:
        return None
    text = ENUMERATION.sub("", str(name).strip().lower())
    if is_missing_value(text):
        return None
    camel = CAMEL_SPLIT.match(str(name).strip())
    if camel:  # SUN-SEG's TrainDataset/, TestEasyDataset/, TestHardDataset/
        return SPLIT_ALIASES[camel.group(1).lower()]
    # the word after it with or without a separator, a number between (ISBI 2015's TrainingData/, Test1Data/)
    return SPLIT_ALIASES.get(
        re.sub(r"(?:[\s_\-]*\d*)[\s_\-]*(set|sets|data|images?|imgs?|masks?|labels?|gt|split)$", "", text)
    )


def split_in_name(name: str, word: Literal["first", "last"]) -> str | None:
    """The split a name says (:func:`normalise_split`), else its first or last word does: a table's column
    ``train_split`` and a section ``test_public:`` (first), the Data Science Bowl's ``stage1_test/`` and DFUC 2021's
    ``DFUC2021_train/`` (last)."""
    words = [w for w in re.split(r"[\W_]+", name.strip()) if w]
    if not words:
        return None
    return normalise_split(name) or (normalise_split(words[0 if word == "first" else -1]) if len(words) > 1 else None)


class Box(NamedTuple):
    """One object of a detection case: corners in pixels (voxels) and a class index.

    2D: Pascal VOC's ``x1, y1, x2, y2``: ``(x1, y1)`` the top-left and ``(x2, y2)`` the bottom-right corner, in
    pixels of the image as stored (x = column, y = row, origin at the top-left pixel), ``x1 < x2`` and
    ``y1 < y2``. ``label`` indexes the dataset's class names.

    3D: ``z1, z2`` are set too. Against a volume's array ``(C, D, H, W)`` (``medimg.io`` order; for NIfTI the
    voxel axes ``(i, j, k)`` as stored): ``x`` runs along ``W`` (the last axis, ``k``), ``y`` along ``H`` (``j``)
    and ``z`` along ``D`` (the first spatial axis, ``i``), so a slice ``array[:, d]`` shows the box's ``x, y`` as
    in 2D. Corners are continuous: voxel ``n`` covers ``[n, n + 1)``, so a box of voxels ``3..7`` has
    ``x1 = 3, x2 = 8``. MONAI's detectors take boxes in array-axis order ``[d1, h1, w1, d2, h2, w2]``
    (= ``[z1, y1, x1, z2, y2, x2]``); :func:`medimg.data.detection.case_boxes` gives them in that order.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    label: int
    z1: float | None = None
    z2: float | None = None

    @property
    def is_3d(self) -> bool:
        """True for a box of a volume (``z1``/``z2`` set)."""
        return self.z1 is not None and self.z2 is not None


@dataclass(frozen=True)
class Case:
    """One image and what it holds: a class label (classification), a mask (segmentation), boxes (detection).

    Attributes:
        case_id: unique, stable identifier (the file path relative to the dataset root, or ``"train/17"``).
        label: class index into ``Dataset.class_names``; ``None`` for unlabelled images (kept in
            ``Dataset.unlabelled``, never counted as a class nor put in a split).
        split: the dataset's own split (``"train"``, ``"val"``, ``"test"``) or ``None`` when it has none.
        patient_id: groups images of one patient so they never straddle splits; ``None`` when unknown.
        path: the image file, for file-backed datasets.
        index: the row in the in-memory array, for array-backed datasets (MedMNIST ``.npz``).
        mask: the label-map file of a segmentation case (same size as the image), else ``None``.
        roi: a region-of-interest (field-of-view) mask file; pixels outside it are ignored. ``None`` if none.
        boxes: the objects of a detection case as :class:`Box` (``x1, y1, x2, y2`` in pixels + class index;
            volumes also ``z1, z2``);
            ``None`` when the case carries no box annotation, ``()`` for an annotated image without objects.
            Filled by the detection layouts (Pascal VOC, COCO, CSV boxes).
        findings: the findings of a multi-label case (ChestMNIST, NIH ChestX-ray14's ``Finding Labels``): indices
            into ``Dataset.class_names`` of every finding the image shows, ``()`` for an image without any ("No
            Finding"); ``label`` is then ``None``. ``None`` for a single-label (or unlabelled) case.
        series_uid: for a ``path`` that is a folder holding several DICOM series, the SeriesInstanceUID of the one
            this case reads (:mod:`medimg.data.dicom_volumes`); ``None`` otherwise.
        same_image: a key shared by the cases whose images are identical (``x.png`` and ``x_copy.png``), so a split
            medimg makes keeps them together as it keeps a patient's images (set by
            :func:`medimg.data.quality.group_identical_images`); ``None`` for an image without a copy.
    """

    case_id: str
    label: int | None
    split: str | None = None
    patient_id: str | None = None
    path: Path | None = None
    index: int | None = None
    mask: Path | None = None
    roi: Path | None = None
    boxes: tuple[Box, ...] | None = None
    findings: tuple[int, ...] | None = None
    series_uid: str | None = None
    same_image: str | None = None

    @property
    def labelled(self) -> bool:
        """True when the case has a class label or (multi-label) its set of findings."""
        return self.label is not None or self.findings is not None

    @property
    def stratum(self) -> int:
        """The label splits are stratified by: the class, or for a multi-label case its first (lowest-index)
        finding; ``-1`` for no finding or no label."""
        if self.label is not None:
            return self.label
        return self.findings[0] if self.findings else -1


@dataclass(frozen=True)
class SegCase:
    """One image with its mask.

    Attributes:
        case_id: unique, stable identifier (image path relative to the dataset root).
        image: the image file.
        mask: the mask file (``None`` for unlabelled images).
        roi: optional region-of-interest (field-of-view) mask; pixels outside it are ignored.
        patient_id: groups cases of one patient in the split.
        split: the data's own split, or ``None``.
        extra_masks: further mask files of the same image, merged into ``mask`` on read (BUSI's
            ``<image>_mask_1.png`` for a second lesion).
        channels: further channel files of the image, stacked after its channels on read (nnU-Net's
            ``<case>_0001.nii.gz``... beside ``image``, the ``<case>_0000.nii.gz``).
        structures: one binary mask file per structure, with the label value it stands for, composed into one
            label map on read (TotalSegmentator's ``segmentations/liver.nii.gz``...); ``mask`` is the first file.
        page: a section of the multi-page TIFF stacks ``image`` and ``mask``, read as a 2D case
            (:mod:`medimg.data.tiff_stacks`); ``None`` for a case that is its files.
        segments: ``(layer, value, class)`` of each segment when ``mask`` is a 3D Slicer segmentation, painted into
            one label map on read with the class its name has across the data set (:mod:`medimg.data.slicer_classes`);
            ``()`` for a mask read as it is stored.
    """

    case_id: str
    image: Path
    mask: Path | None
    roi: Path | None = None
    patient_id: str | None = None
    split: str | None = None
    extra_masks: tuple[Path, ...] = ()
    channels: tuple[Path, ...] = ()
    structures: tuple[tuple[int, Path], ...] = ()
    page: int | None = None
    segments: tuple[tuple[int, int, int], ...] = ()

    def as_case(self) -> Case:
        """The general :class:`Case` (image, mask and ROI paths), for :func:`medimg.data.splits.make_splits`."""
        return Case(
            case_id=self.case_id,
            label=None,
            split=self.split,
            patient_id=self.patient_id,
            path=self.image,
            mask=self.mask,
            roi=self.roi,
        )


#: a classification or detection case, or a segmentation case: both name their file by ``case_id`` (what the patient
#: groupers, by names and by DICOM headers, take either of)
CaseT = TypeVar("CaseT", Case, SegCase)
