"""`--set guidance_scale=2` (the README's classifier-free guidance) on the default network, the GAN, was accepted
and ignored (the GAN samples without guidance), and with `class_dropout=0` a diffusion model "guided" with an
unconditional prediction it never learnt: both trained for minutes or hours before drawing unguided or
meaningless samples. Both are refused at planning, naming the fix."""

from __future__ import annotations

import pytest

from medimg.errors import ConfigError
from medimg.tasks.generate.plan import make_generate_plan
from medimg.tasks.generate.task import GENERATE
from tests.tasks.generate.test_plan import fingerprint


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"guidance_scale": 2.0}, "--network diffusion"),
        ({"network": "diffusion", "guidance_scale": 2.0, "class_dropout": 0.0}, "class_dropout"),
    ],
)
def test_guidance_that_would_be_ignored_or_untrained_is_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GENERATE.resolve_plan(make_generate_plan(fingerprint([32, 32])), overrides)


def test_guidance_of_a_diffusion_model_that_learns_the_unconditional_prediction_is_kept() -> None:
    plan = GENERATE.resolve_plan(
        make_generate_plan(fingerprint([32, 32])), {"network": "diffusion"}, {"guidance_scale": 2}
    )
    assert plan.guidance_scale == 2.0 and plan.class_dropout > 0
