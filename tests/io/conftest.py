"""Builders for small synthetic image files (written to tmp_path) used by the io tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REAL_CT_SERIES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ct_head_dicom" / "In" / "GE"

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "PID-0042"
PATIENT_BIRTH_DATE = "19700101"


def pydicom_major() -> int:
    import pydicom

    return int(pydicom.__version__.split(".")[0])


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    modality: str = "CT",
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    bits_stored: int = 12,
    signed: bool = False,
    pixel_spacing: Sequence[float] | None = (0.5, 0.75),
    position: Sequence[float] | None = None,
    orientation: Sequence[float] | None = None,
    thickness: float | None = None,
    window: tuple[Any, Any] | None = None,
    series_uid: str | None = None,
    instance: int | None = None,
    preamble: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a minimal but valid DICOM image with pydicom, from scratch.

    ``pixels`` holds the *stored* values: ``(H, W)``, ``(F, H, W)`` (multi-frame) or ``(H, W, 3)`` (RGB).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.7"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = PATIENT_BIRTH_DATE
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    if instance is not None:
        ds.InstanceNumber = instance
    color = pixels.ndim == 3 and pixels.shape[-1] == 3 and photometric == "RGB"
    if color:
        rows, cols = pixels.shape[:2]
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        data = pixels.astype(np.uint8)
    else:
        rows, cols = pixels.shape[-2:]
        if pixels.ndim == 3:
            ds.NumberOfFrames = pixels.shape[0]
        ds.SamplesPerPixel = 1
        ds.BitsAllocated = 16
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        ds.PixelRepresentation = 1 if signed else 0
        data = pixels.astype(np.int16 if signed else np.uint16)
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = rows, cols
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    if pixel_spacing is not None:
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    if thickness is not None:
        ds.SliceThickness = thickness
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(data).tobytes()
    if pydicom_major() >= 3:
        if preamble:
            ds.save_as(path, enforce_file_format=True)
        else:
            del ds.file_meta
            ds.save_as(path, implicit_vr=False, little_endian=True)
    else:  # pragma: no cover - pydicom 2.x
        ds.is_little_endian, ds.is_implicit_VR = True, False
        if not preamble:
            del ds.file_meta
        ds.save_as(path, write_like_original=not preamble)
    return path


@pytest.fixture
def dicom_writer(tmp_path: Path) -> Callable[..., Path]:
    """``dicom_writer(name, pixels, **kwargs)`` writes ``tmp_path / name`` (see :func:`write_dicom`)."""

    def make(name: str, pixels: np.ndarray, **kwargs: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_dicom(path, pixels, **kwargs)

    return make


def _bundled_dicom(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not bundled with this pydicom version")
    return str(path)


@pytest.fixture
def bundled_dicom() -> Callable[[str], str]:
    """``bundled_dicom(name)``: path of a test file shipped inside the pydicom wheel (never downloaded);
    skips the test if this pydicom version does not ship it."""
    return _bundled_dicom


@pytest.fixture
def real_ct_series() -> Path:
    """The real head-CT series in ../shared/data, or skip the test with a reason when it is absent."""
    if not REAL_CT_SERIES.is_dir():
        pytest.skip(f"real CT series not found at {REAL_CT_SERIES} (../shared/data is absent on this machine)")
    return REAL_CT_SERIES


@pytest.fixture
def phi_values() -> tuple[str, ...]:
    """The patient identifiers :func:`write_dicom` puts in every file (they must never reach meta)."""
    return (PATIENT_NAME, PATIENT_ID, PATIENT_BIRTH_DATE)
