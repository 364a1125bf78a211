"""One folder of masks per structure beside the images (IDRiD, JSRT's SCR masks): the structures are classes,
composed into one label map per image. IDRiD was read as two classes, ``1. Original Images`` and ``2. All
Segmentation Groundtruths``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import select_layout

STRUCTURES = (("1. Microaneurysms", "MA"), ("2. Haemorrhages", "HE"), ("5. Optic Disc", "OD"))


def write_idrid(root: Path) -> Path:
    """IDRiD's segmentation part: structure ``k`` marks rows ``4k..4k+3`` in red; image 2 has no haemorrhage."""
    seg = root / "A. Segmentation"
    for split, numbers in (("a. Training Set", (1, 2, 3)), ("b. Testing Set", (55,))):
        for i in numbers:
            image = seg / "1. Original Images" / split / f"IDRiD_{i:02d}.jpg"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 20, 3), 40 + i, np.uint8)).save(image)
            for k, (folder, code) in enumerate(STRUCTURES):
                if i == 2 and code == "HE":
                    continue
                mask = seg / "2. All Segmentation Groundtruths" / split / folder / f"IDRiD_{i:02d}_{code}.tif"
                mask.parent.mkdir(parents=True, exist_ok=True)
                red = np.zeros((16, 20, 3), np.uint8)
                red[4 * k : 4 * k + 4, 2:9, 0] = 255
                Image.fromarray(red).save(mask)
    return root


def test_idrid_structure_folders_are_classes(tmp_path: Path) -> None:
    root = write_idrid(tmp_path / "idrid")
    assert select_layout(root).name == "structure_folders"
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset)
    assert dataset.value_names == {0: "background", 1: "Haemorrhages", 2: "Microaneurysms", 3: "Optic Disc"}
    assert [(Path(c.case_id).name, c.split) for c in dataset.cases] == [
        ("IDRiD_01.jpg", "train"), ("IDRiD_02.jpg", "train"), ("IDRiD_03.jpg", "train"), ("IDRiD_55.jpg", "test"),
    ]  # fmt: skip
    rows = [int(dataset.read(dataset.cases[0]).mask[0, 4 * k + 1, 3]) for k in range(3)]
    assert rows == [2, 1, 3]  # microaneurysms, haemorrhages, optic disc by their rows
    assert int(dataset.read(dataset.cases[1]).mask[0, 5, 3]) == 0  # image 2 has no haemorrhage


def test_overlapping_structures_are_warned_of_naming_what_each_loses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """IDRiD's optic disc drawn over a haemorrhage: one label map keeps the later structure's class there, and the
    haemorrhage's pixels were lost without a word (check said OK)."""
    root = write_idrid(tmp_path / "idrid")
    disc = root / "A. Segmentation" / "2. All Segmentation Groundtruths" / "a. Training Set" / "5. Optic Disc"
    red = np.zeros((16, 20, 3), np.uint8)
    red[4:12, 2:9, 0] = 255  # rows 4..7 are the haemorrhage's (structure 1), 8..11 the disc's own
    Image.fromarray(red).save(disc / "IDRiD_01_OD.tif")
    dataset = Dataset.load(root)
    with caplog.at_level("WARNING"):
        mask = dataset.read(dataset.cases[0]).mask
    assert int(mask[0, 5, 3]) == 3  # the disc's class, as before
    assert (
        "IDRiD_01_OD.tif overlaps other structure masks of its image (28 of 2. Haemorrhages/IDRiD_01_HE.tif pixels)"
        in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING"):
        dataset.read(dataset.cases[2])  # no overlap
    assert "overlaps" not in caplog.text


def test_jsrt_scr_masks_and_montgomery_parts(tmp_path: Path) -> None:
    """SCR: ``masks/heart/JPCLN001.gif`` named as the image: a class per folder. Montgomery's
    ``ManualMask/leftMask`` + ``rightMask`` name themselves masks: parts of one mask, the pairs' layout reads them."""
    for name in ("JPCLN001", "JPCLN002"):
        Image.fromarray(np.full((12, 12), 90, np.uint8)).save(_made(tmp_path / "jsrt" / "images" / f"{name}.png"))
        for k, structure in enumerate(("heart", "left lung", "right lung")):
            mask = np.zeros((12, 12), np.uint8)
            mask[k * 4 : k * 4 + 3, 2:6] = 255
            Image.fromarray(mask).save(_made(tmp_path / "jsrt" / "masks" / structure / f"{name}.gif"))
            if k:
                side = "leftMask" if k == 1 else "rightMask"
                Image.fromarray(mask).save(_made(tmp_path / "mc" / "ManualMask" / side / f"{name}.png"))
        Image.fromarray(np.full((12, 12), 90, np.uint8)).save(_made(tmp_path / "mc" / "CXR_png" / f"{name}.png"))
    jsrt = Dataset.load(tmp_path / "jsrt")
    assert jsrt.value_names == {0: "background", 1: "heart", 2: "left lung", 3: "right lung"}
    assert select_layout(tmp_path / "mc").name == "image_mask_pairs"


def _made(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_predicting_the_set_leaves_the_structure_masks_out(tmp_path: Path) -> None:
    from medimg.data.layouts.image_mask_pairs import annotation_files

    root = write_idrid(tmp_path / "idrid")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    left = annotation_files(files, root)
    assert len(left) == 11 and all("Groundtruths" in str(p) for p in left)


def test_ddr_lesion_folders_under_label_are_classes_and_the_grading_images_are_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """DDR: ``lesion_segmentation/{train,valid,test}/image/<id>.jpg`` + ``label/{EX,HE,MA,SE}/<id>.tif``: the four
    lesions were merged into one "foreground" (``--task segment``, status OK), haemorrhages dropped as another
    observer's; beside ``DR_grading/``, its 60 graded images were left out without a word."""
    root = tmp_path / "DDR-dataset"
    for first, (split, count) in enumerate((("train", 4), ("valid", 2), ("test", 2))):
        for i in range(count):
            name = f"007-{3000 + 100 * first + i}-100"
            image = np.full((16, 16, 3), 60 + i, np.uint8)
            Image.fromarray(image).save(_made(root / "lesion_segmentation" / split / "image" / f"{name}.jpg"))
            for k, lesion in enumerate(("EX", "HE", "MA", "SE")):
                mask = np.zeros((16, 16), np.uint8)
                mask[3 * k : 3 * k + 2, 2:6] = 255
                Image.fromarray(mask).save(
                    _made(root / "lesion_segmentation" / split / "label" / lesion / f"{name}.tif")
                )
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(
            _made(root / "DR_grading" / split / "007-0000-100.jpg")
        )
    lesions = Dataset.load(root / "lesion_segmentation")
    assert lesions.task == "segment" and len(lesions) == 8
    assert lesions.value_names == {0: "background", 1: "EX", 2: "HE", 3: "MA", 4: "SE"}
    with caplog.at_level("INFO"):
        Dataset.load(root)
    assert "3 image(s) have no mask and are not used (e.g. DR_grading/" in caplog.text
