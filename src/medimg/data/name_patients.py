"""Patients from file names, so a split never puts one patient's images on both sides when nothing else names them.

Public sets often put the patient in each image's name and nowhere else: Kermany's chest X-rays
(``person1_bacteria_1.jpeg``, ``NORMAL2-IM-1427-0001.jpeg``), OCT2017 (``CNV-1016042-1.jpeg``), NIH ChestX-ray14
(``00000001_000.png``), Kaggle's diabetic retinopathy (``10_left.jpeg``, ``10_right.jpeg``), the Monkeypox set
(``M01_01.jpg``). Split image by image, a patient's second image lands in the test split and the score measures
recall of a patient already seen. :func:`group_by_name_patient` takes a name's key, the name without its last
part when that part is an image counter (digits) or a side (``left``/``right``, ``L``/``R``, ``OD``/``OS``) and
without a first word of letters alone before an id (OCT2017's finding: ``CNV-1016042`` and ``DME-1016042`` are
one patient, their images in two class folders) and without a camera's ``IMG_<date>_<time>`` after the patient's
slide (the NIH malaria cells' ``C100P61ThinF_IMG_20150918_144104_cell_162.png``), or,
where a part names the person (``person1000``, ``patient_12``), that part alone (Kermany's ``person1000_bacteria_2931``
and ``person1000_virus_1681`` are one child), and uses the keys as patients when they look like patient ids:

- the key holds a digit (``ISIC_0024306`` -> ``ISIC`` names no one) and most names have one;
- at least :data:`MIN_GROUPS` keys, and images share them (at most 80% as many keys as images);
- no key holds more than :data:`MAX_GROUP_SHARE` of the images (a date or a scanner prefix is not a patient).

Only cases without a patient (no patient column, folder or DICOM header named one) are grouped; an INFO line gives
an example.

A table's image paths may name the patient by a folder instead (CheXpert's ``train/patient00001/study1/``):
:func:`patients_from_folders` takes it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

from medimg.data.case import Case, CaseT, SegCase

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_GROUP_SHARE",
    "MIN_GROUPS",
    "group_by_name_patient",
    "name_key",
    "named_by_convention",
    "patient_in_path",
    "patients_from_folders",
]

#: fewer keys than this are not patients (a class prefix, a handful of batches)
MIN_GROUPS = 10
#: a key holding more than this share of the images (and more than 10 of them) is not a patient
MAX_GROUP_SHARE = 0.05
#: a name's last part that says which side, not which image
SIDES = frozenset({"left", "right", "l", "r", "od", "os"})
#: a mammogram's view at the end of a name, after the breast's side (KAU-BCMD's ``D1_1_L_CC.jpg``, ``_R_MLO``)
MAMMOGRAPHY_VIEWS = frozenset({"cc", "mlo", "ml", "lm", "xccl", "xccm", "at", "fb", "sio"})
#: a mammogram's acquisition between its side and view (CDD-CESM's ``P1_L_DM_MLO.jpg``, low energy, beside
#: ``P1_L_CM_MLO.jpg``, the contrast-enhanced image of the same breast)
MAMMOGRAPHY_ACQUISITIONS = frozenset({"dm", "cm", "cesm", "ffdm", "dbt", "le", "sub", "rc"})
#: a name ending in a number with the side glued to it (CHASE_DB1's ``Image_01L``/``Image_01R``, a child's two eyes;
#: PAPILA's ``RET002OD``/``RET002OS``)
_GLUED_SIDE = re.compile(r"((?:[a-z]+[-_ ]?)?\d+)(?:l|r|od|os)", re.IGNORECASE)
#: a part of a name that names the person (Kermany's ``person1000_bacteria_2931.jpeg`` and
#: ``person1000_virus_1681.jpeg``: one child; the finding after it is no part of the patient)
_PERSON_PART = re.compile(r"(?:person|patient|subject)\d+", re.IGNORECASE)
_PERSON_WORDS = frozenset({"person", "patient", "subject"})


#: a BIDS file name's subject entity, first: BIMCV's ``sub-S03044_ses-E07430_run-1_bp-chest_vp-ap_dx.png`` (in
#: QaTa-COV19 and COVIDx), ISLES' ``sub-strokecase0001_ses-0001_dwi.nii.gz``
BIDS_KEY = "sub-"
_BIDS_SUBJECT = re.compile(r"^sub-([A-Za-z0-9]+)(?=_[A-Za-z]+-|_[A-Za-z0-9]+$|$)")


#: a BraTS 2023+ case name, ``BraTS-<cohort>-<patient>-<timepoint>`` (``BraTS-GLI-00002-001-t1c.nii.gz``): the
#: patient without its timepoint; like a BIDS subject, grouped whatever the other names say
_BRATS_CASE = re.compile(r"^(brats-[a-z]+-\d{5})-\d{3}(?:-|$)", re.IGNORECASE)
#: a C-NMC 2019 (leukaemia) cell's name, ``UID_<subject>_<image>_<cell>_<class>`` (``UID_11_10_1_all.bmp``,
#: ``UID_H10_43_1_hem.bmp``: the healthy subjects' ids start with H): the subject, whatever the other names say
_CNMC_CELL = re.compile(r"^(uid_h?\d+)_\d+_\d+_(?:all|hem)$", re.IGNORECASE)
#: a TCGA barcode's patient, ``TCGA-<site>-<participant>`` (BCSS' ``TCGA-A2-A0D0-DX1_xmin45749_ymin25055_MPP-0.2500
#: .png``, MoNuSAC's ``TCGA-55-1594-01Z-00-DX1_1.tif``: the slide and region after it are of the one patient)
_TCGA_PATIENT = re.compile(r"^(tcga-[a-z0-9]{2}-[a-z0-9]{4})(?=[-_.]|$)", re.IGNORECASE)
#: an HC18 fetal head image, ``<subject>_HC.png`` and the subject's further images ``<subject>_<n>HC.png``
#: (``010_HC.png``, ``010_2HC.png``: one fetus): the subject
_HC18_IMAGE = re.compile(r"^(\d{3})_\d*HC$", re.IGNORECASE)
HC18_KEY = "hc18-"
#: an OASIS session, ``OAS<release>_<subject>_MR<visit>`` (``OAS1_0004_MR2_mpr-1_anon.hdr``, the subject's rescan):
#: the subject
_OASIS_SESSION = re.compile(r"^(oas[1-4]_\d{4})_mr\d+(?=[-_.]|$)", re.IGNORECASE)
#: an IXI subject, ``IXI<3 digits>-<hospital>-<number>-<modality>`` (``IXI002-Guys-0828-T1.nii.gz``)
_IXI_SUBJECT = re.compile(r"^(ixi\d{3})-[a-z]+-\d+", re.IGNORECASE)
#: a DeepLesion key slice's name, ``<patient>_<study>_<series>_<slice>`` (``000001_01_01_109.png``; ULS23's
#: ``000004_01_01_107_lesion_01.nii.gz``): the 6-digit patient, whose several studies were split apart otherwise
_DEEPLESION_SLICE = re.compile(r"^(\d{6})_\d{2}_\d{2}_\d{3}(?:[_.-]|$)")
DEEPLESION_KEY = "deeplesion-"
#: a GRAZPEDWRI-DX radiograph, ``<patient>_<time hash>_<image>_WRI-<side><projection>_<sex><age in months>``
#: (``0001_1297860395_01_WRI-L1_M014.png``): the 4-digit patient, whose images were split apart otherwise
_GRAZPEDWRI_IMAGE = re.compile(r"^(\d{4})_\d{8,12}_\d{2}_wri-[lr]\d_[mf]\d{3}$", re.IGNORECASE)
#: a tile of a slide named by its position in the slide, after the slide's name (SICAPv2's
#: ``16B0018510_Block_Region_0_0_0_xini_6827_yini_59786.jpg``, ``<slide>_x1024_y2048.png``): the slide
_TILE_OF_SLIDE = re.compile(
    r"^(.+?)(?:[-_]block[-_]region[-_][\d_]+)?[-_](?:xini|xmin|x)[-_]?\d+[-_](?:yini|ymin|y)[-_]?\d+$", re.IGNORECASE
)
#: keys that name a patient by a convention, not by a guess: by their start, or whole (a generic key joins a name's
#: parts with hyphens, so ``TCGA_CS_4941_19960909_1.tif``'s ``tcga-cs-4941-19960909`` is none)
_CONVENTION_KEYS = (BIDS_KEY, "brats-", "uid_", DEEPLESION_KEY, HC18_KEY, "grazpedwri-")
_CONVENTION_KEY = re.compile(r"tcga-[a-z0-9]{2}-[a-z0-9]{4}|ixi\d{3}|oas[1-4]_\d{4}")
#: a modality's or an MR sequence's word in a file name (TopCoW's ``topcow_ct_001_0000.nii.gz`` beside
#: ``topcow_mr_001_0000.nii.gz``: one patient's CTA and MRA; SPIDER's ``1_t1.mha``, ``1_t2.mha``, ``1_t2_SPACE.mha``)
_MODALITY_WORD = re.compile(
    r"(?<![a-z0-9])(ct|cta|mr|mri|mra|pet|cbct|t2[_-]?space|t1|t2|t1w|t2w|t1c|t1ce|t1gd|flair|dwi|adc|pdw?|swi)"
    r"(?![a-z0-9])",
    re.IGNORECASE,
)


def _by_convention(key: str | None) -> bool:
    return key is not None and (key.startswith(_CONVENTION_KEYS) or _CONVENTION_KEY.fullmatch(key) is not None)


def named_by_convention(name: str) -> bool:
    """Whether a file's name names its patient by a set's convention (a BIDS subject, a TCGA or IXI patient, a
    BraTS or C-NMC one): :func:`group_by_name_patient` groups such names whatever the others say."""
    return _by_convention(name_key(name))


#: an augmented copy's mark after the image's name (MSLD v2.0's ``MKP_03_01_aug1.jpg``): about the copy, not the patient
_AUGMENTED_COPY = re.compile(r"aug(?:mented)?\d*", re.IGNORECASE)
#: an id long enough to name one patient across classes (OCT2017's ``CNV-1016042``); a shorter number after a
#: class's word counts that class's own patients from 1
_LONG_ID = re.compile(r"\d{4,}")
#: a counter of an image's copies or views after its own counter (two digits at most: not an id)
_SHORT_COUNTER = re.compile(r"\d{1,2}")


def name_key(name: str, folders: Collection[str] | None = None) -> str | None:
    """The patient part of a file name (see the module doc), or ``None``: ``CNV-1016042-1.jpeg`` -> ``1016042``
    (OCT2017 names an image ``<finding>-<patient>-<image>``: ``NORMAL-1016042-2.jpeg`` is the same patient),
    ``10_left.jpeg`` -> ``10``, ``ISIC_0024306.jpg`` -> ``None`` (no digit left); a camera's ``IMG`` part and what
    follows it are about the photograph (the NIH malaria cells' ``C100P61ThinF_IMG_20150918_144104_cell_162.png``
    -> ``c100p61thinf``: each patient's slide was photographed many times); a BIDS name's subject entity
    (``sub-S03044_ses-E07430_run-1_dx.png`` -> ``sub-s03044``); short counters of augmented copies after the image's
    (``M01_01_00.jpg`` -> ``m01``), and Kaggle's blood cells' ``_<copy>_<cell>.jpeg`` (-> the cell); a BraTS 2023
    case's patient (``BraTS-GLI-00002-001-t1c.nii.gz`` -> ``brats-gli-00002``, without the timepoint); a C-NMC
    cell's subject (``UID_H10_43_1_hem.bmp`` -> ``uid_h10``); a TCGA barcode's patient
    (``TCGA-A2-A0D0-DX1_xmin45749_ymin25055_MPP-0.2500.png`` -> ``tcga-a2-a0d0``); an IXI subject
    (``IXI002-Guys-0828-T1.nii.gz`` -> ``ixi002``); an HC18 subject (``010_2HC.png`` -> ``hc18-010``), an OASIS subject
    (``OAS1_0004_MR2_mpr-1_anon.hdr`` -> ``oas1_0004``); a slide's
    tile named by its position (``16B0018510_Block_Region_0_0_0_xini_6827_yini_59786.jpg`` -> ``16b0018510``); a
    DeepLesion slice's patient (``000004_01_01_107_lesion_01.nii.gz`` -> ``deeplesion-000004``); a GRAZPEDWRI-DX
    patient (``0001_1297860395_01_WRI-L1_M014.png`` -> ``grazpedwri-0001``).

    ``folders``: the (case-folded) folders the file lies in. Given, a first word is dropped as a finding only when a
    folder has its name (OCT2017's ``CNV/CNV-1016042-1.jpeg``): Shenzhen's ``CHNCXR_0001_0.png`` and Montgomery's
    ``MCUCXR_0001_0.png`` beside it in one folder are two patients."""
    stem = name.split(".", 1)[0]
    # a set's own naming of its patients: a TCGA patient's slides and regions, an IXI subject's sequences, a BraTS
    # patient's timepoints, a C-NMC subject's cells (of every image) are each one patient
    for convention in (_TCGA_PATIENT, _IXI_SUBJECT, _BRATS_CASE, _CNMC_CELL, _OASIS_SESSION):
        found = convention.match(stem)
        if found:
            return found.group(1).lower()
    hc18 = _HC18_IMAGE.match(stem)
    if hc18:
        return f"{HC18_KEY}{hc18.group(1)}"
    deeplesion = _DEEPLESION_SLICE.match(stem)
    if deeplesion:
        return f"{DEEPLESION_KEY}{deeplesion.group(1)}"
    wrist = _GRAZPEDWRI_IMAGE.match(stem)
    if wrist:
        return f"grazpedwri-{wrist.group(1)}"
    tile = _TILE_OF_SLIDE.match(stem)
    if tile and any(ch.isdigit() for ch in tile.group(1)):  # every tile of a slide: one patient's
        return tile.group(1).lower()
    bids = _BIDS_SUBJECT.match(stem)
    if bids:  # BIDS entities: the subject is the patient, the rest (session, run, view) is about the image
        return f"{BIDS_KEY}{bids.group(1).lower()}" if any(ch.isdigit() for ch in bids.group(1)) else None
    glued = _GLUED_SIDE.fullmatch(stem)
    if glued:  # an eye's or a breast's side after the number: CHASE_DB1's Image_01L, PAPILA's RET002OD -> the person
        return re.sub(r"[-_ ]+", "-", glued.group(1)).lower()
    parts = [p for p in re.split(r"[-_ ]+", stem) if p]
    if len(parts) > 2 and _AUGMENTED_COPY.fullmatch(parts[-1]):
        parts = parts[:-1]  # an augmented copy of the image before it (MSLD v2.0's MKP_03_01_aug1.jpg)
    if len(parts) > 2 and parts[-1].lower() in MAMMOGRAPHY_VIEWS:
        side = len(parts) - 3 if parts[-2].lower() in MAMMOGRAPHY_ACQUISITIONS else len(parts) - 2
        if side > 0 and parts[side].lower() in SIDES:  # KAU-BCMD's D1_1_L_CC -> d1-1, CDD-CESM's P1_L_DM_MLO -> p1
            key = "-".join(parts[:side]).lower()  # a breast's view after its side (and the acquisition's kind)
            return key if any(ch.isdigit() for ch in key) else None
    # a letter after a number names one of the case's images (BUS-BRA's bus_0001-l, bus_0001-r, bus_0002-s)
    lettered = len(parts) > 2 and len(parts[-1]) == 1 and parts[-1].isalpha() and parts[-2].isdigit()
    if len(parts) < 2 or not (parts[-1].isdigit() or parts[-1].lower() in SIDES or lettered):
        return None
    for index, part in enumerate(parts[:-1]):  # a part naming the person: what follows it is about the image
        joined = part + parts[index + 1] if part.lower() in _PERSON_WORDS and parts[index + 1].isdigit() else part
        if _PERSON_PART.fullmatch(joined):
            return joined.lower()
    if stem.startswith("_") and len(parts) == 2 and all(p.isdigit() for p in parts):
        return parts[1]  # Kaggle's blood cells: _<augmentation>_<cell>.jpeg, 25 turns and flips of one cell
    kept = parts[:-1]
    while len(kept) > 1 and _SHORT_COUNTER.fullmatch(kept[-1]) and any(ch.isdigit() for ch in "".join(kept[:-1])):
        kept = kept[:-1]  # the Monkeypox set's augmented M01_01_00.jpg: patient M01, image 01, copy 00
    lowered = [p.lower() for p in kept]
    if "img" in lowered[1:]:  # a camera's IMG_<date>_<time> after the slide (the malaria cells' C100P61ThinF_IMG_...)
        kept = kept[: lowered.index("img", 1)]
    finding = folders is None or kept[0].casefold() in folders  # a word a class folder has: OCT2017's CNV/CNV-...
    if len(kept) > 1 and kept[0].isalpha() and finding and _LONG_ID.search("".join(kept[1:])):
        kept = kept[1:]  # a word before the id names the finding, not the patient (OCT2017's CNV-, DME-, NORMAL-);
        # not before a short number, which counts the class's own patients (MSLD v2.0's HFMD_01_01, HEALTHY_01_01)
    codes = {word for folder in folders or () for word in re.split(r"[-_ .]+", folder) if word.isalpha()}
    coded = [p for p in kept[1:] if p.isalpha() and p.casefold() in codes]
    if coded:  # a class's code after the id (BRACS' 0_N/BRACS_1003_N_1.png, 3_FEA/BRACS_1003_FEA_2.png: one patient)
        kept = [kept[0], *(p for p in kept[1:] if p not in coded)]
    key = "-".join(kept).lower()
    return key if any(ch.isdigit() for ch in key) else None


def _modality_pairs(names: Sequence[str]) -> dict[int, str]:
    """The names (by index) that differ from another only by a modality's word (TopCoW's ``topcow_ct_001_0000`` and
    ``topcow_mr_001_0000``: one patient scanned twice), each with the name without that word as its patient key."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for index, name in enumerate(names):
        stem = name.split(".", 1)[0]
        found = _MODALITY_WORD.search(stem)
        if found is not None and any(ch.isdigit() for ch in stem):
            before, after = stem[: found.start()].rstrip("_- ."), stem[found.end() :].lstrip("_- .")
            key = "_".join(part for part in (before, after) if part).lower()
            groups.setdefault(key, []).append((index, found.group(1).lower()))
    return {
        index: key
        for key, members in groups.items()
        if len({modality for _, modality in members}) > 1
        for index, _ in members
    }


def _is_a_file(case: Case | SegCase) -> bool:
    """Whether a case is a file of its own (its name may name the patient), not an array's item or a stack's page."""
    if isinstance(case, SegCase):
        return case.page is None
    return case.path is not None and case.index is None


def group_by_name_patient(cases: Sequence[CaseT], root: Path | str = "") -> list[CaseT]:
    """``cases`` with a ``patient_id`` from their file names when no case has a patient yet and the names carry
    patient ids (see the module doc); unchanged otherwise."""
    if not cases or any(c.patient_id for c in cases) or not all(map(_is_a_file, cases)):
        return list(cases)
    keys = [name_key(Path(c.case_id).name, {f.casefold() for f in Path(c.case_id).parent.parts}) for c in cases]
    paired = _modality_pairs([Path(c.case_id).name for c in cases])  # one patient's CT and MR
    keys = [paired.get(index, key) for index, key in enumerate(keys)]
    named = [k for k in keys if k is not None]
    counts = Counter(named)
    if (
        len(named) < 0.9 * len(cases)
        or len(counts) < MIN_GROUPS
        or len(counts) > 0.8 * len(named)
        or max(counts.values()) > max(10, MAX_GROUP_SHARE * len(named))
    ):
        # a BIDS subject is a patient whatever the other names say (QaTa-COV19 mixes BIMCV's sub-S03044_... images
        # among its covid_1.png...), as is a BraTS patient (most have one timepoint) and the scans of one name in
        # two modalities: those are grouped alone
        keys = [k if _by_convention(k) or k in paired.values() else None for k in keys]
        counts = Counter(k for k in keys if k is not None)
        if not counts or max(counts.values()) < 2:
            return list(cases)
    example, example_key = next((c, k) for c, k in zip(cases, keys, strict=True) if k is not None and counts[k] > 1)
    logger.info(
        "%s: images grouped by the patient in their file names (%d patients for %d images, e.g. %s -> %s): a "
        "split medimg makes keeps one patient's images on one side; give a patient_id column to group them otherwise",
        root,
        len(counts),
        len(cases),
        Path(example.case_id).name,
        example_key,
    )
    return [replace(c, patient_id=f"name-{k}") if k is not None else c for c, k in zip(cases, keys, strict=True)]


#: a folder of an image's path that names its patient: CheXpert's ``train/patient00001/study1/view1_frontal.jpg``,
#: MIMIC-CXR's ``p10/p10000032/s50414267/``, BIDS' ``sub-01``
_PATIENT_FOLDER = re.compile(r"(?:patient|subject|sub)[_-]?\d+|p\d{8}", re.IGNORECASE)
#: a folder named for a numbered case after the set's name (the osteosarcoma set's ``Training-Set-1/Set1_Case1/``):
#: a patient when the table's images lie in them
_CASE_FOLDER = re.compile(r"(?:[a-z0-9]+[_-])?case[_-]?\d+", re.IGNORECASE)


def patient_in_path(raw_path: str) -> str | None:
    """The patient an image's path names by a folder (``CheXpert-v1.0-small/train/patient00001/study1/
    view1_frontal.jpg`` -> ``patient00001``): the innermost folder named like one, never the file's own name;
    ``None`` for none."""
    folders = [part for part in re.split(r"[/\\]", raw_path.strip()) if part][:-1]
    named = [part for part in folders if _PATIENT_FOLDER.fullmatch(part)]
    return named[-1] if named else None


def _case_folder(case: Case, base: Path | None) -> str | None:
    """The folder of numbered cases holding ``case``'s file under ``base`` (:data:`_CASE_FOLDER`), as its path from
    ``base``; ``None`` for none."""
    if base is None or case.path is None or base not in case.path.parents:
        return None
    folders = case.path.relative_to(base).parts[:-1]
    named = [i for i, part in enumerate(folders) if _CASE_FOLDER.fullmatch(part)]
    return "/".join(folders[: named[-1] + 1]) if named else None


def patients_from_folders(cases: list[Case], where: object, base: Path | None = None) -> list[Case]:
    """``cases`` with the patient their paths name by a folder (:func:`patient_in_path`) when none has a patient
    and every path names one (CheXpert's ``patient00001/study1/``: its table has no patient column, and split image
    by image one patient's studies and views would straddle train/val/test), else the folder of numbered cases
    holding each image under ``base`` (a table naming its images without folders: the osteosarcoma set's
    ``ML_Features_1144.csv`` of ``Case 1 - P1 - 0.jpg`` in ``Training-Set-1/Set1_Case1/``); unchanged otherwise."""
    if not cases or any(c.patient_id for c in cases):
        return cases
    found: list[str | None] = [patient_in_path(c.case_id) for c in cases]
    if not all(found):
        found = [_case_folder(c, base) for c in cases]
        if len(set(found)) == len(found):
            return cases  # a folder per image: no patients to keep
    if not all(found):
        return cases
    logger.info(
        "%s: patients from the folders of the image paths (%d patients for %d images, e.g. %s -> %s): a split medimg "
        "makes keeps one patient's images on one side",
        where,
        len(set(found)),
        len(cases),
        cases[0].case_id,
        found[0],
    )
    return [replace(c, patient_id=patient) for c, patient in zip(cases, found, strict=True)]
