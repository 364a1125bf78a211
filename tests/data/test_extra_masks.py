"""Several mask files of one image (BUSI's ``benign (4)_mask.png`` + ``benign (4)_mask_1.png``, one per lesion) are
one ground truth: the further masks are merged into the first on read, for segmentation and for boxes from masks,
instead of being read as images without a mask (the second lesion was silently background)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError


def _busi(root: Path) -> None:
    """Two classes of ``<class> (<i>).png`` with ``_mask.png`` beside each; image 2 of each class has a second
    lesion in ``_mask_1.png``."""
    for cls in ("benign", "malignant"):
        folder = root / cls
        folder.mkdir(parents=True)
        for i in range(1, 4):
            Image.fromarray(np.full((12, 16, 3), 40, np.uint8)).save(folder / f"{cls} ({i}).png")
            first = np.zeros((12, 16), np.uint8)
            first[1:4, 1:4] = 255
            Image.fromarray(first).save(folder / f"{cls} ({i})_mask.png")
            if i == 2:
                second = np.zeros((12, 16), np.uint8)
                second[7:10, 10:14] = 255
                Image.fromarray(second).save(folder / f"{cls} ({i})_mask_1.png")


def test_a_second_mask_of_one_image_is_merged_into_its_ground_truth(tmp_path: Path) -> None:
    _busi(tmp_path)
    dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 6 and not dataset.unlabelled and not dataset.unpaired
    case = next(c for c in dataset.cases if c.image.name == "benign (2).png")
    assert case.mask.name == "benign (2)_mask.png"
    assert [p.name for p in case.extra_masks] == ["benign (2)_mask_1.png"]
    mask = dataset.read(case).mask[0]
    assert (mask > 0).sum() == 9 + 12  # both lesions
    single = next(c for c in dataset.cases if c.image.name == "benign (1).png")
    assert single.extra_masks == () and (dataset.read(single).mask[0] > 0).sum() == 9


def test_boxes_from_masks_see_both_lesions(tmp_path: Path) -> None:
    _busi(tmp_path)
    dataset = Dataset.load(tmp_path, task="detect", layout="mask_boxes")
    boxes = {c.path.name: len(c.boxes or ()) for c in dataset.cases}
    assert boxes["benign (2).png"] == 2 and boxes["benign (1).png"] == 1
    # `medimg fit BUSI --task detect` without naming the layout: "is not a YOLO folder" before
    asked = Dataset.load(tmp_path, task="detect")
    assert {c.path.name: len(c.boxes or ()) for c in asked.cases} == boxes
    assert Dataset.load(tmp_path).task == "classify"  # without a task: the classes, as before


def test_a_further_mask_of_another_size_is_an_error_naming_it(tmp_path: Path) -> None:
    _busi(tmp_path)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "benign" / "benign (2)_mask_1.png")
    dataset = Dataset.load(tmp_path, task="segment")
    case = next(c for c in dataset.cases if c.image.name == "benign (2).png")
    with pytest.raises(DatasetError, match=r"benign \(2\)_mask_1\.png has size"):
        dataset.read(case)


def test_a_further_mask_without_a_first_one_is_reported_unpaired(tmp_path: Path) -> None:
    _busi(tmp_path)
    (tmp_path / "benign" / "benign (2)_mask.png").unlink()
    dataset = Dataset.load(tmp_path, task="segment")
    assert dataset.unpaired == ["benign/benign (2)_mask_1.png"]
    assert dataset.unlabelled == ["benign/benign (2).png"]


def _palm(root: Path, lesion_folder: str) -> None:
    """PALM: ``PALM-Training400/P0001.jpg`` with ``Annotation-D&F/Disc_Masks/P0001.bmp`` and, for some images, a
    mask in ``Annotation-Lession/Lesion_Masks/<lesion_folder>/P0001.bmp``."""
    for i in range(1, 7):
        name = f"P{i:04d}"
        (root / "PALM-Training400").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 16, 3), 20 * i, np.uint8)).save(root / "PALM-Training400" / f"{name}.jpg")
        for folder, rows in (("PALM-Training400-Annotation-D&F/Disc_Masks", slice(1, 4)), (lesion_folder, slice(6, 9))):
            if folder == lesion_folder and i > 3:
                continue
            mask = np.zeros((12, 16), np.uint8)
            mask[rows, 2:6] = 255
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(root / folder / f"{name}.bmp")


def test_further_masks_in_a_folder_named_for_another_structure_are_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PALM's atrophy masks were merged into the optic disc's as one foreground class, said at INFO only; a second
    folder named as masks (SCR's ``rightMask/`` beside ``leftMask/``: both lungs) is merged without a warning."""
    _palm(tmp_path / "palm", "PALM-Training400-Annotation-Lession/Lesion_Masks/Atrophy")
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(tmp_path / "palm", task="segment")
    assert sum(len(c.extra_masks) for c in dataset.cases) == 3
    assert "3 further mask file(s) in PALM-Training400-Annotation-Lession/Lesion_Masks/Atrophy/ are read" in (
        caplog.text
    )
    assert "--exclude 'PALM-Training400-Annotation-Lession/Lesion_Masks/Atrophy/*'" in caplog.text
    caplog.clear()
    _palm(tmp_path / "lungs", "PALM-Training400-Annotation-Lession/rightMask")
    with caplog.at_level("WARNING"):
        Dataset.load(tmp_path / "lungs", task="segment")
    assert "further mask file(s) in" not in caplog.text


