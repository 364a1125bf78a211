from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.quality import check_dataset
from medimg.errors import DatasetError


def test_check_finds_problems(phantom_dir: Path) -> None:
    lesion = phantom_dir / "lesion"
    (lesion / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(lesion / "blank.png")
    shutil.copy(lesion / "phantom_0001.png", phantom_dir / "normal" / "copy.png")
    pixels = np.asarray(Image.open(lesion / "phantom_0001.png"))
    Image.fromarray(np.where(pixels > pixels.mean(), 255, 0).astype(np.uint8)).save(lesion / "zz-d.png")  # a mask
    report = check_dataset(Dataset.load(phantom_dir))
    assert not report.ok
    assert [u["path"].endswith("broken.png") for u in report.unreadable] == [True]
    assert report.blank == ["lesion/blank.png"]
    assert any("normal/copy.png" in group for group in report.duplicates)
    assert report.suspected_masks and report.suspected_masks[0].endswith("zz-d.png")
    text = report.summary()
    assert "unreadable: " in text and "broken.png" in text
    data = report.to_dict()
    assert data["image_sizes"] == {"32x32": 83}  # 84 files, one unreadable


def test_check_clean_dataset_is_ok(phantom_dir: Path) -> None:
    report = check_dataset(Dataset.load(phantom_dir))
    assert report.ok, report.summary()
    assert report.imbalance_ratio == 1.0


def test_classes_holding_the_same_file_names_are_warned_of(tmp_path: Path) -> None:
    """BCI (``HE/00000_train_1+.png`` and ``IHC/00000_train_1+.png``): two stains of each case taken for classes; a
    model told the stains apart (balanced accuracy 1.0) with status OK and no word."""
    rng = np.random.default_rng(0)
    for stain, shift in (("HE", 0), ("IHC", 120)):
        for i in range(6):
            pixels = rng.integers(0, 100, (8, 8)) + shift
            (tmp_path / "bci" / stain).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "bci" / stain / f"{i:05d}_train_{i % 4}+.png")
            (tmp_path / "classes" / ("benign" if shift else "malignant")).mkdir(parents=True, exist_ok=True)
            name = f"{i:05d}.png" if shift else f"{i + 6:05d}.png"  # numbered across classes: other names
            Image.fromarray(pixels.astype(np.uint8)).save(
                tmp_path / "classes" / ("benign" if shift else "malignant") / name
            )
    (warning,) = [w for w in check_dataset(Dataset.load(tmp_path / "bci")).warnings if "same 6 file names" in w]
    assert "every class (HE, IHC)" in warning and "stains or modalities of the same cases" in warning
    assert not [w for w in check_dataset(Dataset.load(tmp_path / "classes")).warnings if "file names" in w]


def test_classes_holding_the_same_named_cases_are_refused(tmp_path: Path) -> None:
    """PAPILA: ``FundusImages/RET002OD.jpg`` beside ``ExpertsSegmentations/ImagesWithContours/RET002OD.jpg`` (the
    same photographs with contours drawn) and ``HelpCode/`` of one file: trained as classes with status OK, and
    not even warned of (the one-file class differed). Names not merely numbered alike are the same cases: refused."""
    rng = np.random.default_rng(0)
    root = tmp_path / "PAPILA"
    for folder, shift in (("FundusImages", 0), ("ExpertsSegmentations/ImagesWithContours", 60)):
        (root / folder).mkdir(parents=True)
        for patient in range(2, 8):
            for eye in ("OD", "OS"):
                pixels = rng.integers(0, 100, (8, 8)) + shift
                Image.fromarray(pixels.astype(np.uint8)).save(root / folder / f"RET{patient:03d}{eye}.jpg")
    (root / "HelpCode").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "HelpCode" / "example.png")
    report = check_dataset(Dataset.load(root))
    assert not report.ok
    assert "hold the same 12 file names (e.g. ret002od.jpg in each)" in report.classes_of_one
    assert "ExpertsSegmentations" in report.classes_of_one and "FundusImages" in report.classes_of_one
    assert not [w for w in report.warnings if "every class" in w]  # said once, as the problem


