"""The class names of the BraTS glioma challenges' label maps, for a set read from its own folders (no
``dataset.json``): a BraTS case is a folder of four MR modality files beside its segmentation, which
:mod:`.image_mask_pairs` reads as one case of four channels.

The modalities tell the editions apart, and so the meaning of the label values:

- 2017-2021 (``<case>_flair``, ``_t1``, ``_t1ce``, ``_t2`` beside ``<case>_seg``): 1 necrotic tumour core (NCR), 2
  peritumoral oedema (ED), 4 GD-enhancing tumour (ET); 3 is not used (kept as an empty class so that predicted masks
  keep the value 4, see :func:`medimg.tasks.segment.labels.determine_label_encoding`);
- 2023 and later (``<case>-t1c``, ``-t1n``, ``-t2f``, ``-t2w`` beside ``<case>-seg``): 1 non-enhancing tumour core
  (NETC), 2 surrounding non-enhancing FLAIR hyperintensity (SNFH), 3 enhancing tumour (ET).

Reference: Baid et al. 2021, "The RSNA-ASNR-MICCAI BraTS 2021 Benchmark on Brain Tumor Segmentation and Radiogenomic
Classification" (arXiv:2107.02314); the BraTS 2023 challenge's data description.
"""

from __future__ import annotations

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
#: each edition's modality names (a case's channel files, told apart by what follows the case name)
EDITIONS = {
    frozenset({"flair", "t1", "t1ce", "t2"}): BRATS_2021,
    frozenset({"t1c", "t1n", "t2f", "t2w"}): BRATS_2023,
}


def _modalities(case: SegCase) -> frozenset[str]:
    """What tells the case's channel files apart, without the file suffix (``flair``, ``t1``...)."""
    files = [case.image, *case.channels]
    return frozenset(name[: len(name) - len(file_suffix(name))].lower() for name in channel_suffixes(files))


def brats_value_names(cases: Sequence[SegCase], root: Path) -> dict[int, str]:
    """``{label value: class name}`` when the cases are BraTS cases of one edition (four modality files each) and
    ``root`` has no ``dataset.json`` naming the labels (the user's own names win), else ``{}`` (the
    ``dataset.json``, or generic names, apply). The cases' channel files are named alike (``image_mask_pairs``
    checks that before), so the first case tells the edition."""
    if not cases or not all(case.channels for case in cases):
        return {}
    edition = EDITIONS.get(_modalities(cases[0]))
    from medimg.data.layouts.mask_boxes import read_label_map  # (it reads image_mask_pairs, which reads this)

    return {} if edition is None or read_label_map(root) else dict(edition)
