"""Inference steps and preprocessing chunks are bounded by pixels, not by image counts (3D memory)."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_fit_beyond_the_case_memory_budget_equals_fit_in_memory(
    phantom_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Over the budget the training images are read again in chunks instead of held: same fingerprint, same
    weights, same test report as the run that held them."""
    import logging

    from medimg import Model
    from medimg.data import loading
    from medimg.data.memory import MEMORY_ENV

    (phantom_dir / "normal" / "broken.png").write_bytes(b"not a png")  # skipped the same way by both
    fast = {"epochs": 1, "width": 0.25, "tta": False}
    held = Model("simple-cnn", **fast).fit(phantom_dir, run_dir=tmp_path / "held", progress=False)
    monkeypatch.setenv(MEMORY_ENV, "0")
    monkeypatch.setattr(loading, "CHUNK_BYTES", 5 * 32 * 32 * 4)  # chunks of 5 images
    with caplog.at_level(logging.INFO, logger="medimg.tasks.classify.data"):
        reread = Model("simple-cnn", **fast).fit(phantom_dir, run_dir=tmp_path / "reread", progress=False)
    assert "read again for training" in caplog.text
    for name in ("fingerprint.json", "splits.json"):
        assert (tmp_path / "held" / name).read_text() == (tmp_path / "reread" / name).read_text()
    for name, value in held.network_.state_dict().items():
        assert torch.equal(value, reread.network_.state_dict()[name]), name
    reports = [
        json.loads((run / "report" / "report.json").read_text()) for run in (tmp_path / "held", tmp_path / "reread")
    ]
    assert reports[0]["metrics"] == reports[1]["metrics"]
    skipped = [held.metadata_["training"]["skipped_files"], reread.metadata_["training"]["skipped_files"]]
    assert skipped[0] == skipped[1] and len(skipped[0]) == 1 and "broken.png" in skipped[0][0][0]


def test_read_case_chunks_splits_by_bytes_and_reads_what_read_cases_reads(phantom_dir: Path) -> None:
    from medimg.data.dataset import Dataset
    from medimg.data.loading import read_case_chunks, read_cases

    dataset = Dataset.load(phantom_dir)
    cases = dataset.cases[:23]
    whole = read_cases(dataset, cases, spatial_dims=2)
    chunks = list(read_case_chunks(dataset, cases, spatial_dims=2, chunk_bytes=10 * whole.arrays[0].nbytes))
    assert [len(c.cases) for c in chunks] == [10, 10, 3]
    assert [c.case_id for chunk in chunks for c in chunk.cases] == [c.case_id for c in whole.cases]
    for got, want in zip([a for chunk in chunks for a in chunk.arrays], whole.arrays, strict=True):
        assert np.array_equal(got, want)
