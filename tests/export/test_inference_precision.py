"""Predictions are float32 whatever the training precision: a run planned with bf16 autocast gives the same
probabilities as in float32 (so the same answer on machines with and without native bf16, and the ONNX export's
parity holds for what `medimg predict` prints); validation during training may use the plan's precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from medimg import Model


def test_classification_predictions_ignore_the_training_autocast(deploy_run: Path) -> None:
    from medimg.tasks.classify.inference import predict_proba

    model = Model.load(deploy_run)
    assert model.network_ is not None
    bf16 = model.plan_.model_copy(update={"amp": "bf16"})
    fp32 = model.plan_.model_copy(update={"amp": "none"})
    x = torch.rand(16, bf16.in_channels, *bf16.input_size)
    reference = predict_proba(model.network_, x, fp32)
    np.testing.assert_array_equal(predict_proba(model.network_, x, bf16), reference)
    validation = predict_proba(model.network_, x, bf16, amp=True)  # the plan's precision: bf16 moves the values
    assert np.abs(validation - reference).max() > 1e-6


def test_segmentation_predictions_ignore_the_training_autocast(seg_run: Path) -> None:
    from medimg.tasks.segment.inference import sliding_window_probabilities

    model = Model.load(seg_run)
    assert model.network_ is not None
    bf16 = model.plan_.model_copy(update={"amp": "bf16"})
    fp32 = model.plan_.model_copy(update={"amp": "none"})
    x = torch.rand(1, 1, 40, 36)
    reference = sliding_window_probabilities(model.network_, x, fp32)
    torch.testing.assert_close(sliding_window_probabilities(model.network_, x, bf16), reference, rtol=0, atol=0)
    assert (sliding_window_probabilities(model.network_, x, bf16, amp=True) - reference).abs().max() > 1e-6


def test_an_image_of_the_wrong_dimensionality_says_what_to_give_instead(deploy_run: Path) -> None:
    """A 3-page TIFF (read as a volume) given to a 2D classifier: the PyTorch and the ONNX preprocessing refuse it
    alike, naming the file and saying a 2D model takes one page per file."""
    import pytest

    from medimg.errors import DatasetError
    from medimg.export.preprocess import preprocess
    from medimg.transforms.preprocess import preprocess_arrays

    model = Model.load(deploy_run)
    plan = model.plan_
    spec = {"input_size": plan.input_size, "in_channels": plan.in_channels, "spatial_dims": 2}
    volume = np.zeros((1, 3, 32, 32), np.float32)
    for refuse in (lambda: preprocess_arrays([volume], plan, ["pages.tif"]), lambda: preprocess([volume], spec)):
        with pytest.raises(DatasetError, match=r"is 3D but the model expects 2D .*one slice or page per file"):
            refuse()
