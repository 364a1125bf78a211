"""The class names of challenge sets' label maps, for a set read from its own folders (no ``dataset.json``), where
the files alone say which set it is; generic names (``class_1``...) otherwise.

BraTS (glioma): a case is a folder of four MR modality files beside its segmentation, which :mod:`.image_mask_pairs`
reads as one case of four channels. The modalities tell the editions apart, and so the meaning of the label values:

- 2017-2021 (``<case>_flair``, ``_t1``, ``_t1ce``, ``_t2`` beside ``<case>_seg``): 1 necrotic tumour core (NCR), 2
  peritumoral oedema (ED), 4 GD-enhancing tumour (ET); 3 is not used (kept as an empty class so that predicted masks
  keep the value 4, see :func:`medimg.tasks.segment.labels.determine_label_encoding`);
- 2023 and later (``<case>-t1c``, ``-t1n``, ``-t2f``, ``-t2w`` beside ``<case>-seg``): 1 non-enhancing tumour core
  (NETC), 2 surrounding non-enhancing FLAIR hyperintensity (SNFH), 3 enhancing tumour (ET).

Reference: Baid et al. 2021, "The RSNA-ASNR-MICCAI BraTS 2021 Benchmark on Brain Tumor Segmentation and Radiogenomic
Classification" (arXiv:2107.02314); the BraTS 2023 challenge's data description.

KiTS (kidney tumours, ``case_00000/imaging.nii.gz`` + ``segmentation.nii.gz``): 1 kidney, 2 tumour; KiTS21 and KiTS23
add 3 cyst (KiTS19's masks hold no 3, so its classes stay kidney and tumour). Heller et al. 2021, "The state of the
art in kidney and kidney tumor segmentation in contrast-enhanced CT imaging: Results of the KiTS19 challenge"
(Medical Image Analysis 67); the KiTS23 data description.

HECKTOR 2022 (head and neck PET/CT, ``imagesTr/CHUM-001__CT.nii.gz`` + ``__PT.nii.gz``, ``labelsTr/CHUM-001.nii.gz``):
1 primary gross tumour volume (GTVp), 2 nodal gross tumour volumes (GTVn). Andrearczyk et al. 2023, "Overview of the
HECKTOR Challenge at MICCAI 2022" (LNCS 13626).

RETOUCH (retinal OCT fluid, ``<vendor>/TRAIN001/oct.mhd`` + ``reference.mhd``): 1 intraretinal fluid (IRF), 2
subretinal fluid (SRF), 3 pigment epithelial detachment (PED). Bogunovic et al. 2019, "RETOUCH: The Retinal OCT
Fluid Detection and Segmentation Benchmark and Challenge" (IEEE TMI 38(8)).

CTPelvic1K (pelvic CT, ``<set>_data/<case>_data.nii.gz`` + ``<set>_mask/<case>_mask_4label.nii.gz``): 1 sacrum, 2
left hip, 3 right hip, 4 lumbar spine. Liu et al. 2021, "Deep Learning to Segment Pelvic Bones: Large-scale CT
Datasets and Baseline Models" (IJCARS 16). The sides are named so that no left-right flip is trained
(:mod:`medimg.planning`: classes that name a side).

ACDC (cardiac cine MRI, ``patient001/patient001_frame01.nii.gz`` + ``_gt``): 1 right ventricular cavity, 2
myocardium, 3 left ventricular cavity. Bernard et al. 2018, "Deep Learning Techniques for Automatic MRI Cardiac
Multi-Structures Segmentation and Diagnosis: Is the Problem Solved?" (IEEE TMI 37(11)).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from medimg.data.case import SegCase
from medimg.io.channels import channel_suffixes
from medimg.io.formats import file_suffix

#: BraTS 2017-2021's label values (3 is not used)
BRATS_2021 = {
    0: "background",
    1: "necrotic tumour core (NCR)",
    2: "peritumoral oedema (ED)",
    3: "class_3",
    4: "enhancing tumour (ET)",
}
#: BraTS 2023's label values
BRATS_2023 = {
    0: "background",
    1: "non-enhancing tumour core (NETC)",
    2: "surrounding FLAIR hyperintensity (SNFH)",
    3: "enhancing tumour (ET)",
}
#: KiTS19's, KiTS21's and KiTS23's label values
KITS = {0: "background", 1: "kidney", 2: "tumour", 3: "cyst"}
#: HECKTOR 2022's label values
HECKTOR = {0: "background", 1: "primary tumour (GTVp)", 2: "lymph nodes (GTVn)"}
#: CTPelvic1K's label values
CTPELVIC1K = {0: "background", 1: "sacrum", 2: "left hip", 3: "right hip", 4: "lumbar spine"}
#: RETOUCH's label values
RETOUCH = {
    0: "background",
    1: "intraretinal fluid (IRF)",
    2: "subretinal fluid (SRF)",
    3: "pigment epithelial detachment (PED)",
}
#: ACDC's label values
ACDC = {0: "background", 1: "right ventricle (RV)", 2: "myocardium (MYO)", 3: "left ventricle (LV)"}
#: a KiTS case's volume (in its case folder) and an ACDC frame, by name
_KITS_IMAGE = re.compile(r"case_\d{5}/imaging\.nii(\.gz)?")
_ACDC_IMAGE = re.compile(r"patient\d{3}_frame\d{2}\.nii(\.gz)?")
#: a CTPelvic1K mask
_CTPELVIC_MASK = re.compile(r".+_mask_4label\.nii(\.gz)?")
#: a RETOUCH case's OCT volume (in its case folder)
_RETOUCH_IMAGE = re.compile(r"TRAIN\d{3}/oct\.mhd")
#: a HECKTOR case's CT (``<centre>-<number>__CT``), the first of its two channels
_HECKTOR_IMAGE = re.compile(r"[A-Z]+-\d+__CT\.nii(\.gz)?")
#: each edition's modality names (a case's channel files, told apart by what follows the case name)
EDITIONS = {
    frozenset({"flair", "t1", "t1ce", "t2"}): BRATS_2021,
    frozenset({"t1c", "t1n", "t2f", "t2w"}): BRATS_2023,
}


def _modalities(case: SegCase) -> frozenset[str]:
    """What tells the case's channel files apart, without the file suffix (``flair``, ``t1``...)."""
    files = [case.image, *case.channels]
    return frozenset(name[: len(name) - len(file_suffix(name))].lower() for name in channel_suffixes(files))


