"""Fingerprint -> Plan. Each heuristic is a small ``determine_*`` function whose docstring says why.

The planner targets a CPU budget: the defaults must train a useful model in minutes on 2 cores, and a GPU
user can raise ``epochs``, ``width`` or ``input_size`` by overriding plan fields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from medimg.io.windowing import CT_LOW_HU
from medimg.planning.fingerprint import Fingerprint
from medimg.planning.network_width import determine_width
from medimg.planning.plan import DENOISE_OFF, AugmentationPlan, Plan, members_wanted
from medimg.planning.semi_supervised import determine_semi_supervised

if TYPE_CHECKING:
    from medimg.networks.saved_at import SavedAt

MAX_INPUT_2D = 128
MAX_INPUT_3D = 32
TARGET_STEPS = 1200


def determine_input_size(fp: Fingerprint) -> tuple[list[int], str]:
    """The network input: the median image shape, capped for CPU cost, rounded to a multiple of 4.

    Small images (MedMNIST 28 px) are used as they are; larger 2D images are resized so the longer median
    side is at most 128 px, and volumes to at most 32 voxels per axis: cost grows with the pixel count and
    these sizes keep an epoch in seconds on 2 cores while keeping lesion-scale detail for cell and
    small-organ images. A square (cubic) input is used because orientation is not canonical in most
    2D sets and networks pool symmetrically.

    The reason says what this costs when it does: images of another aspect ratio are resized anisotropically
    (squashed), and a large reduction makes small structures vanish (a 2000x1500 slide tile at 128 px is 15.6x /
    11.7x smaller: nuclei of 5-15 px become about a pixel), which :func:`describe_resize` spells out.
    """
    cap = MAX_INPUT_2D if fp.spatial_dims == 2 else MAX_INPUT_3D
    side = min(max(fp.median_shape), cap)
    side = max(16, round(side / 4) * 4)
    why = f"median shape {fp.median_shape}, capped at {cap} for CPU training"
    cost = describe_resize(fp.median_shape, [side] * fp.spatial_dims)
    voxels = describe_voxels(fp.median_shape, fp.median_spacing_mm, [side] * fp.spatial_dims) if cost else ""
    return [side] * fp.spatial_dims, f"{why}{voxels}{'; ' + cost if cost else ''}"


def describe_voxels(shape: Sequence[int], spacing_mm: Sequence[float] | None, input_size: Sequence[int]) -> str:
    """The voxel size in mm before and after resizing a volume of ``shape`` to ``input_size``, when its spacing is
    known and the voxels are not cubes before or after: six 5 mm slices of 0.7 mm pixels resized to 32 voxels are
    "5.33x larger" in voxel count but near-isotropic in mm, which the voxel counts alone hide.

    >>> describe_voxels([32, 32, 6], [0.7, 0.7, 5.0], [32, 32, 32])
    ' (voxels 0.7x0.7x5 mm -> 0.7x0.7x0.938 mm)'
    """
    if not spacing_mm or len(spacing_mm) != len(shape) or len(shape) != 3 or min(spacing_mm) <= 0:
        return ""
    after = [s * n / m for s, n, m in zip(spacing_mm, shape, input_size, strict=True)]
    if all(max(v) <= (1 + ANISOTROPY_TOLERANCE) * min(v) for v in (spacing_mm, after)):
        return ""  # isotropic before and after: the voxel counts say it all
    return f" (voxels {'x'.join(f'{s:.3g}' for s in spacing_mm)} mm -> {'x'.join(f'{s:.3g}' for s in after)} mm)"


PER_IMAGE_FORMATS = frozenset({"nifti", "metaimage", "nrrd"})
"""Volume formats whose stored values are the scanner's own (no window applied when read)."""
#: a reduction from which the input-size reason says which structures shrink to a pixel
SHRINK_NOTE_FACTOR = 2.0
#: per-axis factors further apart than this share are said as an anisotropic resize (rounding a side is not)
ANISOTROPY_TOLERANCE = 0.1


