"""De-identification of DICOM datasets, and the `medimg token` commands."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medimg.io.deidentify import (
    APPLIED,
    basic_profile,
    deidentify_bytes,
    deidentify_dataset,
    deidentify_file,
    new_uid,
)
from tests.serve.support import ct_small

STANDARD = {
    # Attribute: its action in DICOM PS3.15 Table E.1-1, typed in from the standard (not from the library), so
    # that a library release that drifts from the standard on these fails here.
    "PatientName": "Z",
    "PatientID": "Z/D",  # Z until the 2024b edition
    "PatientBirthDate": "Z",
    "PatientSex": "Z",
    "PatientAge": "X",
    "PatientAddress": "X",
    "OtherPatientIDs": "X",
    "OtherPatientIDsSequence": "X",
    "AccessionNumber": "Z",
    "StudyID": "Z",
    "StudyDate": "Z",
    "StudyTime": "Z",
    "StudyDescription": "X",
    "SeriesDescription": "X",
    "SeriesDate": "X/D",
    "ContentDate": "Z/D",
    "AcquisitionDate": "X/Z",
    "ReferringPhysicianName": "Z",
    "InstitutionName": "X/Z/D",
    "InstitutionAddress": "X",
    "OperatorsName": "X/Z/D",
    "StationName": "X/Z/D",
    "StudyInstanceUID": "U",
    "SeriesInstanceUID": "U",
    "SOPInstanceUID": "U",
    "FrameOfReferenceUID": "U",
    "ReferencedImageSequence": "X/Z/U*",
    "RequestAttributesSequence": "X",
}

SALT = "k1"


def sentinel(vr: str, index: int) -> object:
    """A value of ``vr`` unique to attribute number ``index`` (so a leak is traced to its attribute)."""
    number = 100 + index
    values: dict[str, object] = {
        "DA": "19700101",
        "TM": "123456",
        "DT": "19700101123456",
        "UI": f"1.2.826.0.1.{number}",
        "AS": "042Y",
        "DS": str(number),
        "IS": str(number),
        "US": number,
        "SS": number,
        "UL": number,
        "SL": number,
        "FL": float(number),
        "FD": float(number),
        "OB": f"SECRET{number}".encode(),
        "UN": f"SECRET{number}".encode(),
        "AE": f"AE{number}",
        "CS": f"CS{number}",
        "UR": f"http://secret/{number}",
        "PN": f"Secret^Person{number}",
    }
    return values.get(vr, f"SECRET-{number}")


def planted_dataset() -> tuple[Dataset, dict[int, tuple[str, object]]]:
    """A dataset holding every attribute of the profile's table that pydicom knows, each with a unique value;
    sequences hold one item with a name, an ID and a UID of their own."""
    from pydicom.datadict import dictionary_VR

    ds = Dataset()
    planted: dict[int, tuple[str, object]] = {}
    for index, tag in enumerate(sorted(basic_profile().exact)):
        if tag >> 16 == 0x0002:
            continue  # file meta: checked on a real file below
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue  # retired or too new for this pydicom: nothing to plant
        if vr == "SQ":
            item = Dataset()
            item.PatientName, item.PatientID = f"Nested^Person{index}", f"NESTED-{index}"
            item.StudyInstanceUID = f"1.2.826.0.2.{index}"
            ds.add_new(tag, "SQ", Sequence([item]))
            planted[tag] = ("SQ", None)
        else:
            value = sentinel(vr, index)
            ds.add_new(tag, vr, value)
            planted[tag] = (vr, value)
    ds.add_new(0x60003000, "OW", b"\x01\x02" * 8)  # overlay data: a repeating group of the table
    ds.add_new(0x60004000, "LT", "overlay comment SECRET")
    ds.add_new(0x50000010, "US", 7)  # curve data, group 50xx
    ds.Modality, ds.Rows, ds.Columns = "CT", 2, 2  # K: kept
    return ds, planted


def test_every_attribute_of_the_basic_profile_gets_its_action() -> None:
    """Attribute by attribute through PS3.15 Table E.1-1: X removed, Z emptied, D a dummy, U a keyed new UID."""
    ds, planted = planted_dataset()
    assert len(planted) > 550  # nearly all of the table's ~650 attributes (the rest are unknown to pydicom)
    deidentify_dataset(ds, salt=SALT)
    profile = basic_profile()
    counts: dict[str, int] = {}
    for tag, (vr, original) in planted.items():
        action = APPLIED[profile.exact[tag]]
        counts[action] = counts.get(action, 0) + 1
        where = f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr} {profile.exact[tag]}"
        if action == "X":
            assert tag not in ds, where
            continue
        element = ds[tag]
        if action == "U":
            assert element.value == new_uid(str(original), SALT), where
        elif action == "Z":
            empty = element.value in (None, "", b"", [], "00010101", "000000.00", "00010101010101.000000+0000")
            assert empty or (vr == "SQ" and len(element.value) == 0), where
        else:  # D: present, non-empty, not the original; a sequence keeps its item with every value replaced
            assert element.value not in (None, "", b""), where
            if vr == "SQ":
                (item,) = element.value
                assert "Nested" not in str(item.PatientName) and "NESTED" not in item.PatientID, where
                assert item.StudyInstanceUID.startswith("2.25."), where
            else:
                assert str(element.value) != str(original), where
    assert set(counts) == {"X", "Z", "D", "U"} and counts["U"] > 40, counts
    assert 0x60003000 not in ds and 0x60004000 not in ds and 0x50000010 not in ds  # repeating groups (X)
    assert ds.Modality == "CT" and ds.Rows == 2  # K attributes stay
    text = str(ds)
    assert "SECRET" not in text and "Secret^" not in text and "Nested^" not in text and "NESTED-" not in text


def test_the_table_matches_the_standard_on_the_attributes_that_matter() -> None:
    from pydicom.datadict import tag_for_keyword

    profile = basic_profile()
    for keyword, action in STANDARD.items():
        assert profile.code(tag_for_keyword(keyword)) == action, keyword
    assert profile.code(tag_for_keyword("Modality")) is None and profile.code(tag_for_keyword("Rows")) is None


def test_identifiers_are_removed_everywhere_uids_replaced_consistently() -> None:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "PID-0042", "19700101"
    ds.PatientAddress, ds.AccessionNumber, ds.InstitutionName = "1 Main St", "ACC-9", "General Hospital"
    ds.StudyDescription, ds.SeriesDescription, ds.StudyDate = "CT CHEST JANE", "AXIAL JANE", "20240229"
    ds.ReferringPhysicianName, ds.OperatorsName = "House^Gregory", "Tech^Tom"
    ds.OtherPatientIDsSequence = Sequence([Dataset()])
    ds.OtherPatientIDsSequence[0].PatientID = "OTHER-1"
    ds.Modality, ds.SOPClassUID = "CT", "1.2.840.10008.5.1.4.1.1.2"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2.3.4", "1.2.3.4.5", "1.2.3.4.5.6"
    kept = Dataset()  # a sequence the profile keeps: its items are de-identified too
    kept.CodeValue, kept.PatientName, kept.ReferencedSOPInstanceUID = "T-D3000", "Nested^Name", "1.2.3.4.5.7"
    ds.AnatomicRegionSequence = Sequence([kept])
    ds.add_new(0x00091001, "LO", "private identifier")
    ds.private_block(0x0011, "ACME 1.0", create=True).add_new(0x01, "PN", "Private^Person")

    changed = deidentify_dataset(ds, salt="k1")
    text = str(ds)
    for value in ("Doe^Jane", "PID-0042", "19700101", "1 Main St", "ACC-9", "General", "House", "Tech", "OTHER-1"):
        assert value not in text, value
    for value in ("JANE", "20240229", "Nested^Name", "private identifier", "Private^Person", "ACME"):
        assert value not in text, value
    assert "StudyDescription" not in ds and "SeriesDescription" not in ds and ds.StudyDate == "00010101"
    assert ds.Modality == "CT" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # class UIDs are kept
    assert ds.StudyInstanceUID == new_uid("1.2.3.4", "k1") != new_uid("1.2.3.4", "k2")
    assert ds.AnatomicRegionSequence[0].ReferencedSOPInstanceUID == new_uid("1.2.3.4.5.7", "k1")
    assert ds.AnatomicRegionSequence[0].CodeValue == "T-D3000"
    assert len(ds.StudyInstanceUID) <= 64 and ds.PatientIdentityRemoved == "YES"
    assert len(ds.DeidentificationMethod) <= 64  # VR LO
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert {"PatientName", "StudyInstanceUID", "OperatorsName", "StudyDescription"} <= set(changed)
    again = Dataset()
    again.StudyInstanceUID = "1.2.3.4"
    deidentify_dataset(again, salt="k1")
    assert again.StudyInstanceUID == ds.StudyInstanceUID  # the same study stays the same study


def test_deidentify_bytes_and_file_keep_the_image_readable(tmp_path: Path) -> None:
    from medimg.io import read_image

    original = pydicom.dcmread(ct_small())
    data, dataset = deidentify_bytes(ct_small().read_bytes(), salt="s")
    for identifier in (str(original.PatientName), original.PatientID, original.StudyInstanceUID, "e+1"):
        assert identifier.encode() not in data, identifier
    replaced = new_uid(original.SOPInstanceUID, "s")
    assert dataset.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID == replaced
    target = tmp_path / "ct.dcm"
    deidentify_file(ct_small(), salt="s", out=target)
    assert target.read_bytes() == data
    assert (read_image(target).array == read_image(ct_small()).array).all()


def test_deidentify_bytes_refuses_what_is_not_dicom() -> None:
    with pytest.raises(ValueError, match="cannot be parsed"):
        deidentify_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff", salt="s")


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
