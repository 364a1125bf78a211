"""Dice, Dice + cross-entropy, Dice + focal and clDice losses that skip ignored pixels.

Written here rather than taken from MONAI because MONAI's ``DiceCELoss``/``DiceFocalLoss`` have no ignore mask:
pixels outside a field of view (DRIVE) or with an undefined colour (Herlev) must not count. The Dice term is
the "batch Dice" of nnU-Net (sums over the whole batch, foreground classes only), which is stable when a patch
holds no foreground.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from medimg.tasks.segment.labels import IGNORE

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, *, smooth: float = 1e-5) -> torch.Tensor:
    """``1 - mean foreground soft Dice`` over the batch.

    Args:
        logits: ``(N, K, *spatial)``.
        target: ``(N, *spatial)`` int64 class indices; :data:`IGNORE` pixels are left out.
    """
    valid = (target != IGNORE).unsqueeze(1)
    probs = torch.softmax(logits.float(), dim=1) * valid
    onehot = F.one_hot(torch.where(valid[:, 0], target, 0), logits.shape[1]).movedim(-1, 1).float() * valid
    dims = (0, *range(2, logits.ndim))
    intersection = (probs * onehot).sum(dims)
    denominator = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * intersection + smooth) / (denominator + smooth)
    return 1 - dice[1:].mean()


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel cross-entropy over valid pixels."""
    return F.cross_entropy(logits.float(), target, ignore_index=IGNORE)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, *, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) over valid pixels: cross-entropy down-weighted by ``(1 - p_true)^gamma``."""
    ce = F.cross_entropy(logits.float(), target, ignore_index=IGNORE, reduction="none")
    valid = target != IGNORE
    p_true = torch.exp(-ce)
    return ((1 - p_true) ** gamma * ce)[valid].mean() if valid.any() else ce.sum() * 0


def cldice_loss(
    logits: torch.Tensor, target: torch.Tensor, *, iterations: int = 5, smooth: float = 1.0
) -> torch.Tensor:
    """``1 - mean foreground soft clDice`` (Shit et al. 2021) over the batch, ignored pixels left out.

    clDice is the harmonic mean of topology precision (the predicted soft skeleton inside the reference) and
    topology sensitivity (the reference skeleton inside the prediction): a thin vessel missed or broken costs as
    much as a thick one, which pixel Dice weighs by area. The skeletons are MONAI's ``soft_skel`` (iterated
    min/max pooling); ``iterations`` must reach the widest structure's radius in pixels.
    """
    from monai.losses.cldice import soft_skel

    valid = (target != IGNORE).unsqueeze(1)
    probs = (torch.softmax(logits.float(), dim=1) * valid)[:, 1:]
    onehot = (F.one_hot(torch.where(valid[:, 0], target, 0), logits.shape[1]).movedim(-1, 1).float() * valid)[:, 1:]
    dims = (0, *range(2, logits.ndim))
    skel_pred = soft_skel(probs, iterations)
    with torch.no_grad():  # the reference's skeleton is a constant: no graph to keep
        skel_true = soft_skel(onehot, iterations)
    precision = ((skel_pred * onehot).sum(dims) + smooth) / (skel_pred.sum(dims) + smooth)
    sensitivity = ((skel_true * probs).sum(dims) + smooth) / (skel_true.sum(dims) + smooth)
    return 1 - (2 * precision * sensitivity / (precision + sensitivity)).mean()


def make_loss(name: str) -> LossFn:
    """``dice``, ``dice_ce``, ``dice_focal`` or ``dice_ce_cldice`` -> ``(logits, target) -> scalar``.

    ``dice_ce_cldice`` is clDice's published combination, half soft Dice and half clDice, plus cross-entropy.
    """
    if name == "dice":
        return soft_dice_loss
    if name == "dice_focal":
        return lambda logits, target: soft_dice_loss(logits, target) + focal_loss(logits, target)
    if name == "dice_ce_cldice":
        return lambda logits, target: (
            0.5 * soft_dice_loss(logits, target) + 0.5 * cldice_loss(logits, target) + cross_entropy(logits, target)
        )
    return lambda logits, target: soft_dice_loss(logits, target) + cross_entropy(logits, target)
