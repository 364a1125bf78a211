"""Public segmentation sets' own names pair as shipped: LiTS (``volume-0.nii`` + ``segmentations/segmentation-0.nii``),
role words at the start of names (``images/image_001.png`` + ``masks/mask_001.png``, or side by side), and
Montgomery's two lung masks per radiograph in ``ManualMask/leftMask/`` and ``rightMask/``, merged into one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset, SegmentationDataset, read_case_mask
from medimg.errors import DatasetError


def _png(path: Path, box: tuple[slice, slice] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((16, 16), np.uint8) if box else np.full((16, 16), 90, np.uint8)
    if box:
        array[box] = 255
    Image.fromarray(array).save(path)


def _volume(path: Path, mask: bool) -> None:
    """A small NIfTI scan (a bright block) or its mask (the block labelled 1)."""
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.zeros((8, 8, 4), np.uint8 if mask else np.int16)
    data[2:5, 2:5, 1:3] = 1 if mask else 300
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)


def _pairs(root: Path) -> list[tuple[str, str]]:
    dataset = Dataset.load(root, task="segment")
    assert not dataset.unpaired and not dataset.unlabelled
    return sorted((c.image.relative_to(root).as_posix(), c.mask.relative_to(root).as_posix()) for c in dataset.cases)


def test_lits_volumes_pair_with_their_segmentations(tmp_path: Path) -> None:
    import nibabel as nib

    for i in range(3):
        for folder, name, dtype in (("volume_pt1", "volume", np.float32), ("segmentations", "segmentation", np.uint8)):
            (tmp_path / folder).mkdir(exist_ok=True)
            nib.save(nib.Nifti1Image(np.ones((4, 4, 3), dtype), np.eye(4)), tmp_path / folder / f"{name}-{i}.nii")
    assert _pairs(tmp_path) == [(f"volume_pt1/volume-{i}.nii", f"segmentations/segmentation-{i}.nii") for i in range(3)]


def test_aortaseg_cta_images_pair_with_their_labels(tmp_path: Path) -> None:
    """AortaSeg24: ``images/subject001_CTA.mha`` + ``masks/subject001_label.mha``. Refused: "no image has a mask with
    a matching name" (CTA was no modality name, as HECKTOR's ``__CT`` is)."""
    import nibabel as nib

    for i in range(1, 4):
        for folder, name, dtype in (("images", "CTA", np.float32), ("masks", "label", np.uint8)):
            (tmp_path / folder).mkdir(exist_ok=True)
            volume = nib.Nifti1Image(np.ones((4, 4, 3), dtype), np.eye(4))
            nib.save(volume, tmp_path / folder / f"subject00{i}_{name}.nii.gz")
    expected = [(f"images/subject00{i}_CTA.nii.gz", f"masks/subject00{i}_label.nii.gz") for i in range(1, 4)]
    assert _pairs(tmp_path) == expected


def test_split_tables_of_ctspine1k_and_mama_mia_give_the_split(tmp_path: Path) -> None:
    """CTSpine1K's ``data_split.txt`` (sections ``trainset:`` and ``test_public:`` of file names, beside ``data/``)
    and MAMA-MIA's ``train_test_splits.csv`` (``train_split,test_split`` of patient folders): both were ignored, a
    random split trained on the published test cases."""
    import nibabel as nib

    def volume(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.ones((4, 4, 3), np.uint8), np.eye(4)), path)

    spine = tmp_path / "CTSpine1K"
    for i in range(1, 7):
        volume(spine / "data" / "HNSCLC" / "volumes" / f"HN_P00{i}.nii.gz")
        volume(spine / "data" / "HNSCLC" / "labels" / f"HN_P00{i}_seg.nii.gz")
    listing = ["trainset:", *(f"HN_P00{i}.nii.gz" for i in range(1, 5)), "", "test_public:", "HN_P005.nii.gz"]
    (spine / "data_split.txt").write_text("\n".join([*listing, "test_private:", "HN_P006.nii.gz"]) + "\n")
    (spine / "README.md").write_text("CTSpine1K")
    splits = {c.image.name: c.split for c in Dataset.load(spine, task="segment").cases}
    assert splits == {
        **{f"HN_P00{i}.nii.gz": "train" for i in range(1, 5)},
        "HN_P005.nii.gz": "test",
        "HN_P006.nii.gz": "test",
    }
    mama = tmp_path / "MAMA-MIA"
    for case in ("DUKE_001", "DUKE_002", "DUKE_003", "ISPY1_1004"):
        volume(mama / "images" / case / f"{case.lower()}_0000.nii.gz")
        volume(mama / "segmentations" / "expert" / f"{case.lower()}.nii.gz")
    (mama / "train_test_splits.csv").write_text("train_split,test_split\nDUKE_001,DUKE_003\nDUKE_002,\nISPY1_1004,\n")
    splits = {c.image.parent.name: c.split for c in Dataset.load(mama, task="segment").cases}
    assert splits == {"DUKE_001": "train", "DUKE_002": "train", "DUKE_003": "test", "ISPY1_1004": "train"}


def test_refuge2_masks_pair_with_the_photos_not_their_illustrations(tmp_path: Path) -> None:
    """REFUGE2: ``Training-400/Glaucoma/g0001.jpg``; ``Annotation-Training400/Disc_Cup_Masks/Glaucoma/g0001.bmp`` and
    ``Annotation-Training400/Disc_Cup_Fovea_Illustration/Glaucoma/g0001.jpg`` (the photo with the outlines drawn on).
    The illustration shared more folders with the mask and was paired with it: the answer drawn into the input."""
    for cls, name in (("Glaucoma", "g0001"), ("Glaucoma", "g0002"), ("Non-Glaucoma", "n0001")):
        _png(tmp_path / "Training-400" / cls / f"{name}.jpg")
        _png(
            tmp_path / "Annotation-Training400" / "Disc_Cup_Fovea_Illustration" / cls / f"{name}.jpg",
            (slice(2, 6),) * 2,
        )
        _png(tmp_path / "Annotation-Training400" / "Disc_Cup_Masks" / cls / f"{name}.bmp", (slice(2, 6),) * 2)
    dataset = Dataset.load(tmp_path, task="segment")
    assert sorted(c.image.relative_to(tmp_path).as_posix() for c in dataset.cases) == [
        "Training-400/Glaucoma/g0001.jpg",
        "Training-400/Glaucoma/g0002.jpg",
        "Training-400/Non-Glaucoma/n0001.jpg",
    ]


def test_lits_training_batches_are_image_mask_pairs(tmp_path: Path) -> None:
    """LiTS as shipped, cut into ``Training Batch 1/`` and ``Training Batch 2/``: segmentation data by itself (it was
    a classifier of the two batch folders)."""
    import nibabel as nib

    for i in range(4):
        folder = tmp_path / f"Training Batch {1 + i // 2}"
        folder.mkdir(exist_ok=True)
        for name, dtype in (("volume", np.float32), ("segmentation", np.uint8)):
            nib.save(nib.Nifti1Image(np.ones((4, 4, 3), dtype), np.eye(4)), folder / f"{name}-{i}.nii")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment"
    assert _pairs(tmp_path) == [
        (f"Training Batch {1 + i // 2}/volume-{i}.nii", f"Training Batch {1 + i // 2}/segmentation-{i}.nii")
        for i in range(4)
    ]


def test_promise12_parts_beside_its_test_data_are_image_mask_pairs(tmp_path: Path) -> None:
    """PROMISE12 unpacked as shipped: ``TrainingData_Part1/`` and ``_Part2/`` of ``Case00.mhd`` +
    ``Case00_segmentation.mhd``, beside ``TestData/`` of images without masks. Before: a classifier of the three
    folder names, its masks left out as images."""
    import SimpleITK as sitk

    for part, cases in (("TrainingData_Part1", (0, 1)), ("TrainingData_Part2", (2, 3)), ("TestData", (0, 1))):
        (tmp_path / part).mkdir()
        for i in cases:
            sitk.WriteImage(sitk.GetImageFromArray(np.ones((3, 8, 8), np.int16)), tmp_path / part / f"Case{i:02d}.mhd")
            if part != "TestData":
                mask = sitk.GetImageFromArray(np.ones((3, 8, 8), np.uint8))
                sitk.WriteImage(mask, tmp_path / part / f"Case{i:02d}_segmentation.mhd")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 4
    assert sorted(dataset.unlabelled) == ["TestData/Case00.mhd", "TestData/Case01.mhd"]  # images without masks


def test_isic_2017_superpixel_maps_are_neither_masks_nor_images_to_predict(tmp_path: Path) -> None:
    """ISIC 2017's ``ISIC_0000000_superpixels.png`` beside each image: `medimg predict RUN ISIC-2017_Test_v2_Data/`
    predicted a lesion mask for each superpixel map too (18 results for 9 images, each 'in domain')."""
    from medimg.data.layouts.image_mask_pairs import annotation_files

    folder = tmp_path / "ISIC-2017_Test_v2_Data"
    for i in range(3):
        _png(folder / f"ISIC_{i:07d}.jpg")
        _png(folder / f"ISIC_{i:07d}_superpixels.png", (slice(0, 8), slice(0, 16)))
        _png(tmp_path / "ISIC-2017_Test_v2_Part1_GroundTruth" / f"ISIC_{i:07d}_segmentation.png", (slice(2, 6),) * 2)
    files = sorted(folder.iterdir())
    assert {p.name for p in annotation_files(files, folder)} == {f"ISIC_{i:07d}_superpixels.png" for i in range(3)}
    dataset = Dataset.load(tmp_path, task="segment")
    assert {c.image.name for c in dataset.cases} == {f"ISIC_{i:07d}.jpg" for i in range(3)} and not dataset.unlabelled


def test_isic_2017_folders_give_their_splits(tmp_path: Path) -> None:
    """ISIC 2017: ``ISIC-2017_Training_Data/``, ``ISIC-2017_Validation_Data/``, ``ISIC-2017_Test_v2_Data/`` with
    their ``..._Part1_GroundTruth/`` masks (``<id>_segmentation.png``): the official splits. Before: no split, and
    a random one put official test images into training."""
    for part, split_ids in (("Training", range(4)), ("Validation", range(4, 6)), ("Test_v2", range(6, 8))):
        for i in split_ids:
            _png(tmp_path / f"ISIC-2017_{part}_Data" / f"ISIC_{i:07d}.png")
            _png(
                tmp_path / f"ISIC-2017_{part}_Part1_GroundTruth" / f"ISIC_{i:07d}_segmentation.png",
                (slice(2, 9), slice(3, 8)),
            )
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment"
    assert {c.case_id: c.split for c in dataset.cases} == {
        **{f"ISIC-2017_Training_Data/ISIC_{i:07d}.png": "train" for i in range(4)},
        **{f"ISIC-2017_Validation_Data/ISIC_{i:07d}.png": "val" for i in range(4, 6)},
        **{f"ISIC-2017_Test_v2_Data/ISIC_{i:07d}.png": "test" for i in range(6, 8)},
    }


def test_role_words_at_the_start_of_names(tmp_path: Path) -> None:
    for i in range(3):
        _png(tmp_path / "in_folders" / "images" / f"image_{i:03d}.png")
        _png(tmp_path / "in_folders" / "masks" / f"mask_{i:03d}.png", (slice(2, 5), slice(2, 5)))
        _png(tmp_path / "side_by_side" / f"img-{i}.png")
        _png(tmp_path / "side_by_side" / f"mask-{i}.png", (slice(2, 5), slice(2, 5)))
    expected = [(f"images/image_{i:03d}.png", f"masks/mask_{i:03d}.png") for i in range(3)]
    assert _pairs(tmp_path / "in_folders") == expected
    assert _pairs(tmp_path / "side_by_side") == [(f"img-{i}.png", f"mask-{i}.png") for i in range(3)]


def test_montgomery_left_and_right_lung_masks_are_one_ground_truth(tmp_path: Path) -> None:
    for i in range(3):
        name = f"MCUCXR_{i:04d}_0.png"
        _png(tmp_path / "CXR_png" / name)
        _png(tmp_path / "ManualMask" / "leftMask" / name, (slice(2, 12), slice(1, 6)))
        _png(tmp_path / "ManualMask" / "rightMask" / name, (slice(2, 12), slice(9, 15)))
    dataset = Dataset.load(tmp_path)  # recognised as segmentation data by itself
    assert dataset.task == "segment" and len(dataset.cases) == 3 and not dataset.unpaired
    case = dataset.cases[0]
    assert case.mask.parent.name == "leftMask" and [p.parent.name for p in case.extra_masks] == ["rightMask"]
    assert (dataset.read(case).mask[0] > 0).sum() == 10 * 5 + 10 * 6


