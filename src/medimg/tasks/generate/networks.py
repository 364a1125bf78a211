"""The generative networks by name: ``gan`` (:mod:`.gan`) and ``diffusion`` (:mod:`.diffusion`)."""

from __future__ import annotations

from torch import nn

from medimg.errors import ConfigError, did_you_mean
from medimg.tasks.generate.plan import GeneratePlan

NETWORKS = {
    "gan": "conditional DCGAN: spectral-norm projection discriminator, hinge loss, EMA generator",
    "diffusion": "conditional DDPM (MONAI DiffusionModelUNet), DDIM sampling, classifier-free guidance",
}


def check_network_name(name: str) -> str:
    """The canonical name, or a ConfigError with close matches."""
    key = name.lower()
    if key not in NETWORKS:
        raise ConfigError(
            f"unknown generative network {name!r}.{did_you_mean(name, list(NETWORKS))} Available: "
            f"{', '.join(NETWORKS)}."
        )
    return key


def build_generative(plan: GeneratePlan) -> nn.Module:
    """A freshly initialised network of the plan."""
    if plan.network == "gan":
        from medimg.tasks.generate.gan import ConditionalGAN

        return ConditionalGAN(plan)
    from medimg.tasks.generate.diffusion import ConditionalDiffusion

    return ConditionalDiffusion(plan)
