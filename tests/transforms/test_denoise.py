"""The plan's ``denoise`` step: each filter does what it says, the training (torch) and ONNX (numpy) preprocessing
apply it alike, and a run trained with it predicts through it, in PyTorch and from its exported ONNX file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medimg.export.preprocess import preprocess, preprocessing_steps
from medimg.planning.plan import Plan
from medimg.transforms.denoise import denoise
from medimg.transforms.preprocess import preprocess_arrays


def _salted(seed: int = 0, size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A smooth ramp, and the same with 5% of its pixels set to 0 or 255 (salt and pepper)."""
    rng = np.random.default_rng(seed)
    clean = np.tile(np.linspace(60, 180, size, dtype=np.float32), (size, 1))[None]
    noisy = clean.copy()
    hit = rng.random(clean.shape) < 0.05
    noisy[hit] = rng.choice([0.0, 255.0], size=int(hit.sum())).astype(np.float32)
    return clean, noisy


def test_each_filter_brings_a_noisy_image_closer_to_the_clean_one() -> None:
    clean, noisy = _salted()
    before = np.abs(noisy - clean).mean()
    assert denoise(noisy, "none", 1.0) is noisy
    median = denoise(noisy, "median", 1.0)
    assert median.shape == noisy.shape and median.dtype == np.float32
    assert np.abs(median - clean)[:, 2:-2, 2:-2].mean() < 0.1 * before  # salt and pepper gone
    gaussian = denoise(noisy, "gaussian", 1.0)
    assert np.abs(gaussian - clean).mean() < before
    grainy = clean + np.random.default_rng(1).normal(0, 12, clean.shape).astype(np.float32)
    cleaned = denoise(grainy, "nl_means", 1.0)
    assert np.abs(cleaned - clean).mean() < 0.7 * np.abs(grainy - clean).mean()
    assert np.array_equal(denoise(np.full((1, 8, 8), 7.0, np.float32), "nl_means", 1.0), np.full((1, 8, 8), 7.0))


def test_channels_are_filtered_one_by_one_and_volumes_in_3d() -> None:
    _, noisy = _salted()
    two = np.concatenate([noisy, noisy[:, ::-1]])
    out = denoise(two, "median", 1.0)
    assert np.array_equal(out[0], denoise(noisy, "median", 1.0)[0])
    assert np.array_equal(out[1], denoise(noisy[:, ::-1], "median", 1.0)[0])
    volume = np.zeros((1, 9, 9, 9), np.float32)
    volume[0, 4, 4, 4] = 100.0  # one hot voxel: removed by a 3x3x3 median
    assert denoise(volume, "median", 1.0).max() == 0.0


@pytest.mark.parametrize("method", ["median", "gaussian", "nl_means"])
def test_training_and_onnx_preprocessing_denoise_alike(method: str) -> None:
    rng = np.random.default_rng(2)
    arrays = [
        _salted(seed=seed, size=size)[0] + rng.normal(0, 15, (1, size, size)).astype(np.float32)
        for seed, size in ((0, 57), (3, 57), (4, 28))
    ]
    plan = Plan(spatial_dims=2, in_channels=1, input_size=[28, 28], clip_high=255, norm_std=50, denoise=method)
    reference = preprocess_arrays(arrays, plan).float().numpy()
    np.testing.assert_allclose(preprocess(arrays, plan.model_dump()), reference, atol=5e-3)
    plain = preprocess_arrays(arrays, plan.model_copy(update={"denoise": "none"})).float().numpy()
    assert np.abs(reference - plain).mean() > 0.05  # the step is applied, not skipped
    assert any(method.replace("_", " ") in step or method in step for step in preprocessing_steps(plan.model_dump()))


def test_an_export_made_before_denoising_existed_reads_as_none() -> None:
    _, noisy = _salted()
    spec = Plan(spatial_dims=2, in_channels=1, input_size=[20, 20], clip_high=255).model_dump()
    older = {k: v for k, v in spec.items() if k not in ("denoise", "denoise_radius")}
    np.testing.assert_array_equal(preprocess([noisy], older), preprocess([noisy], spec))


def test_a_run_trained_with_denoising_predicts_through_it_in_pytorch_and_onnx(tmp_path: Path) -> None:
    from medimg import Model
    from medimg.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(tmp_path / "phantoms", n_per_class=12, size=32, seed=1)
    model = Model("simple-cnn").fit(
        data, run_dir=tmp_path / "run", epochs=1, seed=0, progress=False, tensorboard=False, denoise="median"
    )
    saved = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert saved["denoise"] == "median" and Model.load(tmp_path / "run").plan_.denoise == "median"
    exported = model.export()
    assert exported.preprocessing_max_abs_diff is not None and exported.preprocessing_max_abs_diff < 5e-3
    files = sorted((tmp_path / "phantoms").rglob("*.png"))[:4]
    torch_probabilities = [p.probabilities for p in model.predict(files)]
    script = (
        "import json, sys\n"
        "sys.modules['torch'] = None\n"
        "from medimg.export.predictor import OnnxPredictor\n"
        "print(json.dumps([p.probabilities for p in OnnxPredictor(sys.argv[1]).predict(sys.argv[2:])]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(exported.path), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    for ours, theirs in zip(json.loads(run.stdout), torch_probabilities, strict=True):
        assert ours.keys() == theirs.keys()
        np.testing.assert_allclose([ours[k] for k in ours], [theirs[k] for k in ours], atol=1e-3)


@pytest.mark.parametrize("method", ["median", "nl_means"])
def test_segmentation_denoises_alike_in_pytorch_and_the_onnx_predictor(method: str) -> None:
    from medimg.export import segment
    from medimg.tasks.segment import preprocess as segment_preprocess
    from medimg.tasks.segment.planning import SegPlan

    _, noisy = _salted(size=45)
    image = noisy + np.random.default_rng(5).normal(0, 10, noisy.shape).astype(np.float32)
    plan = SegPlan(patch_size=[32, 32], in_channels=1, amp="none", channels_last=False, num_classes=2, denoise=method)
    spec = segment.segment_spec(plan.model_dump())
    assert spec["denoise"] == method
    x = segment_preprocess.prepare_image(image, None, plan).numpy()
    np.testing.assert_allclose(segment.prepare_image(image, None, spec), x, atol=1e-5)
    plain = segment_preprocess.prepare_image(image, None, plan.model_copy(update={"denoise": "none"})).numpy()
    assert np.abs(x - plain).mean() > 0.05
    older = {k: v for k, v in spec.items() if k not in ("denoise", "denoise_radius")}  # an export made before
    np.testing.assert_allclose(segment.prepare_image(image, None, older), plain, atol=1e-5)
    assert any("median" in step or "non-local" in step for step in segment.segment_preprocessing_steps(spec))