def test_palette_masks_give_their_indices_as_classes(tmp_path: Path) -> None:
    """Masks saved as colour palette PNGs (Pascal VOC's SegmentationClass, annotation tools' exports): the index is
    the class; before, the palette colours made them "colour-coded masks" without a table."""
    from medimg.io import read_image, read_mask

    labels = np.zeros((16, 16), np.uint8)
    labels[2:6, 2:6], labels[9:14, 9:14] = 1, 2
    for i in range(3):
        _png(tmp_path / "images" / f"c{i}.png")
        mask = Image.fromarray(labels, mode="P")
        mask.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (253 * 3))
        (tmp_path / "masks").mkdir(exist_ok=True)
        mask.save(tmp_path / "masks" / f"c{i}.png")
    path = tmp_path / "masks" / "c0.png"
    assert read_image(path).array.shape == (3, 16, 16)  # as a picture: the colours
    assert np.array_equal(read_mask(path).array[0], labels)  # as a mask: the classes
    dataset = Dataset.load(tmp_path, task="segment")
    assert np.array_equal(dataset.read(dataset.cases[0]).mask[0], labels)


def _vessels(path: Path, rows: slice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((16, 16), np.uint8)
    array[rows, 2:14] = 255
    Image.fromarray(array).save(path)


def test_retinal_vessel_sets_pair_with_their_reference_observer(tmp_path: Path) -> None:
    """CHASE_DB1 (``Image_01L.jpg`` + ``_1stHO.png``, a second observer's ``_2ndHO.png`` beside), HRF
    (``images/`` + ``manual1/`` + the field of view in ``mask/``) and STARE (``.ppm`` files, ``labels-ah/im0001.ah.ppm``
    and the second observer's ``labels-vk/im0001.vk.ppm``, which overlaps it: not merged)."""
    for i in (1, 2, 3):
        _png(tmp_path / "chase" / f"Image_0{i}L.jpg")
        _vessels(tmp_path / "chase" / f"Image_0{i}L_1stHO.png", slice(3, 5))
        _vessels(tmp_path / "chase" / f"Image_0{i}L_2ndHO.png", slice(3, 6))
        _png(tmp_path / "hrf" / "images" / f"0{i}_dr.jpg")
        _vessels(tmp_path / "hrf" / "manual1" / f"0{i}_dr.tif", slice(3, 5))
        _vessels(tmp_path / "hrf" / "mask" / f"0{i}_dr_mask.tif", slice(0, 16))
        (tmp_path / "stare" / "stare-images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "stare" / "stare-images" / f"im000{i}.ppm")
        _vessels(tmp_path / "stare" / "labels-ah" / f"im000{i}.ah.png", slice(3, 5))
        _vessels(tmp_path / "stare" / "labels-vk" / f"im000{i}.vk.png", slice(3, 6))
    chase = Dataset.load(tmp_path / "chase")
    assert chase.task == "segment" and chase.cases[0].mask.name == "Image_01L_1stHO.png"
    assert not chase.unlabelled and not chase.unpaired  # the 2ndHO files are neither images nor masks
    hrf = Dataset.load(tmp_path / "hrf")
    case = hrf.cases[0]
    assert (case.mask.parent.name, case.roi.parent.name if case.roi else None) == ("manual1", "mask")
    stare = Dataset.load(tmp_path / "stare")
    case = stare.cases[0]
    assert case.image.suffix == ".ppm" and case.mask.parent.name == "labels-ah"
    assert [p.parent.name for p in case.extra_masks] == ["labels-vk"]
    assert (stare.read(case).mask[0] > 0).sum() == 2 * 12  # the reference alone, not the union with labels-vk


def test_patient_folders_of_slices_with_masks_are_segmentation_grouped_by_patient(tmp_path: Path) -> None:
    """The LGG MRI set (``kaggle_3m/TCGA_CS_4941_19960909/<slice>.tif`` + ``<slice>_mask.tif``, ~110 patients): read as
    one class per patient without --task, and with it split slice by slice (one patient on both sides) before."""
    from medimg.data.splits import make_splits

    for p in range(12):
        patient = tmp_path / f"TCGA_CS_{4941 + p}_19960909"
        for s in range(1, 5):
            _png(patient / f"{patient.name}_{s}.tif")
            _png(patient / f"{patient.name}_{s}_mask.tif", (slice(2, 6), slice(2, 6)))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 48
    assert len({c.patient_id for c in dataset.cases}) == 12
    splits = make_splits([c.as_case() for c in dataset.cases])
    sides: dict[str, set[str]] = {}
    for case in dataset.cases:
        sides.setdefault(str(case.patient_id), set()).add(splits.assignment[case.case_id])
    assert all(len(s) == 1 for s in sides.values())


def _lgg_patients(folder: Path, count: int, slices: int = 3) -> None:
    for p in range(count):
        patient = folder / f"TCGA_CS_{4941 + p}_19960909"
        for s in range(1, slices + 1):
            _png(patient / f"{patient.name}_{s}.tif")
            _png(patient / f"{patient.name}_{s}_mask.tif", (slice(2, 6), slice(2, 6)))


def test_lgg_as_unpacked_groups_each_patient_folder_by_its_name_at_any_depth(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Kaggle's LGG zip unpacks as ``kaggle_3m/<patient>/`` beside its nested copy
    ``lgg-mri-segmentation/kaggle_3m/<patient>/``: the top folders (two) were taken for the patients, too few, so
    slices were split one by one and 28 of 30 patients (and their copies) sat on both sides. A patient folder is
    one patient wherever it lies; too few folders to be patients get a warning instead of silence."""
    _lgg_patients(tmp_path / "lgg" / "kaggle_3m", 12)
    _lgg_patients(tmp_path / "lgg" / "lgg-mri-segmentation" / "kaggle_3m", 12)
    for root in (tmp_path / "lgg", tmp_path / "lgg" / "lgg-mri-segmentation"):
        dataset = Dataset.load(root, task="segment")
        patients = {c.patient_id for c in dataset.cases}
        assert patients == {f"TCGA_CS_{4941 + p}_19960909" for p in range(12)}, root
    _lgg_patients(tmp_path / "few" / "kaggle_3m", 4)
    with caplog.at_level("WARNING"):
        few = Dataset.load(tmp_path / "few", task="segment")
    assert not any(c.patient_id for c in few.cases)
    assert "too few to be taken for patients" in caplog.text and "patient_id" in caplog.text


def test_autopet_studies_of_one_patient_share_the_patient_folder_above_them(tmp_path: Path) -> None:
    """AutoPET: ``FDG-PET-CT-Lesions/PETCT_<patient>/<study date>/SUV.nii.gz`` + ``SEG.nii.gz``. The study folders
    (one case each) and the top folder (one) were the only levels tried: no patient, and a patient's two studies
    fell on both sides of the split."""
    import nibabel as nib

    lesion = np.zeros((8, 8, 4), np.uint8)
    lesion[2:5, 2:5, 1:3] = 1
    for p in range(10):
        for study in range(1 + (p < 3)):
            folder = tmp_path / "FDG-PET-CT-Lesions" / f"PETCT_{p:04x}a1" / f"0{study + 1}-23-2003-NA-PET-CT-1044{p}"
            folder.mkdir(parents=True)
            nib.save(nib.Nifti1Image(lesion * 8.0 + 1, np.eye(4)), str(folder / "SUV.nii.gz"))
            nib.save(nib.Nifti1Image(lesion, np.eye(4)), str(folder / "SEG.nii.gz"))
    dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 13
    assert {c.patient_id for c in dataset.cases} == {f"PETCT_{p:04x}a1" for p in range(10)}


def test_a_few_patient_folders_read_as_classes_are_a_problem_fit_refuses(tmp_path: Path) -> None:
    """A subset of LGG (4 patient folders, too few to be read as segmentation by themselves) trained a classifier of
    which patient a slice is, exit 0; `check` then warned that the classes are ids, with status OK, and fit still
    trained (ADNI's subject folders, Duke's patient folders, PI-CAI's fold0/<patient>/: exit 0). Now a problem fit
    refuses, naming --task segment. Named classes and DR grades are not ids."""
    from medimg.data.labels import id_classes_problem
    from medimg.data.quality import check_dataset, usable_training_images
    from medimg.errors import DatasetError

    _lgg_patients(tmp_path / "kaggle_3m", 4, slices=8)  # more slices than a case folder holds
    dataset = Dataset.load(tmp_path / "kaggle_3m")
    assert dataset.task == "classify"
    check = check_dataset(dataset)
    assert check.classes_of_one.startswith("the 4 classes are all ids (TCGA_CS_4941_19960909")
    assert "--task segment" in check.classes_of_one and not check.ok
    with pytest.raises(DatasetError, match="classes are all ids"):
        usable_training_images(dataset, check)
    assert id_classes_problem(["benign", "malignant", "normal", "other"]) is None
    assert id_classes_problem(["0", "1", "2", "3", "4"]) is None
    assert id_classes_problem(["patient001", "patient002", "patient003", "patient004"]) is not None
    assert id_classes_problem([f"OAS1_{i:04d}_MR1" for i in range(1, 5)]) is not None  # OASIS-1's disc1/ subjects
    assert id_classes_problem(["2019", "2020", "2021", "2022"]) is None  # numbers: the measurement warning's
    # PI-CAI's fold0/<patient>/<patient>_<study>_<sequence>.mha: numbers, but every file is named for its folder
    from medimg.data.case import Case

    numbered = [str(10000 + 5 * i) for i in range(4)]
    files = [Case(f"{n}/{n}_100_{k}.mha", i, path=Path(n, f"{n}_100_{k}.mha")) for i, n in enumerate(numbered)
             for k in ("t2w", "adc")]  # fmt: skip
    assert id_classes_problem(numbered, files) is not None
    graded = [Case(f"{n}/im{i}{k}.png", i, path=Path(n, f"im{i}{k}.png")) for i, n in enumerate(numbered) for k in "ab"]
    assert id_classes_problem(numbered, graded) is None
    # DeepDRiD's regular-fundus-training/Images/<patient>/<patient>_l1.jpg: short numbers, many of them
    patients = [str(p) for p in range(1, 25)]
    eyes = [
        Case(f"{n}/{n}_{k}.jpg", i, path=Path(n, f"{n}_{k}.jpg")) for i, n in enumerate(patients) for k in ("l1", "r1")
    ]
    assert id_classes_problem(patients, eyes) is not None
    assert id_classes_problem(patients[:5], eyes[:10]) is None  # five grades 1..5: numbers, not ids
    # Prostate158's train/020/{t2,adc,dwi,t2_anatomy_reader1}.nii.gz: the same few files in every folder
    scans = ("t2.nii.gz", "adc.nii.gz", "dwi.nii.gz", "t2_anatomy_reader1.nii.gz")
    names = ["020", "021", "022", "023"]
    cases = [Case(f"{n}/{f}", i, path=Path(n, f)) for i, n in enumerate(names) for f in scans]
    assert id_classes_problem(names, cases) is not None
    numbered = [Case(f"{c}/{k}.png", i, path=Path(c, f"{k}.png")) for i, c in enumerate("abcd") for k in range(3)]
    assert id_classes_problem(list("abcd"), numbered) is None  # 1.png in every class: an export's numbering
    # SIPaKMeD's im_<class>/im_<class>/CROPPED/001_03.bmp: each image's cells numbered alike in every class
    kinds = ["im_Dyskeratotic", "im_Koilocytotic", "im_Metaplastic", "im_Parabasal"]
    cells = [Case(f"{c}/{k}", i, path=Path(c, k)) for i, c in enumerate(kinds) for k in ("001_01.bmp", "001_02.bmp")]
    assert id_classes_problem(kinds, cells) is None


def test_byte_identical_image_copies_stay_on_one_side_of_a_segmentation_split(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``images/copy03.png`` saved from ``images/case03.png`` (and its mask): split at random, 5 of 10 copies sat
    on the other side from their original and the test Dice scored images trained on. Files of the same size that
    differ stay apart."""
    from medimg.data.splits import make_splits
    from medimg.tasks.segment.task import SEGMENT

    rng = np.random.default_rng(0)
    for i in range(20):
        image = rng.integers(0, 255, (16, 16), dtype=np.uint8)
        mask = np.zeros((16, 16), np.uint8)
        mask[2 : 4 + i % 8, 3:9] = 255
        for name in (f"case{i:02d}", *([f"copy{i:02d}"] if i < 10 else [])):
            (tmp_path / "images").mkdir(exist_ok=True)
            (tmp_path / "masks").mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / "images" / f"{name}.bmp")  # every image file the same size
            Image.fromarray(mask).save(tmp_path / "masks" / f"{name}.png")
    dataset = Dataset.load(tmp_path, task="segment")
    with caplog.at_level("WARNING"):
        cases = SEGMENT.split_cases(dataset)
    assert "10 image file(s) are byte-for-byte copies" in caplog.text
    assert sum(1 for c in cases if c.same_image) == 20
    for seed in range(5):
        side = make_splits(cases, seed=seed).assignment
        assert all(side[f"images/copy{i:02d}.bmp"] == side[f"images/case{i:02d}.bmp"] for i in range(10))


def test_mosmed_images_mostly_without_masks_are_warned_of_with_their_class_folders(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MosMedData: ``studies/CT-0/``...``CT-4/study_NNNN.nii.gz`` (the severity classes), with masks for a few CT-1
    studies in ``masks/study_NNNN_mask.nii.gz``. Read as segmentation, 95% of the studies were dropped on an INFO
    line that ``-q`` hides; now a warning names the class folders' parent to classify."""
    import nibabel as nib

    for i in range(10):
        study = tmp_path / "studies" / f"CT-{i % 5}" / f"study_{i + 1:04d}.nii.gz"
        study.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.full((6, 6, 3), i, np.int16), np.eye(4)), study)
        if i % 5 == 1:
            (tmp_path / "masks").mkdir(exist_ok=True)
            mask = np.zeros((6, 6, 3), np.uint8)
            mask[1:3, 1:3] = 1
            nib.save(nib.Nifti1Image(mask, np.eye(4)), tmp_path / "masks" / f"study_{i + 1:04d}_mask.nii.gz")
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 2 and len(dataset.unlabelled) == 8
    assert "8 of 10 images have no mask" in caplog.text
    assert f"medimg fit {tmp_path / 'studies'}" in caplog.text


def test_pascal_voc_segmentation_folders_with_their_split_lists(tmp_path: Path) -> None:
    """VOC2012's and CVAT's "Segmentation mask" export: ``JPEGImages/`` + ``SegmentationClass/`` (palette PNGs),
    ``SegmentationObject/`` (instance ids, not the ground truth) and ``ImageSets/Segmentation/{train,val}.txt``.
    Before: three classes named after the folders."""
    from PIL import Image

    from medimg.data.dataset import Dataset, SegmentationDataset

    palette = [0, 0, 0, 250, 50, 83] + [0] * (256 * 3 - 6)
    names = [f"2007_{i:06d}" for i in range(6)]
    for folder in ("JPEGImages", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation"):
        (tmp_path / folder).mkdir(parents=True)
    for i, name in enumerate(names):
        Image.new("RGB", (40, 30)).save(tmp_path / "JPEGImages" / f"{name}.jpg")
        labels = np.zeros((30, 40), np.uint8)
        labels[5:15, 5 + i : 20 + i] = 1
        for folder in ("SegmentationClass", "SegmentationObject"):
            mask = Image.fromarray(labels, mode="P")
            mask.putpalette(palette)
            mask.save(tmp_path / folder / f"{name}.png")
    (tmp_path / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(names[:4]) + "\n")
    (tmp_path / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(names[4:]) + "\n")
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, SegmentationDataset) and len(dataset) == 6
    assert all(c.mask is not None and c.mask.parent.name == "SegmentationClass" for c in dataset.cases)
    assert dataset.split_counts() == {"train": 4, "val": 2}


def test_cvat_labelmap_names_the_classes_and_their_colours(tmp_path: Path) -> None:
    """CVAT's "Segmentation mask" export: ``labelmap.txt`` (``name:R,G,B::``) gives the classes and the colours of
    ``SegmentationClass/`` masks (RGB or palette); a run trains, evaluates and names them."""
    from PIL import Image

    from medimg import Model
    from medimg.data.dataset import Dataset, SegmentationDataset

    data = tmp_path / "cvat"
    for folder in ("JPEGImages", "SegmentationClass"):
        (data / folder).mkdir(parents=True)
    (data / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\npolyp:250,50,83::\n")
    for i in range(10):
        image = np.full((32, 32, 3), 40 + i, np.uint8)  # ten frames, not four and their copies
        mask = np.zeros((32, 32, 3), np.uint8)
        image[8 + i % 4 : 20 + i % 4, 8:20] = 200
        mask[8 + i % 4 : 20 + i % 4, 8:20] = (250, 50, 83)
        Image.fromarray(image).save(data / "JPEGImages" / f"frame_{i:06d}.jpg")
        Image.fromarray(mask).save(data / "SegmentationClass" / f"frame_{i:06d}.png")
    dataset = Dataset.load(data)
    assert isinstance(dataset, SegmentationDataset) and dataset.colour_table is not None
    assert dataset.colour_table.class_names == ["background", "polyp"]
    model = Model("unet", task="segment", epochs=1, channels=[8, 16], batch_size=4).fit(
        data, run_dir=tmp_path / "run", seed=0, progress=False, tensorboard=False
    )
    assert model.plan_.class_names == ["background", "polyp"] and "dice_mean" in model.report_.metrics


def test_ph2_case_folders_with_the_image_and_lesion_in_sub_folders(tmp_path: Path) -> None:
    """PH2 as unpacked: ``PH2 Dataset images/IMD002/IMD002_Dermoscopic_Image/IMD002.bmp`` with
    ``IMD002_lesion/IMD002_lesion.bmp`` (and ``IMD002_roi/`` colour-region files, not the ground truth)."""
    cases = ("IMD002", "IMD003", "IMD004", "IMD006")
    for case in cases:
        folder = tmp_path / "PH2Dataset" / "PH2 Dataset images" / case
        _png(folder / f"{case}_Dermoscopic_Image" / f"{case}.bmp")
        _png(folder / f"{case}_lesion" / f"{case}_lesion.bmp", (slice(2, 9), slice(3, 12)))
        _png(folder / f"{case}_roi" / f"{case}_R1_Label1.bmp", (slice(2, 4), slice(3, 5)))
    dataset = Dataset.load(tmp_path / "PH2Dataset")  # the wrapper folder, as the archive unpacks
    assert dataset.task == "segment"
    found = sorted((c.image.name, c.mask.name) for c in dataset.cases if c.mask is not None)
    assert found == [(f"{case}.bmp", f"{case}_lesion.bmp") for case in cases]


def test_glas_annotations_pair_with_their_images(tmp_path: Path) -> None:
    """GlaS (Warwick-QU): ``train_1.bmp`` + ``train_1_anno.bmp`` side by side, with ``Grade.csv``; the set was read
    as class folders and refused (no sub-folders)."""
    for name in ("train_1", "train_2", "testA_1"):
        _png(tmp_path / f"{name}.bmp")
        _png(tmp_path / f"{name}_anno.bmp", (slice(2, 5), slice(2, 5)))
    (tmp_path / "Grade.csv").write_text("name, patient ID, grade (GlaS)\ntrain_1,1,benign\n")
    assert Dataset.load(tmp_path).task == "segment"
    assert _pairs(tmp_path) == [(f"{n}.bmp", f"{n}_anno.bmp") for n in ("testA_1", "train_1", "train_2")]


def test_siim_png_names_give_the_split_after_their_number(tmp_path: Path) -> None:
    """The SIIM-ACR pneumothorax PNG release: ``png_images/0_train_0_.png`` and ``3_test_1_.png``, masks of the same
    names in ``png_masks/``. The split the names say was ignored: a random split trained on the test images."""
    names = ["0_train_0_", "1_train_1_", "2_train_0_", "3_test_1_", "4_test_0_"]
    for name in names:
        _png(tmp_path / "png_images" / f"{name}.png")
        _png(tmp_path / "png_masks" / f"{name}.png", (slice(2, 5), slice(2, 5)))
    dataset = Dataset.load(tmp_path, task="segment")
    assert {c.image.stem: c.split for c in dataset.cases} == {n: n.split("_")[1] for n in names}


def test_sliver07_role_words_glued_to_the_case_number_pair(tmp_path: Path) -> None:
    """SLIVER07: ``training/liver-orig001.mhd`` + ``liver-seg001.mhd``, ``test/liver-orig021.mhd``. The folder read
    as class folders, and asked for segmentation "found 27 images but no masks" (the masks counted as images)."""
    for i in range(1, 4):
        _png(tmp_path / "training" / f"liver-orig{i:03d}.png")
        _png(tmp_path / "training" / f"liver-seg{i:03d}.png", (slice(2, 5), slice(2, 5)))
    _png(tmp_path / "test" / "liver-orig021.png")
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, SegmentationDataset) and dataset.unlabelled == ["test/liver-orig021.png"]
    expected = [(f"training/liver-orig{i:03d}.png", f"training/liver-seg{i:03d}.png") for i in range(1, 4)]
    assert (
        sorted(
            (c.image.relative_to(tmp_path).as_posix(), c.mask.relative_to(tmp_path).as_posix()) for c in dataset.cases
        )
        == expected
    )


def test_btcv_numbers_right_after_the_role_word_pair(tmp_path: Path) -> None:
    """BTCV (MONAI's UNETR tutorial set): ``img/img0001.nii.gz`` + ``label/label0001.nii.gz`` was refused ("no image
    has a mask with a matching name")."""
    for i in range(1, 4):
        _png(tmp_path / "Training" / "img" / f"img{i:04d}.png")
        _png(tmp_path / "Training" / "label" / f"label{i:04d}.png", (slice(2, 5), slice(2, 5)))
    expected = [(f"Training/img/img{i:04d}.png", f"Training/label/label{i:04d}.png") for i in range(1, 4)]
    assert _pairs(tmp_path) == expected


def test_alternative_mask_folders_are_chosen_with_a_path_pattern(tmp_path: Path) -> None:
    """COVID-19-CT-Seg: ``Infection_Mask/``, ``Lung_Mask/`` and ``Lung_and_Infection_Mask/`` hold one mask of each
    image under its name. The first folder is the reference; ``--exclude 'Infection_Mask/*'`` (a pattern with a
    ``/`` matches the path inside the data folder, not only the name) trains on another: the name alone could not
    tell the folders apart."""
    for i in range(3):
        _png(tmp_path / "COVID-19-CT-Seg_20cases" / f"coronacases_{i:03d}.png")
        _png(tmp_path / "Infection_Mask" / f"coronacases_{i:03d}.png", (slice(3, 5), slice(3, 5)))
        _png(tmp_path / "Lung_Mask" / f"coronacases_{i:03d}.png", (slice(2, 9), slice(2, 9)))
    assert {c.mask.parent.name for c in Dataset.load(tmp_path, task="segment").cases} == {"Infection_Mask"}
    lungs = Dataset.load(tmp_path, task="segment", exclude="Infection_Mask/*")
    assert {c.mask.parent.name for c in lungs.cases} == {"Lung_Mask"} and len(lungs.cases) == 3
    assert all(not c.extra_masks for c in lungs.cases)


def test_ct_org_volumes_pair_with_their_labels_inside_the_archive_folder(tmp_path: Path) -> None:
    """CT-ORG (TCIA): ``OrganSegmentations/volume-0.nii.gz`` + ``labels-0.nii.gz`` side by side in the archive's one
    folder was read as a single class, ``OrganSegmentations``, and refused."""
    for i in range(3):
        _png(tmp_path / "OrganSegmentations" / f"volume-{i}.png")
        _png(tmp_path / "OrganSegmentations" / f"labels-{i}.png", (slice(2, 5), slice(2, 5)))
    assert Dataset.load(tmp_path).task == "segment"
    expected = [(f"OrganSegmentations/volume-{i}.png", f"OrganSegmentations/labels-{i}.png") for i in range(3)]
    assert _pairs(tmp_path) == expected


def test_covid_ct_infection_inside_its_lung_mask_is_not_a_second_observer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Kaggle's COVID-19 CT scans (``ct_scans/``, ``infection_mask/``, ``lung_mask/``): the infection lies inside the
    lungs, so merging would erase it. It was left out as "a second observer's annotation", which it is not; the
    first folder's masks (the infection) are trained, and the warning says what the masks are and how to choose."""
    import nibabel as nib

    lung = np.zeros((16, 16, 4), np.uint8)
    lung[2:14, 2:8] = 1
    lung[2:14, 9:14] = 1
    infection = np.zeros_like(lung)
    infection[4:7, 3:6] = 1
    for k in (1, 2, 3):
        for folder, array in (
            ("ct_scans", lung.astype(np.int16) * 300),
            ("infection_mask", infection),
            ("lung_mask", lung),
        ):
            (tmp_path / folder).mkdir(exist_ok=True)
            nib.save(nib.Nifti1Image(array.astype(np.int16), np.eye(4)), tmp_path / folder / f"coronacases_{k:03d}.nii")
    dataset = Dataset.load(tmp_path, task="segment")
    case = dataset.cases[0]
    with caplog.at_level("WARNING"):
        mask = dataset.read(case).mask[0]
    assert case.mask.parent.name == "infection_mask" and int((mask > 0).sum()) == int(infection.sum())
    assert "one structure inside another" in caplog.text and "second observer" not in caplog.text
    assert "--exclude '*infection_mask/*'" in caplog.text
    chosen = Dataset.load(tmp_path, task="segment", exclude=("*infection_mask/*",))
    assert {c.mask.parent.name for c in chosen.cases} == {"lung_mask"}


def test_the_suggested_exclude_chooses_the_other_masks_below_the_datas_top(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """COVID-QU-Ex: ``Train/COVID-19/{images,infection masks,lung masks}/``; CryoNuSeg: two annotators' folders
    holding a ``label masks modify/`` each. The warning's ``--exclude 'infection masks/*'`` matched nothing below the
    top of the data, and ``'label masks modify/*'`` would have named both annotators' folders."""
    import re

    def choose(root: Path) -> tuple[str, set[str]]:
        caplog.clear()
        dataset = Dataset.load(root, task="segment")
        with caplog.at_level("WARNING"):
            for case in dataset.cases:
                dataset.read(case)
        found = re.search(r"--exclude '([^']+)'", caplog.text)
        assert found, caplog.text
        chosen = Dataset.load(root, task="segment", exclude=(found.group(1),))
        return found.group(1), {c.mask.parent.relative_to(root).as_posix() for c in chosen.cases}

    for k in range(3):
        folder = tmp_path / "covid" / "Train" / "COVID-19"
        _png(folder / "images" / f"covid_{k}.png")
        _png(folder / "infection masks" / f"covid_{k}.png", (slice(3, 4), slice(3, 4)))
        _png(folder / "lung masks" / f"covid_{k}.png", (slice(1, 7), slice(1, 7)))
    assert choose(tmp_path / "covid") == ("*infection masks/*", {"Train/COVID-19/lung masks"})
    for k in range(3):
        _png(tmp_path / "cryo" / "tissue images" / f"gland_{k}.tif")
        for annotator in ("Annotator 1", "Annotator 2"):
            _png(tmp_path / "cryo" / annotator / "label masks modify" / f"gland_{k}.tif", (slice(2, 6), slice(2, 6)))
    assert choose(tmp_path / "cryo") == ("*Annotator 1/label masks modify/*", {"Annotator 2/label masks modify"})
    # Tufts Dental: the abnormality masks first, then teeth and jaw; training one of three leaves out the other two
    # (leaving out the first alone made the next folder's masks the reference: the jaw trained, not the teeth)
    for k in range(3):
        _png(tmp_path / "tufts" / "Radiographs" / f"{k + 1}.JPG")
        _png(tmp_path / "tufts" / "Expert" / "mask" / f"{k + 1}.jpg", (slice(5, 6), slice(5, 6)))
        _png(tmp_path / "tufts" / "Segmentation" / "maxillomandibular" / f"{k + 1}.jpg", (slice(0, 16), slice(0, 16)))
        _png(tmp_path / "tufts" / "Segmentation" / "teeth_mask" / f"{k + 1}.jpg", (slice(3, 9), slice(3, 9)))
    caplog.clear()
    tufts = Dataset.load(tmp_path / "tufts", task="segment")
    with caplog.at_level("WARNING"):
        tufts.read(tufts.cases[0])
    teeth = re.search(r"To train on teeth_mask's masks instead: --exclude '([^']+)'", caplog.text)
    assert teeth, caplog.text
    chosen = Dataset.load(tmp_path / "tufts", task="segment", exclude=(teeth.group(1),))
    assert {c.mask.parent.name for c in chosen.cases} == {"teeth_mask"}


def test_images_drawn_over_with_their_masks_are_not_the_images(tmp_path: Path) -> None:
    """NuCLS: ``rgb/`` images, ``mask/`` masks and ``visualization/`` (each image with its nuclei drawn on it), one
    name in all three: refused as "matches several images equally well" (rgb/ and visualization/)."""
    for k in range(4):
        name = f"TCGA-A1-A0SP-DX1_id-{k}_left-7863_top-8792.png"
        _png(tmp_path / "rgb" / name)
        _png(tmp_path / "visualization" / name, (slice(1, 9), slice(1, 9)))
        _png(tmp_path / "mask" / name, (slice(2, 6), slice(2, 6)))
    dataset = Dataset.load(tmp_path, task="segment")
    assert sorted(c.image.parent.name for c in dataset.cases) == ["rgb"] * 4
    assert all(c.mask.name == c.image.name for c in dataset.cases)


def test_tn3k_split_and_role_words_joined_by_a_hyphen(tmp_path: Path) -> None:
    """TN3K thyroid nodules: ``trainval-image/`` + ``trainval-mask/``, ``test-image/`` + ``test-mask/`` (one name in
    both): refused, "test-mask/0000.jpg matches several images equally well"."""
    for split in ("trainval", "test"):
        for k in range(3):
            _png(tmp_path / f"{split}-image" / f"{k:04d}.jpg")
            _png(tmp_path / f"{split}-mask" / f"{k:04d}.jpg", (slice(2, 6), slice(2, 6)))
    assert _pairs(tmp_path) == sorted(
        (f"{split}-image/{k:04d}.jpg", f"{split}-mask/{k:04d}.jpg") for split in ("trainval", "test") for k in range(3)
    )
    dataset = Dataset.load(tmp_path)
    assert {c.case_id: c.split for c in dataset.cases}["trainval-image/0001.jpg"] == "train"
    assert dataset.split_counts() == {"test": 3, "train": 3}


def test_refuge_is_glaucoma_classes_or_disc_and_cup_masks(tmp_path: Path) -> None:
    """REFUGE: ``Training400/{Glaucoma,Non-Glaucoma}/g0001.jpg`` + ``Annotation-Training400/Disc_Cup_Masks/{Glaucoma,
    Non-Glaucoma}/g0001.bmp`` (255 background, 128 disc, 0 cup). It was one class, ``Training400`` (refused), and with
    ``task="segment"`` two structures named Glaucoma and Non-Glaucoma, each mask's foreground all but the cup."""
    yy, xx = np.mgrid[:16, :16]
    disc_cup = np.where(np.hypot(yy - 8, xx - 8) < 3, 0, np.where(np.hypot(yy - 8, xx - 8) < 6, 128, 255))
    for folder, prefix in (("Glaucoma", "g"), ("Non-Glaucoma", "n")):
        for k in (1, 2, 3):
            _png(tmp_path / "Training400" / folder / f"{prefix}{k:04d}.jpg")
            mask = tmp_path / "Annotation-Training400" / "Disc_Cup_Masks" / folder / f"{prefix}{k:04d}.bmp"
            mask.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(disc_cup.astype(np.uint8)).save(mask)
    classes = Dataset.load(tmp_path)
    assert classes.task == "classify" and classes.class_names == ["Non-Glaucoma", "Glaucoma"] and len(classes) == 6
    masks = Dataset.load(tmp_path, task="segment")
    assert len(masks.cases) == 6 and not any(c.structures for c in masks.cases) and not masks.value_names
    case = next(c for c in masks.cases if c.image.name == "g0001.jpg")
    assert case.mask is not None and case.mask.relative_to(tmp_path).parts[-2:] == ("Glaucoma", "g0001.bmp")


def test_crag_annotation_folder_holds_the_masks(tmp_path: Path) -> None:
    """CRAG (colorectal glands): ``train/Images/train_1.png`` + ``train/Annotation/train_1.png``. It was a classifier of
    two classes, ``Annotation`` and ``Images``: masks against images."""
    for k in (1, 2, 3):
        _png(tmp_path / "train" / "Images" / f"train_{k}.png")
        _png(tmp_path / "train" / "Annotation" / f"train_{k}.png", (slice(2, 6), slice(2, 6)))
    assert _pairs(tmp_path) == [(f"train/Images/train_{k}.png", f"train/Annotation/train_{k}.png") for k in (1, 2, 3)]
    assert Dataset.load(tmp_path).task == "segment"


@pytest.mark.parametrize(
    ("images", "masks"),
    [
        ("imgs", "gts"),
        ("images", "truth"),
        ("raw", "label_images"),
        ("images_png", "masks_png"),
        ("img", "seg"),
        ("input", "target"),
        ("image", "anno"),
    ],
)
def test_more_names_of_mask_folders(tmp_path: Path, images: str, masks: str) -> None:
    """Names sets and tools give their mask folders; each pair was a classifier of two classes, masks and images."""
    for k in (1, 2, 3):
        _png(tmp_path / images / f"{k}.png")
        _png(tmp_path / masks / f"{k}.png", (slice(2, 6), slice(2, 6)))
    assert Dataset.load(tmp_path).task == "segment"
    assert _pairs(tmp_path) == [(f"{images}/{k}.png", f"{masks}/{k}.png") for k in (1, 2, 3)]


def test_a_mask_folder_under_an_unknown_name_is_no_class(tmp_path: Path) -> None:
    """``Original/`` + ``Binary/`` with the same file names, the second holding masks: refused with the fix instead of
    training a classifier to tell masks from images. Two classes of images named alike still load."""
    from medimg.errors import DatasetError

    for k in (1, 2, 3):
        _png(tmp_path / "pair" / "Original" / f"{k}.png")
        _png(tmp_path / "pair" / "Binary" / f"{k}.png", (slice(2, 6), slice(2, 6)))
        _png(tmp_path / "classes" / "benign" / f"image({k}).png")
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (16, 16), np.uint8)).save(
            tmp_path / "classes" / "benign" / f"image({k}).png"
        )
        _png(tmp_path / "classes" / "malignant" / f"image({k}).png")
    with pytest.raises(DatasetError, match=r"Binary/'s files are masks.*rename Binary/ to masks/ and Original/ to "):
        Dataset.load(tmp_path / "pair")
    assert Dataset.load(tmp_path / "classes").class_names == ["benign", "malignant"]
    for k in (1, 2, 3):  # Open Kidney's images/ and regions/: the images' folder is not to be renamed images/
        _png(tmp_path / "kidney" / "images" / f"{k}.png")
        _png(tmp_path / "kidney" / "regions" / f"{k}.png", (slice(2, 6), slice(2, 6)))
    with pytest.raises(DatasetError, match=r"not two classes: rename regions/ to masks/, then run medimg fit .*kidney"):
        Dataset.load(tmp_path / "kidney")


def test_covid_qu_ex_infection_masks_stay_infection_masks(tmp_path: Path) -> None:
    """COVID-QU-Ex (``Infection Segmentation Data/Infection Segmentation Data/Train/<class>/{images,infection masks,
    lung masks}/``): classification was "a single class" (a wrapper inside a wrapper); as segmentation, the healthy
    images' empty infection masks took their lung masks (merged), so a healthy lung was "infection" and a COVID
    image's infection alone was."""
    base = tmp_path / "Infection Segmentation Data" / "Infection Segmentation Data"
    for split in ("Train", "Val", "Test"):
        for label in ("COVID-19", "Normal"):
            for k in (1, 2):
                name = f"{label.lower()}_{k}.png"
                _png(base / split / label / "images" / name)
                _png(base / split / label / "lung masks" / name, (slice(2, 14), slice(2, 14)))
                infected = (slice(4, 7), slice(4, 7)) if label == "COVID-19" else None
                path = base / split / label / "infection masks" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                mask = np.zeros((16, 16), np.uint8)
                if infected:
                    mask[infected] = 255
                Image.fromarray(mask).save(path)
    classes = Dataset.load(tmp_path)
    assert classes.class_names == ["Normal", "COVID-19"] and classes.split_counts() == {"test": 4, "train": 4, "val": 4}
    masks = Dataset.load(tmp_path, task="segment")
    by_name = {c.image.name: masks.read(c).mask[0] for c in masks.cases if c.split == "train"}
    assert int((by_name["covid-19_1.png"] > 0).sum()) == 9 and int((by_name["normal_1.png"] > 0).sum()) == 0


def test_amos_validation_folders_are_the_validation_split(tmp_path: Path) -> None:
    """AMOS22 as nnU-Net raw data: ``imagesTr``/``labelsTr`` and the challenge's validation cases in
    ``imagesVa``/``labelsVa`` (they were trained on); ``imagesTr`` alone stays split by medimg."""
    for part, count in (("Tr", 4), ("Va", 2)):
        for i in range(count):
            _png(tmp_path / f"images{part}" / f"amos_{part}{i:02d}_0000.png")
            _png(tmp_path / f"labels{part}" / f"amos_{part}{i:02d}.png", (slice(2, 8), slice(3, 9)))
    dataset = Dataset.load(tmp_path, task="segment")
    assert (
        sorted((c.image.parent.name, c.split) for c in dataset.cases)
        == [("imagesTr", "train")] * 4 + [("imagesVa", "val")] * 2
    )
    for path in (tmp_path / "imagesVa").iterdir():
        path.unlink()
    assert {c.split for c in Dataset.load(tmp_path, task="segment").cases} == {None}


def test_a_wrapped_sets_dataset_json_names_its_classes_as_training_reads_them(tmp_path: Path) -> None:
    """AMOS given as the folder it was unpacked into (``amos/amos22/dataset.json``): check named the organs, but
    training (SegmentationDataset.load) read from the wrapper and saved class_1..class_2."""
    from medimg.tasks.segment.class_names import value_names_of

    data = tmp_path / "amos" / "amos22"
    for i in range(4):
        _png(data / "imagesTr" / f"amos_{i:04d}.png")
        _png(data / "labelsTr" / f"amos_{i:04d}.png", (slice(2, 8), slice(3, 9)))
    (data / "dataset.json").write_text('{"labels": {"0": "background", "1": "spleen", "2": "right kidney"}}')
    for load in (Dataset.load, SegmentationDataset.load):
        dataset = load(tmp_path / "amos")
        assert isinstance(dataset, SegmentationDataset) and dataset.root == data
        assert value_names_of(dataset) == {0: "background", 1: "spleen", 2: "right kidney"}


def test_word_validation_and_test_folders_are_its_splits(tmp_path: Path) -> None:
    """WORD: ``imagesTr``, ``imagesVal``, ``imagesTs`` with their ``labels*`` folders. ``imagesVal`` was no part name:
    the official split was dropped, and medimg's own put the test cases in training with no word."""
    for part, count in (("Tr", 4), ("Val", 2), ("Ts", 2)):
        for i in range(count):
            _png(tmp_path / "WORD-V0.1.0" / f"images{part}" / f"word_{part}{i:02d}.png")
            _png(tmp_path / "WORD-V0.1.0" / f"labels{part}" / f"word_{part}{i:02d}.png", (slice(2, 8), slice(3, 9)))
    dataset = Dataset.load(tmp_path / "WORD-V0.1.0")
    assert sorted((c.image.parent.name, c.split) for c in dataset.cases) == (
        [("imagesTr", "train")] * 4 + [("imagesTs", "test")] * 2 + [("imagesVal", "val")] * 2
    )


def test_an_images_folder_and_its_ground_truth_folder_are_no_classes(tmp_path: Path) -> None:
    """Drishti-GS1: ``Training/Images/drishtiGS_002.png`` + ``Training/GT/drishtiGS_002/SoftMap/
    drishtiGS_002_ODsegSoftmap.png``. Named otherwise than their images, no mask was paired: ``GT`` and ``Images``
    were two classes, the soft maps a class of images, and a test split of ``Images`` alone scored accuracy 1.0."""
    from medimg.errors import DatasetError

    for split in ("Training", "Test"):
        for i in range(2, 8):
            name = f"drishtiGS_{i:03d}"
            _png(tmp_path / "Drishti-GS1_files" / split / "Images" / f"{name}.png")
            for part in ("OD", "cup"):
                soft = tmp_path / "Drishti-GS1_files" / split / "GT" / name / "SoftMap" / f"{name}_{part}segSoftmap.png"
                _png(soft, (slice(3, 9), slice(3, 9)))
    with pytest.raises(DatasetError, match=r"Images/ and GT/ would be classes, but they are images and their masks"):
        Dataset.load(tmp_path / "Drishti-GS1_files")


def test_lisc_expert_masks_inside_the_class_folders_are_masks(tmp_path: Path) -> None:
    """LISC: ``Baso/1.bmp`` with ``Baso/areaforexpert1/1_expert.bmp`` (0 background, 128 cytoplasm, 255 nucleus),
    five white-cell classes. The masks were "pieces cut from" the images and fit refused, suggesting to train on
    them; ``--task segment`` found "no masks"."""
    rng = np.random.default_rng(0)
    for cls in ("Baso", "eosi", "lymp", "mono", "neut"):
        for i in range(1, 4):
            image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            (tmp_path / cls / "areaforexpert1").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(tmp_path / cls / f"{i}.bmp")
            mask = np.zeros((16, 16), np.uint8)
            mask[4:12, 4:12], mask[6:10, 6:10] = 128, 255
            Image.fromarray(mask).save(tmp_path / cls / "areaforexpert1" / f"{i}_expert.bmp")
    cells = Dataset.load(tmp_path)
    assert cells.class_names == ["Baso", "eosi", "lymp", "mono", "neut"] and len(cells) == 15
    assert all(c.path is not None and "expert" not in c.path.name for c in cells.cases)
    masks = Dataset.load(tmp_path, task="segment")
    assert len(masks.cases) == 15
    assert all(c.mask.name == f"{Path(c.image).stem}_expert.bmp" for c in masks.cases)


def test_bcss_code_table_names_the_mask_values(tmp_path: Path) -> None:
    """BCSS: ``rgbs_colorNormalized/`` + ``masks/`` (values 0..21) beside ``gtruth_codes.tsv`` (``label<TAB>GT_code``):
    the classes were ``class_1``... A ``dataset.json`` naming the labels still wins."""
    rng = np.random.default_rng(0)
    for i in range(3):
        name = f"TCGA-A1-A0S{i}-DX1_xmin1_ymin2_MPP-0.2500.png"
        for folder in ("rgbs_colorNormalized", "masks"):
            (tmp_path / folder).mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "rgbs_colorNormalized" / name)
        Image.fromarray(np.array([[0, 1, 2, 9]] * 8, np.uint8).repeat(2, axis=1)).save(tmp_path / "masks" / name)
    codes = ["outside_roi", "tumor", "stroma", "lymphocytic_infiltrate", "necrosis_or_debris", "glandular_secretions"]
    codes += ["blood", "exclude", "metaplasia_NOS", "fat"]
    (tmp_path / "gtruth_codes.tsv").write_text("label\tGT_code\n" + "".join(f"{c}\t{k}\n" for k, c in enumerate(codes)))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment"
    assert dataset.value_names[1] == "tumor" and dataset.value_names[9] == "fat"
    (tmp_path / "dataset.json").write_text('{"labels": {"background": 0, "cancer": 1, "stroma": 2, "fat": 9}}')
    assert Dataset.load(tmp_path).value_names.get(1) != "tumor"


