"""A generator whose training diverged (NaN weights) draws NaN images: ``generate`` wrote them as black PNGs and
``evaluate`` crashed in an SVD (LinAlgError); both now stop with one ConfigError, and a validation FD of such
samples is NaN (no epoch is selected on it) instead of an exception."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medimg.errors import ConfigError
from medimg.tasks.generate.gan import ConditionalGAN
from medimg.tasks.generate.metrics import frechet_distance
from medimg.tasks.generate.plan import GeneratePlan
from medimg.tasks.generate.synthesis import write_synthetic_set

PLAN = GeneratePlan(class_names=["a", "b"], input_size=[8, 8], output_size=[8, 8], base_width=4, latent_dim=4)


def _diverged() -> ConditionalGAN:
    network = ConditionalGAN(PLAN)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.fill_(float("nan"))
    return network


def test_a_diverged_generator_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"drew 3 of 3 image\(s\) with NaN or infinite values.*diverged"):
        write_synthetic_set(_diverged(), PLAN, tmp_path / "synth", n=3)
    assert not (tmp_path / "synth").exists() or not any((tmp_path / "synth").rglob("*.png"))


def test_a_healthy_generator_still_writes(tmp_path: Path) -> None:
    written = write_synthetic_set(ConditionalGAN(PLAN), PLAN, tmp_path / "synth", n=2)
    assert len(written.paths) == 2


def test_the_frechet_distance_of_nan_features_is_nan() -> None:
    real = np.random.default_rng(0).normal(size=(6, 4))
    fake = real.copy()
    fake[2, 1] = np.nan
    assert np.isnan(frechet_distance(real, fake))
    assert np.isfinite(frechet_distance(real, real + 0.1))


def test_an_interrupted_draw_leaves_no_unlisted_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Images written before an interruption were left without a manifest row, and every later generate into the
    folder was refused ('holds images that are not synthetic')."""
    from medimg.tasks.generate import synthesis

    real_write = synthesis.write_image
    calls: list[Path] = []

    def failing(array: np.ndarray, path: Path, plan: GeneratePlan) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(array, path, plan)

    monkeypatch.setattr(synthesis, "write_image", failing)
    network = ConditionalGAN(PLAN)
    with pytest.raises(OSError, match="No space"):
        write_synthetic_set(network, PLAN, tmp_path / "synth", n=4)
    assert not list((tmp_path / "synth").rglob("*.png"))
    monkeypatch.setattr(synthesis, "write_image", real_write)
    assert len(write_synthetic_set(network, PLAN, tmp_path / "synth", n=4).paths) == 4  # the folder is usable
