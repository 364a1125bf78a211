from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from medimg.errors import ImageReadError
from medimg.io import read_dicom, read_dicom_series, read_image

Writer = Callable[..., Path]
Bundled = Callable[[str], str]
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _no_phi(meta: dict[str, object], phi: tuple[str, ...]) -> None:
    text = repr(meta)
    for value in phi:
        assert value not in text
    for key in meta:
        assert "patient" not in key.lower() and "uid" not in key.lower()


# --------------------------------------------------------------------------------------- synthetic files


def test_rescale_slope_intercept_gives_exact_hu(dicom_writer: Writer, phi_values: tuple[str, ...]) -> None:
    stored = np.array([[0, 1, 512], [1024, 2000, 4095]], dtype=np.uint16)
    path = dicom_writer(
        "ct.dcm", stored, slope=2, intercept=-1024, window=(40, 400), thickness=2.5,
        position=(-10.0, -20.0, 30.0), orientation=AXIAL,
    )  # fmt: skip
    image = read_dicom(path)
    expected = stored.astype(np.float64) * 2 - 1024
    assert image.array.shape == (1, 2, 3) and image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array[0], expected)
    assert image.spacing_mm == (0.5, 0.75)
    meta = image.meta
    assert meta["modality"] == "CT" and meta["photometric_interpretation"] == "MONOCHROME2"
    assert meta["rescale_applied"] is True
    assert (meta["rescale_slope"], meta["rescale_intercept"]) == (2.0, -1024.0)
    assert (meta["window_center"], meta["window_width"]) == (40.0, 400.0)
    assert meta["inverted"] is False
    _no_phi(meta, phi_values)
    # affine: RAS, columns = (row index, column index, normal); origin = -x, -y, z of ImagePositionPatient
    assert image.affine is not None
    np.testing.assert_allclose(image.affine @ [0, 0, 0, 1], [10.0, 20.0, 30.0, 1.0])
    np.testing.assert_allclose(image.affine @ [1, 0, 0, 1], [10.0, 19.5, 30.0, 1.0])  # next row: +y LPS
    np.testing.assert_allclose(image.affine @ [0, 1, 0, 1], [9.25, 20.0, 30.0, 1.0])  # next column: +x LPS