def _cholec_clips(root: Path, videos: int, clips: int = 2) -> None:
    """CholecSeg8k: ``videoNN/videoNN_<first frame>/frame_<n>_endo.png`` + ``frame_<n>_endo_mask.png``."""
    for v in range(1, videos + 1):
        for start in range(80, 80 * (clips + 1), 80):
            clip = root / f"video{v:02d}" / f"video{v:02d}_{start:05d}"
            for n in range(start, start + 2):
                _png(clip / f"frame_{n}_endo.png")
                _png(clip / f"frame_{n}_endo_mask.png", (slice(2, 6), slice(2, 6)))


def test_cholecseg8k_clips_of_one_video_are_one_patient(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Each clip folder was a patient: one video's clips (frames seconds apart) sat on both sides of the split."""
    _cholec_clips(tmp_path / "CholecSeg8k", 10)
    dataset = Dataset.load(tmp_path / "CholecSeg8k", task="segment")
    assert {c.patient_id for c in dataset.cases} == {f"video{v:02d}" for v in range(1, 11)}
    _cholec_clips(tmp_path / "three", 3, clips=4)  # too few videos to split by: the clips, with a warning
    with caplog.at_level("WARNING"):
        few = Dataset.load(tmp_path / "three", task="segment")
    assert len({c.patient_id for c in few.cases}) == 12
    assert "clips of one video, or scans of one patient?" in caplog.text


@pytest.mark.parametrize("cases", [10, 8])
def test_uw_madison_days_below_their_case_are_one_patient(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cases: int
) -> None:
    """UW-Madison GI tract: ``train/case123/case123_day20/scans/slice_0001.png``: the case is the patient. With
    fewer cases than patient folders need (8 < 10), the day folders were the patients without a word (the warning
    of clips named for their video was for the folder holding the images only); now they are warned about."""
    root = tmp_path / "uw"
    rows = ["id,class,segmentation"]
    for case in range(1, cases + 1):
        for day in (1, 2):
            scans = root / "train" / f"case{case}" / f"case{case}_day{day}" / "scans"
            for n in (1, 2):
                _png(scans / f"slice_{n:04d}_16_16_1.50_1.50.png")
                rows += [
                    f"case{case}_day{day}_slice_{n:04d},stomach,{20 + n} 4 {36 + n} 4",
                    f"case{case}_day{day}_slice_{n:04d},small_bowel,",
                ]
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level("WARNING", logger="medimg"):
        dataset = Dataset.load(root)
    assert len(dataset.cases) == 4 * cases
    if cases == 10:
        assert {c.patient_id for c in dataset.cases} == {f"case{case}" for case in range(1, 11)}
    else:
        assert "named for the 8 folders above them (e.g. case1_day1 in case1" in caplog.text


def test_toothfairy_case_folders_pair_data_with_its_gt_masks(tmp_path: Path) -> None:
    """ToothFairy: ``Dataset/P1/data.npy`` beside ``gt_sparse.npy`` (every patient) and ``gt_alpha.npy`` (some): the
    masks were images (12 classes P1..P12), and with --task segment "found 30 images but no masks". The sparse
    annotation (a few slices drawn) is no reference: a patient without the dense one is unlabelled (its sparse mask
    was scored as the ground truth, and merged into the dense one of the others); ``splits.json`` gives the split."""
    rng = np.random.default_rng(0)
    for n in range(1, 13):
        folder = tmp_path / "Dataset" / f"P{n}"
        folder.mkdir(parents=True)
        np.save(folder / "data.npy", rng.normal(size=(6, 12, 12)).astype(np.float32))
        canal = np.zeros((6, 12, 12), np.uint8)
        canal[2:4, 4:8, 4:8] = 1
        np.save(folder / "gt_sparse.npy", canal)
        if n % 2 == 0:
            np.save(folder / "gt_alpha.npy", canal)
    splits = {"train": ["P2", "P4", "P6"], "val": ["P8"], "test": ["P10", "P12"]}
    (tmp_path / "splits.json").write_text(json.dumps(splits))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 6 and len(dataset.unlabelled) == 6
    assert {c.image.name for c in dataset.cases} == {"data.npy"}
    assert {c.mask.name for c in dataset.cases} == {"gt_alpha.npy"} and not any(c.extra_masks for c in dataset.cases)
    assert {c.image.parent.name: c.split for c in dataset.cases} == {
        name: split for split, names in splits.items() for name in names
    }


def test_bus_bra_images_and_masks_named_with_their_own_prefixes_pair(tmp_path: Path) -> None:
    """BUS-BRA: ``Images/bus_0001-l.png`` beside ``Masks/mask_0001-l.png``: refused, "no image ... has a mask with a
    matching name"."""
    for n in range(1, 7):
        for side in ("l", "r"):
            _png(tmp_path / "Images" / f"bus_{n:04d}-{side}.png")
            _png(tmp_path / "Masks" / f"mask_{n:04d}-{side}.png", (slice(2, 6), slice(2, 6)))
    assert _pairs(tmp_path) == [
        (f"Images/bus_{n:04d}-{side}.png", f"Masks/mask_{n:04d}-{side}.png") for n in range(1, 7) for side in "lr"
    ]


def test_tnbc_numbered_gt_folders_hold_the_masks_of_their_slides(tmp_path: Path) -> None:
    """TNBC: ``Slide_01/01_1.png`` ... beside ``GT_01/01_1.png``: read as 22 classes (Slide_01..GT_11), a slide
    classifier trained; with --task segment "found 88 images but no masks"."""
    for n in range(1, 12):
        for i in range(1, 3):
            _png(tmp_path / f"Slide_{n:02d}" / f"{n:02d}_{i}.png")
            _png(tmp_path / f"GT_{n:02d}" / f"{n:02d}_{i}.png", (slice(2, 6), slice(2, 6)))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 22
    assert all(c.mask.parent.name == c.image.parent.name.replace("Slide", "GT") for c in dataset.cases)
    assert {c.patient_id for c in dataset.cases} == {f"Slide_{n:02d}" for n in range(1, 12)}


def test_kvasir_instrument_split_lists_give_the_published_split(tmp_path: Path) -> None:
    """Kvasir-Instrument: ``images/<id>.jpg``, ``masks/<id>.png`` and ``train.txt`` / ``test.txt`` of ids: the lists
    were ignored, a random split made (every image of test.txt could train)."""
    ids = [f"ckcu{i:04d}xyz" for i in range(12)]
    for name in ids:
        _png(tmp_path / "images" / f"{name}.png")
        _png(tmp_path / "masks" / f"{name}.png", (slice(2, 6), slice(2, 6)))
    (tmp_path / "train.txt").write_text("\n".join(ids[:9]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(ids[9:]) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.split_counts() == {"train": 9, "test": 3}
    assert {c.image.stem for c in dataset.cases if c.split == "test"} == set(ids[9:])


def test_camus_split_lists_in_their_folder_give_the_published_split(tmp_path: Path) -> None:
    """CAMUS: ``database_nifti/patient0001/patient0001_2CH_ED.nii.gz`` + ``_gt``, and ``database_split/
    subgroup_training.txt``, ``subgroup_validation.txt``, ``subgroup_testing.txt`` of patients: the lists were
    ignored (official test patients trained on), and without --task the two folders were refused as one class."""
    import nibabel as nib

    root = tmp_path / "CAMUS_public"
    patients = [f"patient{k:04d}" for k in range(1, 11)]
    for patient in patients:
        for view in ("2CH", "4CH"):
            image = np.zeros((16, 12, 1), np.float32)
            image[4:9, 3:8] = 200
            base = root / "database_nifti" / patient / f"{patient}_{view}_ED"
            base.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(image, np.eye(4)), f"{base}.nii.gz")
            nib.save(nib.Nifti1Image((image > 0).astype(np.uint8), np.eye(4)), f"{base}_gt.nii.gz")
    (root / "database_split").mkdir()
    for name, listed in (("training", patients[:6]), ("validation", patients[6:8]), ("testing", patients[8:])):
        (root / "database_split" / f"subgroup_{name}.txt").write_text("\n".join(listed) + "\n")
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset)
    assert dataset.split_counts() == {"train": 12, "val": 4, "test": 4}
    assert {c.image.parent.name for c in dataset.cases if c.split == "test"} == set(patients[8:])


def _nuinsseg(root: Path, organs: tuple[str, ...], count: int = 3) -> None:
    """NuInsSeg: per organ ``tissue images/``, ``label masks/`` (one value per nucleus), ``label masks modify/``,
    ``mask binary/``, ``distance maps/`` (no image: a distance transform), ``vague areas/mask binary/`` and
    ``stacked mask/`` (the labels stacked into colour channels: it was a field of view, Dice 1.0 inside the nuclei)."""
    for organ in organs:
        stem = organ.replace(" ", "_")
        for i in range(1, count + 1):
            name = f"{stem}_{i:02d}.png"
            _png(root / organ / "tissue images" / name)
            for masks in ("label masks", "label masks modify", "mask binary", "vague areas/mask binary"):
                _png(root / organ / masks / name, (slice(2, 6), slice(2, 6)))
            _png(root / organ / "distance maps" / name, (slice(1, 8), slice(1, 8)))
            _png(root / organ / "stacked mask" / name, (slice(2, 6), slice(2, 6)))  # the labels once more


def test_nuinsseg_organ_folders_pair_tissue_images_with_their_masks(tmp_path: Path) -> None:
    """NuInsSeg: ``label masks/`` was read as a field of view (``mask binary/`` beside it holding the masks) and
    ``distance maps/`` as a second image of each mask ("matches several images equally well"); the vague areas
    (no nuclei) were merged into the masks; at the top, the organ folders were refused as "sets of one dataset's
    classes" named for its image and mask folders."""
    organs = ("human bladder", "human brain", "mouse heart")
    _nuinsseg(tmp_path, organs)
    dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 9 and not dataset.unpaired and not dataset.unlabelled
    assert {c.image.parent.name for c in dataset.cases} == {"tissue images"}
    assert {c.mask.parent.name for c in dataset.cases} == {"label masks"}
    assert all(c.roi is None for c in dataset.cases)
    assert all({m.parent.name for m in c.extra_masks} == {"label masks modify", "mask binary"} for c in dataset.cases)
    classes = Dataset.load(tmp_path)  # the organs as classes, their tissue images only
    assert classes.class_names == sorted(organs) and len(classes.cases) == 9
    assert {c.path.parent.name for c in classes.cases} == {"tissue images"}


def test_polypgen_centre_folders_are_parts_of_image_mask_pairs(tmp_path: Path) -> None:
    """PolypGen: ``data_C1/images_C1/<id>.jpg`` + ``data_C1/masks_C1/<id>_mask.jpg`` ... ``data_C6/``: the centres
    were read as classes holding their masks, then refused as "versions or parts of the dataset"."""
    for centre in range(1, 7):
        for i in range(10):  # more than a case folder holds
            _png(tmp_path / f"data_C{centre}" / f"images_C{centre}" / f"{centre}00H00{i:02d}.png")
            mask = tmp_path / f"data_C{centre}" / f"masks_C{centre}" / f"{centre}00H00{i:02d}_mask.png"
            _png(mask, (slice(2, 6), slice(2, 6)))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 60
    assert all(c.mask.parent.name == c.image.parent.name.replace("images", "masks") for c in dataset.cases)


def test_cellpose_img_and_masks_suffixes_pair(tmp_path: Path) -> None:
    """Cellpose: ``train/000_img.png`` beside ``train/000_masks.png``: was "has no class sub-folders" (the ``_masks``
    files never read as masks)."""
    for split in ("train", "test"):
        for i in range(3):
            _png(tmp_path / split / f"{i:03d}_img.png")
            _png(tmp_path / split / f"{i:03d}_masks.png", (slice(2, 6), slice(2, 6)))
    assert _pairs(tmp_path) == [
        (f"{split}/{i:03d}_img.png", f"{split}/{i:03d}_masks.png") for split in ("test", "train") for i in range(3)
    ]
    assert Dataset.load(tmp_path).split_counts() == {"train": 3, "test": 3}


def test_aroi_labeled_images_pair_with_their_number_masks_not_the_colour_rendering(tmp_path: Path) -> None:
    """AROI: ``24 patient/patient1/raw/labeled/patient1_raw0050.png`` + ``mask/number/`` (values) + ``mask/color/``
    (a colour rendering of them): read as 12 patient classes; ``--task segment``: "labeled/" taken for masks ("no
    image ... (e.g. mask ... vs image -)"), then the colour rendering taken for the reference."""
    for p in range(1, 13):
        folder = tmp_path / "24 patient" / f"patient{p}"
        for n in (50, 60):
            name = f"patient{p}_raw{n:04d}.png"
            _png(folder / "raw" / "labeled" / name)
            _png(folder / "mask" / "number" / name, (slice(2, 6), slice(2, 6)))
            colour = np.zeros((16, 16, 3), np.uint8)
            colour[2:6, 2:6] = (255, 0, 0)
            (folder / "mask" / "color").mkdir(exist_ok=True)
            Image.fromarray(colour).save(folder / "mask" / "color" / name)
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 24
    assert {c.image.parent.name for c in dataset.cases} == {"labeled"}
    assert {c.mask.parent.name for c in dataset.cases} == {"number"} and not any(c.extra_masks for c in dataset.cases)
    assert len({c.patient_id for c in dataset.cases}) == 12


def test_lndb_readers_masks_pair_with_their_scan_the_first_the_reference(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """LNDb: ``data0/LNDb-0001.mhd`` + ``masks/LNDb-0001_rad1.mhd``, ``_rad2`` (each radiologist's): "no image has a
    mask with a matching name"."""
    for n in range(1, 7):
        _png(tmp_path / f"data{n % 2}" / f"LNDb-{n:04d}.png")
        for reader in (1, 2):
            _png(tmp_path / "masks" / f"LNDb-{n:04d}_rad{reader}.png", (slice(2, 6), slice(2, 6 + reader)))
    pairs = _pairs(tmp_path)
    assert pairs == sorted((f"data{n % 2}/LNDb-{n:04d}.png", f"masks/LNDb-{n:04d}_rad1.png") for n in range(1, 7))
    dataset = Dataset.load(tmp_path)
    with caplog.at_level("WARNING"):
        dataset.read(dataset.cases[0])
    assert "--exclude '*_rad1*'" in caplog.text  # the other reader's masks, chosen by name
    pairs = sorted((c.image.name, c.mask.name) for c in Dataset.load(tmp_path, exclude="*_rad1*").cases)
    assert pairs == [(f"LNDb-{n:04d}.png", f"LNDb-{n:04d}_rad2.png") for n in range(1, 7)]


def test_emidec_case_folders_pair_images_with_their_contours(tmp_path: Path) -> None:
    """EMIDEC: ``Case_N001/Images/Case_N001.nii.gz`` + ``Case_N001/Contours/Case_N001.nii.gz``: the case folders
    were read as 14 classes of one image each, a classifier of patients trained (exit 0)."""
    for group, count in (("N", 6), ("P", 8)):
        for n in range(1, count + 1):
            case = f"Case_{group}{n:03d}"
            _png(tmp_path / case / "Images" / f"{case}.png")
            _png(tmp_path / case / "Contours" / f"{case}.png", (slice(2, 6), slice(2, 6)))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 14
    assert all(c.mask.parent.name == "Contours" and c.image.parent.name == "Images" for c in dataset.cases)


def test_iseg_subjects_channel_files_beside_their_label_are_segmentation(tmp_path: Path) -> None:
    """iSeg-2019: ``iSeg-2019-Training/subject-1-T1.hdr``, ``subject-1-T2.hdr``, ``subject-1-label.hdr``: without
    ``--task segment`` "has a single class ('iSeg-2019-Training')" (the label named for no image beside it)."""
    for n in range(1, 7):
        for channel in ("T1", "T2"):
            _png(tmp_path / "iSeg-2019-Training" / f"subject-{n}-{channel}.png")
        _png(tmp_path / "iSeg-2019-Training" / f"subject-{n}-label.png", (slice(2, 6), slice(2, 6)))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 6
    assert all(c.image.name.endswith("-T1.png") and c.channels[0].name.endswith("-T2.png") for c in dataset.cases)


def test_endovis_instrument_masks_stay_with_the_frame_of_their_own_video(tmp_path: Path) -> None:
    """EndoVis 2017: ``instrument_dataset_<n>/left_frames/frame000.png`` with one mask folder per instrument in
    ``ground_truth/<instrument>_labels/``, every video naming its frames alike. A video's second instrument mask was
    paired with the same-named frame of another video (then refused, or trained on the wrong frame)."""
    tools = {1: ("Left_Prograsp_Forceps", "Maryland_Bipolar_Forceps", "Other"), 2: ("Prograsp_Forceps",)}
    for video, names in tools.items():
        folder = tmp_path / f"instrument_dataset_{video}"
        for frame in range(3):
            _png(folder / "left_frames" / f"frame{frame:03d}.png")
            for k, name in enumerate(names):
                mask = folder / "ground_truth" / f"{name}_labels" / f"frame{frame:03d}.png"
                _png(mask, (slice(k, k + 4), slice(2, 9)))
    dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 6 and not dataset.unpaired
    for case in dataset.cases:
        video = case.image.parent.parent
        assert all(m.parent.parent.parent == video for m in (case.mask, *case.extra_masks))
        assert len(case.extra_masks) == (2 if video.name.endswith("1") else 0)
    _png(tmp_path / "instrument_dataset_1" / "right_frames" / "frame000.png")  # right frames are named alike
    with pytest.raises(DatasetError, match=r"--exclude '\*right_frames/\*'"):
        Dataset.load(tmp_path, task="segment")
    assert len(Dataset.load(tmp_path, task="segment", exclude=("*right_frames/*",)).cases) == 6  # the advice works


def test_wsss4luad_masks_not_their_background_masks_with_the_numbered_split_folders(tmp_path: Path) -> None:
    """WSSS4LUAD: ``2.validation/`` and ``3.testing/`` hold ``img/``, ``mask/`` and ``background-mask/``. The
    background masks were trained (the tissue masks taken for fields of view), and the numbered folders were no
    splits."""
    for split in ("2.validation", "3.testing"):
        for i in range(3):
            _png(tmp_path / split / "img" / f"{i:02d}.png")
            _png(tmp_path / split / "mask" / f"{i:02d}.png", (slice(2, 9), slice(2, 9)))
            _png(tmp_path / split / "background-mask" / f"{i:02d}.png", (slice(0, 2), slice(0, 16)))
    _png(tmp_path / "1.training" / "436219-7159-48057-[1, 0, 0].png")
    dataset = Dataset.load(tmp_path, task="segment")
    assert sorted({c.mask.parent.name for c in dataset.cases}) == ["mask"]
    assert all(c.roi is None for c in dataset.cases)
    assert sorted(c.split or "" for c in dataset.cases) == ["test"] * 3 + ["val"] * 3


def test_crossmoda_source_pairs_and_unlabelled_target_domain(tmp_path: Path) -> None:
    """CrossMoDA 2023: ``training_source/<case>_ceT1.nii.gz`` + ``<case>_Label.nii.gz`` and ``training_target/`` of
    unlabelled ``<case>_hrT2.nii.gz``. The target folder was read as masks ("6 masks have no image... rename them"),
    and the source folder alone as one class."""
    import nibabel as nib

    def save(path: Path, dtype: type) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.ones((4, 4, 3), dtype), np.eye(4)), path)

    for case in ("ldn_1", "ldn_2", "etz_1"):
        save(tmp_path / "training_source" / f"crossmoda2023_{case}_ceT1.nii.gz", np.float32)
        save(tmp_path / "training_source" / f"crossmoda2023_{case}_Label.nii.gz", np.uint8)
    save(tmp_path / "training_target" / "crossmoda2023_ldn_100_hrT2.nii.gz", np.float32)
    for root in (tmp_path, tmp_path / "training_source"):
        dataset = Dataset.load(root)
        assert isinstance(dataset, SegmentationDataset) and not dataset.unpaired
        assert sorted(c.image.name.split("_", 1)[1] for c in dataset.cases) == [
            "etz_1_ceT1.nii.gz",
            "ldn_1_ceT1.nii.gz",
            "ldn_2_ceT1.nii.gz",
        ]
    assert Dataset.load(tmp_path).unlabelled == ["training_target/crossmoda2023_ldn_100_hrT2.nii.gz"]


