"""Patients from file names (Kermany's chest X-rays and OCT, NIH, EyePACS): one patient's images on one side of the
split when nothing else names the patients; names without patient ids are left alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.data.name_patients import name_key
from medimg.data.splits import make_splits


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("CNV-1016042-1.jpeg", "1016042"),  # OCT2017: <finding>-<patient>-<image>
        ("NORMAL-1016042-3.jpeg", "1016042"),  # the same patient's other eye or visit, in another class folder
        ("person1_bacteria_1.jpeg", "person1"),  # Kermany: one child's bacterial and viral images
        ("person1_virus_6.jpeg", "person1"),
        ("Patient_12_CT_3.png", "patient12"),
        ("NORMAL2-IM-1427-0001.jpeg", "normal2-im-1427"),
        ("00000001_000.png", "00000001"),
        ("10_left.jpeg", "10"),
        ("M01_01.jpg", "m01"),
        ("ISIC_0024306.jpg", None),  # no digit left: not a patient
        ("IM000000.JPG", None),  # one part
        ("20051020_00001_0100_PP.png", None),  # no counter at the end
        ("1.2.826.0.1.3680043.8.498.1.png", None),  # a UID: one part
        ("acne-cystic-12.jpg", None),
        # the NIH malaria cells: the slide (patient) before a camera's IMG_<date>_<time>; each photo was one group
        ("C100P61ThinF_IMG_20150918_144104_cell_162.png", "c100p61thinf"),
        # OASIS: a subject's sessions (MR2 the rescan): the subject (was None: MR1 tested and MR2 trained)
        ("OAS1_0004_MR2_mpr-1_anon.hdr", "oas1_0004"),
        ("OAS1_0004_MR1_mpr_n4_anon_111_t88_masked_gfc.hdr", "oas1_0004"),
        ("C100P61ThinF_IMG_20150918_150041_cell_8.png", "c100p61thinf"),
        ("C1_thinF_IMG_20150604_104722_cell_9.png", "c1-thinf"),
        ("IMG_20150604_104722_1.jpg", "20150604-104722"),  # no slide before IMG: the name as before
        # BIDS names (BIMCV's chest X-rays in QaTa-COV19 and COVIDx, ISLES): the subject entity is the patient
        ("sub-S03044_ses-E07430_run-1_bp-chest_vp-ap_dx.png", "sub-s03044"),
        ("sub-S03044_ses-E11627_run-1_bp-chest_vp-ap_dx.png", "sub-s03044"),
        ("sub-strokecase0001_ses-0001_dwi.nii.gz", "sub-strokecase0001"),
        ("sub-01_T1w.nii.gz", "sub-01"),
        ("sub-control_T1w.nii.gz", None),  # no digit: not an id
        # augmented copies: the Monkeypox set's M01_01_00.jpg (patient, image, copy), Kaggle's blood cells
        # _<copy>_<cell>.jpeg (the copy's number was taken for the patient)
        ("M01_01_00.jpg", "m01"),
        ("NM12_03_11.jpg", "nm12"),
        ("_20_1000.jpeg", "1000"),
        ("_0_1169.jpeg", "1169"),
        ("case_12_3.png", "case-12"),  # a short number after a word: the word stays (a class's own count)
        # MSLD v2.0: <disease code>_<patient>_<image>[_aug<n>], patients counted from 01 in each class folder
        ("MKP_03_01_aug1.jpg", "mkp-03"),
        ("MKP_03_01.jpg", "mkp-03"),
        # C-NMC 2019 (leukaemia cells): UID_<subject>_<image>_<cell>_<class>, healthy subjects' ids starting with H
        ("UID_11_10_1_all.bmp", "uid_11"),
        ("UID_H10_43_1_hem.bmp", "uid_h10"),
        # TCGA barcodes: the patient (site, participant) before the slide and region (BCSS, MoNuSAC); IXI subjects
        ("TCGA-A2-A0D0-DX1_xmin45749_ymin25055_MPP-0.2500.png", "tcga-a2-a0d0"),
        ("TCGA-55-1594-01Z-00-DX1_1.tif", "tcga-55-1594"),
        ("IXI002-Guys-0828-T1.nii.gz", "ixi002"),
        ("IXI002-Guys-0828-T2.nii.gz", "ixi002"),
        # a slide's tiles named by their position: SICAPv2's patches (each was a patient: one slide's patches were
        # split between train and test)
        ("16B0018510_Block_Region_0_0_0_xini_6827_yini_59786.jpg", "16b0018510"),
        ("18B0006169A_Block_Region_3_2_1_xini_100_yini_200.jpg", "18b0006169a"),
        ("slide12_x1024_y2048.png", "slide12"),
        # DeepLesion's <patient>_<study>_<series>_<slice> (ULS23's lesions after it): a patient's studies were split
        ("000004_01_01_107_lesion_01.nii.gz", "deeplesion-000004"),
        ("000004_02_01_108.png", "deeplesion-000004"),
        # a mammogram's side and view after the patient (KAU-BCMD): each view was a case of its own, split apart
        ("D1_1_L_CC.jpg", "d1-1"),
        ("D1_1_R_MLO.jpg", "d1-1"),
        # CDD-CESM's <patient>_<side>_<DM|CM>_<view>: the low energy and contrast images of a breast, one patient
        ("P1_L_DM_MLO.jpg", "p1"),
        ("P1_R_CM_CC.jpg", "p1"),
        ("P12_L_CM_MLO.jpg", "p12"),
        # BUS-BRA's bus_<patient>-<letter>: the letter names one of the patient's images (-s had no key, and the
        # split went by image)
        ("bus_0001-l.png", "0001"),
        ("bus_0002-s.png", "0002"),
        # an eye's side glued to the number: CHASE_DB1's Image_01L and Image_01R are one child's eyes, split apart
        ("Image_01L.jpg", "image-01"),
        ("Image_01R.jpg", "image-01"),
        ("RET002OD.jpg", "ret002"),
        ("RET002OS.jpg", "ret002"),
        # GRAZPEDWRI-DX's <patient>_<time hash>_<image>_WRI-<side><projection>_<sex><age>: a child's radiographs lay
        # on both sides of a detection split (no key: the last part is no counter)
        ("0001_1297860395_01_WRI-L1_M014.png", "grazpedwri-0001"),
        ("0001_1297860395_02_WRI-L2_M014.png", "grazpedwri-0001"),
    ],
)
def test_name_key(name: str, key: str | None) -> None:
    assert name_key(name) == key


def test_a_first_word_is_a_finding_only_when_a_folder_has_its_name_and_brats_timepoints_are_one_patient() -> None:
    """Shenzhen's ``CHNCXR_0001_0.png`` and Montgomery's ``MCUCXR_0001_0.png`` in one folder (Kaggle's chest X-ray
    masks and labels) were one patient, ``0001``: the source's word was dropped as OCT2017's finding is. BraTS 2023's
    ``BraTS-GLI-00002-000`` and ``-001`` (two timepoints) were no patient at all: split apart."""
    assert name_key("CNV-1016042-1.jpeg", {"oct2017", "train", "cnv"}) == "1016042"
    assert name_key("CHNCXR_0001_0.png", {"lung segmentation", "cxr_png"}) == "chncxr-0001"
    assert name_key("MCUCXR_0001_0.png", {"lung segmentation", "cxr_png"}) == "mcucxr-0001"
    assert name_key("BraTS-GLI-00002-001-t1c.nii.gz") == name_key("BraTS-GLI-00002-000-seg.nii.gz") == "brats-gli-00002"
    # BRACS' class code after the patient (0_N/BRACS_1003_N_1.png, 3_FEA/BRACS_1003_FEA_2.png): one patient, not two
    bracs = name_key("BRACS_1003_N_1.png", {"train", "0_n"})
    assert bracs == name_key("BRACS_1003_FEA_2.png", {"3_fea"}) == "bracs-1003"
    assert name_key("NORMAL2-IM-1427-0001.jpeg", {"normal"}) == "normal2-im-1427"
    assert name_key("BraTS-MEN-01234-000.nii.gz") == "brats-men-01234"


def test_brats_timepoints_stay_on_one_side_though_most_patients_have_one(tmp_path: Path) -> None:
    import nibabel as nib

    lesion = np.zeros((8, 8, 4), np.uint8)
    lesion[2:5, 2:5, 1:3] = 1
    for p in range(12):
        for timepoint in range(1 + (p < 2)):
            case = tmp_path / f"BraTS-GLI-{p:05d}-{timepoint:03d}"
            case.mkdir()
            for kind in ("t1c", "t2f"):
                nib.save(nib.Nifti1Image(lesion * 50.0 + 10, np.eye(4)), str(case / f"{case.name}-{kind}.nii.gz"))
            nib.save(nib.Nifti1Image(lesion, np.eye(4)), str(case / f"{case.name}-seg.nii.gz"))
    dataset = Dataset.load(tmp_path)
    assert len(dataset.cases) == 14
    patients = {c.case_id.split("/")[0]: c.patient_id for c in dataset.cases}
    assert patients["BraTS-GLI-00000-000"] == patients["BraTS-GLI-00000-001"] != patients["BraTS-GLI-00001-000"]
    assert len(set(patients.values())) == 12


def _oct(root: Path, patients: int, per_patient: int, *, shared: bool = True) -> None:
    """OCT2017's ``<class>/<class>-<patient>-<image>.jpeg``; ``shared``: each patient has images in both classes."""
    rng = np.random.default_rng(0)
    for c, cls in enumerate(("CNV", "NORMAL")):
        for p in range(patients):
            for i in range(per_patient):
                path = root / cls / f"{cls}-{1000 + p + (0 if shared else 1000 * c)}-{i + 1}.jpeg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(path)


