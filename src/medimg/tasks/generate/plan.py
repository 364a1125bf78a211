"""Generation fingerprint -> plan: each heuristic is a small ``determine_*`` function whose docstring says why.

The fingerprint is classification's (:class:`~medimg.planning.fingerprint.Fingerprint`: image shapes, channels,
classes and intensities of the training split). The planner targets a CPU: small networks at a power-of-two
input near the images' median size, trained from scratch within a time budget; a GPU user raises ``epochs``,
``base_width``, ``unet_channels`` and drops the budget.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import ConfigDict, Field

from medimg.planning.fingerprint import Fingerprint
from medimg.planning.plan import Plan, TrainingPlan

MAX_INPUT_2D = 64
"""Largest planned 2D side on a CPU (a GAN step at 64 px costs four times one at 32 px)."""
MAX_INPUT_3D = 32
MIN_INPUT = 16
TARGET_STEPS = 8000
"""Optimisation steps a plan aims for when the time budget does not cut it first (GAN and diffusion alike)."""
CPU_BUDGET_S = 1200.0
"""Default training budget (20 minutes on a CPU): after the first epoch the epochs are fitted to it."""
FEATURE_TARGET_STEPS = 100
"""Steps of the feature classifier (a small CNN: enough to separate the classes, a minute or so on a CPU)."""
FEATURE_BUDGET_SHARE = 0.05
"""Share of the run's time budget the feature classifier may take."""