def test_the_advice_for_a_mask_matching_two_images_never_leaves_out_the_images(tmp_path: Path) -> None:
    """A fundus artery/vein set: ``images/01.png``, ``vessel-segmentations/01.png`` and colour ``arteries-and-veins/
    01.png``. The refusal advised ``--exclude '*/images/*'`` (the real images), and a pattern ``*/<folder>/*``
    matched no top-level folder: followed, the same refusal."""
    for i in range(3):
        _png(tmp_path / "images" / f"{i:02d}.png")
        _png(tmp_path / "vessel-segmentations" / f"{i:02d}.png", (slice(2, 9), slice(2, 9)))
        colour = tmp_path / "arteries-and-veins" / f"{i:02d}.png"
        colour.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(
            np.dstack([np.full((16, 16), 200, np.uint8), np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8)])
        ).save(colour)
    with pytest.raises(DatasetError, match=r"--exclude '\*arteries-and-veins/\*'") as error:
        Dataset.load(tmp_path, task="segment")
    assert "images/*'" not in str(error.value)
    dataset = Dataset.load(tmp_path, task="segment", exclude=("*arteries-and-veins/*",))
    assert sorted(c.image.parent.name for c in dataset.cases) == ["images"] * 3


def test_chexpert_images_are_no_experts_masks(tmp_path: Path) -> None:
    """CheXlocalize beside CheXpert's ``CheXpert/val/patient64541/study1/view1_frontal.jpg``: "CheXpert" ends in
    "expert" (LISC's ``areaforexpert1/``, Tufts Dental's ``Expert/`` hold experts' masks), so every image was read as a
    mask: "no image ... (e.g. mask view1_frontal.jpg vs image -)". The images are images: no masks, said so."""
    for i in range(3):
        _png(tmp_path / "CheXpert" / "val" / f"patient6454{i}" / "study1" / "view1_frontal.png")
    with pytest.raises(DatasetError, match="found 3 images but no masks"):
        Dataset.load(tmp_path, task="segment")