def test_dicom_exports_numbering_each_class_folder_alike_are_other_patients_not_views(tmp_path: Path) -> None:
    """DICOM exports number every folder's files from IM000001 again (``normal/IM000001`` and ``abnormal/IM000001``,
    other patients in their headers): every export got the warning that the classes may be views of the same cases
    (with two counters, ``IM000001`` and ``rle_001.dcm``, a refusal). Files of the same patients still draw it."""
    from tests.io.conftest import write_dicom

    rng = np.random.default_rng(0)
    for data, same in (("export", False), ("views", True)):
        for label, shift in (("normal", 0), ("abnormal", 200)):
            for k in range(6):
                patient = f"P{k}" if same else f"{label}-{k}"
                pixels = (rng.integers(0, 100, (8, 8)) + shift).astype(np.uint16)
                names = (f"IM{k:06d}", f"rle_{k:03d}.dcm")
                (tmp_path / data / label).mkdir(parents=True, exist_ok=True)
                write_dicom(tmp_path / data / label / names[k % 2], pixels, extra={"PatientID": patient})
    export = check_dataset(Dataset.load(tmp_path / "export"))
    assert not export.classes_of_one, export.classes_of_one
    assert not [w for w in export.warnings if "file names" in w], export.warnings
    views = check_dataset(Dataset.load(tmp_path / "views"))
    assert [w for w in views.warnings if "holds the same 6 file names" in w], views.warnings


def test_camera_counters_with_other_extensions_are_numbered_alike(tmp_path: Path) -> None:
    """``IMG_0000.jpeg``, ``IMG_0001.JPG``, ``IMG_0002.PNG`` in each class folder (a phone's counter, saved in
    several formats): refused as views of the same cases, where one template numbered is only warned of."""
    rng = np.random.default_rng(0)
    for label, shift in (("normal", 0), ("abnormal", 120)):
        for k, suffix in enumerate((".jpeg", ".JPG", ".PNG", ".png", ".jpg", ".bmp")):
            (tmp_path / label).mkdir(exist_ok=True)
            pixels = (rng.integers(0, 100, (8, 8)) + shift).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"IMG_{k:04d}{suffix}")
    report = check_dataset(Dataset.load(tmp_path))
    assert not report.classes_of_one, report.classes_of_one
    assert [w for w in report.warnings if "same 6 file names" in w]


def test_cross_split_duplicates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(tmp_path / split / cls / "x.png")
    shutil.copy(tmp_path / "train" / "a" / "x.png", tmp_path / "test" / "a" / "leak.png")
    report = check_dataset(Dataset.load(tmp_path))
    assert len(report.cross_split_duplicates) == 1
    assert "[test]" in " ".join(report.cross_split_duplicates[0])
    (warning,) = [w for w in report.warnings if "several splits" in w]  # the data's own split leaks: what to do
    assert "remove the copies from all but one split" in warning and "leak.png [test]" in warning


