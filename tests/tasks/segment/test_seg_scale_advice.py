"""The segmentation scale advice: never a --scale that --scale refuses, and honest about a larger field of view
(a 4000x3000 slide tile against 96x128 training patches at the same magnification was told '--scale 0.032')."""

from __future__ import annotations

import numpy as np
import pytest

from medimg.io.image import ImageData
from medimg.tasks.segment.scale import ScaleMonitor, TrainingScale, validate_scale

SIZES = {"median_shape": (96, 128)}


def _training(**known: float) -> TrainingScale:
    return TrainingScale(**SIZES, **known)  # type: ignore[arg-type]


def _discs(shape: tuple[int, int], radius: float, step: int) -> np.ndarray:
    """Labels (H, W) uint8 with discs of ``radius`` every ``step`` px."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (((yy % step) - step // 2) ** 2 + ((xx % step) - step // 2) ** 2 < radius**2).astype(np.uint8)


def test_a_factor_beyond_the_limits_is_never_suggested() -> None:
    monitor = ScaleMonitor(_training())
    monitor.check(ImageData(np.zeros((3, 3000, 4000), np.float32), source="slide.tif"))  # nothing segmented
    warning = monitor.warning() or ""
    assert monitor.suggested_scale() is None
    assert "--scale 0.03" not in warning and "beyond what --scale can bridge (0.125 to 8)" in warning
    assert "larger (or smaller) field of view, which needs no --scale" in warning


def test_size_alone_says_what_it_cannot_tell() -> None:
    monitor = ScaleMonitor(_training())
    monitor.check(ImageData(np.zeros((3, 192, 256), np.float32), source="twice.png"))
    warning = monitor.warning() or ""
    suggested = monitor.suggested_scale()
    assert suggested == 0.5 and validate_scale(suggested) == 0.5
    assert "Their size alone cannot tell a larger field of view" in warning and "--scale 0.5" in warning


def test_structures_as_thick_as_in_training_mean_a_larger_field_of_view() -> None:
    labels = _discs((3000, 4000), radius=4.5, step=40)  # discs 9 px across, as in training
    monitor = ScaleMonitor(_training(structure_px=4.0))  # training discs 9 px across
    monitor.check(ImageData(np.zeros((3, 3000, 4000), np.float32), source="slide.tif"), labels)
    assert monitor.warning() is None
    assert "another field of view at the training scale, no --scale needed" in (monitor.note() or "")
    assert monitor.summary()["other_field_of_view"] == 1


def test_thicker_structures_give_the_factor_from_them() -> None:
    labels = _discs((192, 256), radius=13, step=48)  # 26 px across: 2.3x as thick as in training
    monitor = ScaleMonitor(_training(structure_px=4.0))  # training discs 9 px across
    monitor.check(ImageData(np.zeros((3, 192, 256), np.float32), source="zoomed.png"), labels)
    assert monitor.suggested_scale() == pytest.approx(0.44, abs=0.02)
    assert "structures" in (monitor.warning() or "") and "Rerun with --scale" in (monitor.warning() or "")