def describe_resize(shape: Sequence[int], input_size: Sequence[int]) -> str:
    """What resizing images of ``shape`` to ``input_size`` costs, or ``""`` when nothing worth saying: the aspect
    ratio lost (anisotropic resize, by how much per axis) and the size of the structures that shrink to about a
    pixel, with what to do about it.

    >>> describe_resize([1500, 2000], [128, 128])  # doctest: +NORMALIZE_WHITESPACE
    'resized anisotropically, aspect ratio not kept: 1500x2000 -> 128x128 px (11.7x smaller in height, 15.6x smaller
    in width); structures under about 16 px across shrink to a pixel or less: raise input_size (a GPU), or cut the
    images into tiles at the scale of the structures'
    """
    if len(shape) != len(input_size) or min(input_size) <= 0 or min(shape) <= 0:
        return ""
    factors = [s / n for s, n in zip(shape, input_size, strict=True)]
    # a volume's axes are named by number: read in RAS+ order the last is the slice axis of an axial scan, not
    # its "width"
    names = ["height", "width"] if len(shape) == 2 else ["axis 0", "axis 1", "axis 2"]
    parts = []
    if max(factors) > (1 + ANISOTROPY_TOLERANCE) * min(factors):
        per_axis = ", ".join(
            f"{name} as is"
            if abs(f - 1) <= ANISOTROPY_TOLERANCE
            else f"{f:.3g}x smaller in {name}"
            if f > 1
            else f"{1 / f:.3g}x larger in {name}"
            for f, name in zip(factors, names, strict=True)
        )
        parts.append(
            "resized anisotropically, aspect ratio not kept: "
            f"{'x'.join(map(str, shape))} -> {'x'.join(map(str, input_size))} px ({per_axis})"
        )
    if max(factors) >= SHRINK_NOTE_FACTOR:
        parts.append(
            f"structures under about {math.ceil(max(factors))} px across shrink to a pixel or less: raise input_size "
            "(a GPU), or cut the images into tiles at the scale of the structures"
        )
    return "; ".join(parts)


def determine_normalisation(fp: Fingerprint) -> tuple[str, float, float, float, float, str]:
    """Clip to the 0.5-99.5 percentiles of the training intensities, then standardise with their mean/sd.

    This is nnU-Net's CT scheme, and it also suits 8-bit rasters: robust to a few saturated pixels and
    independent of the modality's units (HU, 0-255). Statistics come from training cases only, so nothing leaks
    from validation or test. Volumes stored as raw scanner values that are not Hounsfield units (MR in NIfTI,
    MetaImage or NRRD: :data:`PER_IMAGE_FORMATS`, 0.5th percentile above :data:`CT_LOW_HU`) get each volume's own
    z-score instead (``per_image``, nnU-Net's MR scheme): their scale differs between scanners and protocols, so
    one range for all would squash some scans and saturate others. (DICOM that is not CT is already mapped to
    0..255 by each file's own window when read.)
    """
    if fp.spatial_dims == 3 and fp.modality.lower() in PER_IMAGE_FORMATS and fp.intensity.percentile_00_5 >= CT_LOW_HU:
        return (
            "per_image",
            0.0,
            1.0,
            0.0,
            1.0,
            (
                f"{fp.modality} volumes without Hounsfield units (0.5th percentile {fp.intensity.percentile_00_5:g}): "
                "each volume's own z-score, as nnU-Net normalises MR (their scale differs between scanners)"
            ),
        )
    low, high = fp.intensity.percentile_00_5, fp.intensity.percentile_99_5
    if high <= low:
        low, high = (
            fp.intensity.min,
            fp.intensity.max if fp.intensity.max > fp.intensity.min else fp.intensity.min + 1,
        )
    mean = min(max(fp.intensity.mean, low), high)
    std = max(fp.intensity.std, 1e-6 * max(abs(high - low), 1.0))
    return "dataset", low, high, mean, std, "clip to training 0.5-99.5 percentiles, then standardise"


def determine_network(fp: Fingerprint, input_size: list[int]) -> tuple[str, float, str]:
    """2D: ResNet-18, the MedMNIST baseline family, at the width
    :func:`~medimg.planning.network_width.determine_width` gives it (a cost a CPU trains in minutes). 3D: our simple
    CNN.

    Small 2D inputs (<=32 px) get the CIFAR-style stem (3x3, stride 1, no max-pool) so the few pixels are not
    thrown away by the first layer; 33-64 px inputs a 3x3 stride-2 stem without max-pool, which keeps their cost
    near a 32 px input's (see :mod:`medimg.networks.resnet`). For volumes, a quarter-width 3D ResNet-18 trains
    at 22 volumes/s at 32^3 on 2 cores (bf16) against 64/s for the simple CNN (4 conv blocks, 0.4 M parameters),
    and 3D sets are small,
    so the lighter network both fits a CPU budget and overfits less. Override with ``--network``.
    """
    network = "simple-cnn" if fp.spatial_dims == 3 else "resnet18"
    width, why = determine_width(network, fp.spatial_dims, input_size)
    if fp.spatial_dims == 3:
        return network, width, "3D: simple CNN (3D ResNet-18 is ~3x slower on CPU; small 3D sets)"
    return network, width, f"ResNet-18 at {why}"