def test_files_all_read_as_masks_are_said_so_naming_one(tmp_path: Path) -> None:
    """Only masks to pair: the refusal names a file read as a mask and why, not "vs image -"."""
    for i in range(3):
        _png(tmp_path / "masks" / f"{i}.png", (slice(2, 6), slice(2, 6)))
    with pytest.raises(DatasetError, match=r"every image file under .* was read as a mask.*e\.g\. masks/0\.png"):
        Dataset.load(tmp_path, task="segment")


def test_ribfrac_split_words_in_a_folder_above_the_images_give_the_splits(tmp_path: Path) -> None:
    """RibFrac: ``ribfrac-train-images-1/Part1/RibFrac1-image.nii.gz`` (+ ``ribfrac-train-labels-1/Part1/...
    -label.nii.gz``) beside ``ribfrac-val-images/RibFrac421-image.nii.gz``: the official validation cases were
    pooled with training ("splits none"); the nearest folder naming a split gives it."""
    for i in range(1, 5):
        _volume(tmp_path / "ribfrac-train-images-1" / "Part1" / f"RibFrac{i}-image.nii.gz", False)
        _volume(tmp_path / "ribfrac-train-labels-1" / "Part1" / f"RibFrac{i}-label.nii.gz", True)
    for i in range(421, 423):
        _volume(tmp_path / "ribfrac-val-images" / f"RibFrac{i}-image.nii.gz", False)
        _volume(tmp_path / "ribfrac-val-labels" / f"RibFrac{i}-label.nii.gz", True)
    dataset = Dataset.load(tmp_path, task="segment")
    assert dataset.split_counts() == {"train": 4, "val": 2}


