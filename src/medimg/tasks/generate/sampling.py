"""Drawing images from a trained generative network: labels in, images in [-1, 1] out, batch by batch, from a
seed (the same seed gives the same images on any device)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from medimg.tasks.generate.plan import GeneratePlan


def sample_images(
    network: nn.Module,
    plan: GeneratePlan,
    labels: Sequence[int] | torch.Tensor,
    *,
    seed: int = 0,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Images ``(N, C, *input_size)`` float32 in [-1, 1] on the CPU, one per label (class indices).

    The network runs on its own device in eval mode (restored afterwards); noise is drawn on the CPU from
    ``seed`` (one generator for the whole call).
    """
    wanted = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    out = torch.empty((len(wanted), plan.in_channels, *plan.input_size), dtype=torch.float32)
    start = 0
    for images in iter_samples(network, plan, wanted, seed=seed, batch_size=batch_size):
        out[start : start + len(images)] = images
        start += len(images)
    return out


def iter_samples(
    network: nn.Module,
    plan: GeneratePlan,
    labels: Sequence[int] | torch.Tensor,
    *,
    seed: int = 0,
    batch_size: int | None = None,
) -> Iterator[torch.Tensor]:
    """:func:`sample_images` one batch at a time (the same images, in order): a caller that writes each batch
    before drawing the next holds one batch in memory, whatever the number drawn."""
    from medimg.tasks.generate.diffusion import sample_diffusion
    from medimg.tasks.generate.gan import ConditionalGAN

    wanted = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    device = next(network.parameters()).device
    generator = torch.Generator().manual_seed(int(seed))
    step = int(batch_size or plan.eval_batch_size)
    was_training = network.training
    network.eval()
    try:
        for start in range(0, len(wanted), step):
            part = wanted[start : start + step].to(device)
            with torch.no_grad():
                if isinstance(network, ConditionalGAN):
                    images = network.sample(part, generator)
                else:
                    images = sample_diffusion(network, plan, part, generator)
            yield images.float().cpu()
    finally:
        network.train(was_training)


def require_finite(images: torch.Tensor, run: object = "") -> torch.Tensor:
    """``images`` when every value is finite.

    Raises:
        ConfigError: the network drew NaN or infinite values (its training diverged): nothing is written or scored.
    """
    from medimg.errors import ConfigError

    bad = int((~torch.isfinite(images.reshape(len(images), -1))).any(dim=1).sum()) if len(images) else 0
    if bad:
        raise ConfigError(
            f"the generator{f' {run}' if run else ''} drew {bad} of {len(images)} image(s) with NaN or infinite "
            "values: its training diverged; train it again (a lower --lr, or an earlier checkpoint)"
        )
    return images


def balanced_labels(n: int, num_classes: int) -> list[int]:
    """``n`` labels spread as evenly as possible over the classes (class 0 first)."""
    return sorted(i % num_classes for i in range(n))
