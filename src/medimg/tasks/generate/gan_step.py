"""The GAN's optimisation step (an engine :class:`~medimg.engine.trainer.OptimisationStep`): one discriminator
and one generator update per batch, each with its own Adam, then the generator's moving average.

Under torchrun the generator and the discriminator are each wrapped in DistributedDataParallel (the engine's
``wrap``), so each update averages its network's gradients over the processes; the generator's update goes
through the unwrapped discriminator, whose weights are frozen for it (a forward through its DDP wrapper would wait
for gradients that never come). Every replica then takes the same Adam step and keeps the same moving average.

Losses: hinge (SN-GAN) or non-saturating (the original GAN's generator loss, as a softplus).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from medimg.engine.weight_average import decay_at
from medimg.tasks.generate.gan import ConditionalGAN
from medimg.tasks.generate.plan import GeneratePlan


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, kind: str) -> torch.Tensor:
    """Hinge: ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``; non-saturating: the logistic loss."""
    if kind == "hinge":
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()
    return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()


def generator_loss(fake_scores: torch.Tensor, kind: str) -> torch.Tensor:
    """Hinge: ``-mean(D(G(z)))``; non-saturating: ``mean(softplus(-D(G(z))))``."""
    if kind == "hinge":
        return -fake_scores.mean()
    return F.softplus(-fake_scores).mean()


def draw_labels(n: int, num_classes: int, device: torch.device) -> torch.Tensor:
    """Uniform class labels for generated images (the classes are learnt alike, whatever their frequency)."""
    return torch.randint(0, num_classes, (n,), device=device)


class GANStep:
    """Alternating updates of a :class:`ConditionalGAN` on one batch of real images ``(B, C, *size)`` in [-1, 1]
    with their labels ``(B,)``; returns ``D loss + G loss`` (detached) to log."""

    def __init__(
        self, network: nn.Module, plan: GeneratePlan, wrap: Callable[[nn.Module], nn.Module] | None = None
    ) -> None:
        if not isinstance(network, ConditionalGAN):
            raise TypeError("GANStep trains a ConditionalGAN")
        betas = (float(plan.adam_betas[0]), float(plan.adam_betas[1]))
        self.gan = network
        self.plan = plan
        self.wrap = wrap
        self._trained: tuple[nn.Module, nn.Module] | None = None  # (generator, discriminator) as trained
        self.g_optimizer = torch.optim.Adam(network.generator.parameters(), lr=plan.learning_rate, betas=betas)
        self.d_optimizer = torch.optim.Adam(network.discriminator.parameters(), lr=plan.d_learning_rate, betas=betas)
        self.generator_steps = 0

    def trained_parts(self) -> tuple[nn.Module, nn.Module]:
        """The generator and the discriminator as the updates call them: wrapped (in DDP under torchrun) at the first
        batch, when every process has its weights (a resumed run's included) and calls this together."""
        if self._trained is None:
            wrap = self.wrap or (lambda part: part)
            self._trained = (wrap(self.gan.generator), wrap(self.gan.discriminator))
        return self._trained

    def __call__(self, network: nn.Module, inputs: Any, targets: Any) -> torch.Tensor:
        gan, kind = self.gan, self.plan.gan_loss
        generator, discriminator = self.trained_parts()
        real, labels = inputs, targets
        n = len(real)
        z = torch.randn(n, gan.latent_dim, device=real.device)
        fake_labels = draw_labels(n, self.plan.num_classes, real.device)
        with torch.no_grad():
            fake = gan.generator(z, fake_labels)
        d_loss = discriminator_loss(discriminator(real, labels), discriminator(fake, fake_labels), kind)
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()

        z = torch.randn(n, gan.latent_dim, device=real.device)
        fake_labels = draw_labels(n, self.plan.num_classes, real.device)
        gan.discriminator.requires_grad_(False)
        g_loss = generator_loss(gan.discriminator(generator(z, fake_labels), fake_labels), kind)
        gan.discriminator.requires_grad_(True)
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        self.generator_steps += 1
        t = self.generator_steps
        gan.update_ema(decay_at(self.plan.ema_decay, t))  # warmed up: no sampling from near-initial weights
        return (d_loss + g_loss).detach()

    def state_dict(self) -> dict[str, Any]:
        return {
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "generator_steps": self.generator_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.generator_steps = int(state["generator_steps"])


def make_gan_step(network: nn.Module, plan: Any, wrap: Callable[[nn.Module], nn.Module] | None = None) -> GANStep:
    """The engine's ``TaskHooks.step`` factory."""
    return GANStep(network, plan, wrap)
