"""Grad-CAM, Grad-CAM++ and occlusion sensitivity heatmaps for 2D and 3D classification networks.

Grad-CAM and Grad-CAM++ are implemented here rather than with ``monai.visualize.GradCAM``/``GradCAMpp``
because those (MONAI 1.x) register hooks that are never removed, switch ``inplace`` flags of the network's
layers, and mix classes across a batch (``logits[:, class_idx]`` with one index per sample scores every
sample against every sample's class; ``GradCAMpp`` fails outright for batches > 1). Here the hooks live only
for one call, each sample is scored against its own class, and batches of any size work. Occlusion
sensitivity uses :class:`monai.visualize.OcclusionSensitivity` one image at a time (its batch limit).
"""

from __future__ import annotations

import contextlib
import math
import operator
import warnings
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medimg.errors import ConfigError, did_you_mean
from medimg.explain.methods import EXPLAIN_METHODS as EXPLAIN_METHODS
from medimg.networks.ensemble import EnsembleNet


class TargetLayerError(ConfigError):
    """The network has no convolutional layer Grad-CAM can use (or the named one does not exist / is not spatial)."""


def check_method(method: str) -> str:
    """Normalise an explanation method name, or raise :class:`ConfigError` with close matches."""
    name = method.strip().lower().replace("_", "").replace("-", "")
    aliases = {"gradcam": "gradcam", "gradcam++": "gradcam++", "gradcampp": "gradcam++", "occlusion": "occlusion"}
    if name not in aliases:
        raise ConfigError(
            f"unknown explanation method {method!r}.{did_you_mean(method, EXPLAIN_METHODS)} "
            f"Available: {', '.join(EXPLAIN_METHODS)}."
        )
    return aliases[name]


def resolve_target_layer(network: nn.Module, target_layer: str | None = None) -> tuple[str, nn.Module]:
    """The layer Grad-CAM hooks: ``target_layer`` if given, else ``network.target_layer_name``.

    Raises:
        TargetLayerError: no name is given and the network has no ``target_layer_name``, or the name is not a
            submodule (the message lists close matches and the convolutional layers there are).
    """
    name = target_layer or getattr(network, "target_layer_name", None)
    conv_layers = [n for n, m in network.named_modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)]
    hint = f" Convolutional layers of this network: {', '.join(conv_layers[-5:])}." if conv_layers else ""
    if not name:
        raise TargetLayerError(
            f"{type(network).__name__} has no target layer for Grad-CAM (no 'target_layer_name' attribute); "
            f"pass target_layer='...' naming its last convolutional block.{hint}"
        )
    modules = dict(network.named_modules())
    if name not in modules:
        raise TargetLayerError(
            f"target layer {name!r} is not a submodule of {type(network).__name__}.{did_you_mean(name, modules)}{hint}"
        )
    return name, modules[name]


def _grad_cam_networks(network: nn.Module, target_layer: str | None) -> list[nn.Module]:
    """The networks Grad-CAM hooks: an ensemble's members (their maps are averaged), else the network itself."""
    if target_layer is None and isinstance(network, EnsembleNet):
        return list(network.members)
    return [network]


def check_explainable(network: nn.Module, method: str, target_layer: str | None = None) -> str:
    """The normalised method name, once the network is known to be explainable by it: the Grad-CAM family needs a
    target layer in the network (in each member of an ensemble, whose maps are averaged); occlusion needs none.

    Raises:
        ConfigError: unknown method. TargetLayerError: no usable target layer (Grad-CAM family).
    """
    name = check_method(method)
    if name != "occlusion":
        for part in _grad_cam_networks(network, target_layer):
            resolve_target_layer(part, target_layer)
    return name


@contextlib.contextmanager
def _capture(layer: nn.Module, store: dict[str, torch.Tensor]) -> Iterator[None]:
    """Record the layer's output and the gradient reaching it, for one forward/backward pass.

    The forward hook hands the network a clone of the output, so in-place operations after the layer (an
    in-place ReLU, a residual ``+=``) cannot alter the recorded activations.
    """

    def forward_hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        if not isinstance(output, torch.Tensor):
            store["bad_output"] = torch.zeros(0)
            return None
        store["activations"] = output
        if output.requires_grad:
            output.register_hook(lambda grad: store.__setitem__("gradients", grad))
        return output.clone()

    handle = layer.register_forward_hook(forward_hook)
    try:
        yield
    finally:
        handle.remove()