def test_fit_warns_of_identical_images_it_keeps_in_several_of_the_datas_own_splits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Dermnet with a training image copied into ``test/``: check reported it, but fit (which keeps the data's own
    split) only said so at INFO and scored the copy as a test image."""
    import logging

    from medimg.data.quality import usable_training_images

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            for k in range(3):
                pixels = rng.integers(0, 255, (8, 8), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / cls / f"{cls}{k}.png")
    shutil.copy(tmp_path / "train" / "a" / "a0.png", tmp_path / "test" / "a" / "leak.png")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        usable_training_images(Dataset.load(tmp_path))
    assert "1 group(s) of identical or nearly identical images lie in several of the data's own splits" in caplog.text
    assert "[test]" in caplog.text and "remove the copies from all but one split" in caplog.text


def test_label_conflicts_are_problems_and_named(phantom_dir: Path, tmp_path: Path) -> None:
    """Identical pixels with different labels: named as a label conflict, and `medimg check` exits 1."""
    import subprocess
    import sys

    shutil.copy(phantom_dir / "normal" / "phantom_0001.png", phantom_dir / "lesion" / "dup_of_normal.png")
    report = check_dataset(Dataset.load(phantom_dir))
    assert not report.ok
    assert len(report.label_conflicts) == 1 and "[lesion]" in " ".join(report.label_conflicts[0])
    assert "label conflict" in report.summary() and report.to_dict()["label_conflicts"]
    done = subprocess.run(
        [sys.executable, "-m", "medimg", "check", str(phantom_dir)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 1 and "label conflict" in done.stdout and "PROBLEMS FOUND" in done.stdout


def test_masks_are_found_by_content_not_by_name(phantom_dir: Path) -> None:
    """A binary image the size of the others is a mask whatever its name (``*_mask_1.png`` is no Herlev name);
    an image that is only named like a mask is not; the suggested --exclude comes from the names found."""
    lesion = phantom_dir / "lesion"
    for i in (0, 1):
        pixels = np.asarray(Image.open(lesion / f"phantom_000{i}.png"))
        Image.fromarray(np.where(pixels > pixels.mean(), 1, 0).astype(np.uint8)).save(
            lesion / f"phantom_000{i}_mask_1.png"
        )
    shutil.copy(lesion / "phantom_0002.png", lesion / "phantom_0002_label.png")  # a real image named like a mask
    report = check_dataset(Dataset.load(phantom_dir))
    assert sorted(Path(p).name for p in report.suspected_masks) == [
        "phantom_0000_mask_1.png",
        "phantom_0001_mask_1.png",
    ]
    assert not report.ok
    assert "--exclude '*_mask_1.png'" in report.summary()


def test_colour_coded_masks_beside_colour_images_are_masks(tmp_path: Path) -> None:
    """Herlev's ``<cell>-d.bmp``: RGB masks of 3 to 5 colours (background, cytoplasm, nucleus), channels unequal,
    so they were read as 917 more images of their class."""
    rng = np.random.default_rng(0)
    palette = np.array([[0, 0, 255], [255, 0, 0], [0, 255, 0], [40, 40, 40]], np.uint8)
    for cls in ("normal", "dysplastic"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (24, 30, 3), dtype=np.uint8)).save(tmp_path / cls / f"cell{i}.BMP")
            regions = np.zeros((24, 30), np.int64)
            regions[4:20, 5:25], regions[8:16, 10:20], regions[0, : i + 1] = 1, 2, 3
            Image.fromarray(palette[regions]).save(tmp_path / cls / f"cell{i}-d.bmp")
    report = check_dataset(Dataset.load(tmp_path))
    assert sorted(Path(p).name for p in report.suspected_masks) == sorted([f"cell{i}-d.bmp" for i in range(6)] * 2)
    assert "--exclude '*-d.bmp'" in report.summary()


def test_the_patients_in_image_names_group_the_images_once_their_masks_are_left_out(tmp_path: Path) -> None:
    """Herlev names each cell ``<patient>-<patient>-<cell>.BMP`` beside its ``...-d.bmp`` mask: with the masks among
    the images no name pattern held, and one patient's cells could straddle train and test."""
    from medimg.data.quality import drop_non_images

    rng = np.random.default_rng(0)
    for k in range(12):
        folder = tmp_path / ("normal", "dysplastic")[k % 2]
        folder.mkdir(exist_ok=True)
        for cell in (1, 2):
            name = f"1491433{k:02d}-1491433{k + 50:02d}-00{cell}"
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{name}.BMP")
            mask = np.zeros((20, 20, 3), np.uint8)
            mask[5:15, 5:15] = (255, 0, 0)
            Image.fromarray(mask).save(folder / f"{name}-d.bmp")
    dataset = Dataset.load(tmp_path)
    report = check_dataset(dataset)
    assert len(report.suspected_masks) == 24
    kept = drop_non_images(dataset, report.suspected_masks, report.blank)
    assert len(kept.cases) == 24 and len(kept.excluded) == 24
    assert {c.patient_id for c in kept.cases} == {f"name-1491433{k:02d}-1491433{k + 50:02d}" for k in range(12)}


def test_photos_turned_by_their_exif_are_read_as_stored_and_flagged(phantom_dir: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (20, 30, 3)).astype(np.uint8)
    photo = Image.fromarray(pixels)
    exif = photo.getexif()
    exif[0x0112] = 6  # viewers turn it a quarter clockwise
    path = phantom_dir / "lesion" / "phone photo.jpg"
    photo.save(path, exif=exif, quality=95)
    from medimg.io import read_image

    image = read_image(path)
    assert image.array.shape == (3, 20, 30) and image.meta["exif_orientation"] == 6  # the stored pixels
    report = check_dataset(Dataset.load(phantom_dir))
    assert any("1 image(s) carry an EXIF orientation" in w and "phone photo.jpg" in w for w in report.warnings)


