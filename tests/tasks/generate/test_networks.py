"""The generative networks: shapes in 2D and 3D, deterministic sampling, the GAN step with its EMA and state."""

from __future__ import annotations

import pytest
import torch

from medimg.tasks.generate.gan import ConditionalGAN
from medimg.tasks.generate.gan_step import GANStep
from medimg.tasks.generate.networks import build_generative
from medimg.tasks.generate.plan import GeneratePlan
from medimg.tasks.generate.sampling import sample_images


def tiny_plan(network: str, dims: int = 2, side: int = 16) -> GeneratePlan:
    return GeneratePlan(
        network=network,  # type: ignore[arg-type]
        spatial_dims=dims,
        class_names=["a", "b", "c"],
        num_classes=3,
        input_size=[side] * dims,
        output_size=[side] * dims,
        base_width=4,
        latent_dim=8,
        unet_channels=[32, 32],
        attention_bottom=False,
        sample_steps=2,
        train_timesteps=20,
    )


@pytest.mark.parametrize("network", ["gan", "diffusion"])
@pytest.mark.parametrize("dims", [2, 3])
def test_samples_have_the_planned_shape_and_range_and_follow_the_seed(network: str, dims: int) -> None:
    plan = tiny_plan(network, dims, side=16 if dims == 2 else 8)
    torch.manual_seed(0)
    model = build_generative(plan)
    images = sample_images(model, plan, [0, 1, 2], seed=5)
    assert images.shape == (3, 1, *plan.input_size)
    assert torch.isfinite(images).all() and images.min() >= -1 and images.max() <= 1
    assert torch.equal(images, sample_images(model, plan, [0, 1, 2], seed=5))
    assert not torch.equal(images, sample_images(model, plan, [0, 1, 2], seed=6))


def test_gan_discriminator_scores_each_image_given_its_class() -> None:
    plan = tiny_plan("gan", 3, side=8)
    gan = ConditionalGAN(plan)
    scores = gan.discriminator(torch.zeros(2, 1, 8, 8, 8), torch.tensor([0, 2]))
    assert scores.shape == (2,)


def test_gan_step_updates_both_networks_and_the_average_and_restores_its_state() -> None:
    plan = tiny_plan("gan")
    torch.manual_seed(0)
    gan = ConditionalGAN(plan)
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    step = GANStep(gan, plan)
    real, labels = torch.rand(8, 1, 16, 16) * 2 - 1, torch.randint(0, 3, (8,))
    loss = step(gan, real, labels)
    assert loss.ndim == 0 and torch.isfinite(loss)
    after = gan.state_dict()
    for part in (
        "generator.to_image.weight",
        "discriminator.score.parametrizations.weight.original",
        "ema.to_image.weight",
    ):
        assert not torch.equal(before[part], after[part]), part
    restored = GANStep(ConditionalGAN(plan), plan)
    restored.load_state_dict(step.state_dict())
    assert restored.generator_steps == 1
    assert restored.d_optimizer.state_dict()["state"].keys() == step.d_optimizer.state_dict()["state"].keys()