def _normalise_per_sample(maps: torch.Tensor) -> torch.Tensor:
    """Scale each map to 0..1 (a constant map becomes all zeros)."""
    flat = maps.flatten(1)
    low = flat.min(1, keepdim=True).values
    high = flat.max(1, keepdim=True).values
    span = (high - low).clamp_min(1e-12)
    scaled = torch.where(high - low > 1e-12, (flat - low) / span, torch.zeros_like(flat))
    return scaled.reshape(maps.shape)


def _grid_side(side: int, cells: int) -> int:
    """The input length the feature map's ``cells`` tile at the network's stride, for an input ``side`` long.

    Strides are powers of two (pooling, strided convolutions); when ``side`` is not a multiple of the stride the
    last cell covers only part of its tile (``ceil_mode`` pooling, padded strided convolutions: 28 px ->
    14 -> 7 -> 4 cells of 8 px, the last one 4 px) or the rest is dropped (floor pooling). Stretching the cells
    over ``side`` put a 28 px simple-cnn's third cell at rows 14..21 instead of 16..23: heat 2-3 px up and left.
    """
    if cells <= 1 or cells >= side:
        return side
    stride = 2 ** round(math.log2(side / cells))
    return stride * cells if cells in (math.ceil(side / stride), side // stride) else side


def _upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Feature-map heat ``(B, *cells)`` at the input's ``size``: each cell over its own tile of the input (see
    :func:`_grid_side`), the tiles' overhang cut off and input beyond the last tile given the last cell's heat."""
    mode = "bilinear" if len(size) == 2 else "trilinear"
    grid = [_grid_side(int(side), int(cells)) for side, cells in zip(size, maps.shape[1:], strict=True)]
    up = F.interpolate(maps[:, None], size=tuple(grid), mode=mode, align_corners=False)[:, 0]
    for axis, (side, length) in enumerate(zip(size, grid, strict=True), start=1):
        if length > side:
            up = up.narrow(axis, 0, int(side))
        elif length < side:
            last = up.narrow(axis, length - 1, 1)
            up = torch.cat([up, last.expand(*[int(side) - length if a == axis else -1 for a in range(up.ndim)])], axis)
    return up


def _grad_cam(
    network: nn.Module,
    x: torch.Tensor,
    class_index: torch.Tensor | None,
    target_layer: str | None,
    plus_plus: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    name, layer = resolve_target_layer(network, target_layer)
    store: dict[str, torch.Tensor] = {}
    was_training = network.training
    network.eval()
    try:
        with torch.enable_grad(), _capture(layer, store):
            inputs = x.detach().float().requires_grad_(True)
            logits = network(inputs).float()
            chosen = logits.argmax(1) if class_index is None else class_index
            _check_classes(chosen, logits)
            network.zero_grad(set_to_none=True)
            logits.gather(1, chosen[:, None]).sum().backward()
    finally:
        network.train(was_training)
        network.zero_grad(set_to_none=True)
    if "bad_output" in store or "activations" not in store:
        raise TargetLayerError(f"target layer {name!r} did not produce a tensor during the forward pass")
    acts = store["activations"].detach().float()
    spatial_dims = x.ndim - 2
    if acts.ndim != x.ndim:
        raise TargetLayerError(
            f"target layer {name!r} outputs shape {tuple(acts.shape)}, not a {spatial_dims}D feature map "
            f"(B, C, {', '.join('*' * spatial_dims)}); choose a convolutional block before global pooling"
        )
    if "gradients" not in store:
        raise TargetLayerError(f"no gradient reached target layer {name!r}; is it part of the path to the logits?")
    grads = store["gradients"].detach().float()
    axes = tuple(range(2, acts.ndim))
    if plus_plus:
        g2, g3 = grads**2, grads**3
        denominator = 2 * g2 + acts.sum(dim=axes, keepdim=True) * g3
        alpha = torch.where(grads != 0, g2 / torch.where(denominator != 0, denominator, torch.ones_like(g2)), 0.0)
        weights = (alpha * F.relu(grads)).sum(dim=axes, keepdim=True)
    else:
        weights = grads.mean(dim=axes, keepdim=True)
    cam = F.relu((weights * acts).sum(1))
    return _normalise_per_sample(_upsample(cam, x.shape[2:])), logits.detach()


def _log_odds(logits: torch.Tensor, *, multi_label: bool) -> torch.Tensor:
    """``(B, K)`` logits -> each class's log-odds ``log(p / (1 - p))`` of the model's probability ``p``, without
    rounding: a sigmoid's is the logit itself; a softmax's is the class's logit minus the log-sum-exp of the other
    classes' (``log(1 - p)`` from ``1 - p`` is ``log 0`` once ``p`` rounds to 1.0, a saturated prediction)."""
    if multi_label or logits.shape[1] < 2:
        return logits
    k = logits.shape[1]
    others = (
        logits[:, None, :]
        .expand(-1, k, -1)
        .masked_fill(torch.eye(k, dtype=torch.bool, device=logits.device), -torch.inf)
    )
    return logits - torch.logsumexp(others, dim=2)


