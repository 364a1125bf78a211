"""Augmentation settings as a new user overrides them: intensity jitter given in the image's units (HU) instead of
the plan's normalised ones."""

from __future__ import annotations

import logging

import pytest
import torch

from medimg.planning.plan import AugmentationPlan, Plan
from medimg.transforms import augment
from medimg.transforms.augment import BatchAugment


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(augment, "_WARNED_UNITS", set(), raising=False)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("field", ["brightness", "noise_std"])
def test_intensity_jitter_in_hounsfield_units_is_warned_once(field: str, caplog: pytest.LogCaptureFixture) -> None:
    plan = AugmentationPlan(**{field: 100.0})
    with caplog.at_level(logging.WARNING, logger="medimg.transforms.augment"):
        BatchAugment(plan, spatial_dims=2)
        BatchAugment(plan, spatial_dims=2)  # a second network of the same run: said once
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert f"augmentation.{field}=100" in warnings[0] and "normalised units" in warnings[0]
    assert f"--set augmentation.{field}=0.1" in warnings[0]


def test_planned_and_strong_view_jitter_is_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    from medimg.tasks.semi_supervised import strong_augmentation

    planned = AugmentationPlan(rotate_deg=10, scale=0.1, translate=0.06, brightness=0.1, contrast=0.1)
    with caplog.at_level(logging.WARNING, logger="medimg.transforms.augment"):
        BatchAugment(planned, spatial_dims=2)
        BatchAugment(strong_augmentation(planned, 3.0), spatial_dims=2)
        BatchAugment(AugmentationPlan(brightness=1.0, noise_std=0.5), spatial_dims=3)
    assert not _warnings(caplog)


def test_flips_are_off_when_flip_axes_is_empty() -> None:
    """A chest X-ray's sides must not be swapped: with no flip axes the image comes back unflipped (only the
    intensity and affine parts of the plan act)."""
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(8, 1, 1, 1)
    out = BatchAugment(AugmentationPlan(flip_axes=[]), spatial_dims=2)(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, x)
    flipped = BatchAugment(AugmentationPlan(flip_axes=[1]), spatial_dims=2)(x, torch.Generator().manual_seed(0))
    assert any(torch.equal(f, x[0].flip(-1)) for f in flipped)


def test_plan_warns_of_intensity_jitter_in_image_units_as_fit_does(caplog: pytest.LogCaptureFixture) -> None:
    """``medimg plan --set augmentation.brightness=100`` printed the plan without the warning ``fit`` gives."""
    from medimg.config import resolve_plan

    with caplog.at_level(logging.WARNING, logger="medimg.transforms.augment"):
        plan = resolve_plan(Plan(augmentation=AugmentationPlan()), {"augmentation": {"brightness": 100}})
    assert plan.augmentation is not None and plan.augmentation.brightness == 100
    assert any("augmentation.brightness=100" in w for w in _warnings(caplog))
