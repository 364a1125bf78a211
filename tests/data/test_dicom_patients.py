"""DICOM images are grouped by the patient their headers name, so splits keep each patient on one side, and the
check flags a patient whose images lie in several of the data's own splits."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.data.dicom_patients import group_by_dicom_patient
from medimg.data.quality import check_dataset
from medimg.data.splits import make_splits
from tests.io.conftest import write_dicom


def _write_patients(
    root: Path,
    patients: int,
    slices: int,
    *,
    patient_id: str | None = None,
    per_file_ids: bool = False,
    sub_folders: bool = False,
    split: str = "",
) -> list[Path]:
    """``patients`` per class, ``slices`` files each (one series per patient); ``patient_id`` set: every file carries
    that PatientID (a de-identified constant)."""
    rng = np.random.default_rng(0)
    written = []
    for label, shift in (("normal", 0), ("tumour", 300)):
        for p in range(patients):
            study, series = f"1.2.826.0.1.{shift}.{p}", f"1.2.826.0.2.{shift}.{p}"
            folder = root / split / label / (f"patient{p}" if sub_folders else "")
            folder.mkdir(parents=True, exist_ok=True)
            for s in range(slices):
                pixels = rng.integers(0, 1000, (16, 16)) + shift
                pid = f"{label}-{p}-{s}" if per_file_ids else patient_id or f"{label}-{p}"
                extra = {"PatientID": pid, "StudyInstanceUID": study}
                path = folder / f"{label}_{p}_{s}.dcm"
                written.append(write_dicom(path, pixels, series_uid=series, instance=s, extra=extra))
    return written


def _straddling(dataset: Dataset) -> int:
    splits = make_splits(dataset.cases)
    sides: dict[str, set[str]] = {}
    for case in dataset.cases:
        sides.setdefault(case.path.name.rsplit("_", 1)[0], set()).add(splits.assignment[case.case_id])
    return sum(len(s) > 1 for s in sides.values())


@pytest.mark.parametrize("sub_folders", [False, True])
def test_slices_of_one_patient_never_straddle_the_split(tmp_path: Path, sub_folders: bool) -> None:
    _write_patients(tmp_path, patients=12, slices=5, sub_folders=sub_folders)
    dataset = Dataset.load(tmp_path, task="classify")
    groups = {c.patient_id for c in dataset.cases}
    assert len(groups) == 24 and all(g and g.startswith("dicom-PatientID-") for g in groups)
    assert not any("normal-" in g or "tumour-" in g for g in groups if g)  # hashed: no identifier is kept
    assert _straddling(dataset) == 0
    assert make_splits(dataset.cases).method == "stratified-grouped"


def test_a_constant_patient_id_falls_back_to_the_study(tmp_path: Path) -> None:
    _write_patients(tmp_path, patients=6, slices=3, patient_id="ANONYMOUS")
    cases = Dataset.load(tmp_path, task="classify").cases
    groups = {c.patient_id for c in cases}
    assert len(groups) == 12 and all(g and g.startswith("dicom-StudyInstanceUID-") for g in groups)


def test_a_patient_id_per_file_is_no_patient_and_the_study_groups(tmp_path: Path) -> None:
    """An anonymiser that gave every file its own PatientID but kept the UIDs: grouping by PatientID put the
    slices of most series on both sides of the split, silently."""
    _write_patients(tmp_path, patients=6, slices=4, per_file_ids=True)
    dataset = Dataset.load(tmp_path, task="classify")
    groups = {c.patient_id for c in dataset.cases}
    assert len(groups) == 12 and all(g and g.startswith("dicom-StudyInstanceUID-") for g in groups)
    assert _straddling(dataset) == 0


def test_one_file_per_patient_and_raster_images_are_left_as_they_are(tmp_path: Path, phantom_dir: Path) -> None:
    _write_patients(tmp_path, patients=6, slices=1)
    assert {c.patient_id for c in Dataset.load(tmp_path, task="classify").cases} == {None}  # nothing to group
    rasters = Dataset.load(phantom_dir, task="classify").cases
    assert group_by_dicom_patient(rasters) == rasters


def test_the_check_flags_a_patient_in_several_own_splits(tmp_path: Path) -> None:
    _write_patients(tmp_path, patients=5, slices=2, split="train")
    _write_patients(tmp_path, patients=5, slices=2, split="test")  # the same patients again: a leak
    report = check_dataset(Dataset.load(tmp_path, task="classify"))
    assert not report.ok
    assert len(report.cross_split_patients) == 10
    # a hashed patient comes with a file in each split, so the user knows what to move (the hash alone did not)
    assert (
        "[test, train] (4 images: test test/normal/normal_0_0.dcm, train train/normal/normal_0_0.dcm)"
        in (report.cross_split_patients[0])
    ), report.cross_split_patients
    assert "one patient in several splits" in report.summary()


def test_a_csv_manifest_of_dicom_files_is_grouped_too(tmp_path: Path) -> None:
    files = _write_patients(tmp_path / "images", patients=12, slices=3)
    manifest = tmp_path / "labels.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for path in files:
            writer.writerow([path.relative_to(tmp_path).as_posix(), path.parent.name])
    dataset = Dataset.load(manifest, task="classify")
    assert len({c.patient_id for c in dataset.cases}) == 24
    assert _straddling(dataset) == 0


def test_classes_of_one_patient_each_are_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A CD/PACS export's patient folders taken for class folders: the model would learn who, not what."""
    import logging

    _write_patients(tmp_path / "export", patients=1, slices=3)
    with caplog.at_level(logging.WARNING, logger="medimg.data.dicom_patients"):
        Dataset.load(tmp_path / "export")
    assert "each of the 2 classes holds the DICOM images of exactly one patient" in caplog.text
    assert "beside the images may hold their labels" not in caplog.text
    caplog.clear()  # NSCLC-Radiomics' patient folders beside labels.csv (PatientID,label): the table is named
    (tmp_path / "export" / "labels.csv").write_text("PatientID,label\nLUNG1-001,malignant\n")
    with caplog.at_level(logging.WARNING, logger="medimg.data.dicom_patients"):
        Dataset.load(tmp_path / "export")
    assert "labels.csv beside the images may hold their labels: give the table itself, medimg fit" in caplog.text
    caplog.clear()
    _write_patients(tmp_path / "many", patients=3, slices=2)
    with caplog.at_level(logging.WARNING, logger="medimg.data.dicom_patients"):
        Dataset.load(tmp_path / "many")
    assert "exactly one patient" not in caplog.text