def test_a_patient_in_the_file_names_stays_on_one_side_of_the_split(tmp_path: Path) -> None:
    """A patient with images in two class folders (OCT2017's CNV-1000-1 and NORMAL-1000-1) is one patient. Before:
    two, and re-split, half the patients had images on both sides."""
    _oct(tmp_path, patients=12, per_patient=4)
    dataset = Dataset.load(tmp_path)
    assert {c.patient_id for c in dataset.cases} == {f"name-{1000 + p}" for p in range(12)}
    splits = make_splits(dataset.cases, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert splits.method == "stratified-grouped"
    side: dict[str, set[str]] = {}
    for case in dataset.cases:
        side.setdefault(str(case.patient_id), set()).add(splits.assignment[case.case_id])
    assert all(len(sides) == 1 for sides in side.values()), json.dumps({k: sorted(v) for k, v in side.items()})


def test_msld_class_counted_patients_stay_apart_and_augmented_copies_join_their_image(tmp_path: Path) -> None:
    """MSLD v2.0: ``HFMD/HFMD_01_01.jpg`` and ``Healthy/HEALTHY_01_01.jpg`` are two people, each class counting its
    own from 01; they were one patient, ``01`` (the class's word dropped as OCT2017's finding is), and check warned
    that the classes hold the same patients. ``Mpox/MKP_03_01_aug1.jpg`` named no patient: augmented copies of one
    image fell on both sides of the split."""
    for folder, code in (("HFMD", "HFMD"), ("Healthy", "HEALTHY"), ("Mpox", "MKP")):
        for patient in range(1, 7):
            for image in (1, 2):
                for copy in ("", "_aug1", "_aug2"):
                    path = tmp_path / folder / f"{code}_{patient:02d}_{image:02d}{copy}.jpg"
                    path.parent.mkdir(exist_ok=True)
                    Image.fromarray(np.full((8, 8), 10 * patient + image, np.uint8)).save(path)
    dataset = Dataset.load(tmp_path)
    patients = {Path(c.case_id).name: c.patient_id for c in dataset.cases}
    assert patients["HFMD_01_01.jpg"] == "name-hfmd-01" and patients["HEALTHY_01_01.jpg"] == "name-healthy-01"
    assert patients["MKP_03_01_aug1.jpg"] == patients["MKP_03_02.jpg"] == "name-mkp-03"
    assert len(set(patients.values())) == 18


def test_names_that_are_not_patient_ids_are_left_alone(tmp_path: Path) -> None:
    """Every name its own key (nothing shared), or too few keys: no grouping."""
    _oct(tmp_path / "unique", patients=30, per_patient=1, shared=False)
    assert all(c.patient_id is None for c in Dataset.load(tmp_path / "unique").cases)
    _oct(tmp_path / "few", patients=3, per_patient=4)  # 6 keys: fewer than MIN_GROUPS
    assert all(c.patient_id is None for c in Dataset.load(tmp_path / "few").cases)


def test_bids_subjects_group_segmentation_pairs_among_other_names_and_check_names_one_in_two_splits(
    tmp_path: Path,
) -> None:
    """QaTa-COV19 as unpacked: ``Train Set/Images/covid_1.png`` + ``Ground-truths/mask_covid_1.png``, and BIMCV's
    ``sub-S03044_ses-E..._dx.png`` among them, one subject in Train and Test. No segmentation case had a patient
    from its name, so a subject's X-rays straddled train and the validation carved from it, and check said OK."""
    from medimg.data.dataset import SegmentationDataset
    from medimg.tasks.segment.quality import check_segmentation

    rng = np.random.default_rng(0)
    names = {"Train Set": [f"covid_{i}" for i in range(12)], "Test Set": [f"covid_{i}" for i in range(12, 16)]}
    for subject in range(6):
        names["Train Set"] += [f"sub-S0{subject}044_ses-E{visit}0_run-1_bp-chest_vp-ap_dx" for visit in range(3)]
    names["Test Set"].append("sub-S00044_ses-E90_run-1_bp-chest_vp-ap_dx")
    for split, stems in names.items():
        for stem in stems:
            for folder, name in (("Images", f"{stem}.png"), ("Ground-truths", f"mask_{stem}.png")):
                path = tmp_path / "QaTa-COV19-v2" / split / folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = (rng.random((24, 24)) > 0.5).astype(np.uint8) * 255 if folder != "Images" else None
                Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8) if pixels is None else pixels).save(path)
    data = Dataset.load(tmp_path / "QaTa-COV19-v2")
    assert isinstance(data, SegmentationDataset) and len(data.cases) == 35
    patients = {c.case_id: c.patient_id for c in data.cases}
    assert {p for p in patients.values() if p} == {f"name-sub-s0{s}044" for s in range(6)}
    assert all(p is None for case, p in patients.items() if "covid_" in case)
    report = check_segmentation(data)
    assert not report.ok and [p.split(" ")[0] for p in report.cross_split_patients] == ["name-sub-s00044"]