def test_ct_ich_slices_pair_in_the_window_folders_of_each_patient(tmp_path: Path) -> None:
    """CT-ICH's slices: ``Patients_CT/<patient>/brain/9.jpg`` beside ``9_HGE_Seg.jpg`` (the bleed's mask, a word
    between the image's name and the mask's), ``<patient>/bone/9.jpg`` (the bone window). Was: classes "bone" and
    "brain" (the masks among the brain images), a model told the windows apart."""
    for patient in range(49, 61):
        for window in ("brain", "bone"):
            for i in range(1, 4):
                _png(tmp_path / f"{patient:03d}" / window / f"{i}.jpg")
        for i in (2, 3):
            _png(tmp_path / f"{patient:03d}" / "brain" / f"{i}_HGE_Seg.jpg", (slice(2, 6), slice(2, 6)))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 24
    assert all(c.mask.name == c.image.name.replace(".jpg", "_HGE_Seg.jpg") for c in dataset.cases)
    assert len({c.patient_id for c in dataset.cases}) == 12


def test_etis_masks_named_with_a_p_before_the_images_number_pair(tmp_path: Path) -> None:
    """ETIS-LaribPolypDB: ``ETIS-LaribPolypDB/1.tif`` beside ``Ground Truth/p1.tif`` (CVC-ColonDB: ``GT/p1.tiff``).
    Was: "no image has a mask with a matching name (e.g. mask p1.tif vs image 1.tif)"."""
    for i in range(1, 7):
        _png(tmp_path / "ETIS-LaribPolypDB" / f"{i}.tif")
        _png(tmp_path / "Ground Truth" / f"p{i}.tif", (slice(2, 6), slice(2, 6)))
    assert _pairs(tmp_path) == [(f"ETIS-LaribPolypDB/{i}.tif", f"Ground Truth/p{i}.tif") for i in range(1, 7)]


