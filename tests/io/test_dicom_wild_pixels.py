"""DICOM pixels as scanners of many makes store them: palette-colour secondary captures, transfer syntaxes no
installed decoder handles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.errors import ImageReadError
from medimg.io import read_dicom

pydicom = pytest.importorskip("pydicom")


def _dataset(photometric: str = "MONOCHROME2", bits: int = 16) -> object:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    return ds


def _palette(tmp_path: Path, name: str, entry_bits: int, scale: int) -> Path:
    ds = _dataset("PALETTE COLOR", bits=8)
    ramp = np.arange(256, dtype=np.uint16)
    tables = {"Red": ramp * scale, "Green": (255 - ramp) * scale, "Blue": np.zeros(256, np.uint16)}
    for colour, table in tables.items():
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, entry_bits])
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.astype("<u2").tobytes())
    ds.PixelData = np.full((8, 8), 200, np.uint8).tobytes()
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return path


def test_a_16_bit_palette_gives_the_0_255_colours_of_an_rgb_image(tmp_path: Path) -> None:
    """Index 200 through 16-bit tables (200 * 257 red): was 51400, 257 times the scale of every RGB ultrasound, so a
    model trained on RGB saw it blown out (only the training-domain check hinted at it)."""
    image = read_dicom(_palette(tmp_path, "doppler.dcm", 16, 257))
    np.testing.assert_allclose(image.array[:, 0, 0], [200, 55, 0], atol=1e-3)
    # a table declared 16-bit whose entries stay within 0..255 (an old exporter's) is not scaled down
    quirk = read_dicom(_palette(tmp_path, "old.dcm", 16, 1))
    np.testing.assert_allclose(quirk.array[:, 0, 0], [200, 55, 0], atol=1e-3)


def _compressed(tmp_path: Path, syntax: str) -> Path:
    from pydicom.encaps import encapsulate

    ds = _dataset()
    ds.BitsStored, ds.HighBit = 12, 11
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(40)])
    ds["PixelData"].VR = "OB"
    path = tmp_path / "img.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_htj2k_without_its_decoder_names_the_plugin_that_decodes_it(tmp_path: Path) -> None:
    """High-Throughput JPEG 2000 (GDCM does not decode it): was 'install python-gdcm', which is installed already."""
    try:
        import openjpeg  # noqa: F401

        pytest.skip("pylibjpeg-openjpeg is installed: HTJ2K may decode")
    except ImportError:
        pass
    with pytest.raises(ImageReadError) as caught:
        read_dicom(_compressed(tmp_path, "1.2.840.10008.1.2.4.201"))
    reason = caught.value.reason
    assert "img.dcm" in str(caught.value) and "pip install pylibjpeg pylibjpeg-openjpeg" in reason
    assert "gdcm" not in reason.lower()


def test_a_transfer_syntax_pydicom_has_no_decoder_for_says_what_to_do(tmp_path: Path) -> None:
    """JPEG XL (newer than this pydicom): was 'the pixel data cannot be decoded (... is not supported ...)', no fix."""
    path = _compressed(tmp_path, "1.2.840.10008.1.2.4.201")
    path.write_bytes(path.read_bytes().replace(b"1.2.840.10008.1.2.4.201", b"1.2.840.10008.1.2.4.110"))
    with pytest.raises(ImageReadError) as caught:
        read_dicom(path)
    reason = caught.value.reason
    assert "1.2.840.10008.1.2.4.110" in reason and "re-export the file uncompressed" in reason


@pytest.mark.parametrize(
    ("photometric", "shape", "expected"),
    [("MONOCHROME2", "INVERSE", 4095 - 100), ("MONOCHROME1", "INVERSE", 4095 - 100), ("MONOCHROME2", "IDENTITY", 100)],
)
def test_an_inverse_presentation_lut_is_inverted_once(
    tmp_path: Path, photometric: str, shape: str, expected: int
) -> None:
    """A MONOCHROME2 radiograph with PresentationLUTShape INVERSE (displayed inverted): was read as stored, so bone
    came out dark beside every other radiograph of the set. MONOCHROME1 + INVERSE (the DX rule) stays one inversion."""
    ds = _dataset(photometric)
    ds.Modality = "DX"
    ds.BitsStored, ds.HighBit = 12, 11
    ds.PresentationLUTShape = shape
    ds.PixelData = np.full((8, 8), 100, np.uint16).tobytes()
    path = tmp_path / "dx.dcm"
    ds.save_as(path, enforce_file_format=True)
    image = read_dicom(path)
    assert float(image.array[0, 0, 0]) == expected and image.meta["inverted"] == (expected != 100)


def test_a_rescale_slope_of_zero_is_read_as_one_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """RescaleSlope '0' (a blanked value): every pixel became the intercept, a blank image, without a word."""
    ds = _dataset()
    ds.Modality = "CT"
    ds.RescaleSlope, ds.RescaleIntercept = 0, -1024
    stored = np.arange(64, dtype=np.uint16).reshape(8, 8) + 1000
    ds.PixelData = stored.tobytes()
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    with caplog.at_level("WARNING"):
        image = read_dicom(path)
    np.testing.assert_array_equal(image.array[0], stored - 1024.0)
    assert "RescaleSlope is 0" in caplog.text and "ct.dcm" in caplog.text


def _us_region(dx_cm: float, dy_cm: float, units: int = 3) -> object:
    from pydicom.dataset import Dataset

    region = Dataset()
    region.RegionSpatialFormat = 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = units
    region.PhysicalDeltaX, region.PhysicalDeltaY = dx_cm, dy_cm
    return region


def test_ultrasound_pixel_size_comes_from_its_regions(tmp_path: Path) -> None:
    """Ultrasound scanners give the pixel size in SequenceOfUltrasoundRegions, not PixelSpacing: was no spacing, so
    areas and the training-domain scale check had nothing to go on."""
    from pydicom.sequence import Sequence

    ds = _dataset(bits=8)
    ds.NumberOfFrames = 2
    ds.SequenceOfUltrasoundRegions = Sequence([_us_region(0.02, 0.025), _us_region(0.01, 5.0, units=4)])
    ds.PixelData = np.zeros((2, 8, 8), np.uint8).tobytes()
    path = tmp_path / "cine.dcm"
    ds.save_as(path, enforce_file_format=True)
    image = read_dicom(path)
    assert image.spacing_mm is not None and image.spacing_mm[1:] == pytest.approx((0.25, 0.2))
    assert "SequenceOfUltrasoundRegions" in image.meta["spacing_source"]
    ds.SequenceOfUltrasoundRegions.append(_us_region(0.03, 0.03))  # regions that disagree: no spacing
    ds.save_as(path, enforce_file_format=True)
    assert read_dicom(path).spacing_mm is None


@pytest.mark.parametrize(("signed", "padding"), [(True, -2000), (False, 0)])
def test_pixel_padding_outside_the_field_of_view_takes_the_lowest_value_inside(
    tmp_path: Path, signed: bool, padding: int
) -> None:
    """A CT slice whose corners outside the scanned circle hold PixelPaddingValue (-2000 stored signed; 0 stored
    unsigned with intercept -1024, then -1024 HU beside air at 0 stored + 24): was read as tissue at -3024 HU, which
    stretched the plan's clip range and made slices of one scanner near-duplicates of each other by their frame."""
    ds = _dataset()
    ds.Modality = "CT"
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    inside = np.arange(64, dtype=np.int32).reshape(8, 8) + (24 if not signed else 0)
    stored = inside.copy()
    stored[:2, :2] = padding
    ds.PixelPaddingValue = padding
    ds.PixelData = stored.astype(np.int16 if signed else np.uint16).tobytes()
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    image = read_dicom(path)
    values = image.array[0]
    kept = np.ones((8, 8), bool)
    kept[:2, :2] = False
    np.testing.assert_array_equal(values[kept], inside[kept] - 1024.0)
    assert float(values[:2, :2].max()) == float(values[kept].min()) == float(inside[kept].min()) - 1024
    assert image.meta["padding_pixels_filled"] == 4
