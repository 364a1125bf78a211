"""medimg check on a DICOM study folder: series listed (modality, slices, size, spacing, orientation, hashed
patient), mixed modalities and one-patient "classes" warned about (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.io.dicom_survey import survey_dicom

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _study(dicom_writer: Callable[..., Path], tmp_path: Path) -> Path:
    """study/ct_head (3 axial CT slices, 2.5 mm apart) and study/mr_t1 (2 sagittal MR slices): one patient."""
    rng = np.random.default_rng(0)
    ct_uid, mr_uid = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
    for i in range(3):
        ct = rng.integers(0, 2000, (8, 10)).astype(np.uint16)
        dicom_writer(
            f"study/ct_head/{i}.dcm", ct, modality="CT", slope=1, intercept=-1024, position=(0, 0, 2.5 * i),
            orientation=AXIAL, series_uid=ct_uid,
        )  # fmt: skip
    for i in range(2):
        mr = rng.integers(0, 900, (12, 12)).astype(np.uint16)
        dicom_writer(
            f"study/mr_t1/{i}.dcm", mr, modality="MR", position=(1.2 * i, 0, 0), orientation=SAGITTAL,
            series_uid=mr_uid,
        )  # fmt: skip
    return tmp_path / "study"


def test_survey_groups_series_and_hashes_the_patient(dicom_writer: Callable[..., Path], tmp_path: Path) -> None:
    survey = survey_dicom(_study(dicom_writer, tmp_path))
    by_folder = {s.folder: s for s in survey.series}
    assert set(by_folder) == {"ct_head", "mr_t1"} and survey.patients == 1
    ct, mr = by_folder["ct_head"], by_folder["mr_t1"]
    assert (ct.modality, ct.slices, ct.size, ct.orientation) == ("CT", 3, [8, 10], "axial")
    assert ct.spacing_mm == [2.5, 0.5, 0.75]
    assert (mr.modality, mr.slices, mr.orientation) == ("MR", 2, "sagittal")
    assert "PID-0042" not in json.dumps(survey.to_dict())  # the patient is a hash, never the ID
    assert any("mixed modalities" in w for w in survey.warnings)
    assert any("ONE patient" in w for w in survey.warnings)


def test_check_prints_the_series_and_records_them_in_json(dicom_writer: Callable[..., Path], tmp_path: Path) -> None:
    study = _study(dicom_writer, tmp_path)
    result = CliRunner().invoke(app, ["check", str(study), "--json", str(tmp_path / "check.json")])
    assert "DICOM: 2 series, 1 patient(s)" in result.output
    assert "ct_head: CT     3 slice(s)" in result.output and "mixed modalities" in result.output
    saved = json.loads((tmp_path / "check.json").read_text())
    assert len(saved["dicom"]["series"]) == 2


def test_a_folder_without_dicom_has_no_survey(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    assert survey_dicom(tmp_path).series == []


def test_a_download_of_many_series_prints_a_readable_summary(dicom_writer: Callable[..., Path], tmp_path: Path) -> None:
    """Thousands of series (CBIS-DDSM: a mammogram per folder, each crop beside its ROI mask) list the first ones
    and count the rest; the survey keeps every series and warning for the JSON report."""
    from medimg.io.dicom_survey import LISTED_SERIES, LISTED_WARNINGS

    n = LISTED_SERIES + 5
    for i in range(n):
        uid = f"1.2.826.0.1.3680043.8.498.{100 + i}"
        dicom_writer(f"set/case_{i:03d}/1-1.dcm", np.zeros((8, 8), np.uint16), modality="MG", series_uid=uid)
        dicom_writer(f"set/case_{i:03d}/1-2.dcm", np.zeros((4, 4), np.uint16), modality="MG", series_uid=uid)
    survey = survey_dicom(tmp_path / "set")
    assert len(survey.series) == n and sum("mixes image sizes" in w for w in survey.warnings) == n
    lines = survey.summary().splitlines()
    assert sum(" MG " in line for line in lines) == LISTED_SERIES
    assert "  ... and 5 more series (check --json FILE lists them all)" in lines
    assert sum("mixes image sizes 8x8, 4x4" in line for line in lines) == LISTED_WARNINGS
    assert lines[-1] == f"WARNING: ... and {n - LISTED_WARNINGS} more series mix image sizes"


def test_the_summary_names_files_with_unreadable_headers(dicom_writer: Callable[..., Path], tmp_path: Path) -> None:
    study = _study(dicom_writer, tmp_path)
    (study / "ct_head" / "junk.dcm").write_bytes(bytes(128) + b"DICM" + bytes(range(256)) * 2)
    survey = survey_dicom(study)
    assert survey.unreadable == 1 and survey.unreadable_examples == ["ct_head/junk.dcm"]
    assert "1 DICOM file(s) had unreadable headers: ct_head/junk.dcm" in survey.summary()


def test_the_survey_names_the_gap_of_a_missing_slice(dicom_writer: Callable[..., Path], tmp_path: Path) -> None:
    for n, z in enumerate([0.0, 3.0, 6.0, 12.0, 15.0]):  # the slice at 9 mm was not exported
        dicom_writer(f"ct/s/{n}.dcm", np.zeros((4, 4), np.uint16), position=(0, 0, z), orientation=AXIAL,
                     series_uid="1.2.3.9")  # fmt: skip
    dicom_writer("ct/even/0.dcm", np.zeros((4, 4), np.uint16), position=(0, 0, 0), orientation=AXIAL)
    summary = survey_dicom(tmp_path / "ct").summary()
    assert "uneven slice spacing in s: a gap of 6 mm between slices 3 and 4 (at 6 and 12 mm)" in summary
    assert "1 slice(s) missing" in summary
    assert "in even:" not in summary


def _media_export(dicom_writer: Callable[..., Path], tmp_path: Path) -> Path:
    """A CD/PACS export written by pydicom's FileSet: ``PT000000/ST000000/SE000000/IM000000``... and a DICOMDIR;
    two patients of 3 slices each."""
    from pydicom.fileset import FileSet

    files = FileSet()
    for patient in ("A1", "B2"):
        for k in range(3):
            path = dicom_writer(
                f"src/{patient}_{k}.dcm", np.zeros((4, 4), np.uint16), position=(0, 0, 2.0 * k), orientation=AXIAL,
                series_uid=f"1.2.3.{ord(patient[0])}", instance=k + 1,
                extra={"PatientID": patient, "StudyInstanceUID": f"1.2.4.{ord(patient[0])}", "StudyDate": "20240102",
                       "StudyTime": "101010", "StudyID": "1", "SeriesNumber": 1},
            )  # fmt: skip
            files.add(path)
    files.write(tmp_path / "export")
    return tmp_path / "export"


def test_a_dicomdir_is_an_index_file_not_an_unreadable_header(
    dicom_writer: Callable[..., Path], tmp_path: Path
) -> None:
    export = _media_export(dicom_writer, tmp_path)
    survey = survey_dicom(export)
    assert survey.unreadable == 0 and survey.index_files == 1
    assert len(survey.series) == 2
    summary = survey.summary()
    assert "unreadable" not in summary and "1 DICOMDIR index file(s) of a media export skipped" in summary
    (export / "DICOMDIR").rename(export / "INDEX")  # recognised by its header too
    assert survey_dicom(export).index_files == 1 and survey_dicom(export).unreadable == 0


def test_top_level_folders_of_one_patient_each_are_warned_about(
    dicom_writer: Callable[..., Path], tmp_path: Path
) -> None:
    survey = survey_dicom(_media_export(dicom_writer, tmp_path))
    warning = next(w for w in survey.warnings if "exactly one patient" in w)
    assert "each of the 2 top-level folders (PT000000, PT000001)" in warning and "DICOMDIR" in warning
    # class folders holding several patients each are not
    for label in ("normal", "tumour"):
        for patient in ("P1", "P2"):
            dicom_writer(f"classes/{label}/{label}{patient}.dcm", np.zeros((4, 4), np.uint16),
                         extra={"PatientID": label + patient})  # fmt: skip
    assert not any("exactly one patient" in w for w in survey_dicom(tmp_path / "classes").warnings)
    # a collection of patient folders (TCIA's <collection>/<patient>/...) is a layout of its own, not an export
    export = tmp_path / "export"
    (export / "DICOMDIR").unlink()
    for n, folder in enumerate(sorted(export.glob("PT*"))):
        folder.rename(export / f"LUNG1-00{n + 1}")
    assert not any("exactly one patient" in w for w in survey_dicom(export).warnings)


def test_a_placeholder_patient_id_is_no_patient(dicom_writer: Callable[..., Path], tmp_path: Path) -> None:
    """De-identified data with PatientID 'ANONYMIZED' on every file: `check` said "1 patient(s)" and warned the
    class folders held ONE patient, while fit grouped the split by study (24 of them)."""
    for i in range(12):
        extra = {"PatientID": "ANONYMIZED", "StudyInstanceUID": f"1.2.826.0.1.3680043.8.499.{i}"}
        dicom_writer(
            f"anon/{('normal', 'tumour')[i % 2]}/s{i}/1.dcm", np.zeros((8, 8), np.uint16), modality="CT",
            series_uid=f"1.2.826.0.1.3680043.8.500.{i}", extra=extra,
        )  # fmt: skip
    survey = survey_dicom(tmp_path / "anon")
    assert survey.placeholder_patient and survey.patients == 12
    assert not any("ONE patient" in w for w in survey.warnings)
    assert "12 patient(s) (by study: one placeholder PatientID on every file)" in survey.summary()