def determine_batch_size(fp: Fingerprint, input_size: list[int]) -> tuple[int, str]:
    """128 for inputs of 32x32 pixels or fewer, halving each time the pixel count quadruples (64 at 64 px,
    32 at 128 px, ~16 for a 32^3 volume), between 8 and 128, and at most a quarter of the training set.

    Scaling with the square root of the pixel count keeps batches large enough for stable BatchNorm
    statistics on bigger images while memory and the number of steps per epoch stay reasonable; small medical
    sets gain more from more optimisation steps than from larger batches.
    """
    pixels = math.prod(input_size)
    batch = int(max(8, min(128, 2 ** round(math.log2(128 * math.sqrt(1024 / pixels))))))
    batch = int(max(8, min(batch, 2 ** int(math.log2(max(8, fp.num_train_cases // 4))))))
    return batch, f"{pixels} pixels per input, {fp.num_train_cases} training images"


def determine_epochs(fp: Fingerprint, batch_size: int) -> tuple[int, int, str]:
    """About 1,200 optimisation steps, between 10 and 60 epochs; early-stopping patience half of that (at least 5).

    Small datasets need more passes, large ones fewer; a fixed step budget keeps the CPU time roughly
    constant across datasets. Early stopping on the validation metric ends runs that have stopped improving,
    but with a cosine schedule the low-learning-rate final epochs are where a model usually improves most, so
    the patience is long enough to reach them (a quarter stopped PneumoniaMNIST at epoch 14 of 32).
    """
    steps_per_epoch = max(1, math.ceil(fp.num_train_cases / batch_size))
    wanted = round(TARGET_STEPS / steps_per_epoch)
    epochs = int(min(60, max(10, wanted)))
    patience = max(5, epochs // 2)
    steps = f"{epochs * steps_per_epoch} steps at {steps_per_epoch} steps/epoch"
    if epochs == wanted:
        return epochs, patience, f"~{TARGET_STEPS} steps at {steps_per_epoch} steps/epoch"
    bound = "at most 60 epochs" if epochs < wanted else "at least 10 epochs"
    return epochs, patience, f"{steps}: {bound} (the ~{TARGET_STEPS}-step target would need {wanted})"


def determine_class_weights(fp: Fingerprint) -> tuple[list[float] | None, str]:
    """Inverse-frequency class weights when the largest class is over 1.5x the smallest.

    Without them a classifier on imbalanced data (PneumoniaMNIST is 3:1) learns to favour the majority
    class, which hurts sensitivity or specificity; weights are normalised to average 1. They shape training only:
    after it, ``plan.logit_adjustment`` subtracts ``log(weight)`` from the logits, so the saved model's
    probabilities are calibrated to the training prior (measured on AdrenalMNIST3D's validation split, 2 seeds:
    argmax accuracy 0.847/0.745 with the weighted logits, 0.888/0.857 adjusted, AUC unchanged).
    """
    if fp.multi_label:
        return None, "multi-label: one binary cross-entropy per finding (its operating point is chosen on validation)"
    counts = [max(1, c) for c in fp.class_counts.values()]
    if fp.imbalance_ratio <= 1.5:
        return None, f"balanced classes (ratio {fp.imbalance_ratio:.2f})"
    total = sum(counts)
    weights = [total / (len(counts) * c) for c in counts]
    return [round(w, 4) for w in weights], f"imbalance ratio {fp.imbalance_ratio:.2f} > 1.5"


def determine_monitor(fp: Fingerprint) -> tuple[str, str]:
    """Model selection by the mean of ROC-AUC and balanced accuracy; a multi-label model by its macro AUC over the
    findings.

    AUC alone can pick an epoch that ranks well but thresholds badly, hence the balanced accuracy beside it; a
    multi-label model's thresholds are chosen on validation after training (its operating points), so while it
    trains the balanced accuracy at 0.5 only measures how far a rare finding's sigmoid is from 0.5.
    """
    if fp.multi_label:
        return "auc", "multi-label: macro AUC over the findings (their operating points are chosen after training)"
    return "auc_bacc", "mean of ROC-AUC and balanced accuracy"


def determine_augmentation(fp: Fingerprint) -> tuple[AugmentationPlan, str]:
    """Mild geometric and intensity jitter; flips only where anatomy has no handedness.

    Grayscale 2D images are usually radiographs/CT/MR slices, where left and right differ (the heart is on
    the left), so they get small rotations/zoom/shift but no flips. Colour images (microscopy, cytology,
    dermoscopy) are rotation-invariant, so they also get flips on both axes. Volumes get small zoom/shift.
    """
    if fp.spatial_dims == 3:
        aug = AugmentationPlan(scale=0.1, translate=0.05, brightness=0.1, contrast=0.1)
        return aug, "3D: small zoom/shift and intensity jitter"
    if fp.channels >= 3:
        aug = AugmentationPlan(
            flip_axes=[0, 1], rotate_deg=180, scale=0.1, translate=0.05, brightness=0.1, contrast=0.1
        )
        return aug, "colour images (microscopy-like): flips and any rotation"
    aug = AugmentationPlan(rotate_deg=10, scale=0.1, translate=0.06, brightness=0.1, contrast=0.1)
    return aug, "grayscale (radiograph-like): no flips, small rotation/zoom/shift"


def determine_averaging(fp: Fingerprint) -> tuple[float, int, str]:
    """An exponential moving average of the weights (decay 0.99, about the last 100 steps) is what is validated
    and kept, and a time budget is split among up to ``ensemble_budget_max`` networks of at least 10 epochs each.

    Both smooth out how much one network's test results depend on its seed and last steps. Measured on
    PneumoniaMNIST (seed 0, three networks of 15 epochs, the same seeds and batches with and without the average):
    test AUC per network 0.986 / 0.986 / 0.987 with it against 0.988 / 0.976 / 0.984 without, the ensembles
    0.987 and 0.986; validation AUC was 0.997-0.998 either way, so the validation split could not have chosen
    (see the README's ablation table). Below 10 epochs a network is too short to be worth ensembling, so short
    budgets keep training one.
    """
    return 0.99, 10, "EMA of the weights (0.99); under a time budget, networks of >= 10 epochs share it"


def determine_precision(fp: Fingerprint, bf16_supported: bool) -> tuple[str, bool, str]:
    """bf16 autocast and channels_last where the device has native bf16 (a CUDA GPU of compute
    capability >= 8.0; a CPU with AVX512-BF16 / AMX), else fp32.

    Measured on a 2-core AVX512-BF16 machine: bf16 + channels_last trains small 2D CNNs about 2x faster than
    fp32 with the same accuracy; without native bf16 the conversions make it slower, so fp32 is used.
    channels_last only applies to 2D tensors.
    """
    if bf16_supported:
        return "bf16", fp.spatial_dims == 2, "native bf16 on this device: bf16 autocast (+ channels_last in 2D)"
    return "none", fp.spatial_dims == 2, "no native bf16 on this device: fp32"


def cpu_supports_bf16() -> bool:
    """Whether oneDNN reports native bf16 support on this CPU (the planner's one hardware input)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def device_supports_bf16() -> bool:
    """Whether the device training runs on computes bf16 natively: the CUDA GPU when one is present (compute
    capability 8.0 and newer), else the CPU (:func:`cpu_supports_bf16`)."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu_supports_bf16()


def make_plan(fp: Fingerprint, *, bf16_supported: bool = True) -> Plan:
    """Build the default plan for a fingerprint and the CPU's bf16 support. Pure: same inputs, same plan."""
    reasons: dict[str, str] = {}
    input_size, reasons["input_size"] = determine_input_size(fp)
    normalisation, low, high, mean, std, reasons["normalisation"] = determine_normalisation(fp)
    network, width, reasons["network"] = determine_network(fp, input_size)
    batch_size, reasons["batch_size"] = determine_batch_size(fp, input_size)
    epochs, patience, reasons["epochs"] = determine_epochs(fp, batch_size)
    class_weights, reasons["class_weights"] = determine_class_weights(fp)
    augmentation, reasons["augmentation"] = determine_augmentation(fp)
    reasons["denoise"] = DENOISE_OFF
    amp, channels_last, reasons["amp"] = determine_precision(fp, bf16_supported)
    weight_ema, ensemble_min_epochs, reasons["weight_ema"] = determine_averaging(fp)
    semi_supervised, reasons["semi_supervised"] = determine_semi_supervised("classify")
    monitor, reasons["monitor"] = determine_monitor(fp)
    if len(fp.class_names) == 2 and not fp.multi_label and class_weights is not None:
        reasons["binary_threshold"] = (
            f"argmax, calibrated to the training prior (imbalance {fp.imbalance_ratio:.2f}): the rarer class's "
            "sensitivity can be low; --set binary_threshold=youden chooses a balanced operating point on validation"
        )
    canonical_orientation = fp.spatial_dims == 3
    if canonical_orientation:
        reasons["canonical_orientation"] = "volumes in the closest RAS+ axis order, as read for training"
    return Plan(
        spatial_dims=fp.spatial_dims,
        canonical_orientation=canonical_orientation,
        in_channels=fp.channels,
        num_classes=len(fp.class_names),
        multi_label=fp.multi_label,
        input_size=input_size,
        normalisation=normalisation,
        clip_low=low,
        clip_high=high,
        norm_mean=mean,
        norm_std=std,
        network=network,
        width=width,
        batch_size=batch_size,
        epochs=epochs,
        early_stopping_patience=patience,
        class_weights=class_weights,
        augmentation=augmentation,
        semi_supervised=semi_supervised,
        monitor=monitor,
        amp=amp,
        channels_last=channels_last,
        weight_ema=weight_ema,
        ensemble_min_epochs=ensemble_min_epochs,
        reasons=reasons,
    )


def fit_to_weights(plan: Plan, chosen: set[str]) -> Plan:
    """The plan fitted to the weights file it starts from (``weights_path``): the width the file was saved at, and
    the network it holds when the user gave none, each with its reason.

    The planner narrows ResNet-18 for small images (quarter width at <= 32 px) for a CPU's sake; a user who gives
    ImageNet's full-width ResNet-18 (or a medimg run's ``model.pt``) wants the plan to fit those weights, not a
    refusal asking for ``--set width=1``. A width the user set (``width`` in ``chosen``) that the file does not
    fit is refused here, before any image is read, naming the width to give. A file no tried network and width
    fits is left to :func:`medimg.networks.weights.load_weights`, which says why when the network is built.

    Every network of a time-budget ensemble (or ``ensemble``) is ``network`` and starts from the file; members of
    ``ensemble_networks`` other than ``network`` start at random, which the reason of ``weights_path`` says.
    """
    if not plan.weights_path:
        return plan
    from medimg.errors import ConfigError
    from medimg.networks.saved_at import saved_at

    user_width = "width" in chosen
    found = saved_at(
        plan.weights_path,
        plan.network,
        in_channels=plan.in_channels,
        num_classes=plan.num_classes,
        spatial_dims=plan.spatial_dims,
        input_size=list(plan.input_size),
        width=plan.width if user_width else None,
        other_networks="network" not in chosen,
    )
    if found is None:
        return plan
    file = plan.weights_path
    reasons = dict(plan.reasons)
    update: dict[str, object] = {}
    if user_width and found.width != plan.width:
        raise ConfigError(
            f"weights file {file} was saved at width {found.width:g} ({found.how}), but width={plan.width:g} was "
            f"set: leave width out (the plan then takes the file's) or give --set width={found.width:g}"
        )
    if found.network != plan.network:
        update["network"] = found.network
        reasons["network"] = (
            f"{found.network}, the network weights file {file} holds (planned: {plan.network}; give --network to "
            "choose another)"
        )
    if not user_width:
        update["width"] = found.width
        if "network" in update:
            reasons["width"] = (
                f"{found.width:g}, the width weights file {file} was saved at ({found.how}; the planner's "
                f"{plan.width:g} was for {plan.network})"
            )
        elif found.width != plan.width:
            cost = (found.width / plan.width) ** 2
            more = f", about {cost:.3g}x the compute per image" if cost > 1.05 else ""
            reasons["width"] = (
                f"{found.width:g}, the width weights file {file} was saved at ({found.how}), instead of the "
                f"planner's {plan.width:g}{more}"
            )
            if "network" not in chosen:  # the planner's network reason names its width
                reasons["network"] = (
                    f"{reasons.get('network', plan.network)}; at width {found.width:g}, the weights file's"
                )
        else:
            reasons["width"] = f"{found.width:g}, the width weights file {file} was saved at ({found.how})"
    reasons["weights_path"] = f"{reasons.get('weights_path', 'set by user')}; {_who_starts_from(plan, found)}"
    return plan.model_copy(update={**update, "reasons": reasons})


def _who_starts_from(plan: Plan, found: SavedAt) -> str:
    """Which networks of the run start from the weights file (an ensemble's too), for ``weights_path``'s reason."""
    network, members = found.network, found.members
    source = f"its first network (members.0 of the {members} it holds)" if members > 1 else "it"
    wanted = members_wanted(plan)
    if wanted <= 1:
        return f"{network} starts from {source}"
    others = sorted({n for n in plan.ensemble_networks if n != network})
    if others:
        return (
            f"each {network} of the ensemble (up to {wanted} networks) starts from {source}; its "
            f"{', '.join(others)} members start at random (the file holds {network}'s weights)"
        )
    return f"each network of the ensemble (up to {wanted}, seeds differ) starts from {source}"