def test_a_file_property_that_tells_the_classes_apart_is_a_shortcut_warning(tmp_path: Path) -> None:
    """Each class from another source: normal X-rays as 16-bit PNG, pneumonia as 8-bit JPEG. Mixed sources (both
    kinds in both classes) and sizes that merely vary are not flagged."""
    rng = np.random.default_rng(0)

    def write(root: Path, cls: str, i: int, wide: bool, size: int = 24) -> None:
        (root / cls).mkdir(parents=True, exist_ok=True)
        if wide:
            Image.fromarray(rng.integers(0, 60000, (size, size)).astype(np.uint16)).save(root / cls / f"{i}.png")
        else:
            Image.fromarray(rng.integers(0, 255, (size, size)).astype(np.uint8)).save(root / cls / f"{i}.jpg")

    for i in range(15):
        write(tmp_path / "split", "normal", i, wide=True)
        write(tmp_path / "split", "pneumonia", i, wide=False)
        write(tmp_path / "mixed", "normal", i, wide=i % 2 == 0, size=20 + i)
        write(tmp_path / "mixed", "pneumonia", i, wide=i % 2 == 1, size=21 + i)
    report = check_dataset(Dataset.load(tmp_path / "split"))
    (warning,) = [w for w in report.warnings if "tells the classes apart" in w]
    assert "the file type" in warning and "normal: png 16-bit 15/15" in warning and "jpeg 8-bit 15/15" in warning
    assert report.ok  # a warning, not a problem: a property may separate classes for an honest reason
    mixed = check_dataset(Dataset.load(tmp_path / "mixed"))
    assert not any("tells the classes apart" in w for w in mixed.warnings)