def _occlusion(
    network: nn.Module, x: torch.Tensor, class_index: torch.Tensor | None, *, multi_label: bool
) -> tuple[torch.Tensor, Any]:
    from monai.visualize import OcclusionSensitivity

    spatial = x.shape[2:]
    score = partial(_log_odds, multi_label=multi_label)
    mask_size = [max(2, s // 6) for s in spatial]
    occlusion = OcclusionSensitivity(
        nn_module=network, mask_size=mask_size, n_batch=64, verbose=False, overlap=0.5, activate=score
    )
    network.eval()
    maps, all_logits = [], []
    with torch.no_grad():
        for i in range(x.shape[0]):
            xi = x[i : i + 1].float()
            logits = network(xi).float()
            if class_index is not None:
                _check_classes(class_index[i : i + 1], logits)
            c = int(logits.argmax(1)) if class_index is None else int(class_index[i])
            base = float(score(logits)[0, c])
            with warnings.catch_warnings():  # MONAI's deprecation chatter about its own internals
                warnings.simplefilter("ignore")
                occluded, _ = occlusion(xi)  # (1, K, *spatial): class log-odds with each area hidden
            maps.append(F.relu(base - occluded[0, c].float()))
            all_logits.append(logits)
    return _normalise_per_sample(torch.stack(maps)), torch.cat(all_logits)


def explain_batch(
    network: nn.Module,
    x: torch.Tensor,
    *,
    method: str = "gradcam",
    class_index: int | Sequence[int] | None = None,
    target_layer: str | None = None,
    multi_label: bool = False,
) -> np.ndarray:
    """Heatmaps of where the evidence for a class lies.

    Args:
        network: a classification network (``(B, C, *spatial) -> (B, K)`` logits); for the Grad-CAM family it
            needs ``target_layer_name`` (every :class:`~medimg.networks.ClassificationNet` has one) or
            ``target_layer``.
        x: ``(B, C, H, W)`` or ``(B, C, D, H, W)`` preprocessed input (any float dtype; run in float32).
        method: one of :data:`EXPLAIN_METHODS`.
        class_index: the class to explain, one for all or one per sample; default the predicted class.
        target_layer: dotted submodule name overriding ``network.target_layer_name``.
        multi_label: the network scores each finding by its own sigmoid (a multi-label model), not a softmax over
            classes. Occlusion measures the drop in the class's log-odds when an area is hidden: ``logit(p)`` of
            the model's own probability, computed from the logits (the finding's logit; for a softmax, the class's
            logit minus the log-sum-exp of the others'), which, unlike the probability, still drops when the
            prediction is certain (p = 1.0 in float32).

    Returns:
        ``(B, *spatial)`` float32 in 0..1, the input's spatial size (1 = strongest evidence).

    Raises:
        ConfigError: unknown method. TargetLayerError: no usable target layer (Grad-CAM family).
    """
    name = check_explainable(network, method, target_layer)
    if x.ndim not in (4, 5):
        raise ConfigError(f"explanations need a (B, C, H, W) or (B, C, D, H, W) batch, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        return np.zeros((0, *x.shape[2:]), dtype=np.float32)
    # Gradients even inside a caller's `with torch.inference_mode():` (usual around prediction), where the
    # backward pass failed ("element 0 of tensors does not require grad"): tensors made here are ordinary ones,
    # and an inference-mode input is copied into one.
    with torch.inference_mode(False):
        chosen: torch.Tensor | None = None
        if class_index is not None:
            chosen = _class_indices(class_index, x.shape[0], _class_count(network))
        device = next((p.device for p in network.parameters()), x.device)  # CUDA when the network is there
        x = x.to(device).clone() if x.is_inference() else x.to(device)
        chosen = chosen.to(device) if chosen is not None else None
        if name == "occlusion":
            maps, _ = _occlusion(network, x, chosen, multi_label=multi_label)
        elif target_layer is None and isinstance(network, EnsembleNet):
            maps = _ensemble_grad_cam(network, x, chosen, plus_plus=name == "gradcam++")
        else:
            maps, _ = _grad_cam(network, x, chosen, target_layer, plus_plus=name == "gradcam++")
        return maps.detach().cpu().numpy().astype(np.float32)


def _class_count(network: nn.Module) -> int | None:
    """The number of classes the network says it scores (``num_classes``; None without one: the logits tell)."""
    count = getattr(network, "num_classes", None)
    return count if isinstance(count, int) and count > 0 else None


def _check_classes(chosen: torch.Tensor, logits: torch.Tensor) -> None:
    """Refuse a class index beyond the logits (a network without ``num_classes``)."""
    if chosen.numel() and int(chosen.max()) >= logits.shape[1]:
        raise ConfigError(
            f"class_index {int(chosen.max())} is not a class of this network: use an index 0..{logits.shape[1] - 1}"
        )


def _class_indices(class_index: Any, batch: int, count: int | None) -> torch.Tensor:
    """``class_index`` (one for all, e.g. a numpy integer, or one per sample) as a ``(batch,)`` long tensor.

    Raises:
        ConfigError: not integers, the wrong number of them, or a class the network does not have (was a
            traceback from ``gather``: "index 5 is out of bounds for dimension 1 with size 2"; a numpy integer
            was "'numpy.int64' object is not iterable").
    """
    scalar = isinstance(class_index, int | np.integer) or (
        isinstance(class_index, np.ndarray | torch.Tensor) and class_index.ndim == 0
    )
    try:
        values = [operator.index(v) for v in ([class_index] * batch if scalar else list(class_index))]
    except TypeError:
        raise ConfigError(
            f"class_index={class_index!r}: give a class index (an integer) or one per image in the batch"
        ) from None
    if len(values) != batch:
        raise ConfigError(f"class_index has {len(values)} entries for a batch of {batch}")
    wrong = [v for v in values if v < 0 or (count is not None and v >= count)]
    if wrong:
        scope = f"0..{count - 1}" if count is not None else "0 or more"
        raise ConfigError(f"class_index {wrong[0]} is not a class of this network: use an index {scope}")
    return torch.tensor(values, dtype=torch.long)


def _ensemble_grad_cam(
    network: EnsembleNet, x: torch.Tensor, class_index: torch.Tensor | None, *, plus_plus: bool
) -> torch.Tensor:
    """An ensemble's map: the mean of its members' maps for the class the ensemble predicts (or is asked)."""
    if class_index is None:
        was_training = network.training
        network.eval()
        with torch.no_grad():
            class_index = network(x.detach().float()).argmax(1)
        network.train(was_training)
    maps = [_grad_cam(member, x, class_index, None, plus_plus)[0] for member in network.members]
    return _normalise_per_sample(torch.stack(maps).mean(0))