def test_drive_without_test_annotations_keeps_the_test_field_of_view_a_field_of_view(tmp_path: Path) -> None:
    """DRIVE as the challenge ships it without test labels: ``training/images/21_training.tif`` with
    ``training/1st_manual/21_manual1.gif`` and ``training/mask/21_training_mask.gif`` (the field of view), ``test/
    images/01_test.tif`` with ``test/mask/01_test_mask.gif`` only. Was: the test field-of-view discs read as the
    test images' references (Dice 0.02 against them, status OK); now fields of view, the test images unlabelled."""
    for i in range(21, 25):
        _png(tmp_path / "DRIVE" / "training" / "images" / f"{i}_training.tif")
        _png(tmp_path / "DRIVE" / "training" / "1st_manual" / f"{i}_manual1.gif", (slice(2, 4), slice(1, 9)))
        _png(tmp_path / "DRIVE" / "training" / "mask" / f"{i}_training_mask.gif", (slice(1, 15), slice(1, 15)))
    for i in range(1, 5):
        _png(tmp_path / "DRIVE" / "test" / "images" / f"{i:02d}_test.tif")
        _png(tmp_path / "DRIVE" / "test" / "mask" / f"{i:02d}_test_mask.gif", (slice(1, 15), slice(1, 15)))
    dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 4 and all(c.mask.parent.name == "1st_manual" for c in dataset.cases)
    assert all(c.roi is not None and c.roi.parent.name == "mask" for c in dataset.cases)
    assert sorted(dataset.unlabelled) == [f"test/images/{i:02d}_test.tif" for i in range(1, 5)]  # below DRIVE/


def test_mslesseg_patients_in_a_split_folder_are_segmentation_cases(tmp_path: Path) -> None:
    """MSLesSeg: ``train/P1/T1/P1_T1_FLAIR.nii.gz`` + ``P1_T1_T1``, ``P1_T1_T2`` and ``P1_T1_MASK.nii.gz``, a folder
    per timepoint of each patient. Given the folder above ``train/``, the timepoints T1, T2 were read as classes of
    <patient>/<class>/ folders (each channel file an image, the masks left out, status OK); given ``train/`` itself,
    lesion segmentation. Both are segmentation now, the channels one case, each patient on one side."""
    for patient in range(1, 11):
        for time in ("T1", "T2", "T3") if patient % 3 == 0 else ("T1", "T2"):  # some patients scanned three times
            for part in ("FLAIR", "T1", "T2", "MASK"):
                _volume(tmp_path / "train" / f"P{patient}" / time / f"P{patient}_{time}_{part}.nii.gz", part == "MASK")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 23
    assert all(c.mask.name == f"{c.mask.parent.parent.name}_{c.mask.parent.name}_MASK.nii.gz" for c in dataset.cases)
    assert {len(c.channels) for c in dataset.cases} == {2}  # beside the image: three channels
    assert len({c.patient_id for c in dataset.cases}) == 10
    assert Dataset.load(tmp_path / "train").task == "segment"


def test_edd2020_one_mask_per_class_named_for_its_image_is_one_label_map(tmp_path: Path) -> None:
    """EDD2020: ``originalImages/EDD2020_ACB0001.jpg`` + ``masks/EDD2020_ACB0001_BE.tif``, ``..._suspicious.tif``
    (a mask for each class the image shows) beside ``bbox/*.txt``. Was: one mask per image paired as a binary
    'foreground' (BE and HGD merged), cancer, polyp and suspicious reported as masks without an image, status OK."""
    shown = {1: ("BE", "suspicious"), 2: ("HGD",), 3: ("cancer", "polyp"), 4: ("polyp",), 5: ("BE", "HGD"), 6: ()}
    for i, classes in shown.items():
        _png(tmp_path / "originalImages" / f"EDD2020_ACB000{i}.jpg")
        for k, name in enumerate(classes):
            _png(tmp_path / "masks" / f"EDD2020_ACB000{i}_{name}.tif", (slice(2 + 5 * k, 6 + 5 * k), slice(2, 6)))
    (tmp_path / "bbox").mkdir()
    (tmp_path / "bbox" / "EDD2020_ACB0001.txt").write_text("BE 2 2 6 6\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and dataset.value_names == {
        0: "background",
        1: "BE",
        2: "HGD",
        3: "cancer",
        4: "polyp",
        5: "suspicious",
    }
    assert dataset.unlabelled == ["originalImages/EDD2020_ACB0006.jpg"] and not dataset.unpaired
    first = next(c for c in dataset.cases if c.case_id.endswith("ACB0001.jpg"))
    assert [value for value, _ in first.structures] == [1, 5]
    assert set(np.unique(read_case_mask(first)).tolist()) == {0, 1, 5}
    chosen = Dataset.load(tmp_path, exclude=("suspicious",))
    assert chosen.value_names == {0: "background", 1: "BE", 2: "HGD", 3: "cancer", 4: "polyp"}


def test_isic_2018_attribute_masks_are_the_attributes(tmp_path: Path) -> None:
    """ISIC 2018 task 2: ``ISIC2018_Task2_Training_GroundTruth_v3/ISIC_0000000_attribute_globules.png``, one per
    attribute and image (most empty), beside the images' folder: the attributes, their shared word dropped."""
    attributes = ("globules", "milia_like_cyst", "negative_network", "pigment_network", "streaks")
    for i in range(4):
        _png(tmp_path / "ISIC2018_Task1-2_Training_Input" / f"ISIC_000000{i}.jpg")
        for name in attributes:
            box = (slice(2, 6), slice(2, 6)) if name == attributes[i] else (slice(0, 0), slice(0, 0))
            _png(tmp_path / "ISIC2018_Task2_Training_GroundTruth_v3" / f"ISIC_000000{i}_attribute_{name}.png", box)
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 4
    assert list(dataset.value_names.values()) == ["background", *attributes]


def test_numbered_masks_of_an_image_are_not_structures(tmp_path: Path) -> None:
    """SegPC's ``y/106_1.bmp``, ``106_2.bmp`` (one cell each) and observers' ``_expert1`` masks are not structures."""
    for i in range(1, 5):
        _png(tmp_path / "images" / f"{100 + i}.png")
        for k in (1, 2):
            _png(tmp_path / "masks" / f"{100 + i}_{k}.png", (slice(2, 6), slice(2 + 5 * k, 6 + 5 * k)))
    from medimg.data.layouts import named_structure_masks

    assert not named_structure_masks.detect(tmp_path)


