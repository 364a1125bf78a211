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
