"""The generation plan: determine_* heuristics from a fingerprint, the network switch, and plan checks."""

from __future__ import annotations

import pytest

from medimg.errors import ConfigError
from medimg.planning.fingerprint import Fingerprint, IntensityStats
from medimg.tasks.generate.plan import GeneratePlan, make_generate_plan
from medimg.tasks.generate.task import GENERATE


def fingerprint(shape: list[int], *, low: float = 0.0, high: float = 255.0, modality: str = "png") -> Fingerprint:
    return Fingerprint(
        dataset="toy",
        num_train_cases=6400,
        class_names=["normal", "lesion"],
        class_counts={"normal": 320, "lesion": 320},
        spatial_dims=len(shape),
        channels=1,
        channel_counts={"1": 640},
        median_shape=shape,
        min_shape=shape,
        max_shape=shape,
        median_spacing_mm=[1.5] * len(shape) if len(shape) == 3 else None,
        modality=modality,
        intensity=IntensityStats(
            mean=(low + high) / 2, std=1.0, min=low, max=high, percentile_00_5=low + 1, percentile_99_5=high - 1
        ),
        sampled_images=640,
    )


def test_medmnist_sized_images_get_a_power_of_two_input_and_are_written_back_at_their_size() -> None:
    plan = make_generate_plan(fingerprint([28, 28]))
    assert plan.input_size == [32, 32]
    assert plan.output_size == [28, 28]
    assert (plan.clip_low, plan.clip_high, plan.output_format) == (0.0, 255.0, "png")
    assert plan.network == "gan" and plan.monitor == "fd" and plan.scheduler == "constant"
    assert plan.epochs == round(8000 / 100)  # 6400 images, 100 steps of 64 per epoch
    assert plan.class_names == ["normal", "lesion"] and plan.num_classes == 2
    assert all(plan.reasons.get(k) for k in ("input_size", "base_width", "epochs", "monitor", "features_epochs"))


def test_large_images_are_capped_and_volumes_are_written_as_nifti_in_their_units() -> None:
    assert make_generate_plan(fingerprint([512, 400])).input_size == [64, 64]
    volume = make_generate_plan(fingerprint([40, 40, 40], low=-1000, high=2000, modality="CT"))
    assert volume.input_size == [32, 32, 32] and volume.output_format == "nifti"
    assert volume.clip_low == -999 and volume.clip_high == 1999
    assert volume.output_spacing_mm == [1.5, 1.5, 1.5] and volume.batch_size == 8


def test_choosing_diffusion_brings_its_own_optimisation_settings_unless_set() -> None:
    planned = make_generate_plan(fingerprint([32, 32]))
    plan = GENERATE.resolve_plan(planned, None, {"network": "diffusion"})
    assert (plan.network, plan.learning_rate, plan.scheduler, plan.monitor) == ("diffusion", 1e-4, "cosine", "loss")
    chosen = GENERATE.resolve_plan(planned, {"learning_rate": 3e-4}, {"network": "diffusion"})
    assert chosen.learning_rate == 3e-4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_size": 24}, "power of two"),
        ({"network": "diffusion", "unet_channels": [16, 32]}, "multiples of 32"),
        ({"scheduler": "cosine"}, "constant"),
        ({"network": "vae"}, "unknown generative network"),
    ],
)
def test_inconsistent_plans_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GENERATE.resolve_plan(make_generate_plan(fingerprint([32, 32])), overrides)


def test_preprocessing_maps_the_intensity_range_to_minus_one_one() -> None:
    prep = GeneratePlan(clip_low=-100.0, clip_high=300.0).preprocessing()
    assert (prep.clip_low - prep.norm_mean) / prep.norm_std == -1
    assert (prep.clip_high - prep.norm_mean) / prep.norm_std == 1