def test_classes_of_one_patient_with_several_studies_each_are_a_problem_not_only_a_warning(tmp_path: Path) -> None:
    """OMI-DB's client folders (``demd100/<episode>/<study>/<series>/``) read as classes: one patient each, two studies
    each. Fewer than 10 patients, the images were grouped by study, so the check saw two "patients" per class and
    said status OK beside the warning, and fit trained a client-ID classifier."""
    rng = np.random.default_rng(0)
    for c, client in enumerate(("demd100", "demd117", "demd134")):
        for episode in range(2):
            for view in range(2):
                extra = {"PatientID": client, "StudyInstanceUID": f"1.2.3.{c}.{episode}"}
                folder = tmp_path / "images" / client / f"{1000 + episode}"
                folder.mkdir(parents=True, exist_ok=True)
                write_dicom(
                    folder / f"{view}.dcm",
                    rng.integers(0, 1000, (16, 16)) + 100 * c,
                    series_uid=f"1.2.4.{c}.{episode}",
                    instance=view,
                    extra=extra,
                )
    report = check_dataset(Dataset.load(tmp_path / "images", task="classify"))
    assert not report.ok and "each of the 3 classes holds one patient's images" in report.classes_of_one


def test_a_patient_group_cannot_be_traced_back_by_hashing_record_numbers(tmp_path: Path) -> None:
    """The group was sha256(PatientID)[:10]: hashing every 8-digit record number recovered a patient's MRN from
    splits.json in 1.5 s. It is now keyed by every identifier of the data: the same data gives the same groups
    (reproducible splits), a plain hash of the id matches none of them, and check's 8-digit ones neither."""
    import hashlib

    from medimg.io.dicom_survey import survey_dicom

    _write_patients(tmp_path, patients=12, slices=2)
    groups = {c.patient_id for c in Dataset.load(tmp_path, task="classify").cases}
    assert groups == {c.patient_id for c in Dataset.load(tmp_path, task="classify").cases}  # stable
    plain = {f"dicom-PatientID-{hashlib.sha256(f'{k}-{p}'.encode()).hexdigest()[:10]}" for k in ("normal", "tumour")
             for p in range(12)}  # fmt: skip
    assert len(groups) == 24 and not groups & plain
    shown = {s.patient for s in survey_dicom(tmp_path).series}
    assert len(shown) == 24 and not shown & {h[len("dicom-PatientID-") :][:8] for h in plain}