def test_c_nmc_folds_are_one_set_and_its_subjects_stay_on_one_side(tmp_path: Path) -> None:
    """C-NMC 2019: ``C-NMC_training_data/fold_0/{all,hem}/UID_<subject>_<image>_<cell>_<class>.bmp``, ``fold_1/``,
    ``fold_2/``. The folds were refused as "versions or parts of the dataset", and in one fold each subject's cells
    were split at random across train, validation and test."""
    root = tmp_path / "C-NMC_training_data"
    rng = np.random.default_rng(0)
    for fold in range(3):
        for subject in range(4):
            for cell, cls in enumerate(("all", "hem") * 2):
                uid = f"{fold * 4 + subject + 1}" if cls == "all" else f"H{fold * 4 + subject + 1}"
                path = root / f"fold_{fold}" / cls / f"UID_{uid}_{cell + 1}_{cell + 1}_{cls}.bmp"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(path)
    dataset = Dataset.load(root)
    assert sorted(dataset.class_names) == ["all", "hem"] and len(dataset) == 48
    assert {c.patient_id for c in dataset.cases if c.path is not None and c.path.name.startswith("UID_H3_")} == {
        "name-uid_h3"
    }
    assert len({c.patient_id for c in dataset.cases}) == 24
    splits = make_splits(dataset.cases, seed=0)
    assert splits.method == "stratified-grouped"
    side: dict[str, set[str]] = {}
    for case in dataset.cases:
        side.setdefault(str(case.patient_id), set()).add(splits.assignment[case.case_id])
    assert all(len(sides) == 1 for sides in side.values())