def test_rasters_of_different_bit_depths_are_a_warning(tmp_path: Path) -> None:
    """8-bit beside 16-bit PNGs (two sources merged): one normalisation fits neither; one depth, or DICOM files whose
    values are rescaled to physical units, say nothing."""
    from medimg.data.quality import _raster_bits, mixed_raster_depths

    rng = np.random.default_rng(0)
    for cls in ("normal", "pneumonia"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            if i % 2:
                pixels = rng.integers(0, 4095, (16, 16)).astype(np.uint16)
            else:
                pixels = rng.integers(0, 255, (16, 16)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / cls / f"{i}.png")
    report = check_dataset(Dataset.load(tmp_path))
    (warning,) = [w for w in report.warnings if "different bit depths" in w]
    assert "6 at 8-bit, 6 at 16-bit" in warning and "up to 255 against up to 65535" in warning
    assert report.ok
    assert _raster_bits({"format": "png", "bits": 8}) == _raster_bits({"format": "jpeg", "bits": 8}) == 8
    assert mixed_raster_depths({8: 8}) is None  # PNG and JPEG at 8 bits: one depth
    assert _raster_bits({"format": "dicom", "bits_stored": 12}) is None  # DICOM never counts
    assert _raster_bits({"format": "dicom", "bits": 16, "bits_stored": 16}) is None
    assert _raster_bits({"format": "medmnist"}) is None  # no recorded depth
    assert mixed_raster_depths({}) is None


def test_identical_copies_stay_in_one_split_when_medimg_makes_it(tmp_path: Path) -> None:
    """``x.png`` beside ``x_copy.png`` (a folder exported twice): the split medimg makes puts both in one part, as it
    does with a patient's images; `check` judges that split (no leak) and fit marks the copies the same way."""
    from medimg.data.quality import group_identical_images
    from medimg.data.splits import make_splits

    rng = np.random.default_rng(2)
    for cls in ("normal", "abnormal"):
        (tmp_path / cls).mkdir()
        for i in range(20):
            pixels = rng.integers(0, 256, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / cls / f"{cls}_{i:02d}.png")
            Image.fromarray(pixels).save(tmp_path / cls / f"{cls}_{i:02d}_copy.png")
    dataset = Dataset.load(tmp_path)
    report = check_dataset(dataset)
    assert len(report.duplicates) == 40 and report.cross_split_duplicates == []
    assert any("40 group(s) of identical images within a split" in w for w in report.warnings)
    ungrouped = make_splits(dataset.cases).assignment  # copies split apart: the leak this prevents
    assert any(ungrouped[a] != ungrouped[a.replace("_copy", "")] for a in ungrouped if "_copy" in a)
    for seed in (0, 1, 2):
        split = make_splits(group_identical_images(dataset, report.duplicates).cases, seed=seed).assignment
        assert all(split[a] == split[a.replace("_copy", "")] for a in split if "_copy" in a)
        assert {"train", "val", "test"} == set(split.values())


def test_a_copy_joins_two_patients_in_one_group_and_data_without_copies_splits_as_before() -> None:
    from medimg.data.case import Case
    from medimg.data.splits import _groups

    cases = [
        Case("a1", 0, patient_id="P1"),
        Case("a2", 0, patient_id="P1"),
        Case("b1", 1, patient_id="P2", same_image="x"),
        Case("c1", 1, patient_id="P3", same_image="x"),
        Case("d1", 1),
    ]
    assert _groups(cases).tolist() == ["P1", "P1", "P2", "P2", "__case__d1"]
    plain = [Case(c.case_id, c.label, patient_id=c.patient_id) for c in cases]
    assert _groups(plain).tolist() == ["P1", "P1", "P2", "P3", "__case__d1"]


def test_a_near_blank_image_is_blank_not_a_mask(phantom_dir: Path) -> None:
    """A white export with one pixel of 254 (or a black frame with a few marker pixels) was called a segmentation
    mask (two values); nothing in it is an image of its class."""
    from medimg.data.quality import is_blank

    white = np.full((32, 32), 255, np.uint8)
    white[3, 4] = 254
    Image.fromarray(white).save(phantom_dir / "normal" / "export_white.png")
    marker = np.zeros((32, 32), np.uint8)
    marker[1:4, 1] = marker[3, 1:3] = 200  # a burned-in "L"
    Image.fromarray(marker).save(phantom_dir / "lesion" / "frame_l.png")
    report = check_dataset(Dataset.load(phantom_dir))
    assert sorted(report.blank) == ["lesion/frame_l.png", "normal/export_white.png"]
    assert not report.suspected_masks
    sparse = np.zeros((1, 64, 64))
    sparse[0, 10:14, 10:14] = 1.0  # 16 pixels of content: an image (or a mask), not blank
    assert is_blank(np.full((1, 8, 8), 3.0)) and not is_blank(sparse) and is_blank(np.full((1, 4), np.nan))


def test_patients_across_a_csv_split_column_get_advice_for_the_column(tmp_path: Path) -> None:
    """The advice told CSV users to move files between split folders they do not have."""
    rng = np.random.default_rng(0)
    rows = ["path,label,patient_id,split"]
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,{'ab'[i % 2]},P{i // 4},{['train', 'test'][i % 3 == 0]}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    report = check_dataset(Dataset.load(tmp_path / "labels.csv"))
    (warning,) = [w for w in report.warnings if "patient(s) have images in several splits" in w]
    assert "one value in the split column" in warning and "split folder" not in warning


def _scans_and_masks(root: Path, scan_folders: tuple[str, ...]) -> Path:
    """ISLES 2022's BIDS shape as class folders: scans in ``rawdata/`` (and other folders), their 0/1 lesion masks
    alone in ``derivatives/``."""
    rng = np.random.default_rng(0)
    for k in range(8):
        for folder in scan_folders:
            (root / folder).mkdir(parents=True, exist_ok=True)
            scan = rng.integers(0, 255, (24, 24)).astype(np.uint8)
            Image.fromarray(scan).save(root / folder / f"sub-{k:02d}_dwi.png")
        (root / "derivatives").mkdir(exist_ok=True)
        mask = np.zeros((24, 24), np.uint8)
        mask[5 + k : 12 + k, 6:14] = 1
        Image.fromarray(mask).save(root / "derivatives" / f"sub-{k:02d}_msk.png")
    return root


def test_a_class_of_masks_alone_is_left_out_and_one_class_left_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ISLES 2022 read as class folders: ``derivatives/`` held its masks alone. Once they were left out, the
    class held nothing, yet a two-class model trained on ``rawdata/`` alone and scored accuracy 1.0."""
    from medimg.data.quality import drop_non_images

    three = Dataset.load(_scans_and_masks(tmp_path / "three", ("rawdata", "sourcedata")))
    report = check_dataset(three)
    assert len(report.suspected_masks) == 8
    with caplog.at_level(logging.WARNING):
        kept = drop_non_images(three, report.suspected_masks, report.blank)
    assert kept.class_names == ["rawdata", "sourcedata"] and len(kept.cases) == 16
    assert {kept.class_names[c.label] for c in kept.cases if c.label is not None} == {"rawdata", "sourcedata"}
    assert "class(es) 'derivatives' left out" in caplog.text
    two = Dataset.load(_scans_and_masks(tmp_path / "two", ("rawdata",)))
    report = check_dataset(two)
    with pytest.raises(DatasetError, match=r"class\(es\) 'derivatives' hold no image and one class is left"):
        drop_non_images(two, report.suspected_masks, report.blank)


def test_classes_of_one_patient_or_one_image_are_a_problem_and_fit_refuses_them(tmp_path: Path) -> None:
    """CQ500's ``CQ500CT0 CQ500CT0/`` patient folders and 3D-IRCADb's ``3Dircadb1.1/`` scan folders were read as
    classes (labels in a table beside, masks inside): check said OK and fit trained a classifier of who."""
    from medimg.data.case import Case
    from medimg.data.labels import classes_of_one
    from medimg.data.quality import usable_training_images

    names = ["CQ500CT0", "CQ500CT1", "CQ500CT2"]
    per_patient = [Case(f"{n}/{i}.dcm", k, patient_id=f"p{k}") for k, n in enumerate(names) for i in range(3)]
    assert "each of the 3 classes holds one patient's images ('CQ500CT0': patient p0)" in classes_of_one(
        names, per_patient
    )
    shared = [*per_patient, Case("CQ500CT0/x.dcm", 0, patient_id="p1")]  # a patient in two classes: real classes
    assert classes_of_one(names, shared) == ""
    assert classes_of_one(names, [Case(f"{n}/0.dcm", k) for k, n in enumerate(names)]).startswith(
        "each of the 3 classes holds one image"
    )
    assert classes_of_one(names[:2], [Case(f"{n}/0.dcm", k) for k, n in enumerate(names[:2])]) == ""
    assert classes_of_one(names, [Case(f"{n}/{i}.dcm", k) for k, n in enumerate(names) for i in range(2)]) == ""

    rng = np.random.default_rng(0)
    for k in range(4):
        (tmp_path / f"3Dircadb1.{k + 1}").mkdir()
        Image.fromarray(rng.integers(0, 255, (24, 24)).astype(np.uint8)).save(tmp_path / f"3Dircadb1.{k + 1}/a.png")
    dataset = Dataset.load(tmp_path)
    report = check_dataset(dataset)
    assert not report.ok and "each of the 4 classes holds one image" in report.summary()
    with pytest.raises(DatasetError, match="the folders are patients or scans, not classes"):
        usable_training_images(dataset, report)


def test_the_check_splits_as_fit_will_and_copies_that_leave_too_few_groups_do_not_stop_it(tmp_path: Path) -> None:
    """CHAOS's 20 patients: copies across patients left too few groups for the default test share; the error said
    "pass --test-fraction 0", yet fit's check split with the defaults again and stopped on the same error."""
    rng = np.random.default_rng(0)
    rows = ["path,label,patient_id"]
    shared = rng.integers(0, 255, (24, 24)).astype(np.uint8)
    for p in range(7):
        for i in range(2):
            pixels = shared if i == 0 and p < 2 else rng.integers(0, 255, (24, 24)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / f"p{p}_{i}.png")
            rows.append(f"p{p}_{i}.png,{'ab'[p // 4]},p{p}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "labels.csv")
    assert [len(g) for g in check_dataset(dataset).duplicates] == [2]  # the default split: no error
    fit_split = check_dataset(dataset, split_options={"test_fraction": 0.0, "val_fraction": 0.3, "seed": 1})
    assert not fit_split.cross_split_duplicates


def test_class_folders_whose_names_hold_the_labels_are_a_problem(tmp_path: Path) -> None:
    """ALL-IDB: ``ALL_IDB1/im/Im001_1.jpg`` and ``ALL_IDB2/img/Im001_0.tif`` (1 a blast, 0 healthy in the name).
    The two subset folders were the classes: check said OK and fit learnt which subset an image came from."""
    rng = np.random.default_rng(0)
    for part, inner, suffix in (("ALL_IDB1", "im", "jpg"), ("ALL_IDB2", "img", "tif")):
        for i in range(6):
            path = tmp_path / part / inner / f"Im{i + 1:03d}_{i % 2}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)
    report = check_dataset(Dataset.load(tmp_path))
    assert not report.ok and "end in _0 and _1 alike (e.g. Im001_0" in report.classes_of_one
    # counters that happen to end in 0 or 1 elsewhere are no labels: images numbered _0 ... _5
    for i in range(6, 12):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(
            tmp_path / "ALL_IDB2" / "img" / f"Im{i:03d}_{i}.tif"
        )
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(
            tmp_path / "ALL_IDB1" / "im" / f"Im{i:03d}_{i}.jpg"
        )
    assert check_dataset(Dataset.load(tmp_path)).classes_of_one == ""


def test_a_tables_labels_are_not_refused_for_names_ending_in_0_and_1(tmp_path: Path) -> None:
    """Mayo Clinic STRIP AI: ``train/<patient>_<image number>.tif`` with train.csv's label column. Its images end in
    _0 and _1 in both classes, and the table, even a manifest written as the message asked, was refused as "labels
    in the file names" with no way through."""
    rng = np.random.default_rng(0)
    rows = ["image_id,center_id,patient_id,image_num,label"]
    for patient in range(8):
        for number in (0, 1):
            path = tmp_path / "train" / f"{6388 + patient}_{number}.tif"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)
            rows.append(f"{6388 + patient}_{number},11,{6388 + patient},{number},{('CE', 'LAA')[patient % 2]}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    assert check_dataset(Dataset.load(tmp_path / "train.csv")).classes_of_one == ""


def test_copies_across_a_split_medimg_made_are_not_said_to_be_the_datas_own(tmp_path: Path) -> None:
    """A set without a split of its own, whose copies leave too few groups for fit's fractions: the warning said the
    copies lay in "the data's own split", and its example named two images of one split."""
    rng = np.random.default_rng(0)
    for name in ("benign", "malignant"):
        pixels = rng.integers(0, 255, (32, 32), dtype=np.uint8)
        (tmp_path / name).mkdir()
        for i in range(6):
            Image.fromarray(pixels).save(tmp_path / name / f"{name}{i}.png")
    report = check_dataset(Dataset.load(tmp_path))
    (warning,) = [w for w in report.warnings if "several splits" in w]
    assert "data's own split" not in warning and "the split fit would make" in warning
    example = warning.split("(e.g. ", 1)[1].split(")", 1)[0]
    first, second = example.split(", ")[:2]
    assert first.rsplit("[", 1)[1] != second.rsplit("[", 1)[1]  # the example shows two splits


def test_plane_folders_of_the_same_cases_are_refused_as_classes(tmp_path: Path) -> None:
    """MRNet: ``train/axial/0000.npy``, ``train/coronal/0000.npy``, ``train/sagittal/0000.npy`` (each knee's three
    series; its labels in headerless ``train-acl.csv``...): read as three classes, status OK, a plane classifier."""
    rng = np.random.default_rng(0)
    for plane in ("axial", "coronal", "sagittal"):
        (tmp_path / "train" / plane).mkdir(parents=True)
        for case in range(6):
            np.save(tmp_path / "train" / plane / f"{case:04d}.npy", rng.integers(0, 255, (4, 16, 16), np.uint8))
    (tmp_path / "train-acl.csv").write_text("".join(f"{case:04d},{case % 2}\n" for case in range(6)))
    report = check_dataset(Dataset.load(tmp_path))
    assert "planes of one scan" in report.classes_of_one and not report.ok
    for name in ("benign", "malignant"):  # other folders with the same file names stay classes
        (tmp_path / "other" / name).mkdir(parents=True)
        for case in range(4):
            Image.fromarray(rng.integers(0, 255, (8, 8), np.uint8)).save(tmp_path / "other" / name / f"{case}.png")
    assert not check_dataset(Dataset.load(tmp_path / "other")).classes_of_one


def test_jpeg_masks_named_for_their_images_are_masks_not_images_of_the_class(tmp_path: Path) -> None:
    """DigestPath: ``tissue-train-pos-v1/<name>.jpg`` beside ``<name>_mask.jpg`` (JPEG: its values are no label map
    by content), beside ``tissue-train-neg/``: the masks were trained as images of the positive class, status OK."""
    from medimg.data.quality import usable_training_images

    rng = np.random.default_rng(0)
    for cls in ("tissue-train-pos-v1", "tissue-train-neg"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(tmp_path / cls / f"2018_{i}.jpg")
            if cls.endswith("pos-v1"):
                mask = np.zeros((32, 32), np.uint8)
                mask[8:20, 8:20] = 255
                Image.fromarray(mask).save(tmp_path / cls / f"2018_{i}_mask.jpg", quality=75)
    dataset = Dataset.load(tmp_path)
    report = check_dataset(dataset)
    assert sorted(Path(p).name for p in report.suspected_masks) == [f"2018_{i}_mask.jpg" for i in range(5)]
    assert "--exclude '*_mask.jpg'" in " ".join(report.warnings)
    trained = usable_training_images(dataset, report)
    assert not any(c.case_id.endswith("_mask.jpg") for c in trained.cases) and len(trained.cases) == 10


def test_the_exclude_advice_for_masks_named_as_images_names_their_folder() -> None:
    from medimg.data.quality import exclude_patterns

    masks = [f"/d/GT_0{n}/0{n}_1.png" for n in (1, 2)]
    images = [f"/d/Slide_0{n}/0{n}_1.png" for n in (1, 2)]
    assert exclude_patterns(masks, images) == ["GT_01/*", "GT_02/*"]  # not 01_1.png: the images' names too


def test_a_table_labelling_each_breast_draws_no_warning_of_classes_holding_the_same_patients(tmp_path: Path) -> None:
    """RSNA screening mammography's ``train.csv`` labels each image (``cancer`` per breast): a patient's healthy
    and cancerous breasts lie in two classes. Check warned that "the classes 0 and 1 hold the same 6 patients ...
    the cases' labels are then elsewhere", though they came from the table."""
    rows = ["site_id,patient_id,image_id,laterality,view,cancer"]
    for patient in range(10006, 10012):
        for k, (side, view) in enumerate((("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))):
            image_id = patient * 10 + k
            cancer = int(side == "L")
            path = tmp_path / "train_images" / str(patient) / f"{image_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 16), 40 + 150 * cancer + k, np.uint8)).save(path)
            rows.append(f"1,{patient},{image_id},{side},{view},{cancer}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    report = check_dataset(Dataset.load(tmp_path / "train.csv"))
    assert report.classes_of_one == ""
    assert not [w for w in report.warnings if "hold the same" in w], report.warnings


def test_copies_in_the_datas_own_split_are_not_said_to_be_kept_in_one_split(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Retinal OCT C8 with ``train/AMD/amd_train_1001.jpg`` copied as ``test/AMD/amd_test_1009.jpg``: fit said the
    copies are "each kept in one split when medimg makes the split", though the data's own split was kept and the
    copy scored in test."""
    from medimg.data.quality import group_identical_images

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label in ("AMD", "NORMAL"):
            for i in range(4):
                path = tmp_path / split / label / f"{label.lower()}_{split}_{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (16, 16)).astype(np.uint8)).save(path)
    shutil.copy(tmp_path / "train" / "AMD" / "amd_train_0.png", tmp_path / "test" / "AMD" / "amd_test_9.png")
    dataset = Dataset.load(tmp_path)
    with caplog.at_level(logging.INFO, logger="medimg"):
        group_identical_images(dataset, check_dataset(dataset).duplicates)
    assert "the data's own split is kept as it is" in caplog.text and "kept in one split" not in caplog.text
