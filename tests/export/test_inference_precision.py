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