def test_a_patient_table_whose_ids_name_the_series_folders_reads_each_series(tmp_path: Path) -> None:
    """RSNA 2023 abdominal trauma: ``train.csv`` (``patient_id`` and one-hot injuries) beside
    ``train_images/<patient_id>/<series_id>/<n>.dcm``. The one-hot ``bowel_healthy`` (all 1) was taken for the path
    column, its 1 naming a slice ``1.dcm``: one image in all, status OK."""
    rows = ["patient_id,bowel_healthy,bowel_injury,liver_healthy,liver_low,any_injury"]
    for patient in range(10004, 10010):
        injured = patient % 2
        for series in range(2 if patient == 10004 else 1):
            folder = tmp_path / "train_images" / str(patient) / f"{patient * 10 + series}"
            folder.mkdir(parents=True)
            for n in range(3):
                write_dicom(
                    folder / f"{n}.dcm",
                    np.full((8, 8), 100 * injured + n, np.int64), position=(0, 0, 2.0 * n),
                    orientation=(1, 0, 0, 0, 1, 0), series_uid=f"1.2.{patient}.{series}", instance=n + 1,
                    extra={"PatientID": str(patient)},
                )  # fmt: skip
        rows.append(f"{patient},1,0,{1 - injured},{injured},{injured}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "train.csv")
    assert len(dataset.cases) == 7 and len({c.patient_id for c in dataset.cases}) == 6
    assert all(c.path is not None and c.path.parent.parent.name == "train_images" for c in dataset.cases)


def test_a_study_folder_wins_over_its_masks_file_of_the_same_name(tmp_path: Path) -> None:
    """RSNA 2022 cervical spine: ``train_images/<StudyInstanceUID>/`` beside ``segmentations/<StudyInstanceUID>.nii``
    for some studies. Those rows read the mask file, the study's slices left out."""
    import nibabel as nib

    rows = ["StudyInstanceUID,patient_overall"]
    for k in range(4):
        uid = f"1.2.826.0.1.{1000 + k}"
        folder = tmp_path / "train_images" / uid
        folder.mkdir(parents=True)
        for n in range(3):
            write_dicom(
                folder / f"{n + 1}.dcm", np.full((8, 8), 50 * k + n, np.int64), position=(0, 0, 2.0 * n),
                orientation=(1, 0, 0, 0, 1, 0), series_uid=uid + ".1", instance=n + 1, extra={"PatientID": uid},
            )  # fmt: skip
        if k < 2:
            (tmp_path / "segmentations").mkdir(exist_ok=True)
            nib.save(
                nib.Nifti1Image(np.zeros((8, 8, 3), np.uint8), np.eye(4)), tmp_path / "segmentations" / f"{uid}.nii"
            )
        rows.append(f"{uid},{k % 2}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "train.csv")
    assert all(c.path is not None and c.path.parent.name == "train_images" for c in dataset.cases)
