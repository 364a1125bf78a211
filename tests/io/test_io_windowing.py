from __future__ import annotations

import numpy as np
import pytest

from medimg.errors import ConfigError
from medimg.io import WINDOW_PRESETS, apply_window
from medimg.io.image import ImageData
from medimg.io.windowing import apply_window_to_image, resolve_window


def test_lung_window_maps_minus_600_to_exactly_half() -> None:
    center, width = WINDOW_PRESETS["lung"]
    assert (center, width) == (-600.0, 1500.0)
    out = apply_window(np.array([-600.0, -1350.0, 150.0, -2000.0, 3000.0]), center, width)
    assert out.dtype == np.float32
    assert out.tolist() == [0.5, 0.0, 1.0, 0.0, 1.0]


def test_apply_window_is_linear_inside_and_keeps_shape() -> None:
    arr = np.linspace(-100, 100, 24, dtype=np.float32).reshape(1, 2, 3, 4)
    out = apply_window(arr, 0.0, 100.0)
    assert out.shape == arr.shape
    expected = np.clip((arr.astype(np.float64) + 50.0) / 100.0, 0, 1)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_presets_have_the_standard_values() -> None:
    assert WINDOW_PRESETS["brain"] == (40.0, 80.0)
    assert WINDOW_PRESETS["mediastinum"] == WINDOW_PRESETS["soft-tissue"] == (40.0, 400.0)
    assert WINDOW_PRESETS["liver"] == (60.0, 150.0)
    assert WINDOW_PRESETS["subdural"] == (75.0, 215.0)
    assert WINDOW_PRESETS["stroke"] == (40.0, 40.0)
    assert WINDOW_PRESETS["bone"] == (400.0, 1800.0)


@pytest.mark.parametrize("name", ["Lung", "LUNG", " lung "])
def test_preset_names_are_case_insensitive(name: str) -> None:
    assert resolve_window(name, {}) == (-600.0, 1500.0)


def test_underscore_alias() -> None:
    assert resolve_window("soft_tissue", {}) == (40.0, 400.0)


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown window 'lungs'.*Did you mean 'lung'"):
        resolve_window("lungs", {})


def test_auto_uses_the_file_window_first_value() -> None:
    meta = {"window_center": [40.0, 300.0], "window_width": [400.0, 1500.0]}
    assert resolve_window("auto", meta) == (40.0, 400.0)
    assert resolve_window("file", {"window_center": 35, "window_width": 100}) == (35.0, 100.0)


def test_auto_falls_back_to_min_max() -> None:
    arr = np.array([[-10.0, 0.0, 30.0]])
    assert resolve_window("auto", {}, arr) == (10.0, 40.0)
    assert resolve_window("auto", {"window_center": None, "window_width": None}, arr) == (10.0, 40.0)
    assert resolve_window("auto", {}) is None


def test_explicit_and_invalid_windows() -> None:
    assert resolve_window((50, 350), {}) == (50.0, 350.0)
    assert resolve_window(None, {}) is None
    with pytest.raises(ConfigError, match="width must be > 0"):
        resolve_window((50, 0), {})
    with pytest.raises(ConfigError, match="center, width"):
        resolve_window((1, 2, 3), {})  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        apply_window(np.zeros(3), 0.0, -1.0)


def test_apply_window_to_image_records_the_window() -> None:
    image = ImageData(array=np.array([[[0.0, 255.0]]], dtype=np.float32))
    apply_window_to_image(image, "auto")
    assert image.meta["window"] == (127.5, 255.0)
    assert image.array.tolist() == [[[0.0, 1.0]]]
    constant = ImageData(array=np.full((1, 2, 2), 7.0, dtype=np.float32))
    apply_window_to_image(constant, "auto")
    assert constant.meta["window"] == (7.0, 1.0)
    assert np.all(constant.array == 0.5)


# ------------------------------------------------------------------ intensity by modality (issue 14)
def _mr_slice(dicom_writer, name: str = "mr.dcm", window: tuple[float, float] | None = (600.0, 1600.0)):
    stored = np.linspace(0, 2000, 16 * 16).reshape(16, 16).astype(np.uint16)
    return stored, dicom_writer(name, stored, modality="MR", bits_stored=16, window=window)


def test_mr_slice_and_its_8bit_export_reach_the_network_in_the_same_range(dicom_writer, tmp_path) -> None:
    from PIL import Image

    from medimg.io import read_image

    stored, path = _mr_slice(dicom_writer)
    exported = np.clip((stored.astype(np.float64) + 200) / 1600 * 255, 0, 255).round().astype(np.uint8)  # an export
    Image.fromarray(exported).save(tmp_path / "mr.png")
    from_dicom, from_png = read_image(path), read_image(tmp_path / "mr.png")
    assert from_dicom.meta["display_scaling"].startswith("file window (center 600, width 1600)")
    assert float(np.abs(from_dicom.array - from_png.array).max()) <= 1.0  # within one grey level
    raw = read_image(path, dicom_display=False)
    assert float(raw.array.max()) == 2000.0  # the raw scanner values stay available


def test_mr_without_a_window_is_stretched_by_robust_percentiles(dicom_writer) -> None:
    from medimg.io import read_image

    _, path = _mr_slice(dicom_writer, window=None)
    image = read_image(path)
    assert image.meta["display_scaling"].startswith("percentiles 0.5-99.5")
    assert float(image.array.min()) == 0.0 and float(image.array.max()) == 255.0


def test_ct_keeps_hounsfield_units_and_8bit_ultrasound_is_kept(dicom_writer) -> None:
    from medimg.io import read_image

    ct = dicom_writer("ct.dcm", np.full((8, 8), 1064, np.uint16), modality="CT", slope=1, intercept=-1024)
    assert float(read_image(ct).array.max()) == 40.0 and "display_scaling" not in read_image(ct).meta
    us = dicom_writer("us.dcm", np.arange(64, dtype=np.uint8).reshape(8, 8) * 3, modality="US", bits_stored=8)
    image = read_image(us)
    assert image.meta["display_scaling"] == "8-bit values kept" and float(image.array.max()) == 189.0


def test_a_ct_window_on_mr_is_refused_naming_the_modality(dicom_writer, tmp_path) -> None:
    from PIL import Image

    from medimg.io import read_image

    _, path = _mr_slice(dicom_writer)
    with pytest.raises(ConfigError, match=r"CT window in Hounsfield units.*modality is MR"):
        read_image(path, window="brain")
    assert read_image(path, window="file").meta["window"] == (600.0, 1600.0)  # the file's own window is fine
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "slice.png")
    read_image(tmp_path / "slice.png", window="brain")  # a raster has no modality: applied to its values
