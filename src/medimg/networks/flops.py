"""Approximate forward FLOPs of a network, for the planner and the benchmark.

Only convolutions (any dimensionality, including transposed) and linear layers are counted, as
``2 x multiply-accumulates``; bias additions, normalisation, activations, pooling, element-wise ops
(residual additions, squeeze-excitation gating) and attention matmuls outside ``nn.Linear`` are ignored. For
the conv nets in this package that is within a few percent of the true count (and matches how papers usually
report "FLOPs" as 2 x MACs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs (2 x multiply-accumulates of conv and linear layers) for ONE input sample.

    Runs one forward pass on a zero tensor of shape ``(1, *input_shape)`` in eval mode without gradients,
    with forward hooks on every ``nn.Conv*d`` / ``nn.ConvTranspose*d`` / ``nn.Linear``; the model's
    training mode is restored afterwards.

    Args:
        model: the network.
        input_shape: ``(C, *spatial)`` of one sample, without the batch axis, e.g. ``(1, 28, 28)``.

    Returns:
        FLOPs per sample (an ``int``; divide by 1e9 for GFLOPs).

    Example:
        >>> count_flops(nn.Conv2d(1, 8, 3, padding=1), (1, 28, 28))  # 2 * 28*28 * 8 * 9
        112896
    """
    total = 0

    def conv_hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, _ConvNd)
        kernel = math.prod(module.kernel_size)
        if module.transposed:
            # every input element is scattered through the kernel to out_channels / groups outputs
            x = inputs[0]
            total += 2 * x.numel() * kernel * module.out_channels // module.groups
        else:
            total += 2 * output.numel() * kernel * module.in_channels // module.groups

    def linear_hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)
        total += 2 * output.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, _ConvNd):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)
