"""DICOM files as old PACS exports leave them in class folders: bare datasets without preamble or suffix
(``IMG000``), reports and presentation states beside the images, ACR-NEMA's packed 12-bit pixels."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.data.quality import check_dataset
from medimg.errors import ImageReadError
from medimg.io import read_dicom
from medimg.io.formats import is_image_file

pydicom = pytest.importorskip("pydicom")

_DX = "1.2.840.10008.5.1.4.1.1.1.1"
_BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
_GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def _dataset(sop: str = _DX, modality: str = "DX", *, image: bool = True, value: int = 7, bits: int = 16) -> object:
    from pydicom.dataset import Dataset as DicomDataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = DicomDataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = f"P{value}"
    ds.SeriesInstanceUID = generate_uid()
    if image:
        ds.Rows = ds.Columns = 8
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = bits
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = (
            np.random.default_rng(value).integers(0, 4096, (8, 8), np.uint16).tobytes() if bits == 16 else bytes(96)
        )
    return ds


def _save(ds: object, path: Path, *, preamble: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if preamble:
        ds.save_as(path, enforce_file_format=True)  # type: ignore[attr-defined]
    else:  # an old PACS export: the bare dataset, implicit VR, no 128-byte preamble, no file meta
        del ds.file_meta  # type: ignore[attr-defined]
        ds.save_as(path, enforce_file_format=False, implicit_vr=True, little_endian=True)  # type: ignore[attr-defined]
    return path


def test_a_bare_dicom_without_suffix_is_an_image_of_its_class(tmp_path: Path) -> None:
    """``normal/IMG000`` (no preamble, no suffix) was skipped without a word: 3 images counted for 4 files."""
    for cls, base in (("normal", 0), ("abnormal", 10)):
        _save(_dataset(value=base), tmp_path / cls / "IMG000", preamble=False)
        _save(_dataset(value=base + 1), tmp_path / cls / "img1.dcm")
    assert is_image_file(tmp_path / "normal" / "IMG000")
    # files that are no DICOM stay out, also ones whose first bytes happen to read as group 0008
    (tmp_path / "normal" / "NOTES").write_bytes(b"\x08\x00\x05\x00" + b"\xff" * 2000)
    (tmp_path / "normal" / "README").write_text("exported by PACS\n" * 200)
    assert not is_image_file(tmp_path / "normal" / "NOTES")
    assert not is_image_file(tmp_path / "normal" / "README")
    data = Dataset.load(tmp_path)
    assert sorted(c.case_id for c in data.cases) == [
        "abnormal/IMG000",
        "abnormal/img1.dcm",
        "normal/IMG000",
        "normal/img1.dcm",
    ]
    assert read_dicom(tmp_path / "normal" / "IMG000").array.shape == (1, 8, 8)


def test_reports_and_presentation_states_in_class_folders_are_left_out_not_unreadable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An SR or PR filed beside the images (``normal/SR0001.dcm``) was counted unreadable: check said PROBLEMS FOUND
    and fit warned. They hold no image: left out, said once."""
    for cls, base in (("normal", 0), ("abnormal", 10)):
        for i in range(2):
            _save(_dataset(value=base + i), tmp_path / cls / f"img{i}.dcm")
    _save(_dataset(_BASIC_TEXT_SR, "SR", image=False), tmp_path / "normal" / "SR0001.dcm")
    _save(_dataset(_GSPS, "PR", image=False), tmp_path / "abnormal" / "PR0001.dcm")
    _save(_dataset(_BASIC_TEXT_SR, "SR", image=False), tmp_path / "abnormal" / "KO0001", preamble=False)
    with caplog.at_level(logging.INFO):
        data = Dataset.load(tmp_path)
    assert len(data.cases) == 4
    said = [r.getMessage() for r in caplog.records if "without an image" in r.getMessage()]
    assert len(said) == 1 and "3 DICOM object(s)" in said[0]
    report = check_dataset(data)
    assert report.unreadable == []
    assert report.ok


def test_secondary_captures_beside_acquired_images_are_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A viewer's screenshot (``normal/SC_0001.dcm``, SOP class Secondary Capture, modality OT) beside the DX images
    of its class was trained as a DX image of that class. Left out, with a warning; a folder of secondary captures
    only (a set of screenshots) is read as it is."""
    for cls, base in (("normal", 0), ("abnormal", 10)):
        for i in range(2):
            _save(_dataset(value=base + i), tmp_path / "mixed" / cls / f"img{i}.dcm")
            _save(_dataset(_SECONDARY_CAPTURE, "OT", value=base + 5 + i), tmp_path / "captures" / cls / f"sc{i}.dcm")
        _save(_dataset(_SECONDARY_CAPTURE, "OT", value=base + 5), tmp_path / "mixed" / cls / "SC_0001.dcm")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        data = Dataset.load(tmp_path / "mixed")
    assert sorted(c.case_id for c in data.cases) == [
        f"{cls}/img{i}.dcm" for cls in ("abnormal", "normal") for i in (0, 1)
    ]
    assert "left out 2 DICOM Secondary Capture image(s)" in caplog.text
    assert len(Dataset.load(tmp_path / "captures").cases) == 4


def test_packed_12_bit_pixels_name_the_file_and_the_conversion(tmp_path: Path) -> None:
    """Bits Allocated 12 (ACR-NEMA) said only 'cannot be decoded (... Bits Allocated 12 invalid)'."""
    path = _save(_dataset("1.2.840.10008.5.1.4.1.1.2", "CT", bits=12), tmp_path / "packed12.dcm")
    with pytest.raises(ImageReadError) as err:
        read_dicom(path)
    message = str(err.value)
    assert "packed12.dcm" in message and "12-bit" in message and "gdcmconv --raw" in message


def test_a_siemens_mosaic_is_refused_naming_dcm2niix(tmp_path: Path) -> None:
    """A Siemens MOSAIC (``ImageType ...\\MOSAIC``, 14 slices tiled in one frame) was one 2D picture of a grid of
    slices, each shrunk to a few pixels at the network's input size, status OK."""
    ds = _dataset(_DX, "MR")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]  # type: ignore[attr-defined]
    ds.add_new(0x0019100A, "US", 14)  # type: ignore[attr-defined]
    path = _save(ds, tmp_path / "SUB01.MR.HEAD_BOLD.0005.0001.IMA")
    with pytest.raises(ImageReadError, match=r"a Siemens MOSAIC: its 14 slices are tiled.*dcm2niix"):
        read_dicom(path)
    from medimg.io.dicom import dicom_header

    with pytest.raises(ImageReadError, match="MOSAIC"):
        dicom_header(path)
