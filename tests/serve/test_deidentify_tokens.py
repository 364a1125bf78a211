"""De-identification of DICOM datasets, and the `medimg token` commands."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medimg.io.deidentify import REMOVED_KEYWORDS, deidentify_dataset, deidentify_file, new_uid
from tests.serve.support import ct_small

REQUIRED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientAddress",
    "OtherPatientIDsSequence",
    "AccessionNumber",
    "InstitutionName",
    "ReferringPhysicianName",
)


def test_required_identifiers_are_covered() -> None:
    assert set(REQUIRED) <= set(REMOVED_KEYWORDS)


def test_deidentify_dataset_removes_identifiers_everywhere() -> None:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "PID-0042", "19700101"
    ds.PatientAddress, ds.AccessionNumber, ds.InstitutionName = "1 Main St", "ACC-9", "General Hospital"
    ds.ReferringPhysicianName, ds.OperatorsName = "House^Gregory", "Tech^Tom"
    ds.OtherPatientIDsSequence = Sequence([Dataset()])
    ds.OtherPatientIDsSequence[0].PatientID = "OTHER-1"
    ds.Modality, ds.SOPClassUID = "CT", "1.2.840.10008.5.1.4.1.1.2"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2.3.4", "1.2.3.4.5", "1.2.3.4.5.6"
    referenced = Dataset()
    referenced.ReferencedSOPInstanceUID, referenced.ReferencedSOPClassUID = "1.2.3.4.5.7", "1.2.840.10008.5.1.4.1.1.2"
    referenced.PerformingPhysicianName = "Nested^Name"
    ds.ReferencedImageSequence = Sequence([referenced])
    ds.add_new(0x00091001, "LO", "private identifier")

    changed = deidentify_dataset(ds, salt="k1")
    text = str(ds)
    for value in ("Doe^Jane", "PID-0042", "19700101", "1 Main St", "ACC-9", "General", "House", "Tech", "OTHER-1"):
        assert value not in text, value
    assert "Nested^Name" not in text and "private identifier" not in text
    assert ds.Modality == "CT" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # class UIDs are kept
    assert ds.StudyInstanceUID == new_uid("1.2.3.4", "k1") != new_uid("1.2.3.4", "k2")
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == new_uid("1.2.3.4.5.7", "k1")
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert len(ds.StudyInstanceUID) <= 64 and ds.PatientIdentityRemoved == "YES"
    assert len(ds.DeidentificationMethod) <= 64  # VR LO
    assert {"PatientName", "StudyInstanceUID", "OperatorsName"} <= set(changed)


def test_deidentify_file_keeps_the_image_readable(tmp_path: Path) -> None:
    from medimg.io import read_image

    target = tmp_path / "ct.dcm"
    deidentify_file(ct_small(), salt="s", out=target)
    original, cleaned = pydicom.dcmread(ct_small()), pydicom.dcmread(target)
    assert "PatientName" not in cleaned and "PatientID" not in cleaned
    assert (
        cleaned.file_meta.MediaStorageSOPInstanceUID == cleaned.SOPInstanceUID == new_uid(original.SOPInstanceUID, "s")
    )
    assert (read_image(target).array == read_image(ct_small()).array).all()
    assert str(original.PatientName).encode() not in target.read_bytes()


def test_token_commands(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app
    from medimg.errors import ConfigError
    from medimg.serve.storage import Storage

    runner = CliRunner()
    db = str(tmp_path / "tokens.db")
    created = runner.invoke(app, ["token", "create", "--name", "ward-7", "--db", db])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    storage = Storage(f"sqlite:///{tmp_path / 'tokens.db'}")
    info = storage.verify_token(token)
    assert token.startswith("mdg_") and info is not None and info.name == "ward-7"
    listed = runner.invoke(app, ["token", "list", "--db", db])
    assert info.id in listed.stdout and "active" in listed.stdout and token not in listed.stdout
    assert runner.invoke(app, ["token", "revoke", info.id, "--db", db]).exit_code == 0
    assert storage.verify_token(token) is None
    again = runner.invoke(app, ["token", "revoke", info.id, "--db", db])
    assert isinstance(again.exception, ConfigError)
    assert storage.verify_token("mdg_" + "x" * 43) is None and storage.verify_token("") is None
