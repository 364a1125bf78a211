"""BrEaST (breast ultrasound, Pawłowska et al. 2024) as downloaded: one folder ``BrEaST-Lesions_USG-images_and_masks/``
holding ``case001.png`` beside its tumour mask ``case001_tumor.png`` and, for some cases, ``case004_other.png`` (other
findings' masks), and a clinical workbook whose ``Diagnosis`` (a histology, ``not applicable`` for normal scans) sits
beside ``Classification`` (benign, malignant, normal).

Was: the folder was read as a folder of masks for its last word (all files masks, a refusal quoting "vs image -"),
``_tumor`` named no mask, and the table's classes were the histologies with ``not applicable`` a class of its own."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset

_CLASSES = ("benign", "malignant", "normal")
_DIAGNOSES = {"benign": "Fibroadenoma", "malignant": "Invasive ductal carcinoma", "normal": "not applicable"}


def _breast(root: Path, n: int = 12) -> Path:
    folder = root / "BrEaST-Lesions_USG-images_and_masks"
    folder.mkdir(parents=True)
    rows = []
    for i in range(1, n + 1):
        cls = _CLASSES[i % 3]
        image = np.full((16, 16), 40, np.uint8)
        mask = np.zeros((16, 16), np.uint8)
        if cls != "normal":
            image[4:10, 4:10] = 200
            mask[4:10, 4:10] = 255
        Image.fromarray(image).save(folder / f"case{i:03d}.png")
        Image.fromarray(mask).save(folder / f"case{i:03d}_tumor.png")
        other = None
        if i % 4 == 0:
            Image.fromarray(np.full((16, 16), 255, np.uint8)).save(folder / f"case{i:03d}_other.png")
            other = f"case{i:03d}_other.png"
        diagnosis = "Phyllodes tumor" if i == 1 else _DIAGNOSES[cls]  # a histology of one case
        rows.append([f"case{i:03d}", f"case{i:03d}.png", f"case{i:03d}_tumor.png", other, 45, diagnosis, cls])
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["CaseID", "Image_filename", "Mask_tumor_filename", "Mask_other_filename", "Age", "Diagnosis",
                  "Classification"])  # fmt: skip
    for row in rows:
        sheet.append(row)
    table = root / "BrEaST-Lesions-USG-clinical-data-Dec-15-2023.xlsx"
    book.save(table)
    return table


def test_each_image_is_paired_with_its_tumour_mask_in_the_images_and_masks_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _breast(tmp_path)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 12
    assert all(c.mask.name == c.image.name.replace(".png", "_tumor.png") for c in dataset.cases)
    assert not dataset.unlabelled and not dataset.unpaired  # the other findings' masks are no images
    said = [r.getMessage() for r in caplog.records if "further annotations" in r.getMessage()]
    assert said and "3 file(s)" in said[0] and "case004_other.png beside case004.png" in said[0]


def test_the_table_gives_the_classification_over_a_diagnosis_with_placeholders_and_single_cases(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = _breast(tmp_path)
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(table)
    assert sorted(dataset.class_names) == sorted(_CLASSES)
    assert any("not from 'Diagnosis'" in r.getMessage() for r in caplog.records)
    chosen = Dataset.load(table, label_column="Diagnosis")  # still there when asked for
    assert "not applicable" in chosen.class_names and "Phyllodes tumor" in chosen.class_names