def test_the_parts_of_a_download_are_not_warned_of_as_too_few_patients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """AbdomenCT-1K: ``AbdomenCT-1K-ImagePart1/Case_00001_0000.nii.gz`` ... beside ``Mask/Case_00001.nii.gz``:
    every run warned '14 case(s) lie in 2 folders (e.g. AbdomenCT-1K-ImagePart1), too few to be taken for patients
    ... give a CSV manifest', though each case is a patient of its own."""
    import logging

    for part, cases in (("AbdomenCT-1K-ImagePart1", range(1, 8)), ("AbdomenCT-1K-ImagePart2", range(8, 15))):
        for i in cases:
            _png(tmp_path / part / f"Case_{i:05d}_0000.png")
            _png(tmp_path / "Mask" / f"Case_{i:05d}.png", (slice(2, 6), slice(2, 6)))
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 14
    assert "too few to be taken for patients" not in caplog.text
    for name in ("AbdomenCT-1K-ImagePart1", "AbdomenCT-1K-ImagePart2"):  # folders not named as parts: warned of
        (tmp_path / name).rename(tmp_path / name.replace("ImagePart", "Site"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medimg"):
        Dataset.load(tmp_path)
    assert "too few to be taken for patients" in caplog.text


def test_bbbc039_metadata_lists_of_masks_give_the_split(tmp_path: Path) -> None:
    """BBBC039: ``images/<name>.tif`` + ``masks/<name>.png`` beside ``metadata/training.txt``, ``validation.txt`` and
    ``test.txt``, each listing masks' file names. The lists were not read ('splits none'): official test images
    trained."""
    names = [f"IXMtest_A{i:02d}_s1_w1.tif" for i in range(12)]
    for name in names:
        _png(tmp_path / "images" / name)
        _png(tmp_path / "masks" / name.replace(".tif", ".png"), (slice(2, 6), slice(2, 6)))
    (tmp_path / "metadata").mkdir()
    for split, part in (("training", names[:6]), ("validation", names[6:9]), ("test", names[9:])):
        (tmp_path / "metadata" / f"{split}.txt").write_text("".join(n.replace(".tif", ".png") + "\n" for n in part))
    dataset = Dataset.load(tmp_path)
    assert dataset.split_counts() == {"train": 6, "val": 3, "test": 3}
    assert {c.image.name for c in dataset.cases if c.split == "test"} == set(names[9:])


def test_g1020_images_twice_offer_an_exclude_that_reads_the_set(tmp_path: Path) -> None:
    """G1020: ``Images/image_0.jpg`` and ``NerveRemoved/Images/image_0.jpg`` beside ``Masks/image_0.png``: refused,
    'matches several images equally well', with no --exclude offered (both folders are named Images); the folder where
    their paths part is named now, and the offered --exclude reads the set."""
    import re

    for i in range(4):
        _png(tmp_path / "Images" / f"image_{i}.jpg")
        _png(tmp_path / "NerveRemoved" / "Images" / f"image_{i}.jpg")
        _png(tmp_path / "Masks" / f"image_{i}.png", (slice(2, 6), slice(2, 6)))
    with pytest.raises(DatasetError, match="equally well") as refused:
        Dataset.load(tmp_path, task="segment")
    offered = re.search(r"--exclude '([^']+)'", str(refused.value))
    assert offered is not None and offered.group(1) == "*NerveRemoved/*", str(refused.value)
    dataset = Dataset.load(tmp_path, task="segment", exclude=(offered.group(1),))
    assert {c.image.relative_to(tmp_path).parts[0] for c in dataset.cases} == {"Images"} and len(dataset.cases) == 4


def test_crossmoda_pairs_in_a_folder_named_for_training_are_found_from_the_top(tmp_path: Path) -> None:
    """CrossMoDA: ``crossmoda2022_training/crossmoda2022_etz_1_ceT1.nii.gz`` + ``..._Label.nii.gz`` (and unlabelled
    ``_hrT2`` scans) beside ``crossmoda2022_validation/`` of scans alone: refused from the top, "its folders ... are
    named for splits (train, val), not classes; point medimg at the training split's folder when it holds class
    folders"."""
    for i in range(1, 7):
        _png(tmp_path / "crossmoda2022_training" / f"crossmoda2022_etz_{i}_ceT1.png")
        _png(tmp_path / "crossmoda2022_training" / f"crossmoda2022_etz_{i}_Label.png", (slice(2, 6), slice(2, 6)))
        _png(tmp_path / "crossmoda2022_training" / f"crossmoda2022_etz_{100 + i}_hrT2.png")
        _png(tmp_path / "crossmoda2022_validation" / f"crossmoda2022_etz_{200 + i}_hrT2.png")
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 6 and len(dataset.unlabelled) == 12
    assert all(c.mask.name == c.image.name.replace("_ceT1", "_Label") for c in dataset.cases)


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("gt_sparse.npy", "ignore"),
        ("ground_truth_sparse.nii.gz", "ignore"),  # was "mask": the kind was cut after the first separator
        ("label-partial.png", "ignore"),
        ("mask_scribble.png", "ignore"),
        ("gt_alpha.npy", "mask"),
        ("ground_truth_dense.nii.gz", "mask"),
    ],
)
def test_a_mask_named_for_a_partial_annotation_is_no_reference(name: str, role: str) -> None:
    from medimg.data.layouts.image_mask_pairs import _suffix_role

    assert _suffix_role(Path(name)) == role


def test_sun_seg_edge_maps_beside_frames_and_masks_are_ignored(tmp_path: Path) -> None:
    """SUN-SEG: ``TrainDataset/Frame/<clip>/<stem>.jpg``, ``GT/<clip>/<stem>.png`` and ``Edge/<clip>/<stem>.png``
    (each mask's outline): every mask matched a frame and an edge map "equally well", and the advice to leave one
    out named ``Frame/``; followed, the model learnt from the outlines of its own masks."""
    for split in ("TrainDataset", "TestEasyDataset/Seen"):
        for clip in range(1, 4):
            for frame in range(1, 4):
                stem = f"case{clip}_1/case_M_2018100110094{clip}_image{frame:04d}"
                _png(tmp_path / split / "Frame" / f"{stem}.png")
                _png(tmp_path / split / "GT" / f"{stem}.png", (slice(4, 12), slice(4, 12)))
                _png(tmp_path / split / "Edge" / f"{stem}.png", (slice(4, 5), slice(4, 12)))
    dataset = Dataset.load(tmp_path)
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 18
    assert {c.image.parts[-3] for c in dataset.cases} == {"Frame"}
    assert {c.mask.parts[-3] for c in dataset.cases} == {"GT"}
    assert {c.split for c in dataset.cases} == {"train", "test"}


def test_btcv_averaged_training_images_are_no_cases(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """BTCV: ``averaged-training-images/DET0000101_avg.nii.gz`` + ``DET0000101_avg_seg.nii.gz`` beside
    ``RawData/Training/img/`` and ``label/``: the atlas averages of the training scans were cases, two of the three
    in the test split."""
    root = tmp_path / "btcv"
    for n in range(1, 7):
        _volume(root / "RawData" / "Training" / "img" / f"img{n:04d}.nii.gz", mask=False)
        _volume(root / "RawData" / "Training" / "label" / f"label{n:04d}.nii.gz", mask=True)
    for n in range(101, 104):
        _volume(root / "averaged-training-images" / f"DET0000{n}_avg.nii.gz", mask=False)
        _volume(root / "averaged-training-images" / f"DET0000{n}_avg_seg.nii.gz", mask=True)
    with caplog.at_level("INFO", logger="medimg"):
        dataset = Dataset.load(root)
    assert sorted(c.image.name for c in dataset.cases) == [f"img{n:04d}.nii.gz" for n in range(1, 7)]
    assert "atlas averages of the training scans" in caplog.text


def test_rose_extra_label_sets_are_all_offered_in_one_exclude(tmp_path: Path) -> None:
    """ROSE-1's ``SVC/train/{img,gt,thick_gt,thin_gt}/01.tif``: refused as 'matches several images equally well'
    offering --exclude '*thin_gt/*' alone; with it, the second run asked for thick_gt/ too. Both are offered."""
    import re

    for i in range(1, 5):
        _png(tmp_path / "SVC" / "train" / "img" / f"{i:02d}.png", (slice(1, 7), slice(1, 3)))
        for folder in ("gt", "thick_gt", "thin_gt"):
            _png(tmp_path / "SVC" / "train" / folder / f"{i:02d}.png", (slice(2, 6), slice(2, 6)))
    with pytest.raises(DatasetError, match="equally well") as refused:
        Dataset.load(tmp_path, task="segment")
    offered = re.search(r"--exclude '([^']+)'", str(refused.value))
    assert offered is not None and offered.group(1) == "*thick_gt/*,*thin_gt/*", str(refused.value)
    dataset = Dataset.load(tmp_path, task="segment", exclude=tuple(offered.group(1).split(",")))
    assert {c.image.parent.name for c in dataset.cases} == {"img"} and len(dataset.cases) == 4
    assert {c.mask.parent.name for c in dataset.cases} == {"gt"}


def test_tufts_dental_radiographs_are_the_images_and_gaze_maps_are_left_out(tmp_path: Path) -> None:
    """Tufts Dental: ``Radiographs/1.JPG``, ``Expert/mask/1.jpg`` and ``Eye_Tracking/Expert/Gaze_Map/1.jpg`` (where
    the readers looked): refused as 'matches several images equally well', offering --exclude '*Radiographs/*',
    which trained on the gaze maps, status OK."""
    for i in range(1, 5):
        _png(tmp_path / "Radiographs" / f"{i}.png", (slice(1, 7), slice(1, 3)))
        for reader in ("Expert", "Student"):
            _png(tmp_path / "Eye_Tracking" / reader / "Gaze_Map" / f"{i}.png", (slice(0, 4), slice(0, 8)))
            _png(tmp_path / reader / "mask" / f"{i}.png", (slice(2, 6), slice(2, 6 + (reader == "Student"))))
    dataset = Dataset.load(tmp_path, task="segment")
    assert {c.image.parent.name for c in dataset.cases} == {"Radiographs"} and len(dataset.cases) == 4
    assert {c.mask.parent.name for c in dataset.cases} == {"mask"}


def test_gleason2019_first_pathologists_maps_are_the_masks_and_the_others_second_readers(tmp_path: Path) -> None:
    """Gleason2019: ``Train Imgs/slide001_core003.jpg`` and ``Maps1_T/`` ... ``Maps6_T/`` of
    ``slide001_core003_classimg_nonconvex.png`` (six pathologists' grade maps), ``Test/``: the map folders were
    "ignored (archives often hold a nested copy of the data)", and with --task segment "found 76 images but no
    masks"."""
    for i in range(4):
        _png(tmp_path / "Train Imgs" / f"slide001_core00{i}.png", (slice(1, 7), slice(1, 3)))
        for reader in range(1, 4):
            box = (slice(2, 6), slice(2, 6 + (reader > 1)))
            _png(tmp_path / f"Maps{reader}_T" / f"slide001_core00{i}_classimg_nonconvex.png", box)
        _png(tmp_path / "Test" / f"slide008_core00{i}.png", (slice(1, 7), slice(1, 3)))
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 4
    assert {c.mask.parent.name for c in dataset.cases} == {"Maps1_T"}
    assert all(c.mask.name.startswith(c.image.stem) for c in dataset.cases)


def test_numbered_category_folders_are_not_taken_for_patients(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """UFBA-UESC Dental Images: ``Images/cate1/1.jpg``...``cate10/`` (kinds of panoramic X-ray: implants, teeth
    missing...) beside ``Segmentation/teeth_mask/1.png``: the ten category folders were the split's patients, and
    whole categories sat in the test split, never trained on."""
    import logging

    data = tmp_path / "UFBA_UESC_DENTAL_IMAGES"
    for k in range(1, 31):
        _png(data / "Images" / f"cate{(k - 1) // 3 + 1}" / f"{k}.png")
        _png(data / "Segmentation" / "teeth_mask" / f"{k}.png", (slice(2, 6), slice(2, 6)))
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(data)
    assert dataset.task == "segment" and len(dataset.cases) == 30
    assert not any(c.patient_id for c in dataset.cases)
    assert "named as categories (e.g. cate1), not patients" in caplog.text


def test_case_folders_under_a_few_centre_folders_are_not_warned_of_as_too_few_patients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """FeTS 2022: ``center_1/FeTS2022_00000/FeTS2022_00000_flair.nii.gz`` ... one case per folder under three
    centre folders: warned '14 case(s) lie in 3 folders (e.g. center_1/FeTS2022_00000), too few to be taken for
    patients ... give a CSV manifest', though every case has its own folder."""
    import logging

    for k in range(12):
        case = tmp_path / f"center_{k % 3 + 1}" / f"case_{k:03d}"
        _png(case / "image.png")
        _png(case / "mask.png", (slice(2, 6), slice(2, 6)))
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 12
    assert "too few to be taken for patients" not in caplog.text


def test_a_case_folder_of_images_and_masks_is_not_offered_as_class_folders(tmp_path: Path) -> None:
    """The Turkish stroke CT set: ``Bleeding/{PNG,MASKS,OVERLAY}/10011.png`` beside ``Normal/PNG/``; asked for
    classification, the refusal offered "the folders of images in Bleeding/ (MASKS, OVERLAY, PNG) as the classes:
    medimg fit .../Bleeding", a classifier of masks against overlays against images."""
    root = tmp_path / "Brain Stroke CT Image Dataset"
    for cls, start in (("Bleeding", 11), ("Ischemia", 21)):
        for k in range(start, start + 4):
            _png(root / cls / "PNG" / f"100{k}.png")
            _png(root / cls / "MASKS" / f"100{k}.png", (slice(2, 6), slice(2, 6)))
            _png(root / cls / "OVERLAY" / f"100{k}.png")
    for k in range(1, 5):
        _png(root / "Normal" / "PNG" / f"1000{k}.png")
    with pytest.raises(DatasetError) as refused:
        Dataset.load(root, task="classify")
    assert "as the classes: medimg fit" not in str(refused.value)
