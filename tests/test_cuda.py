"""The product on a CUDA GPU: fit, evaluate, save, load and predict for classification and segmentation.

Skipped without a GPU (CI has none). `bash benchmarks/gpu.sh` runs the real-data version of these checks on a
GPU machine; these are the small ones a GPU user or a GPU CI runs with `pytest tests/test_cuda.py`. The first GPU
run of medimg failed twice in classification (the class-weighted loss and the logit adjustment left tensors on
the CPU): both paths are below.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medimg import Model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")


def test_classification_trains_on_the_gpu_with_the_split_there(phantom_dir: Path, tmp_path: Path) -> None:
    model = Model("simple-cnn", epochs=2, class_weights=[1.5, 0.75], binary_threshold="youden").fit(
        phantom_dir, run_dir=tmp_path / "run", progress=False, tensorboard=False
    )
    training = model.metadata_["training"]
    assert training["device"].startswith("cuda") and training["train_data_device"].startswith("cuda")
    assert training["logit_adjustment"] is not None
    loaded = Model.load(tmp_path / "run")
    image = next(phantom_dir.rglob("*.png"))
    assert loaded.predict(image)[0].label in {"normal", "lesion"}


def test_segmentation_trains_and_predicts_on_the_gpu(tmp_path: Path) -> None:
    from tests.tasks.segment.synthetic import write_2d_pairs

    data = write_2d_pairs(tmp_path / "discs", n=10, size=32)
    fast = {"epochs": 2, "iterations_per_epoch": 3, "batch_size": 4, "channels": [8, 16, 32]}
    model = Model("unet", task="segment", **fast).fit(data, run_dir=tmp_path / "seg", progress=False)
    assert model.metadata_["training"]["device"].startswith("cuda")
    assert Model.load(tmp_path / "seg").predict(data / "images" / "case_00.png", out_dir=tmp_path / "out")[0].mask_path
