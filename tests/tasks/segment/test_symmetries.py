"""Test-time augmentation of segmentation: the passes are the symmetries trained with, and each is undone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medimg.tasks.segment.symmetries import passes_from_spec, passes_to_spec, plan_tta_passes, tta_passes


def test_the_passes_are_the_symmetries_the_network_was_trained_with() -> None:
    assert tta_passes(2, [0, 1], rotate90=False) == [((), 0), ((0,), 0), ((1,), 0), ((0, 1), 0)]
    square = tta_passes(2, [0, 1], rotate90=True)
    assert len(square) == len(set(square)) == 8 and square[0] == ((), 0)
    assert len(tta_passes(3, [0, 1, 2], rotate90=False)) == 8
    assert tta_passes(3, [0, 1, 2], rotate90=True) == tta_passes(3, [0, 1, 2], rotate90=False)  # turns are 2D only
    assert tta_passes(2, [1, 5], rotate90=False) == [((), 0), ((1,), 0)]  # axes the image lacks are left out
    assert tta_passes(2, [], rotate90=True) == [((), k) for k in range(4)]
    assert tta_passes(2, [0, 1], rotate90=True, enabled=False) == [((), 0)]
    plan = {"spatial_dims": 2, "tta": True, "augmentation": {"flip_axes": [0, 1], "rotate90": True}}
    assert passes_from_spec({"tta_passes": passes_to_spec(plan_tta_passes(plan))}) == square


def test_the_eight_passes_see_eight_different_images() -> None:
    from medimg.tasks.segment.inference import _transformed

    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    seen = {tuple(_transformed(x, axes, turns).flatten().tolist()) for axes, turns in tta_passes(2, [0], True)}
    assert len(seen) == 8


@pytest.mark.parametrize("rotate90", [False, True])
def test_each_pass_is_undone(rotate90: bool) -> None:
    """A pixel-wise network commutes with every mirror and turn: averaging its passes must change nothing (a pass
    mapped back wrongly would move the prediction of a non-square, non-symmetric image)."""
    from medimg.export import segment
    from medimg.tasks.segment.inference import sliding_window_probabilities
    from medimg.tasks.segment.planning import SegPlan

    torch.manual_seed(0)
    network = torch.nn.Conv2d(1, 2, 1).eval()
    plan = SegPlan(
        patch_size=[16, 16], amp="none", channels_last=False, augmentation={"flip_axes": [0, 1], "rotate90": rotate90}
    )
    assert len(plan_tta_passes(plan.model_dump())) == (8 if rotate90 else 4)
    x = torch.randn(1, 1, 23, 41)
    plain = sliding_window_probabilities(network, x, plan, tta=False)
    averaged = sliding_window_probabilities(network, x, plan, tta=True)
    torch.testing.assert_close(averaged, plain, atol=1e-5, rtol=0)

    def run(windows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(network(torch.from_numpy(windows)), 1).numpy()

    ours = segment.sliding_window_probabilities(run, x[0].numpy(), segment.segment_spec(plan.model_dump()))
    np.testing.assert_allclose(ours, plain[0].numpy(), atol=1e-5)
