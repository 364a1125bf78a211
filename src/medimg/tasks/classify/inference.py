"""Batched network inference for classification: logits and probabilities, flip test-time augmentation,
inference steps bounded by pixel count."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn

from medimg.engine.distributed import network_device
from medimg.engine.trainer import autocast_context
from medimg.interrupts import raise_if_interrupted
from medimg.planning.plan import Plan


def memory_format(plan: Plan) -> torch.memory_format:
    """channels_last for 2D inputs when the plan asks for it (3D classification stays contiguous: faster here)."""
    return torch.channels_last if plan.channels_last and plan.spatial_dims == 2 else torch.contiguous_format


def tta_flip_axes(plan: Plan) -> list[int]:
    """Flip axes used at test time: those the training augmentation also used (never a new symmetry)."""
    return [a for a in plan.augmentation.flip_axes if a < plan.spatial_dims] if plan.tta else []


#: Inference steps hold at most this many input pixels/voxels (256 images of 32x32, 8 volumes of 64^3):
#: activations grow with the input, and 256 volumes of 64^3 through a 3D CNN need over 8 GB.
INFERENCE_STEP_PIXELS = 2**21


def inference_step(plan: Plan, most: int | None = None) -> int:
    """Images per inference step: ``plan.eval_batch_size`` (and ``most``), capped by the input's pixel count."""
    cap = max(1, INFERENCE_STEP_PIXELS // math.prod(plan.input_size))
    return max(1, min(plan.eval_batch_size, cap, most or plan.eval_batch_size))


@torch.no_grad()
def predict_logits(network: nn.Module, x: torch.Tensor, plan: Plan, *, amp: bool = False) -> torch.Tensor:
    """Logits ``(N, K)`` float32 for preprocessed inputs ``x`` (eval mode, batched).

    Float32 unless ``amp``: predictions and evaluations are computed in float32 whatever the training precision,
    so one model gives the same probabilities on every machine (with or without native bf16) and agrees with
    its ONNX export to the export's parity tolerance; bf16 autocast moves probabilities by up to ~1e-2. Validation
    during training passes ``amp=True`` (the plan's precision: it only ranks epochs).
    """
    network.eval()
    device = network_device(network)
    flips = tta_flip_axes(plan)
    outputs = []
    step = inference_step(plan)
    for start in range(0, x.shape[0], step):
        raise_if_interrupted()  # a Ctrl-C Python dropped (see medimg.interrupts)
        xb = x[start : start + step].to(device).float().contiguous(memory_format=memory_format(plan))
        with autocast_context(plan, device) if amp else contextlib.nullcontext():
            logits = network(xb).float()
            for axis in flips:
                logits = logits + network(xb.flip(2 + axis)).float()
        outputs.append((logits / (1 + len(flips))).cpu())
    if not outputs:
        return torch.zeros((0, plan.num_classes))
    return torch.cat(outputs)


def predict_proba(network: nn.Module, x: torch.Tensor, plan: Plan, *, amp: bool = False) -> np.ndarray:
    """Class probabilities ``(N, K)`` float64 (softmax of the logits; a multi-label plan's per-finding sigmoids;
    float32 inference unless ``amp``)."""
    return probabilities_of(predict_logits(network, x, plan, amp=amp), plan).double().numpy()


def probabilities_of(logits: torch.Tensor, plan: Plan) -> torch.Tensor:
    """The model's probabilities from its logits: softmax over classes, or one sigmoid per finding."""
    return torch.sigmoid(logits) if plan.multi_label else torch.softmax(logits, dim=1)
