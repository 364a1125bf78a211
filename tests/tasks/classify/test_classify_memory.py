"""Inference steps and preprocessing chunks are bounded by pixels, not by image counts (3D memory)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medimg.planning.plan import Plan
from medimg.tasks.classify.inference import INFERENCE_STEP_PIXELS, inference_step, predict_logits
from medimg.transforms import preprocess
from medimg.transforms.preprocess import preprocess_arrays


def test_inference_step_is_capped_by_pixels() -> None:
    assert inference_step(Plan(input_size=[28, 28], eval_batch_size=256)) == 256
    assert inference_step(Plan(spatial_dims=3, input_size=[64, 64, 64], eval_batch_size=256)) == 8
    assert inference_step(Plan(spatial_dims=3, input_size=[256, 256, 256], eval_batch_size=256)) == 1
    assert inference_step(Plan(input_size=[28, 28], eval_batch_size=256), most=64) == 64
    assert INFERENCE_STEP_PIXELS // (64**3) == 8


def test_predict_logits_batches_large_volumes() -> None:
    seen: list[int] = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.shape[0])
            return torch.zeros((x.shape[0], 2))

    plan = Plan(spatial_dims=3, input_size=[64, 64, 64], amp="none", channels_last=False)
    logits = predict_logits(Probe(), torch.zeros((20, 1, 64, 64, 64), dtype=torch.float16), plan)
    assert logits.shape == (20, 2)
    assert seen == [8, 8, 4]


def test_preprocess_resizes_volumes_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preprocess, "CHUNK_VOXELS", 3 * 16**3)
    calls: list[int] = []
    original = preprocess.normalise

    def counting(tensor: torch.Tensor, plan: Plan) -> torch.Tensor:
        calls.append(tensor.shape[0])
        return original(tensor, plan)

    monkeypatch.setattr(preprocess, "normalise", counting)
    rng = np.random.default_rng(0)
    volumes = [rng.random((1, 16, 16, 16), dtype=np.float32) for _ in range(7)]
    plan = Plan(spatial_dims=3, input_size=[8, 8, 8], clip_low=0, clip_high=1, norm_mean=0.5, norm_std=0.5)
    out = preprocess_arrays(volumes, plan)
    assert out.shape == (7, 1, 8, 8, 8)
    assert calls == [3, 3, 1]
    whole = preprocess_arrays(volumes[:3], plan)
    assert torch.equal(out[:3], whole)