def test_segpc_x_and_y_folders_with_a_mask_per_cell(tmp_path: Path) -> None:
    """SegPC 2021: ``train/x/106.bmp`` beside ``train/y/106_1.bmp``, ``106_2.bmp`` (one mask per cell: 20 cytoplasm,
    40 nucleus), ``validation/`` the same. Was: classes "x" and "y"; with ``--task segment`` "found 52 images but no
    masks", then "no image has a mask with a matching name"."""
    for split, first in (("train", 106), ("validation", 300)):
        for number in range(first, first + 3):
            (tmp_path / split / "x").mkdir(parents=True, exist_ok=True)
            (tmp_path / split / "y").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / split / "x" / f"{number}.bmp")
            for cell, (top, left) in enumerate(((1, 1), (9, 9)), start=1):
                mask = np.zeros((16, 16), np.uint8)
                mask[top : top + 5, left : left + 5] = 20
                mask[top + 1 : top + 4, left + 1 : left + 4] = 40
                Image.fromarray(mask).save(tmp_path / split / "y" / f"{number}_{cell}.bmp")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and dataset.split_counts() == {"train": 3, "val": 3}
    case = next(c for c in dataset.cases if c.image.name == "106.bmp")
    assert case.mask.name == "106_1.bmp" and [p.name for p in case.extra_masks] == ["106_2.bmp"]
    labels = np.asarray(dataset.read(case).mask).reshape(16, 16)
    assert labels[2, 2] == labels[10, 10] != 0 and labels[1, 1] == labels[9, 9] != 0 and labels[0, 0] == 0


def test_msk_folders_and_the_plainly_named_one_first(tmp_path: Path) -> None:
    """MedSeg's COVID-19 CT set: ``rp_im/1.nii.gz`` beside ``rp_msk/1.nii.gz`` (the infection classes, the reference)
    and ``rp_lung_msk/1.nii.gz`` (the lungs). Was: "found 27 images but no masks" ("msk" named no mask folder)."""
    import nibabel as nib

    for i in range(1, 5):
        image = np.zeros((12, 12, 4), np.int16)
        lungs, infection = np.zeros((12, 12, 4), np.uint8), np.zeros((12, 12, 4), np.uint8)
        lungs[1:11, 1:11] = 1
        infection[3:6, 3:6] = 1
        infection[7:9, 7:9] = 2
        for folder, data in (("rp_im", image), ("rp_lung_msk", lungs), ("rp_msk", infection)):
            (tmp_path / folder).mkdir(exist_ok=True)
            nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / folder / f"{i}.nii.gz")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 4
    assert all(c.mask.parent.name == "rp_msk" for c in dataset.cases)
    assert all([p.parent.name for p in c.extra_masks] == ["rp_lung_msk"] for c in dataset.cases)


def test_masks_of_another_annotation_set_are_left_out_whatever_their_overlap(tmp_path: Path) -> None:
    """Tufts Dental: ``Expert/mask/N.png`` (the reference) and ``Segmentation/teeth_mask/N.png``. The teeth masks
    were merged into the expert's where they overlapped little and left out where the expert's lay inside them: 7 of
    14 images trained teeth and abnormalities as one class, the others abnormalities alone, status OK."""
    from medimg.data.dataset import read_case_mask

    for i in range(6):
        image = np.full((16, 16), 60 + 10 * i, np.uint8)
        Image.fromarray(image).save(_png_path(tmp_path / "Radiographs" / f"{i}.png"))
        expert = np.zeros((16, 16), np.uint8)
        expert[2:5, 2:5] = 255
        teeth = np.zeros((16, 16), np.uint8)
        if i % 2:
            teeth[1:9, 1:12] = 255  # the abnormality inside the teeth: nested
        else:
            teeth[10:14, 6:15] = 255  # apart from it: was merged
        Image.fromarray(expert).save(_png_path(tmp_path / "Expert" / "mask" / f"{i}.png"))
        Image.fromarray(teeth).save(_png_path(tmp_path / "Segmentation" / "teeth_mask" / f"{i}.png"))
    dataset = Dataset.load(tmp_path, task="segment")
    assert {c.mask.parent.name for c in dataset.cases} == {"mask"} and len(dataset.cases) == 6
    for case in dataset.cases:
        mask = read_case_mask(case)
        assert mask is not None and int((mask > 0).sum()) == 9, case.case_id  # the expert's 3x3 alone


def _png_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