class GeneratePlan(TrainingPlan):
    """How to preprocess, build, train and sample a class-conditional generative model."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: Literal["generate"] = "generate"
    network: Literal["gan", "diffusion"] = Field(
        "gan", description="gan: conditional DCGAN (spectral norm, EMA generator); diffusion: MONAI DDPM/DDIM UNet"
    )
    class_names: list[str] = Field(default_factory=list, description="the classes the model is conditioned on")
    num_classes: int = Field(2, ge=1, description="number of classes")
    in_channels: int = Field(1, ge=1, description="channels of the generated images (gray=1, RGB=3)")
    input_size: list[int] = Field(
        default_factory=lambda: [32, 32], description="generated size per spatial axis (powers of two, >= 8)"
    )
    output_size: list[int] = Field(
        default_factory=lambda: [32, 32], description="size the images are written at (the training median)"
    )
    clip_low: float = Field(0.0, description="intensity mapped to -1 (training images are clipped to the range)")
    clip_high: float = Field(255.0, description="intensity mapped to +1")
    output_format: Literal["png", "nifti"] = Field("png", description="file format of generated images")
    output_spacing_mm: list[float] | None = Field(None, description="voxel spacing written to NIfTI (training median)")
    # GAN
    latent_dim: int = Field(128, ge=1, description="GAN: length of the noise vector")
    base_width: int = Field(16, ge=4, description="GAN: channels at full resolution (doubling per halving, x4 max)")
    gan_loss: Literal["hinge", "nonsaturating"] = Field("hinge", description="GAN: adversarial loss")
    d_learning_rate: float = Field(2e-4, gt=0, description="GAN: discriminator learning rate (learning_rate: G)")
    adam_betas: list[float] = Field(default_factory=lambda: [0.5, 0.999], description="GAN: Adam betas")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="GAN: decay of the generator's exponential average")
    # diffusion
    unet_channels: list[int] = Field(
        default_factory=lambda: [32, 64, 64], description="diffusion: UNet channels per level (multiples of 32)"
    )
    attention_bottom: bool = Field(True, description="diffusion: self-attention at the lowest level")
    num_res_blocks: int = Field(1, ge=1, description="diffusion: residual blocks per level")
    train_timesteps: int = Field(1000, ge=10, description="diffusion: noise levels of the DDPM schedule")
    noise_schedule: Literal["linear_beta", "scaled_linear_beta", "cosine"] = Field(
        "linear_beta", description="diffusion: beta schedule"
    )
    sample_steps: int = Field(50, ge=1, description="diffusion: DDIM steps when sampling")
    class_dropout: float = Field(
        0.1, ge=0, lt=1, description="diffusion: share of training labels replaced by 'no class' (guidance)"
    )
    guidance_scale: float = Field(
        1.0, ge=0, description="diffusion: classifier-free guidance when sampling (1 = plain conditional)"
    )
    # evaluation
    features_network: str = Field("simple-cnn", description="classifier whose features measure FD, precision, recall")
    features_epochs: int = Field(20, ge=1, description="epochs of that classifier (trained on the training split)")
    features_run: str | None = Field(
        None, description="an existing medimg classification run to use as feature space instead (same classes)"
    )
    max_val_images: int = Field(500, ge=2, description="most validation images per validation FD")
    eval_samples: int = Field(
        1000, ge=10, description="most synthetic images per evaluation (at least as many as real images, up to this)"
    )
    nearest_k: int = Field(3, ge=1, description="k of the k-NN manifolds of precision and recall")
    eval_batch_size: int = Field(256, ge=1, description="images per sampling or feature step")
    monitor: Literal["fd", "loss"] = Field(
        "fd", description="validation metric for model selection: fd (Fréchet distance to the validation images)"
    )
    early_stopping_patience: int = Field(0, ge=0, description="epochs without improvement before stopping (0=off)")
    amp: Literal["bf16", "fp16", "none"] = Field("none", description="mixed precision (GAN steps run in fp32)")
    channels_last: bool = Field(False, description="channels_last memory format")

    def preprocessing(self) -> Plan:
        """The classification plan whose preprocessing maps images to the generator's range: channels, resize to
        ``input_size``, clip to ``[clip_low, clip_high]``, then scale to [-1, 1]."""
        half = max((self.clip_high - self.clip_low) / 2, 1e-6)
        return Plan(
            spatial_dims=self.spatial_dims,
            in_channels=self.in_channels,
            num_classes=max(2, self.num_classes),
            input_size=list(self.input_size),
            clip_low=self.clip_low,
            clip_high=self.clip_high,
            norm_mean=self.clip_low + half,
            norm_std=half,
        )


def determine_input_size(fp: Fingerprint) -> tuple[list[int], str]:
    """The power of two nearest the longer median side, within [16, 64] (2D) or [16, 32] (3D).

    The GAN doubles from 4 voxels per axis and the UNet halves twice, so powers of two fit both; MedMNIST's
    28 px becomes 32. Images are written back at their median size (``output_size``).
    """
    cap = MAX_INPUT_2D if fp.spatial_dims == 2 else MAX_INPUT_3D
    side = 2 ** round(math.log2(max(1, max(fp.median_shape))))
    side = int(min(max(side, MIN_INPUT), cap))
    return [side] * fp.spatial_dims, f"median shape {fp.median_shape}: nearest power of two in [{MIN_INPUT}, {cap}]"


def determine_intensity_range(fp: Fingerprint) -> tuple[float, float, str, str]:
    """8-bit rasters keep their 0..255 range and are written as PNG (a sample reads back as the real images do);
    other intensities (HU, MR values, windowed DICOM) map their 0.5-99.5 percentiles to [-1, 1] and are written
    as NIfTI, which keeps the units. Volumes are always NIfTI."""
    stats = fp.intensity
    eight_bit = stats.min >= 0 and stats.max <= 255 and stats.max > 1 and fp.modality.lower() not in {"ct", "mr"}
    if eight_bit and fp.spatial_dims == 2:
        return 0.0, 255.0, "png", "8-bit images: 0..255 maps to [-1, 1]; samples written as PNG"
    low, high = stats.percentile_00_5, stats.percentile_99_5
    if high <= low:
        low, high = stats.min, max(stats.max, stats.min + 1)
    return low, high, "nifti", "0.5-99.5 training percentiles map to [-1, 1]; samples written as NIfTI (units kept)"


def determine_width(input_size: list[int], spatial_dims: int) -> tuple[int, str]:
    """16 channels at full resolution for 2D (the GAN step's cost grows with the square of the width: at 32
    a step of 64 images at 32 px took 3x longer on 2 shared CPU cores); 8 for volumes, whose voxel count grows
    with the cube of the side. On a GPU raise it (``--set base_width=64``)."""
    if spatial_dims == 3:
        return 8, "3D: 8 channels at full resolution for CPU cost"
    return 16, f"16 channels at {input_size[0]} px for CPU cost (raise on a GPU)"


def determine_epochs(fp: Fingerprint, batch_size: int) -> tuple[int, str]:
    """Enough epochs for ~8k steps (small GANs and diffusion models on MedMNIST-sized sets look converged by
    then), 10-500; the CPU budget cuts them after the first epoch."""
    steps = max(1, math.ceil(fp.num_train_cases / batch_size))
    epochs = int(min(500, max(10, round(TARGET_STEPS / steps))))
    return epochs, f"~{TARGET_STEPS} steps of {batch_size} at {steps} steps per epoch (the budget may cut them)"


def network_settings(network: str) -> tuple[dict[str, object], dict[str, str]]:
    """The optimisation fields that depend on the network, with their reasons.

    GAN: Adam at a constant 2e-4 (DCGAN), no clipping (spectral norm bounds the discriminator), selected by the
    Fréchet distance of samples to the validation images. Diffusion: AdamW at 1e-4 with one warm-up epoch and a
    cosine decay, gradients clipped at 1, selected by the denoising loss on the validation images (sampling
    every epoch would cost minutes).
    """
    if network == "gan":
        fields: dict[str, object] = {
            "network": "gan",
            "learning_rate": 2e-4,
            "scheduler": "constant",
            "warmup_epochs": 0.0,
            "grad_clip_norm": None,
            "monitor": "fd",
        }
        why = {
            "learning_rate": "GAN: 2e-4 for G and D, constant (DCGAN)",
            "monitor": "Fréchet distance of samples to the validation images in the feature classifier's space",
        }
    else:
        fields = {
            "network": "diffusion",
            "learning_rate": 1e-4,
            "scheduler": "cosine",
            "warmup_epochs": 1.0,
            "grad_clip_norm": 1.0,
            "monitor": "loss",
        }
        why = {
            "learning_rate": "diffusion: 1e-4, cosine decay after one warm-up epoch, gradients clipped at 1",
            "monitor": "denoising loss on the validation images (fixed noise): sampling every epoch costs minutes",
        }
    return fields, why


def determine_feature_epochs(fp: Fingerprint, batch_size: int = 64) -> tuple[int, str]:
    """The feature classifier trains ~100 steps (3-10 epochs, within 5% of the run's budget): its features
    need to tell the classes and the images' make-up apart, not to win a benchmark."""
    steps = max(1, math.ceil(fp.num_train_cases / batch_size))
    epochs = int(min(10, max(3, round(FEATURE_TARGET_STEPS / steps))))
    return epochs, f"~{FEATURE_TARGET_STEPS} steps of a small CNN on the training split"


def make_generate_plan(fp: Fingerprint, *, network: str = "gan") -> GeneratePlan:
    """The plan for ``network`` (``"gan"`` or ``"diffusion"``) on data with fingerprint ``fp``."""
    reasons: dict[str, str] = {}
    input_size, reasons["input_size"] = determine_input_size(fp)
    low, high, output_format, reasons["clip_low"] = determine_intensity_range(fp)
    reasons["output_format"] = reasons["clip_low"]
    width, reasons["base_width"] = determine_width(input_size, fp.spatial_dims)
    batch_size = 64 if fp.spatial_dims == 2 else 8
    reasons["batch_size"] = "64 images (2D) or 8 volumes (3D) per step"
    epochs, reasons["epochs"] = determine_epochs(fp, batch_size)
    feature_epochs, reasons["features_epochs"] = determine_feature_epochs(fp)
    reasons["time_budget_s"] = f"CPU default {CPU_BUDGET_S:.0f} s; --set time_budget_s=null for a longer run"
    reasons["amp"] = "fp32: GAN steps (spectral-norm power iterations) and diffusion noise levels need it on CPU"
    fields, why = network_settings(network)
    reasons.update(why)
    return GeneratePlan(
        spatial_dims=fp.spatial_dims,
        class_names=list(fp.class_names),
        num_classes=len(fp.class_names),
        in_channels=fp.channels,
        input_size=input_size,
        output_size=[int(v) for v in fp.median_shape],
        clip_low=low,
        clip_high=high,
        output_format="png" if output_format == "png" else "nifti",
        output_spacing_mm=fp.median_spacing_mm,
        base_width=width,
        batch_size=batch_size,
        epochs=epochs,
        features_epochs=feature_epochs,
        time_budget_s=CPU_BUDGET_S,
        weight_decay=0.0,
        ensemble=1,
        ensemble_budget_max=1,
        reasons=reasons,
        **fields,
    )