def challenge_value_names(cases: Sequence[SegCase], root: Path) -> dict[int, str]:
    """``{label value: class name}`` when every case is a case of one challenge set, told by its files
    (:func:`_challenge_names`), and ``root`` has no ``dataset.json`` naming the labels (the user's own names win),
    else ``{}`` (the ``dataset.json``, or generic names, apply)."""
    names = _challenge_names(cases)
    if not names:
        return {}
    from medimg.data.layouts.mask_boxes import read_label_map  # (it reads image_mask_pairs, which reads this)

    return {} if read_label_map(root) else dict(names)


def _challenge_names(cases: Sequence[SegCase]) -> dict[int, str] | None:
    """BraTS's names for cases of four modality files of one edition (their channel files are named alike,
    ``image_mask_pairs`` checks that before, so the first case tells the edition); HECKTOR's for ``<centre>-<n>__CT``
    images with their PET; KiTS's for ``imaging`` volumes in ``case_<5 digits>`` folders; ACDC's for
    ``patient<3 digits>_frame<2 digits>`` volumes; RETOUCH's for ``TRAIN<3 digits>/oct.mhd``; CTPelvic1K's for
    ``<case>_mask_4label`` masks."""
    if not cases:
        return None
    if all(case.channels for case in cases):
        if all(_HECKTOR_IMAGE.fullmatch(case.image.name) for case in cases):
            return HECKTOR
        return EDITIONS.get(_modalities(cases[0]))
    if all(_KITS_IMAGE.fullmatch(f"{case.image.parent.name}/{case.image.name}") for case in cases):
        return KITS
    if all(_ACDC_IMAGE.fullmatch(case.image.name) for case in cases):
        return ACDC
    if all(_RETOUCH_IMAGE.fullmatch(f"{case.image.parent.name}/{case.image.name}") for case in cases):
        return RETOUCH
    if all(case.mask is not None and _CTPELVIC_MASK.fullmatch(case.mask.name) for case in cases):
        return CTPELVIC1K
    return None