def test_bcss_regions_of_one_tcga_patient_stay_on_one_side_of_a_segmentation_split(tmp_path: Path) -> None:
    """BCSS: ``rgbs_colorNormalized/TCGA-A2-A0D0-DX1_xmin45749_ymin25055_MPP-0.2500.png`` + ``masks/`` of the same
    names, several regions per patient. No patient was found: 8 of 14 patients sat in two splits."""
    rng = np.random.default_rng(0)
    for p in range(12):
        for region in range(2):
            name = f"TCGA-A{p % 10}-{p:04d}-DX1_xmin{1000 * region + p}_ymin{2000 + region}_MPP-0.2500.png"
            for folder in ("rgbs_colorNormalized", "masks"):
                (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                tmp_path / "rgbs_colorNormalized" / name
            )
            Image.fromarray((rng.random((8, 8)) > 0.5).astype(np.uint8)).save(tmp_path / "masks" / name)
    dataset = Dataset.load(tmp_path)
    assert dataset.task == "segment" and len(dataset.cases) == 24
    assert len({c.patient_id for c in dataset.cases}) == 12
    assert {c.patient_id for c in dataset.cases if "TCGA-A3-0003" in c.case_id} == {"name-tcga-a3-0003"}


def test_hc18_further_images_of_a_subject_are_the_subjects(tmp_path: Path) -> None:
    """HC18: ``001_HC.png`` and ``001_2HC.png`` (a fetus' second image) with their ``_Annotation.png`` outlines, most
    subjects imaged once: no patient was found (the names' keys too many for their images), and a subject's two
    images were split between validation and test."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "training_set"
    folder.mkdir()
    names = [f"{k:03d}_HC" for k in range(12)] + ["001_2HC", "005_2HC", "005_3HC"]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / f"{name}.png")
        outline = np.zeros((16, 16), np.uint8)
        outline[3:13, 3] = outline[3:13, 12] = outline[3, 3:13] = outline[12, 3:13] = 255
        Image.fromarray(outline).save(folder / f"{name}_Annotation.png")
    dataset = Dataset.load(tmp_path, task="segment")
    assert len(dataset.cases) == 15
    patient = {Path(c.case_id).name: c.patient_id for c in dataset.cases}
    assert patient["005_HC.png"] == patient["005_2HC.png"] == patient["005_3HC.png"] == "name-hc18-005"
    assert patient["001_HC.png"] == patient["001_2HC.png"] != patient["002_HC.png"]


def test_one_patients_mr_sequences_are_one_patient(tmp_path: Path) -> None:
    """SPIDER: ``images/1_t1.mha``, ``1_t2.mha``, ``1_t2_SPACE.mha`` (one patient's sequences): a split put a patient's
    T1 in test and T2 in train."""
    from medimg.data.case import SegCase
    from medimg.data.name_patients import group_by_name_patient

    cases = [
        SegCase(case_id=f"images/{n}_{sequence}.mha", image=tmp_path / "x", mask=tmp_path / "y")
        for n in range(1, 7)
        for sequence in ("t1", "t2", "t2_SPACE")
    ]
    patients = {c.case_id: c.patient_id for c in group_by_name_patient(cases, tmp_path)}
    assert patients["images/1_t1.mha"] == patients["images/1_t2.mha"] == patients["images/1_t2_SPACE.mha"]
    assert len(set(patients.values())) == 6


def test_one_name_in_two_modalities_is_one_patient(tmp_path: Path) -> None:
    """TopCoW: ``imagesTr/topcow_ct_001_0000.nii.gz`` beside ``topcow_mr_001_0000.nii.gz`` (one patient's CTA and
    MRA): each scan was a patient of its own, and a split put a patient's CT in train and MR in test."""
    from medimg.data.case import SegCase
    from medimg.data.name_patients import group_by_name_patient

    cases = [
        SegCase(
            case_id=f"imagesTr/topcow_{modality}_{n:03d}_0000.nii.gz",
            image=tmp_path / f"topcow_{modality}_{n:03d}_0000.nii.gz",
            mask=tmp_path / f"topcow_{modality}_{n:03d}.nii.gz",
        )
        for modality in ("ct", "mr")
        for n in range(1, 7)
    ]
    cases.append(SegCase(case_id="imagesTr/topcow_ct_007_0000.nii.gz", image=tmp_path / "x", mask=tmp_path / "y"))
    grouped = group_by_name_patient(cases, tmp_path)
    patients = {c.case_id: c.patient_id for c in grouped}
    assert patients["imagesTr/topcow_ct_001_0000.nii.gz"] == patients["imagesTr/topcow_mr_001_0000.nii.gz"]
    assert len({patients[c.case_id] for c in cases[:12]}) == 6
    assert patients["imagesTr/topcow_ct_007_0000.nii.gz"] is None  # a CT without its MR: no pair to go by


def test_bids_names_in_session_folders_get_no_warning_that_contradicts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """OASIS-3 sorted by diagnosis: ``AD/ses-d0000/sub-OAS30001_ses-d0000_T1w.png``: a warning said the sub-folders
    were too few to keep a patient within a split (give a patient_id column), and the next line that the names
    grouped the images by patient, as they do."""
    rng = np.random.default_rng(0)
    for n in range(12):
        for session in ("d0000", "d0400"):
            folder = tmp_path / ("AD" if n % 2 else "CN") / f"ses-{session}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 255, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"sub-OAS3{n:04d}_ses-{session}_T1w.png")
    with caplog.at_level("INFO"):
        dataset = Dataset.load(tmp_path)
    assert len({c.patient_id for c in dataset.cases}) == 12
    assert "too few sub-folders" not in caplog.text
