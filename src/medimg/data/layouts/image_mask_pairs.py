"""Image/mask pairs (segmentation): found in folders by the role of each file, or listed in a CSV manifest.

Folder layouts are recognised by the *role* of each image file, decided by the nearest folder whose name says
what it holds, else by the file name's suffix:

==================  ===========================================================================================
role                folder names (case-insensitive)                        / file-name suffixes
==================  ===========================================================================================
image               ``images``, ``image``, ``imgs``, ``img``, ``imagesTr``  / anything else (the default)
mask (label)        ``labels``, ``label``, ``labelsTr``, ``masks``, ``gt``, ``1st_manual``, ``manual1`` (HRF),
                    ``*groundtruth*``, ``annotations``, ``segmentations``, ``*mask`` (``leftMask``), ``*expert*``
                    (LISC's ``areaforexpert1``)  / ``_mask``, ``_expert``,
                    ``_seg``, ``_segmentation``, ``_label``, ``_gt``, ``-d`` (Herlev), ``_1stHO`` (CHASE_DB1),
                    ``_lesion`` (PH2); ``mask_001``
region of interest  ``fov``, ``roi``; and ``mask``/``masks`` when a sibling folder holds the labels
                    (the DRIVE convention: ``mask/`` beside ``1st_manual/`` is the field of view)  / ``_fov``, ``_roi``
ignored             ``2nd_manual`` (a second observer's annotation, not the reference)  / ``_2ndHO``; KiTS21's
                    ``aggregated_AND_seg``/``aggregated_OR_seg`` (its ``aggregated_MAJ_seg`` is the mask) and
                    annotators' ``<structure>_instance-<n>_annotation-<m>`` files (left out with a note)
==================  ===========================================================================================

Files pair up by their *key*: the name without suffix, lower-case, with role and split words stripped from the
end (``21_training.tif``, ``21_manual1.gif`` and ``21_training_mask.gif`` all have key ``21``;
``ISIC_0000009.jpg`` and ``ISIC_0000009_segmentation.png`` have key ``isic_0000009``), and role words from the
start (LiTS's ``volume-0.nii`` and ``segmentation-0.nii``, ``image_001`` and ``mask_001``); a mask no image has the key
of pairs with an image named like nnU-Net's raw data, ``<key>_<4-digit channel>`` (``labelsTr/case_001.nii.gz`` with
``imagesTr/case_001_0000.nii.gz``; further channels ``case_001_0001.nii.gz``... are stacked after it on read,
:attr:`SegCase.channels`). In one folder per case, a mask named only for its role
(``case_00000/segmentation.nii.gz``, KiTS) pairs with the image beside it, and ``<case>_seg`` with the images
whose names extend ``<case>`` (BraTS's four modalities: one case of four channels, in name order). When
several images share
a key, the one whose path shares the most folders with the mask wins (from the top, then from the bottom:
``masks/site_a/0.png`` pairs with ``images/site_a/0.png``). A split comes from ``train``/``training``/
``val``/``test``/``testing`` folders above the image. Images without a mask are kept aside (``unlabelled``);
masks without an image are reported (an error with ``strict=True``). Further masks of an image already paired
(BUSI's ``<image>_mask_1.png``; Montgomery's ``leftMask/`` + ``rightMask/``) are merged into its first mask on read
(:attr:`SegCase.extra_masks`), unless one mostly covers the other: then it is another observer's annotation of the
same structure (STARE's ``labels-ah/`` + ``labels-vk/``) and the first is the reference
(:func:`medimg.data.dataset.read_case_mask`).

A CSV manifest has the header ``image,mask[,roi,patient_id,split]`` with paths relative to the CSV's folder.

Detection (:func:`detect`, names only) claims a folder with a mask-role folder that holds image files, or whose
sub-folders do as sub-folders of the same names beside it do (``masks/train/`` + ``images/train/``), within
:data:`DETECT_MAX_DEPTH` levels (``images/`` + ``masks/``, ``imagesTr/`` + ``labelsTr/``,
``DRIVE/training/1st_manual``; not Pascal VOC's ``Annotations/*.xml``); a folder with mask-suffixed files
beside their images, directly in it or in its split folders (``case_01.png`` + ``case_01_mask.png``); folders
per case, each holding a mask or two beside a few images (KiTS, BraTS, ACDC), or in sub-folders of their own (PH2); and
a CSV whose header has ``image`` and
``mask``. Masks inside class folders (Herlev's ``<class>/*-d.bmp``) are not claimed: such a folder reads as
class folders unless ``task="segment"`` is asked for.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from medimg.data.case import SegCase, normalise_split
from medimg.data.dataset import SegmentationDataset
from medimg.data.dataset_names import dataset_name
from medimg.data.format_copies import mark_format_copies
from medimg.data.layouts.cell_tracking import TRUTH_NAME
from medimg.data.layouts.challenge_labels import challenge_value_names
from medimg.data.layouts.code_tables import code_table_names
from medimg.data.layouts.common import (
    CATEGORY_FOLDER,
    MIN_FOLDER_GROUPS,
    file_stem,
    is_manifest,
    listed_splits,
    manifest_header,
    name_prefixes,
    name_selected,
    named_split,
    nearest_files,
    read_manifest,
    split_list_folder,
    split_named_folders,
    split_of,
    split_table,
    splits_from_names,
)
from medimg.data.layouts.dataset_json import find_dataset_json
from medimg.data.layouts.structure_folders import truth_folders
from medimg.data.layouts.structure_masks import ANNOTATOR_INSTANCE, is_case_mask
from medimg.data.tiff_stacks import as_sections
from medimg.errors import DatasetError, ImageReadError
from medimg.io.channels import CHANNEL_NAME, CHANNEL_SYNONYMS, channel_files, channel_key, channel_suffixes
from medimg.io.folder_walk import walk_tree
from medimg.io.formats import IMAGE_SUFFIXES, VOLUME_FILE_FORMATS, detect_format, file_suffix, in_system_folder
from medimg.io.inputs import shell_quoted

if TYPE_CHECKING:
    from medimg.data.colour_tables import ColourTable

logger = logging.getLogger(__name__)

IMAGE_DIRS = {"images", "image", "imgs", "img", "imagestr", "imagests", "inputs", "input", "jpegimages", "radiographs"}
LABEL_DIRS = {
    "labels",
    "label",
    "labelstr",
    "masks_gt",
    "gt",
    "ground_truth",
    "groundtruth",
    "1st_manual",
    "manual",
    "manual1",
    "annotations",
    "annotation",  # CRAG's train/Annotation/ beside train/Images/
    "contours",  # EMIDEC's Case_N006/Contours/Case_N006.nii.gz beside Images/Case_N006.nii.gz
    "anno",
    "annot",
    "gts",
    "truth",
    "seg",
    "segs",
    "target",
    "segmentations",
    "segmentation",
    "targets",
    "segmentationclass",  # Pascal VOC segmentation (VOC2012, CVAT's "Segmentation mask" export)
    "segmentationclassaug",
    "segmentationclassraw",
}
#: a domain adaptation set's folders (CrossMoDA's ``training_source/`` with its masks, ``training_target/`` of
#: another modality's unlabelled images): ``target`` beside ``source`` is no folder of labels
DOMAIN_DIRS = {"target": {"source", "sources"}, "targets": {"source", "sources"}}
#: a model's inputs and targets as folders ``x/`` and ``y/`` side by side (SegPC 2021's ``train/x/106.bmp`` beside
#: ``train/y/106_1.bmp``): images and masks, only together
XY_DIRS = {"x": "image", "y": "mask"}
#: words before ``images`` in a folder's name that make it a folder of masks (``label_images/``)
MASK_WORDS_BEFORE_IMAGES = {"label", "labels", "mask", "masks", "seg", "segmentation", "annotation", "gt"}
AMBIGUOUS_DIRS = {"mask", "masks"}  # labels, unless a sibling folder holds the labels: then field of view
ROI_DIRS = {"fov", "roi", "fov_masks", "roi_masks", "fovs", "rois"}
#: folders of annotations that are not the reference: a second observer's, VOC's instance ids beside
#: SegmentationClass, KiTS23's ``<case>/instances/`` (each annotator's mask of each kidney, tumour and cyst, which
#: ``segmentation.nii.gz`` beside them combines)
IGNORED_DIRS = {"2nd_manual", "segmentationobject", "instances"}
#: folders of maps derived from the masks or of regions left out of scoring, by their names without separators, all
#: they hold ignored: NuInsSeg's ``distance maps/`` (a distance transform of each mask: no image),
#: ``vague areas/mask binary/`` (areas its annotators could not label: no nuclei) and REFUGE2's
#: ``Disc_Cup_Fovea_Illustration/`` (the photos with the outlines drawn on: paired with the masks, the answer was in
#: the input), and WSSS4LUAD's ``background-mask/`` beside its ``mask/`` (the background of each mask drawn out: read
#: as the masks, the tissue classes became a field of view), and NuInsSeg's ``stacked mask/`` (each image's labels
#: once more, stacked into colour channels: taken for a field of view, beside ``label masks/``, it confined training
#: and scoring to the nuclei, Dice 1.0), and SUN-SEG's ``Edge/`` beside ``Frame/`` and ``GT/`` (each mask's outline:
#: an equal match for the masks, the advice to leave one out named ``Frame/``, and the model learnt from outlines)
IGNORED_COMPACT_DIRS = re.compile(
    r"distance(?:maps?|transforms?)|(?:vague|ambiguous|uncertain)(?:areas?|regions?)|[a-z0-9]*illustrations?"
    r"|background(?:masks?)|stacked(?:masks?)|edges?(?:maps?)?"
    r"|averaged?(?:training)?(?:images?|labels?|masks?)"  # BTCV's atlas averages of its training scans: no cases
    r"|eyetracking|gazemaps?|saliencymaps?"  # Tufts Dental's Eye_Tracking/<reader>/Gaze_Map/: where readers looked
)
#: words before ``masks`` in a folder's name that make it a folder of labels, never a field of view
LABEL_WORDS_BEFORE_MASKS = {"label", "labels", "labelled", "labeled", "instance", "instances"}
LABEL_SUFFIXES = (
    "segmentation",
    "seg",
    "segm",  # BraTS 2020's one misnamed mask: BraTS20_Training_355/W39_1998.09.19_Segm.nii
    "mask",
    "masks",  # Cellpose's 000_img.png + 000_masks.png
    "label",
    "labels",
    "gt",
    "manual1",
    "1stho",
    "lesion",
    "tumor",  # BrEaST's case001_tumor.png beside case001.png
    "tumour",
    "anno",
    "annotation",
    "expert",  # LISC's areaforexpert1/1_expert.bmp
)
#: Herlev's colour masks, ``<cell>-d.bmp``: with a hyphen only (FIVES' images ``1_D.png`` are its DR class)
HERLEV_MASK = re.compile(r"^(.+)-d$")
#: a second observer's annotation beside the reference (CHASE_DB1's ``Image_01L_2ndHO.png``), ISIC 2017's
#: superpixel maps beside its images (``ISIC_0000000_superpixels.png``, colour-coded region ids): neither a mask nor
#: an image to predict
IGNORED_SUFFIXES = ("2ndho", "superpixels")
#: KiTS21's masks combining its annotators' (``case_00000/aggregated_MAJ_seg.nii.gz``): the majority vote is the
#: reference, the intersection (``AND``) and union (``OR``) are not (as the KiTS21 baseline trains)
CONSENSUS_MASK = re.compile(r"^aggregated_maj_seg$")
OTHER_CONSENSUS = re.compile(r"^aggregated_(?:and|or)_seg$")
ROI_SUFFIXES = ("fov", "roi")
MASK_NAMES = {
    "segmentation", "seg", "segm", "mask", "label", "labels", "gt", "ground_truth", "groundtruth", "reference",
}  # fmt: skip
"""Whole file names (without suffix) of a mask in a per-case folder (``case_00000/segmentation.nii.gz``, RETOUCH's
``TRAIN001/reference.mhd`` beside ``oct.mhd``)."""
_STRIP_WORDS = {
    *LABEL_SUFFIXES,
    *ROI_SUFFIXES,
    *IGNORED_SUFFIXES,
    "masks",
    "manual",
    "training",
    "train",
    "test",
    "testing",
    "val",
    "image",
    "img",
    "data",  # CTPelvic1K's <case>_data.nii.gz beside <case>_mask_4label.nii.gz
    "classimg",  # Gleason2019's Maps1_T/slide001_core003_classimg_nonconvex.png for Train Imgs/slide001_core003.jpg
    "nonconvex",
}
#: a further mask of one image: a mask name with a number after it (BUSI's ``benign (4)_mask_1.png`` beside
#: ``benign (4)_mask.png`` for a second lesion); merged into the first on read (``SegCase.extra_masks``)
EXTRA_MASK = re.compile(r"^(.+[-_. ](?:mask|seg|segmentation|label|gt))[-_ ](\d{1,2})$")
#: role words at the start of a name (LiTS's ``volume-0.nii`` + ``segmentation-0.nii``, ``image_001.png`` +
#: ``mask_001.png``, BTCV's ``img/img0001.nii.gz`` + ``label/label0001.nii.gz``: a number right after the word):
#: stripped from the key; the mask words also give a file outside role folders the mask role
IMAGE_PREFIXES = ("image", "img", "volume", "vol", "imaging", "scan")
MASK_PREFIXES = ("segmentation", "segmentations", "seg", "mask", "masks", "label", "labels", "gt")
ROLE_PREFIX = re.compile(r"^(?:" + "|".join(IMAGE_PREFIXES + MASK_PREFIXES) + r")(?:[-_. ]+(?=[a-z0-9])|(?=\d+$))")
#: a role word glued to the case number after the set's name (SLIVER07's ``liver-orig001.mhd`` +
#: ``liver-seg001.mhd``): the word is left out of the key, a mask word gives the mask role
MIDDLE_ROLE = re.compile(r"^(.+?[-_])(" + "|".join(("orig", "original", *IMAGE_PREFIXES, *MASK_PREFIXES)) + r")(\d+)$")
#: an observer's initials after the image's name in a mask's name (STARE's ``im0001.ah.ppm``, ``im0001.vk.ppm``)
OBSERVER_TAG = re.compile(r"[-_. ][a-z]{1,3}$")
#: folders per case (:func:`has_case_folders`): at least this many, each with at most this many images and masks
MIN_CASE_FOLDERS = 3
MAX_CASE_IMAGES = 8
MAX_CASE_MASKS = 4
#: how many folders of case folders (by scanner or site) :func:`has_case_folders` looks into
MAX_CASE_GROUPS = 5
#: How deep :func:`detect` looks for a mask folder (``drive/DRIVE/datasets/training/1st_manual`` is depth 4).
DETECT_MAX_DEPTH = 4
#: At most this many folders (and files per folder) are looked at by :func:`detect`.
DETECT_MAX_ENTRIES = 2000


# --------------------------------------------------------------------------------------------- detection
#: the Medical Segmentation Decathlon's and nnU-Net's folders of a challenge's parts: ``imagesTr``/``labelsTr``
#: (training), ``imagesVa``/``labelsVa`` (AMOS's validation cases; WORD's ``imagesVal``/``labelsVal``),
#: ``imagesTs``/``labelsTs`` (test)
_CHALLENGE_PART = re.compile(r"^(?:images|labels)(tr|va|val|ts)$", re.IGNORECASE)
_CHALLENGE_SPLITS = {"tr": "train", "va": "val", "val": "val", "ts": "test"}


def _challenge_parts(cases: Sequence[SegCase]) -> list[str] | None:
    """Each case's split by its image's ``images<Tr|Va|Val|Ts>`` folder, when every case lies in one and they name two
    parts or more (``imagesTr`` alone says nothing about the others); ``None`` otherwise."""
    matches = [_CHALLENGE_PART.match(case.image.parent.name) for case in cases]
    if not cases or not all(matches):
        return None
    parts = [_CHALLENGE_SPLITS[match.group(1).lower()] for match in matches if match]
    return parts if len(set(parts)) > 1 else None


def _counts(splits: Sequence[str]) -> str:
    return ", ".join(f"{split} {count}" for split, count in sorted(Counter(splits).items()))


def detect(path: Path) -> bool:
    """True for a folder of images with masks, or a CSV with ``image`` and ``mask`` columns (names only)."""
    if path.is_file():
        return is_manifest(path) and {"image", "mask"} <= set(manifest_header(path))
    if not path.is_dir():
        return False
    return _has_mask_folder(path) or _has_masks_beside_images(path) or has_case_folders(path)


def detect_asked(path: Path) -> bool:
    """:func:`detect`, or class folders each holding masks beside most of their images (BUSI's
    ``benign/benign (1).png`` + ``benign (1)_mask.png``): classes by themselves, image/mask pairs when a task that
    needs masks is asked for (``--task segment`` reads them so as the fallback; ``--task detect`` boxes them)."""
    if detect(path):
        return True
    classes = [d for d in _visible_dirs(path) if normalise_split(d.name) is None] if path.is_dir() else []
    return len(classes) >= 2 and all(_pairs_beside(d, share=0.5) for d in classes)


def _visible_dirs(folder: Path) -> list[Path]:
    try:
        entries = list(itertools.islice(folder.iterdir(), DETECT_MAX_ENTRIES))
    except OSError:
        return []
    return [p for p in entries if p.is_dir() and not in_system_folder(p, folder)]


def _has_mask_folder(root: Path) -> bool:
    level, seen = [root], 0
    for _ in range(DETECT_MAX_DEPTH):
        deeper: list[Path] = []
        for folder in level:
            subs = _visible_dirs(folder)
            names = {d.name for d in subs}
            for sub in subs:
                named_by_siblings = NUMBERED_MASK_DIR.fullmatch(sub.name.lower()) or sub.name.lower() in XY_DIRS
                role = _dir_role(sub.name, names if named_by_siblings else set())
                if role == "mask" and (_holds_images(sub) or _mirrors_image_folders(sub) or _beside_a_rendering(sub)):
                    return True
                deeper.append(sub)
        seen += len(deeper)
        if not deeper or seen > DETECT_MAX_ENTRIES:
            return False
        level = deeper
    return False


def _mirrors_image_folders(masks: Path, sample: int = 20) -> bool:
    """Whether a mask folder's sub-folders hold images, as sub-folders of the same names beside it do (``masks/train/``
    with ``images/train/``, ``masks/site_a/`` with ``images/site_a/``); JSRT's ``masks/heart/`` beside a flat
    ``images/`` is one folder per structure (:mod:`medimg.data.layouts.structure_folders`)."""
    siblings = [d for d in _visible_dirs(masks.parent) if d != masks]
    subs = _visible_dirs(masks)
    if any(
        _holds_images(sub) and any(_holds_images(sibling / sub.name) for sibling in siblings) for sub in subs[:sample]
    ):
        return True
    return len(subs) == 1 and any(_one_folder_named_alike(subs[0], sibling) for sibling in siblings)


def _one_folder_named_alike(masks: Path, sibling: Path, sample: int = 50) -> bool:
    """Whether ``sibling`` holds one folder, of images named as those in the mask folder ``masks`` (ACOUSLIC-AI's
    ``images/stacked_fetal_ultrasound/<uuid>.mha`` beside ``masks/stacked_fetal_abdomen/<uuid>.mha``: the one
    folder of each named otherwise, read as "a single class" unless --task segment was given)."""
    inner = _visible_dirs(sibling)
    if len(inner) != 1 or not _holds_images(inner[0]):
        return False

    def keys(folder: Path) -> set[str]:
        entries = itertools.islice(folder.iterdir(), sample)
        return {pairing_key(p) for p in entries if p.is_file() and file_suffix(p) in IMAGE_SUFFIXES}

    return bool(keys(masks) & keys(inner[0]))


def _beside_a_rendering(masks: Path) -> bool:
    """Whether a mask folder holds one folder of masks beside their colour rendering (AROI's ``mask/number/`` beside
    ``mask/color/``)."""
    subs = _visible_dirs(masks)
    drawn = [d for d in subs if _is_rendering(d.name)]
    return len(subs) == 2 and len(drawn) == 1 and all(_holds_images(d) for d in subs)


def _holds_images(folder: Path, sample: int = 50) -> bool:
    """True when one of the first ``sample`` entries of ``folder`` is an image file (not XML/JSON annotations)."""
    try:
        entries = list(itertools.islice(folder.iterdir(), sample))
    except OSError:
        return False
    return any(p.is_file() and file_suffix(p) in IMAGE_SUFFIXES for p in entries)


def _has_masks_beside_images(root: Path, sample: int = 20) -> bool:
    """Mask-suffixed files beside their images in ``root`` or its split folders, or in every one of the first
    ``sample`` of at least :data:`~medimg.data.layouts.common.MIN_FOLDER_GROUPS` patient folders (the LGG MRI set's
    ``kaggle_3m/TCGA_CS_4941_19960909/<slice>.tif`` + ``<slice>_mask.tif``; a few class folders holding masks, BUSI's,
    stay classes)."""
    subdirs = _visible_dirs(root)
    # split folders by a word of their names too (CrossMoDA's crossmoda2022_training/ beside _validation/), one
    # folder a split: DigestPath's tissue-train-pos-v1/ and tissue-train-neg/ are classes of one split
    named = {d: split for d in subdirs if (split := named_split(d.name)) is not None}
    distinct = len(set(named.values())) == len(named)
    folders = [root] + [d for d in subdirs if (d in named if distinct else normalise_split(d.name) is not None)]
    if any(_pairs_beside(folder) for folder in folders):
        return True
    # an archive's wrapper whose images mostly have their masks beside them (CT-ORG's OrganSegmentations/volume-0
    # + labels-0); a single class folder with a mask or two among its images stays a class
    if len(subdirs) == 1 and normalise_split(subdirs[0].name) is None and _pairs_beside(subdirs[0], share=0.5):
        return True
    # the parts an archive was cut into, each with its images' masks beside them (LiTS's "Training Batch 1/",
    # "Training Batch 2/" of volume-N.nii + segmentation-N.nii; PROMISE12's TrainingData_Part1/, _Part2/ beside a
    # TestData/ of images without masks); class folders are not named so
    batches = [d for d in subdirs if set(re.split(r"[^a-z]+", d.name.lower())) & BATCH_WORDS]
    tests = [d for d in subdirs if d not in batches and "test" in d.name.lower()]
    if (
        batches
        and len(batches) + len(tests) == len(subdirs)
        and all(_pairs_beside(d, share=0.5) for d in batches[:sample])
    ):
        return True

    def pairs_in(patient: Path) -> bool:  # beside each other in the patient's folder or one below (CT-ICH's
        # Patients_CT/049/brain/9.jpg + 9_HGE_Seg.jpg beside 049/bone/: windows, read as classes before)
        return _pairs_beside(patient) or any(_pairs_beside(d) for d in _visible_dirs(patient)[:sample])

    def patients_paired(entries: list[Path]) -> bool:
        patients = [d for d in entries if normalise_split(d.name) is None and folder_role(d.name) is None]
        return len(patients) >= MIN_FOLDER_GROUPS and all(pairs_in(d) for d in patients[:sample])

    # in the folder, or in its split folders (MSLesSeg's train/P1/T1/P1_T1_FLAIR.nii.gz + P1_T1_MASK.nii.gz: the
    # timepoints T1, T2 were read as classes of <patient>/<class>/ folders)
    return patients_paired(subdirs) or any(patients_paired(_visible_dirs(d)) for d in folders[1:])


#: words of a folder holding one part of a set cut into parts for download
BATCH_WORDS = frozenset({"batch", "part", "chunk"})


def _pairs_beside(folder: Path, share: float = 0.0) -> bool:
    """Whether ``folder`` holds an image with its mask beside it; with ``share``, more than that share of its
    images has one."""
    roles: dict[str, set[str]] = defaultdict(set)
    case_of: dict[str, str] = {}  # an image named for its case and a channel: the case (iSeg's subject-1-T1)
    for p in itertools.islice(folder.iterdir(), DETECT_MAX_ENTRIES):
        if p.is_file() and file_suffix(p) in IMAGE_SUFFIXES:
            key, role = pairing_key(p), _suffix_role(p) or "image"
            roles[key].add(role)
            modality = _MODALITY_NAME.match(key) if role == "image" else None
            if modality and channel_key(modality.group(2)) in CHANNEL_SYNONYMS:  # beside subject-1-label
                roles[modality.group(1)].add("channel")
                case_of[key] = modality.group(1)
    # an image counts once per case: its channel files as one when the case has a mask
    images = len(
        {case_of[k] if "mask" in roles.get(case_of.get(k, ""), ()) else k for k in roles if "image" in roles[k]}
    )
    paired = sum("mask" in found and bool(found & {"image", "channel"}) for found in roles.values())
    # a mask named as its image and a word before the mask's (CT-ICH's 9_HGE_Seg.jpg beside 9.jpg)
    paired += sum(
        found == {"mask"} and any("image" in roles.get(prefix, ()) for prefix in name_prefixes(key))
        for key, found in roles.items()
    )
    return paired > 0 and paired > share * images


def has_case_folders(root: Path, sample: int = 20) -> bool:
    """One folder per case (KiTS's ``case_00000/imaging.nii.gz`` + ``segmentation.nii.gz``, BraTS's modalities +
    ``<case>_seg.nii.gz``, ACDC's ``patient001/patient001_frame01.nii.gz`` + ``_gt``), directly in ``root``, in
    its split folders, or in folders by scanner (RETOUCH's ``Cirrus/TRAIN001/oct.mhd`` + ``reference.mhd``): each
    of the first ``sample`` sub-folders (at least :data:`MIN_CASE_FOLDERS`) holds at most :data:`MAX_CASE_IMAGES`
    images and a mask or two by name, one of them named for an image beside it. Class folders with masks beside
    their images (BUSI, Herlev) hold many of each."""
    subdirs = _visible_dirs(root)
    if (
        len(subdirs) == 1 and normalise_split(subdirs[0].name) is None
    ):  # an archive's wrapper: PH2's "PH2 Dataset images"
        return has_case_folders(subdirs[0], sample)
    splits = [d for d in subdirs if normalise_split(d.name) is not None]
    folders = [d for parent in (splits or [root]) for d in _visible_dirs(parent)]
    if _mostly_case_folders(folders[:sample]):
        return True
    # folders of case folders by scanner or site (RETOUCH's Cirrus/, Spectralis/, Topcon/ of TRAIN001/...)
    groups = folders[:MAX_CASE_GROUPS]
    return len(groups) >= 2 and all(_mostly_case_folders(_visible_dirs(group)[:sample]) for group in groups)


def _mostly_case_folders(folders: Sequence[Path]) -> bool:
    """Whether ``folders`` (at least :data:`MIN_CASE_FOLDERS`) are case folders, one in ten odd at most (a case
    without its mask, a stray folder: BraTS 2020's misnamed case 355 made the whole set class folders of case names
    whenever it was among those sampled). A folder holding only image files named as the case folders' images is
    an unlabelled case, not odd (KiTS19's test cases, ``case_00210/imaging.nii.gz`` alone: a third of its folders,
    the set was refused as "a single class ('data')")."""
    allowed = len(folders) // 10
    cases = [folder for folder in folders if _is_case_folder(folder)]
    image_names = {p.name for folder in cases for p in _case_files(folder) if _suffix_role(p) != "mask"}
    unlabelled = [
        folder
        for folder in folders
        if folder not in cases and (files := _case_files(folder)) and {p.name for p in files} <= image_names
    ]
    return len(folders) - len(cases) - len(unlabelled) <= allowed and len(cases) >= MIN_CASE_FOLDERS


def _case_files(folder: Path) -> list[Path]:
    """The image files of a case folder: those in it, else those in its sub-folders (PH2's
    ``IMD002/IMD002_Dermoscopic_Image/IMD002.bmp`` + ``IMD002/IMD002_lesion/IMD002_lesion.bmp``)."""

    def images(where: Path) -> list[Path]:
        return [p for p in itertools.islice(where.iterdir(), 50) if p.is_file() and file_suffix(p) in IMAGE_SUFFIXES]

    return images(folder) or [p for sub in _visible_dirs(folder)[:10] for p in images(sub)]


def _is_case_folder(folder: Path) -> bool:
    files = _case_files(folder)
    masks = [p for p in files if _suffix_role(p) == "mask"]
    keys = [pairing_key(p) for p in files if p not in masks]
    if not 1 <= len(masks) <= MAX_CASE_MASKS or not 1 <= len(keys) <= MAX_CASE_IMAGES:
        return False
    return any(_names_an_image_beside(m, keys) for m in masks) or _named_for_the_case(masks, keys, folder)


def _named_for_the_case(masks: Sequence[Path], keys: Sequence[str], folder: Path) -> bool:
    """A case folder's only mask, named for none of its images, where every image is named for the folder (BraTS
    2020's ``BraTS20_Training_355/W39_1998.09.19_Segm.nii`` beside ``BraTS20_Training_355_flair.nii``...): the
    case's mask all the same."""
    case = pairing_key(folder)
    return len(masks) == 1 and bool(keys) and all(_extends(k, case) for k in keys)


def _names_an_image_beside(mask: Path, keys: Sequence[str]) -> bool:
    """Whether ``mask`` is named for one of the images beside it (their pairing ``keys``): by its key, by a key that
    extends it (BraTS's ``<case>_seg`` beside ``<case>_flair``), or by its role alone (KiTS's
    ``segmentation.nii.gz`` beside ``imaging.nii.gz``)."""
    if not keys:
        return False
    key = pairing_key(mask)
    return _named_for_its_role(mask) or any(k == key or _extends(k, key) for k in keys)


def _without_a_common_prefix(
    named: dict[str, list[Path]], others: dict[str, list[Path]], root: Path, what: str
) -> dict[str, list[Path]]:
    """``named`` (the images or the masks, ``what``) keyed without the word or letters every one of their names starts
    with, when no key of ``others`` names one of them and that makes most of them do (BUS-BRA's
    ``Images/bus_0001-l.png`` beside ``Masks/mask_0001-l.png``: the masks' role prefix is stripped by
    :func:`pairing_key`, the images' set prefix is not; ETIS-LaribPolyDB's and CVC-ColonDB's ``Ground Truth/p1.tif``
    beside ``1.tif``); else as they are. An INFO line says so."""
    if not named or not others or set(named) & set(others):
        return named
    first = re.match(r"^([a-z]+)(?:[-_. ]|(?=\d))", next(iter(named)))
    if first is None or not all(key.startswith(first.group(0)) for key in named):
        return named
    cut = len(first.group(0))
    rekeyed: dict[str, list[Path]] = defaultdict(list)
    for key, paths in named.items():
        rekeyed[key[cut:]] += paths
    if 2 * len(set(rekeyed) & set(others)) < min(len(named), len(others)):
        return named
    logger.info(
        "%s: every %s name starts with %r, which the other names lack: paired by the rest of the name",
        root,
        what,
        first.group(0),
    )
    return rekeyed


def _listed_splits(cases: list[SegCase], root: Path) -> list[SegCase]:
    """``cases`` with the split the lists at the top of ``root`` give their images (Kvasir-Instrument's
    ``train.txt`` and ``test.txt`` of image ids, as Pascal VOC's lists: :func:`listed_splits`; CAMUS'
    ``database_split/subgroup_training.txt``...: :func:`split_list_folder`; a split table there or
    up to two folders above (the data may be unwrapped from ``data/<source>/``), CTSpine1K's ``data_split.txt``,
    MAMA-MIA's ``train_test_splits.csv``: :func:`split_table`; by file name, name without suffix or case folder),
    when no case has a split and the lists name most of them; the others train. Said in an INFO line. Unchanged
    otherwise."""
    if not cases or any(c.split for c in cases):
        return cases
    found = (
        listed_splits(root)
        or split_list_folder(root)
        or split_list_folder(root.parent)  # beside a wrapper the data was found in (CAMUS' database_nifti/)
        or next(filter(None, map(split_table, [root, *root.parents][:3])), {})
    )
    listed = {name.lower(): split for name, split in found.items()}
    for name, split in found.items():  # a list of the masks' names (BBBC039's .png masks of .tif images)
        listed.setdefault(_stem(Path(name)).lower(), split)
    split_of = {
        c.case_id: listed.get(c.image.name.lower())
        or listed.get(_stem(c.image).lower())
        or (listed.get(c.image.parent.name.lower()) if c.image.parent != root else None)
        for c in cases
    }
    named = sum(split is not None for split in split_of.values())
    if not listed or 2 * named < len(cases) or len(set(split_of.values()) - {None}) < 2:
        return cases
    logger.info(
        "%s: the split of %d of its %d images from its lists (%s)%s",
        root,
        named,
        len(cases),
        ", ".join(sorted({s for s in split_of.values() if s})),
        f"; the {len(cases) - named} unlisted train" if named < len(cases) else "",
    )
    return [replace(c, split=split_of[c.case_id] or "train") for c in cases]


def _named_for_its_role(mask: Path) -> bool:
    """A mask named only for its role: KiTS's ``segmentation.nii.gz`` (KiTS21's ``aggregated_MAJ_seg.nii.gz`` and
    its other aggregates), 3D Slicer's ``Segmentation.seg.nrrd``, ToothFairy's ``gt_sparse.npy``."""
    stem = _stem(mask).lower()
    return (
        stem in MASK_NAMES
        or _strip_words(stem) in MASK_NAMES
        or bool(CONSENSUS_MASK.match(stem) or OTHER_CONSENSUS.match(stem) or NAMED_MASK.match(stem))
    )


# --------------------------------------------------------------------------------------------- loading


def unpaired_masks_message(unpaired: Sequence[str], root: Path) -> str:
    """What is said of masks in ``root`` without an image (up to 10 named), and the fix."""
    listing = ", ".join(unpaired[:10]) + (" ..." if len(unpaired) > 10 else "")
    return (
        f"{len(unpaired)} mask(s) in {root} have no image with a matching name: {listing}. "
        "Rename them to match their image (e.g. case_01.png + case_01_mask.png) or remove them"
    )


def load(
    path: Path,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    colour_table: str | Path | dict[str, Any] | ColourTable | None = None,
    strict: bool = False,
) -> SegmentationDataset:
    """Find the image/mask pairs under ``path`` (a folder or a CSV manifest); reads no pixels.

    Args:
        path: a folder (see the module docstring for the layouts) or a CSV manifest.
        include: file-name patterns an image or mask must match (folders only).
        exclude: file-name patterns to skip (folders only).
        colour_table: for colour-coded masks: a built-in name (``"herlev"``), a JSON file or a mapping.
            Herlev-style ``*-d.bmp`` masks select ``"herlev"`` automatically.
        strict: raise on masks without an image instead of warning.

    Raises:
        DatasetError: no images, no pairs, a manifest row pointing to a missing file, or (``strict``) unpaired
            masks. The message names the files and the fix.
    """
    root = path
    if root.is_dir():
        dataset = _load_folder(root, include, exclude)
        dataset.cases = _listed_splits(dataset.cases, root)
    elif is_manifest(root):
        dataset = _load_csv(root)
    else:
        raise DatasetError(
            f"{root} is not a segmentation dataset: pass a folder of images and masks or a CSV manifest "
            "with the header image,mask[,roi,patient_id,split]"
        )
    herlev = bool(dataset.cases) and all(re.search(r"-d$", _stem(c.mask)) for c in dataset.cases if c.mask)
    from medimg.data.colour_tables import labelmap_colour_table, parse_colour_table

    labelmap = labelmap_colour_table(root) if colour_table is None and not herlev and root.is_dir() else None
    if colour_table is not None or herlev:
        table = parse_colour_table(colour_table if colour_table is not None else "herlev")
        if colour_table is None:
            logger.info("Herlev-style '*-d' colour masks: using the built-in 'herlev' colour table")
        dataset.colour_table = table
    elif labelmap is not None:  # CVAT's VOC export: the classes and their mask colours
        logger.info("%s: classes and mask colours from labelmap.txt: %s", root, ", ".join(labelmap.class_names))
        dataset.colour_table = labelmap
    dataset.options = {"colour_table": dataset.colour_table.model_dump() if dataset.colour_table else None}
    if not dataset.value_names and dataset.colour_table is None:
        _name_classes(dataset, root)
    if dataset.unpaired:
        message = unpaired_masks_message(dataset.unpaired, root)
        if strict:
            raise DatasetError(message)
        logger.warning(message + "; they are skipped")
    if dataset.unlabelled:
        say_images_without_masks(dataset.unlabelled, len(dataset.cases), root)
    return dataset


def say_images_without_masks(unlabelled: Sequence[str], paired: int, root: Path) -> None:
    """An INFO line for the images without a mask (a challenge's test images); a warning when they outnumber the
    images with one (MosMedData: 50 of 1,110 CT studies have masks, the rest sit in the class folders
    ``studies/CT-0/``...``CT-4/``), naming the folder of those folders to classify (``medimg fit DATA/studies``)."""
    if len(unlabelled) <= paired:
        logger.info("%s: %d image(s) have no mask and are not used (e.g. %s)", root, len(unlabelled), unlabelled[0])
        return
    folders = {PurePosixPath(name).parent for name in unlabelled}
    parents = {folder.parent for folder in folders}
    classes = ""
    if len(folders) >= 2 and len(parents) == 1 and str(next(iter(parents))) != ".":
        shown = ", ".join(sorted(folder.name for folder in folders)[:5])
        classes = (
            f"; they lie in {len(folders)} folders ({shown}): if those are classes, classify them with "
            f"medimg fit {shell_quoted(root / str(next(iter(parents))))}"
        )
    logger.warning(
        "%s: %d of %d images have no mask and are not used (e.g. %s): the segmentation trains on the %d with masks%s",
        root,
        len(unlabelled),
        len(unlabelled) + paired,
        unlabelled[0],
        paired,
        classes,
    )


# --------------------------------------------------------------------------------------------- roles and keys
def _stem(path: Path | None) -> str:
    return "" if path is None else file_stem(path)


def pairing_key(path: Path) -> str:
    """The name a file pairs on: lower-case stem with role and split words stripped from the end, then a role
    prefix from the start (``img00_mask`` -> ``img00`` -> ``00``, as its image ``img00``: the prefix rule needs
    the digits at the end of the name)."""
    stem = _stem(path).lower()
    extra = EXTRA_MASK.match(stem)
    if extra:
        stem = extra.group(1)
    middle = MIDDLE_ROLE.match(stem)
    if middle:
        stem = middle.group(1) + middle.group(3)
    return _strip_words(ROLE_PREFIX.sub("", _strip_words(stem)))


#: a mask's count of labels after its role word (CTPelvic1K's ``dataset6_CLINIC_0001_mask_4label``)
_LABEL_COUNT = re.compile(r"\d+labels?")
#: a reader's number after a mask's name (LNDb's ``masks/LNDb-0001_rad1.mhd``, ``_rad2`` for ``data0/LNDb-0001.mhd``):
#: each reader's mask pairs with the image, the first the reference, the others compared as further observers'
_READER_NUMBER = re.compile(r"(?:rad|reader|rater|annotator)\d{1,2}")


def _strip_words(stem: str) -> str:
    """``stem`` without role and split words at its end (``case1_train_mask`` -> ``case1``; CTPelvic1K's
    ``dataset6_clinic_0001_data`` and ``..._mask_4label`` -> ``dataset6_clinic_0001``)."""
    while True:
        herlev = HERLEV_MASK.match(stem)
        match = herlev or re.match(r"^(.+?)[-_. ]([a-z0-9]+)$", stem)
        word = match.group(2) if match and not herlev else ""
        if not match or not (
            herlev or word in _STRIP_WORDS or _LABEL_COUNT.fullmatch(word) or _READER_NUMBER.fullmatch(word)
        ):
            return stem
        stem = match.group(1)


#: a mask named by a mask word and a word of what kind (ToothFairy's ``gt_sparse.npy``, ``gt_alpha.npy``)
NAMED_MASK = re.compile(r"^(?:gt|mask|seg|segmentation|label|ground_truth|groundtruth)[-_]([a-z]+)$")
#: kinds of a named mask that annotate a part of the image only (a few slices, scribbles)
PARTIAL_WORDS = frozenset({"sparse", "partial", "scribble", "scribbles"})


def _suffix_role(path: Path) -> str | None:
    stem = _stem(path).lower()
    if OTHER_CONSENSUS.match(stem) or ANNOTATOR_INSTANCE.match(stem):  # KiTS21's aggregates and annotators' masks
        return "ignore"
    if stem in MASK_NAMES or EXTRA_MASK.match(stem):  # KiTS's case folder segmentation.nii.gz; BUSI's _mask_1
        return "mask"
    named = NAMED_MASK.match(stem)
    if named:  # ToothFairy's case folder: data.npy beside gt_sparse.npy and gt_alpha.npy
        # a partial annotation (a few slices drawn) is no reference: ToothFairy's gt_sparse, the only mask of most of
        # its cases, was scored as their ground truth and merged into the dense gt_alpha of the others
        return "ignore" if named.group(1) in PARTIAL_WORDS else "mask"
    if re.match(r"^(?:" + "|".join(MASK_PREFIXES) + r")[-_. ]+\d", stem):  # mask_001.png beside image_001.png
        return "mask"
    middle = MIDDLE_ROLE.match(stem)
    if middle and middle.group(2) in MASK_PREFIXES:  # SLIVER07's liver-seg001 beside liver-orig001
        return "mask"
    if HERLEV_MASK.match(stem):
        return "mask"
    match = re.search(r"[-_. ]([a-z0-9]+)$", stem)
    if not match:
        return None
    word = match.group(1)
    if word in ROI_SUFFIXES:
        return "roi"
    if word in LABEL_SUFFIXES:
        return "mask"
    if word in IGNORED_SUFFIXES:
        return "ignore"
    return None


def _core_name(name: str) -> str:
    """A folder name without split words, and a role word at the end alone: ``train_masks`` -> ``masks``,
    ``Training_Images`` -> ``images``, ``lung_masks`` -> ``masks``; other names lower-cased as they are."""
    words = [w for w in re.split(r"[\s_\-]+", name.lower()) if w]
    kept = [w for w in words if not normalise_split(w)] if len(words) > 1 else words
    if len(kept) > 1 and kept[-1] == "images" and set(kept[:-1]) & MASK_WORDS_BEFORE_IMAGES:
        kept = ["labels"]  # label_images/, mask_images/: images of labels
    if len(kept) > 1 and kept[-1] in {"masks", "mask"} and set(kept[:-1]) & LABEL_WORDS_BEFORE_MASKS:
        kept = ["labels"]  # NuInsSeg's "label masks/": each nucleus labelled, no field of view
    roles = {"masks", "mask", "msk", "labels", "segmentations", "annotations", "images"}
    dated = kept
    while len(dated) > 1 and dated[-1].isdigit():  # a date after the role (TCIA_pancreas_labels-02-05-2017)
        dated = dated[:-1]
    if dated[-1:] and dated[-1] in roles:
        kept = dated
    if len(kept) > 1 and kept[-1] in roles:
        kept = kept[-1:]
    return "_".join(kept) if kept else name.lower()


#: a pathologist's folder of maps (Gleason2019's ``Maps1_T/`` ... ``Maps6_T/``, six pathologists' Gleason grades)
_PATHOLOGIST_MAPS = re.compile(r"maps\d+[-_ ]t")
#: a numbered folder of masks beside a folder of images of that number (TNBC's ``GT_01/`` beside ``Slide_01/``)
NUMBERED_MASK_DIR = re.compile(r"(?:gt|mask|masks|seg|label|labels)[-_ ]?(\d+)")


#: a folder of the images that were labelled, not of their labels (AROI's ``patient1/raw/labeled/`` beside
#: ``patient1/mask/number/``)
_LABELLED = re.compile(r"label(?:l)?ed(?:[-_ ]?(?:images?|imgs?|data|raw|scans?))?")


#: a folder of masks drawn in colour for viewing, beside a folder of the same masks' values (its name without
#: separators)
_RENDERING = re.compile(r"colou?r(?:ed)?(?:masks?)?|rgb|visuali[sz]ations?|overlays?")


def _is_rendering(name: str) -> bool:
    """Whether a folder's name says it holds masks drawn for viewing (:data:`_RENDERING`)."""
    return _RENDERING.fullmatch(re.sub(r"[^a-z]", "", name.lower())) is not None


#: a folder's name saying it holds both the images and their masks (BrEaST's ``BrEaST-Lesions_USG-images_and_masks/``:
#: ``case001.png`` beside ``case001_tumor.png``): no role of its own, its files' names give theirs
_IMAGES_AND_MASKS = re.compile(
    r"(?:^|[\s_\-])(?:images?|imgs?|scans?)[\s_\-]*(?:and|with|&|\+|n)[\s_\-]*(?:masks?|labels?|segmentations?|gts?)(?:$|[\s_\-])"
)


#: an expert's annotations in a folder's name (LISC's ``areaforexpert1``, Tufts Dental's ``Expert/``), a word of its
#: own or after "for": not a name ending so (``CheXpert/``, whose images were read as masks)
_EXPERT = re.compile(r"(?:^|for|[^a-z])experts?(?:\d|$|[^a-z])")


def _dir_role(name: str, siblings: set[str]) -> str | None:
    if _IMAGES_AND_MASKS.search(name.lower()):
        return None  # images_and_masks/: not a folder of masks for its last word
    if IGNORED_COMPACT_DIRS.fullmatch(re.sub(r"[^a-z0-9]", "", name.lower())):
        return "ignore"  # before the role word alone is kept: background-mask/ is not mask/
    core = _core_name(name)
    if core != name.lower():
        return _dir_role(core, {_core_name(s) for s in siblings})
    low = name.lower()
    compact = re.sub(r"[^a-z0-9]", "", low)
    if low in IGNORED_DIRS or IGNORED_COMPACT_DIRS.fullmatch(compact):
        return "ignore"
    if low in XY_DIRS and {s.lower() for s in siblings} >= set(XY_DIRS):  # SegPC's train/x/ beside train/y/
        return XY_DIRS[low]
    if low in DOMAIN_DIRS and siblings & DOMAIN_DIRS[low]:
        return None  # CrossMoDA's training_target/ beside training_source/: the unlabelled domain's images
    if low in ROI_DIRS:
        return "roi"
    if low in AMBIGUOUS_DIRS:
        return (
            "roi" if any(_dir_role(s, set()) == "mask" for s in siblings if s.lower() not in AMBIGUOUS_DIRS) else "mask"
        )
    if low in LABEL_DIRS or "groundtruth" in compact or (compact.startswith("label") and not _LABELLED.fullmatch(low)):
        return "mask"
    numbered = NUMBERED_MASK_DIR.fullmatch(low)
    if numbered and any(  # TNBC's GT_01/ beside Slide_01/: the masks of that slide's images
        re.fullmatch(rf"[a-z]+[-_ ]?0*{int(numbered.group(1))}", s.lower())
        and not NUMBERED_MASK_DIR.fullmatch(s.lower())
        for s in siblings
    ):
        return "mask"
    if _PATHOLOGIST_MAPS.fullmatch(low):
        return "mask"
    if low in IMAGE_DIRS or compact.startswith("images"):
        return "image"
    # Montgomery's leftMask/; masks_png/; MedSeg's rp_msk/ (BIDS' abbreviation)
    if compact.endswith(("mask", "masks", "msk")) or compact.startswith("mask"):
        return "mask"
    if _EXPERT.search(low):  # an expert's annotations: LISC's <class>/areaforexpert1/1_expert.bmp, Tufts' Expert/
        return "mask"
    return None


def folder_role(name: str) -> str | None:
    """What a folder named ``name`` holds by its name alone (``"image"``, ``"mask"``, ``"roi"``, ``"ignore"``, or
    ``None``); ``mask``/``masks`` count as masks (without the siblings that would make them fields of view)."""
    return _dir_role(name, set())


def file_role(root: Path, path: Path, folder_roles: dict[Path, str | None] | None = None) -> str:
    """``"image"``, ``"mask"``, ``"roi"`` or ``"ignore"`` for a file under ``root`` (see the module table).
    ``folder_roles``: a cache of each folder's role by name and siblings, shared over calls (many files)."""
    by_name = _suffix_role(path)
    if by_name == "ignore":  # a second observer's or an annotator's mask, in a mask folder too
        return "ignore"
    folder = path.parent
    cache: dict[Path, str | None] = {} if folder_roles is None else folder_roles
    found: str | None = None  # the nearest folder's role; an ignored folder further up wins (vague areas/mask binary)
    rendering = False  # in a colour rendering of masks beside their values (AROI's mask/color/ beside mask/number/)
    while folder != root and root in folder.parents:
        if folder not in cache:
            parent = folder.parent
            siblings = {p.name for p in parent.iterdir() if p.is_dir()} if parent.is_dir() else set()
            cache[folder] = _dir_role(folder.name, siblings)
            if cache[folder] is None and _is_rendering(folder.name):
                cache[folder] = "rendering" if siblings - {folder.name} else None
        role = cache[folder]
        if role == "ignore":
            return role
        rendering = rendering or (role == "rendering" and found is None)
        found = found or (None if role == "rendering" else role)
        folder = folder.parent
    if found == "mask" and rendering:
        return "ignore"
    if found is None or found == "image":
        return by_name or "image"
    return found


def annotation_files(files: Sequence[Path], root: Path) -> list[Path]:
    """The masks, regions of interest and second observers' annotations among ``files`` (found under ``root``) by
    this module's roles, that pair with an image among them: what a folder of images *with* their annotations holds
    besides the images (``medimg predict RUN test/`` on ``images/`` + ``masks/``, BUSI's ``<image>_mask.png``,
    the structure masks in a ``segmentations/`` folder beside a case's image: :mod:`.structure_masks`; the masks in a
    ground-truth folder of structure folders: :mod:`.structure_folders`).
    A mask-like name without such an image (``scan-d.png`` alone) is not one."""
    folder_roles: dict[Path, str | None] = {}
    roles = {path: file_role(root, path, folder_roles) for path in files}
    image_keys = {pairing_key(path) for path, r in roles.items() if r == "image"}
    in_folder: dict[Path, list[str]] = defaultdict(list)  # folders per case: KiTS, BraTS
    for path, r in roles.items():
        if r == "image":
            in_folder[path.parent].append(pairing_key(path))
    image_parents = {*in_folder, *(folder.parent for folder in in_folder)}  # the images' folders and theirs

    def annotates(path: Path) -> bool:
        if pairing_key(path) in image_keys or _names_an_image_beside(path, in_folder.get(path.parent, [])):
            return True
        # KiTS23's <case>/instances/ beside the case's image; DRIVE's test/2nd_manual/ beside test/images/
        if path.parent.name.lower() in IGNORED_DIRS and path.parent.parent in image_parents:
            return True
        return is_case_mask(path, in_folder)  # TotalSegmentator's segmentations/, the Data Science Bowl's masks/

    truths = truth_folders(root) if root.is_dir() else []  # IDRiD's ground-truth folder of structure folders
    return [
        path
        for path, r in roles.items()
        if (r != "image" and annotates(path))
        or is_case_mask(path, in_folder)  # PDDCA's <case>/structures/BrainStem.nrrd: names of no mask word
        or any(truth in path.parents for truth in truths)
        or TRUTH_NAME.fullmatch(file_stem(path).lower())  # a Cell Tracking Challenge set's 01_GT/SEG/man_seg002.tif
    ]


def _name_classes(dataset: SegmentationDataset, root: Path) -> None:
    """Give ``dataset`` the class names its annotation files carry: 3D Slicer's segment names (which also renumber
    each file's segments, :mod:`medimg.data.slicer_classes`), else, without a ``dataset.json`` (which names them
    itself), a label table beside the masks (ITK-SNAP's, Slicer's, FreeSurfer's: :mod:`medimg.data.label_tables`)."""
    from medimg.data.label_tables import label_table_names
    from medimg.data.slicer_classes import slicer_classes

    cases, value_names = slicer_classes(dataset.cases)
    if value_names:
        dataset.cases, dataset.value_names = cases, value_names
    elif find_dataset_json(root) is None:
        folder = root if root.is_dir() else root.parent
        masks = dict.fromkeys(case.mask.parent for case in dataset.cases if case.mask is not None)
        dataset.value_names = label_table_names([folder, *list(masks)[:3]])


def _image_files(root: Path, includes: tuple[str, ...], excludes: tuple[str, ...]) -> list[Path]:
    files = []
    for p in sorted(walk_tree(root)):
        if not p.is_file() or in_system_folder(p, root):
            continue
        if file_suffix(p) not in IMAGE_SUFFIXES:
            continue
        if name_selected(p.name, includes, excludes, relative=p.relative_to(root).as_posix()):
            files.append(p)
    return files


def _best(candidates: list[Path], anchor: Path, what: str) -> Path:
    chosen = nearest_files(candidates, anchor)
    if len(chosen) > 1:
        # the first folder where their paths part (G1020's Images/ and NerveRemoved/Images/: not the last, alike)
        common = Path(os.path.commonpath(chosen))
        folders = sorted({p.relative_to(common).parts[0] for p in chosen if len(p.relative_to(common).parts) > 1})
        # never the images/ folder; all the others at once (ROSE's thick_gt/ and thin_gt/ beside img/ and gt/)
        others = [name for name in folders if folder_role(name) != "image"]
        others = others if len(others) < len(folders) else folders[1:]
        patterns = ",".join(f"*{name}/*" for name in others)
        leave_out = f", leave out the others with --exclude '{patterns}'," if len(folders) > 1 else ""
        raise DatasetError(
            f"{anchor} matches several {what}s equally well: {', '.join(map(str, chosen[:4]))}; give each pair a "
            f"unique name{leave_out} or list the pairs in a CSV manifest (image,mask)"
        )
    return chosen[0]


def _channel_files(images: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """Images named like nnU-Net's raw data, ``<case>_<4-digit channel>``, by ``<case>``."""
    by_case: dict[str, list[Path]] = defaultdict(list)
    for key, paths in images.items():
        match = CHANNEL_NAME.match(key)
        if match:
            by_case[match.group(1)].extend(paths)
    return by_case


#: ``<case><separators><modality>``: HECKTOR's ``CHUM-001__CT``, ``CHUM-001__PT`` (keys, lower-case)
_MODALITY_NAME = re.compile(r"^(.+?)[-_. ]+([a-z0-9]+)$")


def _modality_files(images: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """Images named for their case and a modality (``<case>__CT``, ``<case>__PT``: a name
    :data:`~medimg.io.channels.CHANNEL_SYNONYMS` knows), by ``<case>``: the channels of a mask named ``<case>``
    (HECKTOR's ``labelsTr/CHUM-001.nii.gz``) that no image is named like."""
    by_case: dict[str, list[Path]] = defaultdict(list)
    for key, paths in images.items():
        match = _MODALITY_NAME.match(key)
        if match and channel_key(match.group(2)) in CHANNEL_SYNONYMS:
            by_case[match.group(1)].extend(paths)
    return by_case


def _nearest_modalities(files: list[Path], mask: Path, taken: dict[Path, Path]) -> list[Path]:
    """The modality files of ``mask``'s case nearest to it (sharing the most folders) not yet paired, in name order
    (HECKTOR's ``__CT`` before ``__PT``: the CT, on whose grid the masks are, is the image)."""
    return sorted(nearest_files([f for f in files if f not in taken], mask), key=lambda f: f.name)


def _image_beside(mask: Path, key: str, images: dict[str, list[Path]], taken: set[Path], root: Path) -> list[Path]:
    """Per-case folders: the image(s) beside a mask no image name matches. The mask may be named only for its role
    (KiTS's ``case_00000/segmentation.nii.gz`` with ``imaging.nii.gz``, 3D Slicer's ``Segmentation.seg.nrrd`` beside
    the volume it saved), then any image of its folder counts, and
    several are refused (which one is the image?); or the images extend the mask's key (BraTS's
    ``<case>_seg.nii.gz`` beside ``<case>_flair.nii.gz``, ``_t1``...): several are the case's channels, returned
    in name order (the first is the image, the others :attr:`SegCase.channels`)."""
    bare = _named_for_its_role(mask)
    beside = sorted(
        p
        for paths in images.values()
        for p in paths
        if p.parent == mask.parent and p not in taken and (bare or _extends(pairing_key(p), key))
    )
    if not beside and not bare:
        here = [p for paths in images.values() for p in paths if p.parent == mask.parent and p not in taken]
        masks_here = [f for f in mask.parent.iterdir() if f.is_file() and _suffix_role(f) == "mask"]
        if _named_for_the_case(masks_here, [pairing_key(p) for p in here], mask.parent):
            beside = sorted(here)
            logger.warning(
                "%s is named for none of the images beside it, but it is the only mask of the case folder %s, whose "
                "images are all named for it: paired with them (rename it %s_seg%s to say so)",
                mask.relative_to(root),
                mask.parent.name,
                mask.parent.name,
                file_suffix(mask),
            )
    if len(beside) > 1 and bare and _volume_file(mask):  # 3D Slicer's scene thumbnail <case>.png beside the volume
        beside = [p for p in beside if _volume_file(p)] or beside
    if len(beside) > 1 and bare:
        raise DatasetError(
            f"{mask.relative_to(root)} has {len(beside)} images beside it ({', '.join(p.name for p in beside[:4])}) "
            "and none is named like it: name the image like the mask (<case>.nii.gz + <case>_seg.nii.gz), or "
            "leave the others out with --exclude"
        )
    return beside


def _volume_file(path: Path) -> bool:
    """Whether ``path`` is a NIfTI, NRRD or MetaImage volume, by its content (unreadable: not one)."""
    try:
        return detect_format(path) in VOLUME_FILE_FORMATS
    except ImageReadError:
        return False


def _extends(name: str, key: str) -> bool:
    """``name`` is ``key`` plus a separator and more (BraTS 2021's ``<case>_flair``, 2023's ``<case>-t1c``)."""
    return len(name) > len(key) + 1 and name.startswith(key) and name[len(key)] in "-_. "


def _first_channel(files: list[Path], mask: Path, root: Path) -> list[Path]:
    """The image of ``mask`` among its nnU-Net channel files (those nearest to it): its ``_0000`` file, whose
    further channels (``_0001``...) are stacked after it on read (:func:`medimg.io.channels.channel_files`).

    Raises:
        DatasetError: the channels are not numbered 0, 1, 2... (one missing).
    """
    channels = sorted(nearest_files(files, mask))
    stacked = channel_files(channels[0])
    if [f.name for f in stacked] != [f.name for f in channels]:
        names = ", ".join(f.name for f in channels[:6])
        raise DatasetError(
            f"{mask.relative_to(root)} has channel images {names}: nnU-Net's channel files must be numbered _0000, "
            "_0001, ... without a gap; rename them, or leave out the extra files with --exclude"
        )
    return channels[:1]


def _nearest_is_paired(images: Sequence[Path], mask: Path, paired: Mapping[Path, Path]) -> bool:
    """Whether the images named like ``mask`` that lie nearest to it all have a mask already: ``mask`` is another
    mask of such an image (EndoVis 2017's ``instrument_dataset_1/ground_truth/<instrument>_labels/frame000.png``, one
    folder per instrument), not the mask of a same-named image farther away (``instrument_dataset_2``'s
    ``frame000.png``, which it was paired with)."""
    nearest = nearest_files(images, mask)
    return bool(nearest) and all(p in paired for p in nearest)


#: a mask of one object of an image, numbered after the image's name (SegPC 2021's ``y/106_1.bmp``, ``y/106_2.bmp``:
#: one per cell of ``x/106.bmp``)
_NUMBERED_OBJECT = re.compile(r"^(.+)[-_ ](\d{1,3})$")


def _plain_folder_first(masks: list[Path]) -> list[Path]:
    """An image's masks in several folders with the one in the folder whose name's words all name the others too
    first (MedSeg's ``rp_msk/``, the reference, before ``rp_lung_msk/``, one structure's): that mask is the first, the
    others further masks of it. Unchanged when no folder is so named (PALM's ``Disc_Masks/`` beside ``Atrophy/``)."""
    words = {m: set(re.split(r"[^a-z0-9]+", m.parent.name.lower())) - {""} for m in masks}
    plain = [m for m in masks if all(words[m] < words[o] for o in masks if o.parent != m.parent)]
    return plain[:1] + [m for m in masks if m not in plain[:1]] if plain and len(masks) > 1 else masks


def _numbered_object_masks(masks: dict[str, list[Path]], images: Mapping[str, list[Path]]) -> dict[str, list[Path]]:
    """``masks`` with those keyed ``<image>_<n>`` (:data:`_NUMBERED_OBJECT`) keyed as their image when no image has
    their own key, every image's such masks at least: each object's mask, the first paired with the image and the
    others read with it as further masks. Was: "no image has a mask with a matching name"."""
    numbered = {key: match.group(1) for key in masks if (match := _NUMBERED_OBJECT.match(key)) and key not in images}
    if not numbered or not all(image in images for image in numbered.values()):
        return masks
    keyed: dict[str, list[Path]] = defaultdict(list)
    for key, files in masks.items():
        keyed[numbered.get(key, key)] += files
    return dict(keyed)


def _attach_extra_masks(
    extras: dict[str, list[Path]], paired: dict[Path, Path], unpaired: list[str], root: Path
) -> dict[Path, list[Path]]:
    """Each further mask (``<image>_mask_1``; ``rightMask/<image>``) under the first mask of the image of its key
    nearest to it; one whose image has no first mask is unpaired."""
    firsts: dict[str, list[Path]] = defaultdict(list)
    for image, mask in paired.items():
        firsts[pairing_key(image)].append(mask)
    extra_of: dict[Path, list[Path]] = defaultdict(list)
    for key, files in sorted(extras.items()):
        for extra in sorted(files):
            if not firsts.get(key):
                unpaired.append(str(extra.relative_to(root)))
                continue
            extra_of[_best(firsts[key], extra, "first mask")].append(extra)
    if extra_of:
        example = next(iter(extra_of.values()))[0]
        logger.info(
            "%d further mask file(s) are read with the first mask of their image (e.g. %s): merged into it, unless "
            "they overlap it as a second observer's outline or a structure inside it (said as they are read)",
            sum(map(len, extra_of.values())),
            example.relative_to(root),
        )
        _warn_of_other_structures(extra_of, root)
    return extra_of


def _warn_of_other_structures(extra_of: dict[Path, list[Path]], root: Path) -> None:
    """Warn when further masks lie in a folder named for something other than masks, apart from the first mask's
    (PALM's ``Lesion_Masks/Atrophy/P0001.bmp`` beside ``Disc_Masks/P0001.bmp``): they may mark another structure,
    and merged they are one foreground class with it (said at INFO only before)."""
    others = [
        (first, extra)
        for first, extras in extra_of.items()
        for extra in extras
        if extra.parent != first.parent and not named_as_masks(extra.parent.name)
    ]
    if not others:
        return
    first, extra = others[0]
    folders = sorted({extra.parent.relative_to(root).as_posix() for _, extra in others})
    logger.warning(
        "%d further mask file(s) in %s are read with the first mask of their image (e.g. %s with %s), merged into "
        "one foreground class where they do not overlap it: if they mark another structure, train one at a time "
        "(--exclude '%s/*' leaves them out)",
        len(others),
        ", ".join(f"{f}/" for f in folders[:3]),
        extra.relative_to(root),
        first.relative_to(root),
        folders[0],
    )


def named_as_masks(name: str) -> bool:
    """A folder named as masks (``masks``, ``rightMask``, ``lung masks``, ``GT``), not for what they mark
    (``Atrophy``)."""
    return folder_role(name) == "mask" or re.sub(r"[^a-z0-9]", "", name.lower()).endswith(("masks", "mask"))


def _folder_at(folders: list[str], level: int, above: bool) -> str:
    """``folders[level]`` (the last one for a level past them); with ``above``, the folder above it when it is named
    for that one: CholecSeg8k's ``video01/video01_00080/`` is a clip of the video ``video01``, the patient."""
    index = min(level, len(folders) - 1) % len(folders)
    name, parent = folders[index], folders[index - 1] if index > 0 else ""
    named_for = bool(parent) and re.match(re.escape(parent) + r"[_\-. ]", name, re.IGNORECASE) is not None
    return parent if above and named_for else name


#: a folder named as one part of a download cut into parts (``AbdomenCT-1K-ImagePart1``, ``Training Batch 2``)
_DOWNLOAD_PART = re.compile(r"(?:part|batch|chunk)[-_ ]?\d+$", re.IGNORECASE)


def group_by_patient_folder(cases: list[SegCase], root: Path) -> list[SegCase]:
    """Cases in folders that are neither role nor split folders (``kaggle_3m/<patient>/<slices>``, ACDC's
    ``training/<patient>/<frames>``) get their folder as their patient, so a split never puts one patient's slices on
    both sides. The folder is the one holding the case, by name, when at least
    :data:`~medimg.data.layouts.common.MIN_FOLDER_GROUPS` such names hold two cases between them: so the same
    patient folder in a wrapper (``lgg-mri-segmentation/kaggle_3m/<patient>``) or in a nested copy of the download
    is one patient; else the top folder (``<patient>/<series>/<slices>``), else the one below it, and so on (AutoPET's
    ``FDG-PET-CT-Lesions/PETCT_<patient>/<study date>/``: a patient's studies). Unchanged when no folder holds two cases
    (KiTS: one case per folder); when the folders are too few to be patients, a warning says how to give them. A
    folder named for the folder above it (CholecSeg8k's ``video01/video01_00080/``: a clip of the video) counts as
    that one, the video, when the videos are enough; else each clip is a patient, with a warning."""
    kept_of: dict[str, list[str]] = {}
    for case in cases:
        parts = case.image.relative_to(root).parts[:-1]
        kept = [p for p in parts if normalise_split(p) is None and folder_role(p) is None]
        if kept:
            kept_of[case.case_id] = kept
    few, few_names = 0, []
    depth = max((len(kept) for kept in kept_of.values()), default=0)
    # the folder holding the case, by name; then from the top folder down (AutoPET's wrapper folder, then its
    # PETCT_<patient>/ above each <study date>/)
    # (a clip folder named for the video above it: the video, else the clip when the videos are too few)
    # (a day's or clip's folder named for the patient's above it at any depth: UW-Madison's
    # train/case123/case123_day20/scans/: the case is the patient, its days were split apart)
    levels = ((-1, True), (-1, False), *((level, above) for level in range(depth - 1) for above in (True, False)))
    for level, above in levels:
        folder_of = {case_id: _folder_at(kept, level, above) for case_id, kept in kept_of.items()}
        sizes = Counter(folder_of.values())
        if not sizes or max(sizes.values()) < 2:
            continue
        if len(sizes) >= MIN_FOLDER_GROUPS and all(CATEGORY_FOLDER.fullmatch(name) for name in sizes):
            logger.info(
                "%s: the %d folders holding the cases are named as categories (e.g. %s), not patients: the cases "
                "are not grouped by them; give a CSV manifest (image,mask,patient_id) if one patient has several",
                root,
                len(sizes),
                min(sizes),
            )
            return cases
        if len(sizes) >= MIN_FOLDER_GROUPS:
            break
        if len(sizes) > few:
            few, few_names = len(sizes), list(sizes)
    else:
        # the parts a download was cut into (AbdomenCT-1K's AbdomenCT-1K-ImagePart1/, ImagePart2/) hold no patient;
        # nor do the few folders above case folders (FeTS 2022's center_1/FeTS2022_00000/: one case per folder)
        case_folders = len(set(map(tuple, kept_of.values()))) == len(kept_of)
        if few > 1 and not case_folders and not all(_DOWNLOAD_PART.search(name) for name in few_names):
            logger.warning(
                "%s: %d case(s) lie in %d folders (e.g. %s), too few to be taken for patients; if one patient's "
                "slices or images sit in one folder, the split may put them on both sides: give a CSV manifest "
                "(image,mask,patient_id) so each patient stays on one side",
                root,
                len(kept_of),
                few,
                "/".join(next(iter(kept_of.values()))),
            )
        return cases
    logger.info(
        "%s: cases grouped by their patient folder (%d folders, e.g. %s): a split medimg makes keeps each "
        "folder's cases on one side",
        root,
        len(sizes),
        next(iter(sizes)),
    )
    videos = {_folder_at(kept, level, True) for kept in kept_of.values()} - set(sizes)
    if not above and videos:
        logger.warning(
            "%s: the folders are named for the %d folders above them (e.g. %s in %s: clips of one video, or scans "
            "of one patient?), too few to be taken for patients: a split may put one video's clips on both sides; "
            "give a CSV manifest (image,mask,patient_id) to keep each on one side",
            root,
            len(videos),
            sorted(sizes)[0],
            sorted(videos)[0],
        )
    return [
        replace(c, patient_id=folder_of[c.case_id]) if c.case_id in folder_of and not c.patient_id else c for c in cases
    ]


def _check_channel_names(cases: Sequence[SegCase], root: Path) -> None:
    """Every case of several channel files has the same ones (by :func:`~medimg.io.channels.channel_suffixes`).

    Raises:
        DatasetError: two cases differ, e.g. one lacks a modality (naming both and their files).
    """
    seen: dict[tuple[str, ...], SegCase] = {}
    for case in cases:
        if case.channels:
            seen.setdefault(tuple(channel_suffixes([case.image, *case.channels])), case)
    if len(seen) > 1:
        (a, first), (b, second) = list(seen.items())[:2]
        raise DatasetError(
            f"the cases of {root} have different channel files: {first.case_id} has {', '.join(a)} but "
            f"{second.case_id} has {', '.join(b)}; give every case the same channels, or train on one with --exclude"
        )


def _series_folders(images: Mapping[str, Sequence[Path]]) -> dict[str, Path]:
    """The folders of DICOM slices among ``images``, by their name (lower case): a mask named as one (RSNA cervical
    spine's ``segmentations/<StudyInstanceUID>.nii`` for ``train_images/<StudyInstanceUID>/1.dcm...``) is the mask
    of that series, read as one volume."""
    folders: dict[str, list[Path]] = {}
    for path in (p for ps in images.values() for p in ps):
        if file_suffix(path) == ".dcm":
            folders.setdefault(path.parent.name.lower(), []).append(path.parent)
    return {name: found[0] for name, found in folders.items() if len(set(found)) == 1}


#: a name that is a word and a number (``PANCREAS_0001``, ``label0001``, ``case_12``)
_NUMBERED_NAME = re.compile(r"[a-z]*[-_ ]?0*(\d+)", re.IGNORECASE)


def _series_by_number(series: Iterable[Path], root: Path) -> dict[int, Path]:
    """The series folders by the number of the folder above them named as a word and a number, where that number
    is one series' alone (Pancreas-CT's ``PANCREAS_0001/<study>/<series>/``, whose mask is ``label0001.nii.gz``)."""
    found: dict[int, list[Path]] = {}
    for folder in series:
        above = folder.relative_to(root).parts[:-1] if root in folder.parents else ()
        numbers = {int(m.group(1)) for part in above if (m := _NUMBERED_NAME.fullmatch(part))}
        for number in numbers:
            found.setdefault(number, []).append(folder)
    return {number: folders[0] for number, folders in found.items() if len(set(folders)) == 1}


# --------------------------------------------------------------------------------------------- readers
def _load_folder(root: Path, includes: tuple[str, ...], excludes: tuple[str, ...]) -> SegmentationDataset:
    files = _image_files(root, includes, excludes)
    if not files:
        raise DatasetError(
            f"no image files found in {root}: expected images and masks (PNG, JPEG, BMP, TIFF, GIF, NIfTI, DICOM), "
            "e.g. images/case_01.png + masks/case_01.png; check --include/--exclude"
        )
    by_role: dict[str, dict[str, list[Path]]] = {
        "image": defaultdict(list),
        "mask": defaultdict(list),
        "roi": defaultdict(list),
    }
    folder_roles = _fields_of_view_alike(root, files)
    ignored: list[Path] = []
    for p in files:
        role = file_role(root, p, folder_roles)
        if role in by_role:
            by_role[role][pairing_key(p)].append(p)
        elif role == "ignore":
            ignored.append(p)
    if ignored:
        logger.info(
            "%s: %d file(s) that are not the reference or its images left out (a second observer's, KiTS21's "
            "AND/OR aggregates and each annotator's instance masks, maps drawn from the masks, regions left out of "
            "scoring, sparse annotations of a few slices, atlas averages of the training scans; e.g. %s): each "
            "image's reference mask is trained",
            root,
            len(ignored),
            ignored[0].relative_to(root).as_posix(),
        )
    images, masks, rois = by_role["image"], by_role["mask"], by_role["roi"]
    images = _without_a_common_prefix(images, masks, root, "image")
    masks = _without_a_common_prefix(masks, images, root, "mask")
    if not masks:
        raise DatasetError(
            f"found {sum(map(len, images.values()))} images but no masks in {root}: put masks in a 'masks' or "
            "'labels' folder beside 'images' with the same file names, name them <image>_mask.<ext>, or use a CSV "
            "manifest (image,mask)"
        )
    masks = _numbered_object_masks(masks, images)
    paired: dict[Path, Path] = {}
    unpaired: list[str] = []
    channel_cases = _channel_files(images)
    modality_cases = _modality_files(images)
    channels_of: dict[Path, tuple[Path, ...]] = {}  # an image's further channel files (nnU-Net, BraTS)
    extras = {key: [m for m in files if EXTRA_MASK.match(_stem(m).lower())] for key, files in masks.items()}
    series_folders = _series_folders(images)
    numbered_series = _series_by_number(series_folders.values(), root)
    for key, mask_files in sorted(masks.items()):
        for mask in _plain_folder_first([m for m in mask_files if m not in extras[key]]):
            candidates = [p for p in images.get(key, []) if p not in paired]
            split = split_of(root, mask)  # train_masks/0.png pairs with train_images/0.png, not test_images/0.png
            same_split = [p for p in candidates if split_of(root, p) == split]
            own_paired = any(p in paired and split_of(root, p) == split for p in images.get(key, []))
            # its own split's image already has a mask: this is another mask of it (COVID-QU-Ex's lung masks beside
            # infection masks, one name in Train/, Val/ and Test/), not a mask of another split's image
            candidates = same_split or ([] if split is not None and own_paired else candidates)
            if candidates and _nearest_is_paired(images.get(key, []), mask, paired):
                extras.setdefault(key, []).append(mask)  # EndoVis' instrument_dataset_1/ground_truth/<tool>_labels/
                continue
            if not candidates and key in channel_cases:  # nnU-Net: imagesTr/case_0000.nii.gz, labelsTr/case.nii.gz
                candidates = _first_channel(channel_cases[key], mask, root)
                channels_of.update({first: tuple(channel_files(first)[1:]) for first in candidates})
            if not candidates and key in modality_cases:  # HECKTOR: imagesTr/<case>__CT, __PT; labelsTr/<case>
                found = _nearest_modalities(modality_cases[key], mask, paired)
                candidates = found[:1]
                if len(found) > 1:
                    channels_of[found[0]] = tuple(found[1:])
            if not candidates:  # per-case folders (KiTS, BraTS)
                beside = _image_beside(mask, key, images, set(paired), root)
                candidates = beside[:1]
                if len(beside) > 1:  # BraTS: one file per modality
                    channels_of[beside[0]] = tuple(beside[1:])
            tagged = OBSERVER_TAG.sub("", key)  # STARE's labels-ah/im0001.ah.ppm for stare-images/im0001.ppm
            if not candidates and tagged != key and tagged in images:
                key = tagged  # the mask is the image's own, named with the observer's initials
                candidates = [p for p in images[key] if p not in paired]
            if not candidates and any(p in paired for p in images.get(key, [])):
                extras.setdefault(key, []).append(mask)  # another mask of an image already paired (rightMask/)
                continue
            if not candidates:  # a series' slices in a folder of the mask's name (RSNA cervical spine's
                series = series_folders.get(_stem(mask).lower())  # train_images/<UID>/, segmentations/<UID>.nii)
                number = _NUMBERED_NAME.fullmatch(_stem(mask).lower())
                if series is None and number is not None:  # Pancreas-CT's label0001.nii.gz for the one series
                    series = numbered_series.get(int(number.group(1)))  # under PANCREAS_0001/<study>/<series>/
                candidates = [series] if series is not None and series not in paired else []
            beside = [p for p in paired if p.parent == mask.parent] if _named_for_its_role(mask) else []
            if not candidates and len(beside) == 1:  # a case folder's second mask (ToothFairy's gt_sparse, gt_alpha)
                extras.setdefault(pairing_key(beside[0]), []).append(mask)
                continue
            if not candidates:
                unpaired.append(str(mask.relative_to(root)))
                continue
            paired[_best(candidates, mask, "image")] = mask
    if not paired:
        example_mask = next(iter(masks.values()))[0]
        example_image = next(iter(images.values()))[0] if images else None
        if example_image is None:
            raise DatasetError(
                f"every image file under {root} was read as a mask, by its name or a folder's on its path (e.g. "
                f"{example_mask.relative_to(root).as_posix()}), so none is left to pair with them: keep the images "
                "in a folder named images and the masks in one named masks (or name each mask like its image with "
                "a suffix _mask), or list the pairs in a CSV manifest (image,mask)"
            )
        raise DatasetError(
            f"no image in {root} has a mask with a matching name (e.g. mask {example_mask.name} vs image "
            f"{example_image.name}): name each mask like its image, optionally with a suffix "
            "_mask/_seg/_segmentation/_label, or list the pairs in a CSV manifest (image,mask)"
        )
    extra_of = _attach_extra_masks(extras, paired, unpaired, root)
    listed = listed_splits(root / "ImageSets" / "Segmentation")  # Pascal VOC segmentation
    cases = []
    taken = set(paired)  # images of a case, as its first file or a further channel, or its series' slices
    taken.update(p for ps in images.values() for p in ps if p.parent in paired)
    for image in sorted(paired):
        key = pairing_key(image)
        roi = _best(rois[key], image, "region-of-interest mask") if rois.get(key) else None
        case_id = image.relative_to(root).as_posix()
        more = tuple(extra_of.get(paired[image], ()))
        channels = channels_of.get(image, ())
        taken.update(channels)
        split = split_of(root, image) or listed.get(_stem(image))
        cases.append(SegCase(case_id, image, paired[image], roi=roi, split=split, extra_masks=more, channels=channels))
    if listed and not all(c.split for c in cases):
        cases = [replace(c, split=None) for c in cases]  # a partial list is no split of the whole
    parts = None if any(c.split for c in cases) else _challenge_parts(cases)
    if parts is not None:  # AMOS's imagesTr/ + imagesVa/: the challenge's own validation cases
        cases = [replace(c, split=split) for c, split in zip(cases, parts, strict=True)]
        logger.info("%s: the splits are its images*/labels* folders (%s)", root, _counts(parts))
    folders = None if any(c.split for c in cases) else split_named_folders([c.image for c in cases], root)
    if folders is not None:  # ISIC 2017's ISIC-2017_Training_Data/, ..._Validation_Data/, ..._Test_v2_Data/
        cases = [replace(c, split=split) for c, split in zip(cases, folders, strict=True)]
        logger.info("%s: the splits are its image folders' names (%s)", root, _counts(folders))
    named = None if any(c.split for c in cases) else splits_from_names([c.image for c in cases])
    if named is not None:
        cases = [replace(c, split=split) for c, split in zip(cases, named, strict=True)]
        logger.info(
            "%s: the splits are the images' name prefixes (%s: %s)",
            root,
            cases[0].image.name,
            _counts(named),
        )
    cases = mark_format_copies(as_sections(cases) or group_by_patient_folder(cases, root), root)
    _check_channel_names(cases, root)
    unmasked = [p for ps in images.values() for p in ps if p not in taken]
    annotations = _further_annotations(unmasked, paired, root)
    by_series = any(folder in paired for folder in series_folders.values())  # the data is series: named by folder
    unlabelled = sorted(
        {
            (p.parent if by_series and p.parent in series_folders.values() else p).relative_to(root).as_posix()
            for p in unmasked
            if p not in annotations
        }
    )
    return SegmentationDataset(
        name=dataset_name(root),
        root=root,
        source="folder",
        cases=cases,
        unlabelled=unlabelled,
        unpaired=unpaired,
        value_names=challenge_value_names(cases, root) or code_table_names(root),
        channel_names=named_channels(cases, root),
    )


#: what follows an image's name in the name of a further annotation of it: a word, a number after it maybe
_ANNOTATION_WORD = re.compile(r"[-_ ][a-z]+\d{0,2}")


def _further_annotations(unmasked: Sequence[Path], paired: Mapping[Path, Path], root: Path) -> set[Path]:
    """The files among ``unmasked`` (read as images without a mask) named as an image with a mask beside it, a word
    after its name (BrEaST's ``case004_other.png`` beside ``case004.png`` and its mask ``case004_tumor.png``: another
    finding's mask), said in a warning: further annotations of that image, not images; none used."""
    masked = {(i.parent, _stem(i).lower()): i for i, mask in paired.items() if mask.parent == i.parent}
    found: dict[Path, Path] = {}
    for path in unmasked:
        stem = _stem(path).lower()
        for prefix in name_prefixes(stem):
            image = masked.get((path.parent, prefix))
            if image is not None and _ANNOTATION_WORD.fullmatch(stem[len(prefix) :]):
                found[path] = image
                break
    if found:
        example = min(found)
        logger.warning(
            "%s: %d file(s) are named as an image with a mask beside it and a word after its name (e.g. %s beside %s "
            "and its mask %s): read as further annotations of that image (another finding's or structure's mask), "
            "not images, and not used; if they are images, rename them, or list the pairs in a CSV manifest "
            "(image,mask)",
            root,
            len(found),
            example.relative_to(root).as_posix(),
            found[example].name,
            paired[found[example]].name,
        )
    return set(found)


def _fields_of_view_alike(root: Path, files: Sequence[Path]) -> dict[Path, str | None]:
    """A cache of folder roles (:func:`file_role`'s) holding the folders named ``mask``/``masks`` that are fields of
    view beside their labels' folder elsewhere in the set, and every folder of the same name: fields of view too (the
    DRIVE download without test annotations: ``training/mask/`` beside ``training/1st_manual/`` is the field of view,
    and so is ``test/mask/`` beside ``test/images/`` alone, whose discs were the test images' references, scored
    Dice 0.02, status OK). Empty when no such folder is a field of view."""
    folders = {p.parent for p in files if p.parent.name.lower() in AMBIGUOUS_DIRS and root in p.parents}
    roles = {f: _dir_role(f.name, {d.name for d in f.parent.iterdir() if d.is_dir()}) for f in folders}
    fields = {f.name.lower() for f, role in roles.items() if role == "roi"}
    if not fields or not any(role == "mask" and f.name.lower() in fields for f, role in roles.items()):
        return {}
    alike = sorted(f for f, role in roles.items() if role == "mask" and f.name.lower() in fields)
    logger.info(
        "%s: %s/ holds no labels beside it, but folders of its name are fields of view beside their labels "
        "elsewhere in the set: read as a field of view too, its images without masks",
        root,
        alike[0].relative_to(root).as_posix(),
    )
    return {f: "roi" for f in folders if f.name.lower() in fields}


def named_channels(cases: Sequence[SegCase], root: Path) -> list[str] | None:
    """The names of the cases' channels: the ``channel_names`` (or MSD ``modality``) of the ``dataset.json`` beside
    ``root``, else those the channel files' endings give (BraTS's ``flair``, ``t1``...: not nnU-Net's numbers);
    ``None`` when neither names them.

    Raises:
        DatasetError: the ``dataset.json`` names another number of channels than the cases have channel files.
    """
    from medimg.data.layouts.dataset_json import read_dataset_json
    from medimg.io.channels import names_of_suffixes

    split = next((case for case in cases if case.channels), None)
    suffixes = channel_suffixes([split.image, *split.channels]) if split is not None else None
    declared = read_dataset_json(root)
    names = declared.channel_names if declared is not None else None
    if not names:
        return names_of_suffixes(suffixes)
    if split is not None and suffixes is not None and len(names) != len(suffixes):
        assert declared is not None
        raise DatasetError(
            f"{declared.path} names {len(names)} channel(s) ({', '.join(names)}) but the cases have {len(suffixes)} "
            f"channel files each ({split.case_id}: {', '.join(p.name for p in (split.image, *split.channels))}): "
            "give every case one file per named channel (<case>_0000, _0001...), or fix channel_names"
        )
    return list(names)


def _load_csv(path: Path) -> SegmentationDataset:
    base = path.parent
    _, rows = read_manifest(path)
    if not rows:
        raise DatasetError(f"manifest {path} has no rows; expected a header image,mask[,roi,patient_id,split]")
    header = {k.strip().lower(): k for k in rows[0] if k}
    if "image" not in header or "mask" not in header:
        raise DatasetError(
            f"manifest {path} needs columns 'image' and 'mask' (found {', '.join(header) or 'none'}); optional: "
            "roi, patient_id, split"
        )
    cases = []
    unlabelled: list[str] = []
    for line, row in enumerate(rows, start=2):
        values = {k: (row.get(original) or "").strip() for k, original in header.items()}
        image = (base / values["image"]).resolve()
        mask = (base / values["mask"]).resolve() if values["mask"] else None
        roi = (base / values["roi"]).resolve() if values.get("roi") else None
        for what, file in (("image", image), ("mask", mask), ("roi", roi)):
            if file is not None and not file.exists():
                raise DatasetError(
                    f"{path} line {line}: {what} {file} does not exist; fix the path (relative to {base})"
                )
        if mask is None:
            unlabelled.append(values["image"])
            continue
        cases.append(
            SegCase(
                case_id=values["image"],
                image=image,
                mask=mask,
                roi=roi,
                patient_id=values.get("patient_id") or None,
                split=normalise_split(values.get("split")),
            )
        )
    if not cases:
        raise DatasetError(f"manifest {path} lists no image with a mask")
    return SegmentationDataset(name=dataset_name(path), root=path, source="csv", cases=cases, unlabelled=unlabelled)
