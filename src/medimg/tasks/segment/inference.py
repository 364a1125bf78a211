"""Sliding-window inference with Gaussian overlap blending, test-time flips, resampling back to the file's
geometry, post-processing (largest component, small-object removal) and writing masks in the input's format.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medimg.engine.distributed import network_device
from medimg.engine.trainer import autocast_context
from medimg.tasks.segment.labels import IGNORE
from medimg.tasks.segment.planning import SegPlan
from medimg.tasks.segment.preprocess import resize

logger = logging.getLogger(__name__)

POSTPROCESSING = ("none", "largest_component", "remove_small")


def memory_format(x: torch.Tensor, plan: SegPlan) -> torch.Tensor:
    """channels_last (2D) / channels_last_3d (3D) when the plan asks for it."""
    if not plan.channels_last:
        return x
    if x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if x.ndim == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x


def flip_sets(spatial_dims: int, tta: bool) -> list[tuple[int, ...]]:
    """Spatial axes to flip for each test-time pass: none, then each axis alone (1 + dims passes)."""
    if not tta:
        return [()]
    return [(), *[(axis,) for axis in range(spatial_dims)]]


@torch.no_grad()
def sliding_window_probabilities(
    network: nn.Module, x: torch.Tensor, plan: SegPlan, *, tta: bool | None = None, overlap: float | None = None
) -> torch.Tensor:
    """Softmax probabilities of ``x`` ``(B, C, *spatial)`` -> ``(B, K, *spatial)`` float32, any spatial size.

    Windows of ``plan.patch_size`` overlap by ``plan.sw_overlap`` and are blended with a Gaussian weight
    (centre pixels count most), as in nnU-Net; inputs smaller than a window are padded. With ``tta`` the
    prediction is averaged with those of the input flipped along each spatial axis.
    """
    from monai.inferers import sliding_window_inference

    network.eval()
    device = network_device(network)
    x = x.to(device)

    def predictor(window: torch.Tensor) -> torch.Tensor:
        with autocast_context(plan, device):
            logits = network(memory_format(window, plan))
        return torch.softmax(logits.float(), dim=1)

    use_tta = plan.tta if tta is None else tta
    total: torch.Tensor | None = None
    passes = flip_sets(plan.spatial_dims, use_tta)
    for axes in passes:
        dims = [a + 2 for a in axes]
        inputs = x.flip(dims) if dims else x
        out = sliding_window_inference(
            inputs,
            roi_size=list(plan.patch_size),
            sw_batch_size=plan.sw_batch_size,
            predictor=predictor,
            overlap=plan.sw_overlap if overlap is None else overlap,
            mode="gaussian",
        )
        out = torch.as_tensor(out).float()
        out = out.flip(dims) if dims else out
        total = out if total is None else total + out
    assert total is not None
    return (total / len(passes)).cpu()


def probabilities_at(probs: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Resample ``(K, *spatial)`` probabilities to the file's ``shape`` (linear), renormalised."""
    out = resize(probs, shape)
    return out / out.sum(0, keepdim=True).clamp_min(1e-8)


# ---------------------------------------------------------------------------------------- post-processing
def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    labelled, count = ndimage.label(mask, structure=structure)
    sizes = np.bincount(labelled.ravel(), minlength=count + 1)
    sizes[0] = 0
    return labelled, sizes


def postprocess(labels: np.ndarray, method: str, num_classes: int, *, min_object_fraction: float = 0.1) -> np.ndarray:
    """Clean a predicted label map ``(*spatial)``.

    ``largest_component``: keep only the largest connected component of each foreground class (organs,
    single lesions). ``remove_small``: drop components smaller than ``min_object_fraction`` of that class's
    largest component (speckle). ``none``: unchanged. Removed voxels become background.
    """
    if method == "none":
        return labels
    out = labels.copy()
    for cls in range(1, num_classes):
        mask = labels == cls
        if not mask.any():
            continue
        labelled, sizes = _components(mask)
        if method == "largest_component":
            keep = labelled == int(sizes.argmax())
        else:
            keep_ids = np.nonzero(sizes >= min_object_fraction * sizes.max())[0]
            keep = np.isin(labelled, keep_ids)
        out[mask & ~keep] = 0
    return out


def select_postprocessing(
    predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray], num_classes: int, *, min_object_fraction: float
) -> tuple[str, dict[str, float]]:
    """The post-processing with the best mean foreground Dice on validation cases; ``none`` unless another is
    strictly better (nnU-Net's rule: post-processing must earn its place on held-out data).
    """
    from medimg.tasks.segment.metrics import dice_per_class

    scores: dict[str, float] = {}
    for method in POSTPROCESSING:
        values = []
        for pred, truth in zip(predictions, truths, strict=True):
            cleaned = postprocess(pred, method, num_classes, min_object_fraction=min_object_fraction)
            values.append(np.nanmean(dice_per_class(cleaned, truth, num_classes)[1:]))
        scores[method] = float(np.nanmean(values)) if values else float("nan")
    best = max(POSTPROCESSING, key=lambda m: (scores[m] > scores["none"] + 1e-6, scores[m]))
    return (best if scores[best] > scores["none"] + 1e-6 else "none"), scores


# ------------------------------------------------------------------------------------------------- output
def mask_suffix(source: Path) -> str:
    """Output suffix for a mask of ``source``: NIfTI stays NIfTI, everything else becomes PNG (lossless)."""
    name = source.name.lower()
    return ".nii.gz" if name.endswith((".nii", ".nii.gz")) else ".png"


def write_mask(
    labels: np.ndarray,
    path: Path,
    *,
    affine: np.ndarray | None = None,
    spacing_mm: Sequence[float] | None = None,
    colours: dict[int, tuple[int, int, int]] | None = None,
    num_classes: int = 2,
) -> Path:
    """Write a label map in the input's geometry.

    NIfTI (``.nii``/``.nii.gz``): uint8 class indices with the input's affine. PNG: binary masks as 0/255,
    colour-coded sets with their table's colours, other label maps as class indices.
    """
    from medimg.io.image import ImageData

    labels = np.where(labels == IGNORE, 0, labels).astype(np.uint8)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        from medimg.io.nifti import write_nifti

        return write_nifti(
            ImageData(labels[None], spacing_mm=tuple(spacing_mm) if spacing_mm else None, affine=affine),
            path,
            dtype=np.uint8,
        )
    from PIL import Image

    from medimg.fileio import atomic_write_bytes

    if labels.ndim != 2:
        raise ValueError(f"PNG masks are 2D; got shape {labels.shape} (write volumes as .nii.gz)")
    if colours:
        rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
        for cls, colour in colours.items():
            rgb[labels == cls] = colour
        image = Image.fromarray(rgb, mode="RGB")
    elif num_classes == 2:
        image = Image.fromarray((labels > 0).astype(np.uint8) * 255, mode="L")
    else:
        image = Image.fromarray(labels, mode="L")
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