def test_ct_without_rescale_tags_is_warned_about_and_not_called_hu(
    dicom_writer: Writer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An anonymiser dropped RescaleIntercept: stored = HU + 1024 was read as HU (air +24) with no word."""
    stored = np.full((4, 6), 24, np.uint16)  # air, stored as HU + 1024
    stored[1:3, 2:4] = 1064  # soft tissue
    path = dicom_writer("ct.dcm", stored, modality="CT")
    with caplog.at_level(logging.WARNING, logger="medimg.io.dicom"):
        image = read_dicom(path)
    assert "units" not in image.meta and image.meta["rescale_missing"] is True
    assert "ct.dcm: a CT image without RescaleSlope/RescaleIntercept" in caplog.text
    assert "likely HU + 1024" in caplog.text
    # a series warns once, naming a slice
    caplog.clear()
    for k in range(3):
        dicom_writer(f"s/{k}.dcm", stored, modality="CT", series_uid="1.2.3.5", position=(0, 0, 2.0 * k),
                     orientation=AXIAL)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="medimg.io.dicom"):
        volume = read_dicom_series(tmp_path / "s")
    assert "units" not in volume.meta
    assert caplog.text.count("without RescaleSlope") == 1 and "3 of 3 slices, e.g. " in caplog.text
    # with the tags: HU, no warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medimg.io.dicom"):
        rescaled = read_dicom(dicom_writer("hu.dcm", stored, modality="CT", slope=1, intercept=-1024))
    assert rescaled.meta["units"] == "HU" and "Rescale" not in caplog.text


def test_monochrome1_is_inverted_exactly(dicom_writer: Writer) -> None:
    stored = np.array([[0, 100], [2048, 4095]], dtype=np.uint16)
    path = dicom_writer(
        "dx.dcm", stored, modality="DX", photometric="MONOCHROME1", slope=2, intercept=-1024,
        bits_stored=12, window=(1000, 500),
    )  # fmt: skip
    image = read_dicom(path)
    hu = stored.astype(np.float64) * 2 - 1024  # modality LUT output
    lo, hi = 0 * 2 - 1024, 4095 * 2 - 1024  # range of 12-bit stored values after rescale
    np.testing.assert_array_equal(image.array[0], (lo + hi) - hu)
    assert image.array[0, 0, 0] > image.array[0, 1, 1]  # stored 0 (bright in MONOCHROME1) is now the highest
    assert image.meta["inverted"] is True
    assert image.meta["window_center"] == (lo + hi) - 1000 and image.meta["window_width"] == 500


def test_monochrome1_ct_keeps_hounsfield_units(dicom_writer: Writer) -> None:
    stored = np.array([[0, 24], [1024, 3000]], dtype=np.uint16)
    path = dicom_writer("ct1.dcm", stored, photometric="MONOCHROME1", slope=1, intercept=-1024)
    image = read_dicom(path)
    np.testing.assert_array_equal(image.array[0], stored.astype(np.float64) - 1024)
    assert image.meta["inverted"] is False


def test_signed_pixels_and_multivalued_window(dicom_writer: Writer) -> None:
    stored = np.array([[-1024, -1], [0, 1500]], dtype=np.int16)
    path = dicom_writer("s.dcm", stored, signed=True, bits_stored=16, slope=1, intercept=0,
                        window=([40, 400], [80, 1500]))  # fmt: skip
    image = read_image(path)
    np.testing.assert_array_equal(image.array[0], stored)
    assert (image.meta["window_center"], image.meta["window_width"]) == (40.0, 80.0)
    windowed = read_image(path, window="file")
    assert windowed.meta["window"] == (40.0, 80.0)
    np.testing.assert_allclose(windowed.array[0], [[0.0, 0.0], [0.0, 1.0]])
    lung = read_dicom(path, window="lung")
    assert lung.meta["window"] == (-600.0, 1500.0)
    np.testing.assert_allclose(lung.array[0], np.clip((stored + 1350.0) / 1500.0, 0, 1), atol=1e-6)


def test_multiframe_becomes_a_volume(dicom_writer: Writer) -> None:
    stored = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    path = dicom_writer("mf.dcm", stored, modality="MR", thickness=3.0, position=(0, 0, 0), orientation=AXIAL,
                        extra={"SpacingBetweenSlices": 3.5})  # fmt: skip
    image = read_dicom(path)
    assert image.array.shape == (1, 3, 4, 5)
    np.testing.assert_array_equal(image.array[0], stored)
    assert image.spacing_mm == (3.5, 0.5, 0.75)
    assert image.affine is not None
    np.testing.assert_allclose(image.affine @ [2, 0, 0, 1], [0, 0, 7.0, 1])


def test_rgb_dicom(dicom_writer: Writer) -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 2] = (0, 0, 200)
    image = read_dicom(dicom_writer("rgb.dcm", rgb, modality="OT", photometric="RGB"))
    assert image.array.shape == (3, 2, 3)
    np.testing.assert_array_equal(image.array, np.moveaxis(rgb, -1, 0))


def test_truncated_dicom_names_the_file(tmp_path: Path, bundled_dicom: Bundled) -> None:
    blob = Path(bundled_dicom("CT_small.dcm")).read_bytes()
    for n in (500, 3000, 10_000):
        cut = tmp_path / f"cut{n}.dcm"
        cut.write_bytes(blob[:n])
        with pytest.raises(ImageReadError, match="truncated") as info:
            read_image(cut)
        assert str(cut) in str(info.value)
        with pytest.raises(ImageReadError):
            read_dicom(cut)


def test_dicom_without_pixels_is_refused(bundled_dicom: Bundled) -> None:
    with pytest.raises(ImageReadError, match="no pixel data"):
        read_image(bundled_dicom("rtplan.dcm"))


def test_an_empty_pixel_data_element_or_a_stripped_pixel_module_is_named(dicom_writer: Writer) -> None:
    import pydicom

    path = dicom_writer("empty.dcm", np.zeros((4, 4), np.uint16))
    ds = pydicom.dcmread(path)
    ds.PixelData = b""
    ds.save_as(path)
    with pytest.raises(ImageReadError, match=r"Pixel Data element is empty \(0 bytes\)") as info:
        read_image(path)
    assert str(path) in str(info.value)
    stripped = dicom_writer("stripped.dcm", np.zeros((4, 4), np.uint16))
    ds = pydicom.dcmread(stripped)
    del ds.PixelRepresentation
    ds.save_as(stripped)
    with pytest.raises(ImageReadError, match=r"header lacks an element.*Pixel Representation.*re-export"):
        read_image(stripped)


def test_an_image_header_without_pixel_data_is_not_called_truncated_only(dicom_writer: Writer) -> None:
    """A complete file that describes an image but was written without its pixels (a header-only export) was
    called truncated; now both causes are named, with the file."""
    import pydicom

    path = dicom_writer("header_only.dcm", np.zeros((4, 4), np.uint16))
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(
        ImageReadError, match=r"holds no pixel data: the file was truncated before it or exported"
    ) as info:
        read_image(path)
    assert str(path) in str(info.value) and "re-copy or re-export it" in str(info.value)


def test_garbage_after_dicom_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 4)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_missing_pydicom_gives_install_hint(dicom_writer: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    from medimg.errors import MissingDependencyError

    path = dicom_writer("a.dcm", np.zeros((2, 2), np.uint16))
    monkeypatch.setitem(__import__("sys").modules, "pydicom", None)
    with pytest.raises(MissingDependencyError, match="pip install pydicom"):
        read_image(path)


# ---------------------------------------------------------------------------------- pydicom bundled files


def test_bundled_ct_small_matches_pydicom_rescale(bundled_dicom: Bundled) -> None:
    import pydicom

    path = bundled_dicom("CT_small.dcm")
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    image = read_image(path)
    assert image.array.shape == (1, 128, 128)
    np.testing.assert_array_equal(image.array[0], expected)
    assert image.spacing_mm == pytest.approx((0.661468, 0.661468))
    assert image.meta["modality"] == "CT" and image.meta["rescale_intercept"] == -1024.0
    assert image.meta["rescale_applied"] is True
    _no_phi(image.meta, ("CompressedSamples^CT1", "1CT1"))
    assert "CompressedSamples^CT1" not in repr(image.meta)


def test_bundled_mr_small(bundled_dicom: Bundled) -> None:
    image = read_image(bundled_dicom("MR_small.dcm"))
    assert image.array.shape == (1, 64, 64)
    assert image.spacing_mm == pytest.approx((0.3125, 0.3125))
    assert (image.meta["window_center"], image.meta["window_width"]) == (600.0, 1600.0)
    assert image.meta["rescale_applied"] is False
    big_endian = read_image(bundled_dicom("MR_small_bigendian.dcm"))
    np.testing.assert_array_equal(big_endian.array, image.array)


def test_bundled_ybr_is_converted_to_rgb(bundled_dicom: Bundled) -> None:
    ybr = read_image(bundled_dicom("SC_ybr_full_422_uncompressed.dcm"))
    assert ybr.array.shape == (3, 100, 100)
    assert ybr.meta["photometric_interpretation"] == "YBR_FULL_422"
    # the test image has a pure red top band: R high, G and B low
    r, g, b = ybr.array[:, 0, 0]
    assert r > 240 and g < 15 and b < 15


def test_bundled_rtdose_multiframe(bundled_dicom: Bundled) -> None:
    import pydicom

    path = bundled_dicom("rtdose.dcm")
    ds = pydicom.dcmread(path)
    image = read_image(path)
    assert image.array.shape == (1, 15, 10, 10)
    np.testing.assert_allclose(image.array[0], ds.pixel_array * float(ds.DoseGridScaling), rtol=1e-6)
    assert image.spacing_mm == pytest.approx((5.0, 10.0, 10.0))


def test_bundled_truncated_pixel_data(bundled_dicom: Bundled) -> None:
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(bundled_dicom("MR_truncated.dcm"))


# ------------------------------------------------------------------------------------------------ series


def _write_series(
    writer: Writer, folder: str, positions: list[float], *, orientation: tuple[float, ...] = AXIAL,
    series_uid: str = "1.2.3.4", shuffle_names: bool = True, slope: float = 1.0,
) -> list[np.ndarray]:  # fmt: skip
    """One slice per position (along the normal of ``orientation``); slice k is filled with 100 * k."""
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, col)
    origin = np.array([-50.0, -60.0, 10.0])
    slices = []
    order = list(range(len(positions)))[::-1] if shuffle_names else list(range(len(positions)))
    for name_index, k in enumerate(order):
        stored = np.full((4, 6), 100 * k, dtype=np.uint16)
        stored[0, 0] = k  # a marker
        writer(
            f"{folder}/IM{name_index:04d}.dcm", stored, series_uid=series_uid, instance=k + 1,
            position=tuple(origin + normal * positions[k]), orientation=orientation, slope=slope, intercept=0,
            thickness=2.0,
        )  # fmt: skip
        slices.append(stored)
    return slices


def test_series_sorted_by_position_with_geometry(
    dicom_writer: Writer, tmp_path: Path, phi_values: tuple[str, ...]
) -> None:
    oblique = (1.0, 0.0, 0.0, 0.0, np.cos(0.3), np.sin(0.3))
    _write_series(dicom_writer, "s", [0.0, 2.0, 4.0, 6.0, 8.0], orientation=oblique)
    (tmp_path / "s" / "notes.txt").write_text("not dicom")
    image = read_dicom_series(tmp_path / "s")
    assert image.array.shape == (1, 5, 4, 6)
    assert [int(image.array[0, k, 0, 0]) for k in range(5)] == [0, 1, 2, 3, 4]
    assert image.spacing_mm == pytest.approx((2.0, 0.5, 0.75))
    assert image.meta["uneven_spacing"] is False
    assert image.meta["n_slices"] == 5
    assert "gantry_tilt_deg" not in image.meta
    _no_phi(image.meta, phi_values)
    # the affine maps voxel (k, 0, 0) to slice k's ImagePositionPatient (converted to RAS)
    row, col = np.array(oblique[:3]), np.array(oblique[3:])
    normal = np.cross(row, col)
    for k in range(5):
        lps = np.array([-50.0, -60.0, 10.0]) + normal * 2.0 * k
        np.testing.assert_allclose(image.affine @ [k, 0, 0, 1], [-lps[0], -lps[1], lps[2], 1], atol=1e-9)
    # one row down moves along the column direction cosine by PixelSpacing[0]
    lps = np.array([-50.0, -60.0, 10.0]) + col * 0.5
    np.testing.assert_allclose(image.affine @ [0, 1, 0, 1], [-lps[0], -lps[1], lps[2], 1], atol=1e-9)
    # read_image on a folder reads the series
    assert read_image(tmp_path / "s").array.shape == (1, 5, 4, 6)


def test_series_with_a_missing_slice_is_resampled_onto_its_true_geometry(
    dicom_writer: Writer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # slices at 10, 12, 14, (16 missing), 18, 20 mm: stacked as acquired, every slice after the gap was put one
    # slice (2 mm) away from where it was imaged
    _write_series(dicom_writer, "u", [0.0, 2.0, 4.0, 8.0, 10.0])
    with caplog.at_level(logging.WARNING, logger="medimg.io.dicom"):
        resampled = read_dicom_series(tmp_path / "u")
    assert "a gap of 4 mm between slices 3 and 4 (at 14 and 18 mm)" in caplog.text
    assert "1 slice(s) missing" in caplog.text and "resampled to a uniform 2 mm grid" in caplog.text
    assert resampled.meta["uneven_spacing"] is True
    assert resampled.meta["resampled_to_uniform"] is True
    assert resampled.meta["acquired_slice_positions_mm"] == pytest.approx([10.0, 12.0, 14.0, 18.0, 20.0])
    assert resampled.meta["slice_positions_mm"] == pytest.approx([10.0, 12.0, 14.0, 16.0, 18.0, 20.0])
    assert resampled.array.shape == (1, 6, 4, 6)
    # position 16 lies halfway between slices 2 (value 200) and 3 (value 300)
    assert resampled.array[0, 3, 1, 1] == pytest.approx(250.0)
    assert resampled.array[0, 5, 1, 1] == pytest.approx(400.0)
    # the affine places each array slice at its position, and agrees with spacing_mm
    assert resampled.affine is not None
    for k, z in enumerate([10.0, 12.0, 14.0, 16.0, 18.0, 20.0]):
        assert (resampled.affine @ [k, 0, 0, 1])[2] == pytest.approx(z)
    assert np.linalg.norm(resampled.affine[:3, 0]) == pytest.approx(resampled.spacing_mm[0])
    # read_image (what fit and predict read) resamples too
    assert read_image(tmp_path / "u").array.shape == (1, 6, 4, 6)
    # resample_uneven=False keeps the slices as acquired
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medimg.io.dicom"):
        image = read_dicom_series(tmp_path / "u", resample_uneven=False)
    assert image.array.shape == (1, 5, 4, 6)
    assert image.meta["uneven_spacing"] is True
    assert "uneven slice spacing" in caplog.text and "kept as acquired" in caplog.text
    assert image.meta["slice_positions_mm"] == pytest.approx([10.0, 12.0, 14.0, 18.0, 20.0])
    assert image.spacing_mm[0] == pytest.approx(2.0)


def test_enhanced_multiframe_with_a_missing_frame_is_resampled(tmp_path: Path) -> None:
    path = _write_enhanced(tmp_path / "gap.dcm", [0.0, 2.0, 4.0, 8.0, 10.0, 12.0], [0, 20, 40, 80, 100, 120])
    image = read_dicom(path)
    assert [float(v) for v in image.array[0, :, 0, 0]] == pytest.approx([0, 20, 40, 60, 80, 100, 120])
    assert image.meta["resampled_to_uniform"] is True
    assert image.affine is not None
    for k in range(7):
        assert (image.affine @ [k, 0, 0, 1])[2] == pytest.approx(2.0 * k)
    # read reduced by 2 (a large file): frames average in pairs, each placed at its pair's mean position
    reduced = read_dicom(path, reduce=2)
    assert reduced.affine is not None and reduced.spacing_mm is not None
    assert reduced.spacing_mm[0] == pytest.approx(4.0)
    # pairs (0, 2) (4, 8) (10, 12) mm -> means 1, 6, 11 mm; values 10, 60, 110 -> a 4 mm grid from 1 mm
    assert [float(v) for v in reduced.array[0, :, 0, 0]] == pytest.approx([10.0, 50.0, 90.0])
    for k, z in enumerate([1.0, 5.0, 9.0]):
        assert (reduced.affine @ [k, 0, 0, 1])[2] == pytest.approx(z)


def test_series_folder_with_two_series(dicom_writer: Writer, tmp_path: Path) -> None:
    _write_series(dicom_writer, "m", [0.0, 1.0], series_uid="1.2.3.1")
    dicom_writer("m/other.dcm", np.zeros((4, 6), np.uint16), series_uid="1.2.3.2", position=(0, 0, 0),
                 orientation=AXIAL)  # fmt: skip
    with pytest.raises(ImageReadError, match=r"2 series.*series_uid"):
        read_dicom_series(tmp_path / "m")
    assert read_dicom_series(tmp_path / "m", series_uid="1.2.3.1").array.shape == (1, 2, 4, 6)


def test_series_duplicate_positions(dicom_writer: Writer, tmp_path: Path) -> None:
    _write_series(dicom_writer, "d", [0.0, 1.0, 1.0])
    with pytest.raises(ImageReadError, match="share a position"):
        read_dicom_series(tmp_path / "d")


def test_series_errors(tmp_path: Path, dicom_writer: Writer) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="no DICOM image files"):
        read_dicom_series(tmp_path / "empty")
    path = dicom_writer("f.dcm", np.zeros((2, 2), np.uint16))
    with pytest.raises(ImageReadError, match="folder"):
        read_dicom_series(path)
    _write_series(dicom_writer, "c", [0.0, 1.0, 2.0])
    victim = sorted((tmp_path / "c").glob("*.dcm"))[1]
    victim.write_bytes(victim.read_bytes()[:-40])
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_dicom_series(tmp_path / "c")
    assert victim.name in str(info.value)


# --------------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_ct_head_series(real_ct_series: Path) -> None:
    import pydicom

    image = read_dicom_series(real_ct_series, resample_uneven=False)
    assert image.array.shape == (1, 28, 512, 512)
    # its PixelPaddingValue -1500 (outside the scanned circle) takes the lowest value inside, air at -1023 HU
    assert float(image.array.min()) == -1023.0 and float(image.array.max()) == 2121.0
    assert image.meta["pixel_padding_value"] == -1500.0
    assert image.meta["modality"] == "CT"
    assert image.meta["uneven_spacing"] is True
    assert image.meta["gantry_tilt_deg"] == pytest.approx(18.5, abs=0.05)
    assert image.spacing_mm == pytest.approx((4.0, 0.4882812, 0.4882812), abs=0.01)
    steps = np.diff(image.meta["slice_positions_mm"])
    assert np.all(steps > 0)
    assert steps.min() == pytest.approx(1.08, abs=0.01) and steps.max() == pytest.approx(7.0, abs=0.01)
    # slices are ordered by position and the (sheared) affine hits each of the first, evenly spaced slices
    files = sorted(real_ct_series.glob("*.dcm"))
    headers = {int(d.InstanceNumber): d for d in (pydicom.dcmread(f, stop_before_pixels=True) for f in files)}
    for k in range(14):
        ipp = np.array([float(v) for v in headers[k + 1].ImagePositionPatient])
        np.testing.assert_allclose(image.affine @ [k, 0, 0, 1], [-ipp[0], -ipp[1], ipp[2], 1], atol=0.01)
    first = pydicom.dcmread(files[0])
    stored = first.pixel_array.astype(np.float32)
    padded = stored == -1500.0
    assert padded.any()
    np.testing.assert_array_equal(image.array[0, 0], np.where(padded, stored[~padded].min(), stored))
    # read by default: 4 mm then 7 mm slices resampled onto one 4 mm grid, the slices of that grid placed true
    uniform = read_dicom_series(real_ct_series)
    assert uniform.meta["resampled_to_uniform"] is True
    assert uniform.array.shape[1] == 1 + int(
        (image.meta["slice_positions_mm"][-1] - image.meta["slice_positions_mm"][0]) // 4.0
    )
    np.testing.assert_allclose(uniform.affine, image.affine, atol=1e-9)
    np.testing.assert_array_equal(uniform.array[0, 0], image.array[0, 0])
    _no_phi(image.meta, (str(first.PatientName), str(first.PatientID)))


@pytest.mark.realdata
def test_real_ct_single_slice_and_copy_without_suffix(tmp_path: Path, real_ct_series: Path) -> None:
    target = tmp_path / "IM_NOEXT"
    shutil.copy(real_ct_series / "01.dcm", target)
    image = read_image(target, window="brain")
    assert image.array.shape == (1, 512, 512)
    assert image.meta["window"] == (40.0, 80.0)
    assert float(image.array.min()) >= 0.0 and float(image.array.max()) <= 1.0


@pytest.mark.parametrize(
    "compressed", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm"]
)
def test_compressed_dicom_decodes_like_the_uncompressed_file(
    compressed: str, bundled_dicom: Callable[[str], str]
) -> None:
    """JPEG-LS and JPEG 2000 need a decoder beside pydicom (python-gdcm, a dependency): archives and PACS exports
    store CR/DX/MR compressed. pydicom's own test files: the same MR slice, lossless, so every value must agree."""
    expected = read_image(bundled_dicom("MR_small.dcm")).array
    decoded = read_image(bundled_dicom(compressed)).array
    assert decoded.shape == expected.shape and np.array_equal(decoded, expected)


def test_12_bit_jpeg_extended_without_a_decoder_names_the_install(
    bundled_dicom: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """GDCM and Pillow say they "do not support" 12-bit lossy JPEG: the message lacked the README's fix."""
    import importlib.util

    if importlib.util.find_spec("pylibjpeg") is not None:
        pytest.skip("pylibjpeg is installed: the file decodes")
    with caplog.at_level(logging.CRITICAL, logger="pydicom"), pytest.raises(ImageReadError) as info:
        read_image(bundled_dicom("JPEG-lossy.dcm"))
    message = str(info.value)
    assert "JPEG-lossy.dcm" in message and "JPEG Extended" in message
    assert "pip install pylibjpeg pylibjpeg-libjpeg" in message


# ------------------------------------------------------------------------------------- enhanced multi-frame


def _write_enhanced(
    path: Path, positions: list[float], values: list[int], *, intercepts: list[float] | None = None
) -> Path:
    """An enhanced MR file, one 8x8 frame per position (z, LPS), frame f filled with ``values[f]``, its geometry in
    the functional groups only (as scanners write them); optional per-frame RescaleIntercepts."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = EnhancedMRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "MR", generate_uid(), generate_uid()
    per_frame = []
    for f, z in enumerate(positions):
        group, plane = Dataset(), Dataset()
        plane.ImagePositionPatient = [-50.0, -60.0, float(z)]
        group.PlanePositionSequence = Sequence([plane])
        if intercepts is not None:
            transform = Dataset()
            transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1.0, intercepts[f], "US"
            group.PixelValueTransformationSequence = Sequence([transform])
        per_frame.append(group)
    shared, orientation, measures = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = list(AXIAL)
    measures.PixelSpacing, measures.SliceThickness = [1.0, 1.0], 2.0
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.NumberOfFrames, ds.Rows, ds.Columns = len(positions), 8, 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.stack([np.full((8, 8), v, np.uint16) for v in values]).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_enhanced_multiframe_frames_are_sorted_along_the_normal(tmp_path: Path) -> None:
    # 8 frames 2 mm apart stored out of spatial order; frame k (in space) holds 10 * k before its own intercept
    order = [0, 2, 1, 3, 5, 4, 6, 7]
    path = _write_enhanced(
        tmp_path / "shuffled.dcm", [2.0 * k for k in order], [10 * k + 100 * k for k in order],
        intercepts=[-100.0 * k for k in order],
    )  # fmt: skip
    image = read_dicom(path)
    assert [float(v) for v in image.array[0, :, 4, 4]] == [10.0 * k for k in range(8)]
    assert image.spacing_mm == pytest.approx((2.0, 1.0, 1.0))
    assert image.affine is not None
    assert np.linalg.norm(image.affine[:3, 0]) == pytest.approx(image.spacing_mm[0])
    for k in range(8):  # voxel (k, 0, 0) lies on the k-th position along z (LPS -> RAS negates x and y)
        np.testing.assert_allclose(image.affine @ [k, 0, 0, 1], [50.0, 60.0, 2.0 * k, 1.0], atol=1e-9)
    assert image.meta["uneven_spacing"] is False
    assert image.meta["frame_order"] == [1, 3, 2, 4, 6, 5, 7, 8]


def test_enhanced_multiframe_with_repeated_positions_is_refused(tmp_path: Path) -> None:
    # 2 time points x 4 slices in one file: not one 8-slice volume
    path = _write_enhanced(tmp_path / "four_d.dcm", [0, 3, 6, 9, 0, 3, 6, 9], list(range(8)))
    with pytest.raises(ImageReadError, match=r"8 frames share a position.*several acquisitions") as info:
        read_dicom(path)
    assert "four_d.dcm" in str(info.value)
    # one slice imaged over time (a cine) is no volume to refuse
    cine = read_dicom(_write_enhanced(tmp_path / "cine.dcm", [5.0] * 4, [1, 2, 3, 4]))
    assert [float(v) for v in cine.array[0, :, 0, 0]] == [1, 2, 3, 4]


def test_a_pixel_spacing_with_a_decimal_comma_is_read(dicom_writer: Writer, tmp_path: Path) -> None:
    """`0,50\\0,50` (some European systems) left the image without spacing, silently."""
    import pydicom
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    path = dicom_writer("comma.dcm", np.zeros((8, 8), np.uint16))
    ds = pydicom.dcmread(path)
    ds._dict[Tag(0x00280030)] = RawDataElement(Tag(0x00280030), "DS", 10, b"0,50\\0,25 ", 0, False, True)
    ds.save_as(tmp_path / "comma_saved.dcm")
    assert read_image(tmp_path / "comma_saved.dcm").spacing_mm == pytest.approx((0.5, 0.25))
