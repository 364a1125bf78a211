"""Intensity windows as a new user gives them: a CT preset on images that are not in HU, and "C,W" windows through
the Python API as the README writes them for the CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.errors import ConfigError
from medimg.io import read_image, windowing
from medimg.io.image import ImageData
from medimg.io.windowing import apply_window_to_image, resolve_window


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(windowing, "_WARNED_NOT_HOUNSFIELD", set(), raising=False)


def _radiograph(path: Path) -> Path:
    """A 12-bit radiograph stored in a 16-bit PNG (values 0..4095, never negative)."""
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 30)) * 4095).astype(np.uint16)).save(path)
    return path


def test_ct_preset_on_a_16_bit_radiograph_warns_once_naming_the_file_and_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = _radiograph(tmp_path / "a.png"), _radiograph(tmp_path / "b.png")
    with caplog.at_level(logging.WARNING, logger="medimg.io.windowing"):
        image = read_image(first, window="lung")
        read_image(second, window="lung")
    assert float(np.mean(image.array == 1.0)) > 0.9  # what the warning is about: nearly all white
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "a.png" in warnings[0] and "likely not HU" in warnings[0] and "leave --window out" in warnings[0]
    assert "to 0.90..1.00 of" in warnings[0]


def test_ct_preset_on_hu_values_or_explicit_window_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    hu = np.linspace(-1000, 400, 64, dtype=np.float32).reshape(1, 8, 8)
    with caplog.at_level(logging.WARNING, logger="medimg.io.windowing"):
        apply_window_to_image(ImageData(hu.copy(), source="ct.nii.gz"), "lung")
        apply_window_to_image(ImageData(np.abs(hu), source="offset.png"), (424.0, 1500.0))
        apply_window_to_image(ImageData(np.abs(hu), source="auto.png"), "file")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("text", "expected"), [("40,400", (40.0, 400.0)), ("-600, 1500", (-600.0, 1500.0)), (" 424,1500 ", (424.0, 1500.0))]
)
def test_center_width_text_is_a_window_in_the_python_api(text: str, expected: tuple[float, float]) -> None:
    assert resolve_window(text, {}) == expected


def test_center_width_text_reads_an_image(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.fromarray(np.array([[0, 40, 240, 255]], dtype=np.uint8)).save(path)
    image = read_image(path, window="40,400")
    np.testing.assert_allclose(image.array.ravel(), [0.4, 0.5, 1.0, 1.0], atol=1e-6)
    assert image.meta["window"] == (40.0, 400.0)


@pytest.mark.parametrize("text", ["40,400,2", "40,", "a,b", "40,0", "40,-5"])
def test_malformed_center_width_text_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="window"):
        resolve_window(text, {})


@pytest.fixture
def _fresh_stale_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(windowing, "_WARNED_STALE_WINDOW", set(), raising=False)


@pytest.mark.usefixtures("_fresh_stale_warnings")
def test_mr_whose_own_window_lies_beside_its_values_is_not_made_one_flat_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An MR whose WindowCenter/WindowWidth belong to other pixel data (5000 +- 50 for values 0..1000): the file
    window made it all black, one value; its own range is used instead, with one warning naming the file."""
    from tests.io.conftest import write_dicom

    pixels = (np.arange(32 * 32).reshape(32, 32) % 1000).astype(np.uint16)
    first = write_dicom(tmp_path / "a.dcm", pixels, modality="MR", window=(5000, 100))
    second = write_dicom(tmp_path / "b.dcm", pixels, modality="MR", window=(5000, 100))
    with caplog.at_level(logging.WARNING, logger="medimg.io.windowing"):
        image = read_image(first)
        read_image(second)
        auto = read_image(first, window="file")
    assert float(image.array.max()) > 200 and len(np.unique(image.array)) > 100
    assert "percentiles" in image.meta["display_scaling"]
    assert auto.meta["window"] == (499.5, 999.0) and len(np.unique(auto.array)) > 100
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "a.dcm" in warnings[0] and "outside all its values" in warnings[0]


@pytest.mark.usefixtures("_fresh_stale_warnings")
def test_a_file_window_that_overlaps_the_values_is_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tests.io.conftest import write_dicom

    pixels = (np.arange(32 * 32).reshape(32, 32) % 1000).astype(np.uint16)
    path = write_dicom(tmp_path / "a.dcm", pixels, modality="MR", window=(900, 400))  # 700..1100: mostly black
    with caplog.at_level(logging.WARNING, logger="medimg.io.windowing"):
        image = read_image(path)
    assert image.meta["display_scaling"].startswith("file window (center 900, width 400)")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
