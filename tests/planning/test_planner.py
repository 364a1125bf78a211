from __future__ import annotations

import pytest

from medimg.config import parse_assignments, resolve_plan
from medimg.errors import ConfigError
from medimg.planning.fingerprint import Fingerprint, IntensityStats
from medimg.planning.planner import make_plan


def _fingerprint(**kw: object) -> Fingerprint:
    base: dict[str, object] = dict(
        dataset="d",
        num_train_cases=4708,
        class_names=["normal", "pneumonia"],
        class_counts={"normal": 1214, "pneumonia": 3494},
        spatial_dims=2,
        channels=1,
        channel_counts={"1": 4708},
        median_shape=[28, 28],
        min_shape=[28, 28],
        max_shape=[28, 28],
        modality="medmnist",
        intensity=IntensityStats(mean=120, std=60, min=0, max=255, percentile_00_5=3, percentile_99_5=250),
        sampled_images=4708,
    )
    base.update(kw)
    return Fingerprint.model_validate(base)


def test_plan_for_small_grayscale_imbalanced() -> None:
    plan = make_plan(_fingerprint())
    assert plan.input_size == [28, 28]
    assert plan.in_channels == 1 and plan.num_classes == 2
    assert plan.class_weights is not None and plan.class_weights[0] > plan.class_weights[1]
    assert plan.augmentation.flip_axes == []  # radiograph-like: no flips
    assert (plan.clip_low, plan.clip_high) == (3, 250)
    assert set(plan.reasons) >= {"input_size", "network", "epochs", "class_weights", "augmentation"}


def test_plan_caps_large_images_and_3d() -> None:
    big = make_plan(_fingerprint(median_shape=[512, 400], channels=3))
    assert big.input_size == [128, 128]
    assert big.augmentation.flip_axes == [0, 1]
    vol = make_plan(_fingerprint(spatial_dims=3, median_shape=[64, 64, 64]))
    assert vol.input_size == [32, 32, 32]
    assert not vol.channels_last


def test_network_width_follows_input_size() -> None:
    """Quarter-width ResNet-18 where the stride-1 stem keeps every pixel (<= 32 px), half width above."""
    assert (make_plan(_fingerprint()).network, make_plan(_fingerprint()).width) == ("resnet18", 0.25)
    assert make_plan(_fingerprint(median_shape=[32, 30])).width == 0.25
    assert make_plan(_fingerprint(median_shape=[36, 30])).width == 0.5
    assert make_plan(_fingerprint(median_shape=[64, 64])).width == 0.5
    assert make_plan(_fingerprint(median_shape=[512, 400], channels=3)).width == 0.5
    assert make_plan(_fingerprint(spatial_dims=3, median_shape=[64, 64, 64])).network == "simple-cnn"


def test_width_is_rechosen_for_the_network_and_input_size_the_user_picks() -> None:
    """The planner's quarter width is ResNet-18's at <= 32 px: ``--network simple-cnn`` or a larger input keeps the
    half width those were measured at, unless the user sets the width too."""
    from medimg.tasks.registry import get_task

    classify, planned = get_task("classify"), make_plan(_fingerprint())
    assert classify.resolve_plan(planned, None, {"epochs": 3}).width == 0.25
    simple = classify.resolve_plan(planned, None, {"network": "simple-cnn"})
    assert simple.width == 0.5 and "simple-cnn at half width" in simple.reasons["width"]
    assert classify.resolve_plan(planned, {"input_size": 64}).width == 0.5
    assert classify.resolve_plan(planned, {"network": "simple-cnn"}, {"width": 0.25}).width == 0.25


def test_plan_is_pure() -> None:
    assert make_plan(_fingerprint()) == make_plan(_fingerprint())


def test_overrides_precedence_and_validation() -> None:
    planned = make_plan(_fingerprint())
    plan = resolve_plan(planned, {"epochs": 3, "batch_size": 16}, {"epochs": 5, "input_size": 32})
    assert plan.epochs == 5 and plan.batch_size == 16 and plan.input_size == [32, 32]
    assert plan.reasons["epochs"] == "set by user"
    nested = resolve_plan(planned, parse_assignments(["augmentation.rotate_deg=0", "network=simple-cnn"]))
    assert nested.augmentation.rotate_deg == 0 and nested.network == "simple-cnn"
    with pytest.raises(ConfigError, match=r"(?i)did you mean 'epochs'"):
        resolve_plan(planned, {"epoch": 3})
    with pytest.raises(ConfigError, match="batch_size"):
        resolve_plan(planned, {"batch_size": 0})
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        parse_assignments(["epochs"])


def test_a_yes_no_for_a_number_field_is_refused_not_read_as_one() -> None:
    planned = make_plan(_fingerprint())
    with pytest.raises(ConfigError, match=r"'epochs' is not a yes/no setting.*planned: \d+.*not true"):
        resolve_plan(planned, parse_assignments(["epochs=true"]))  # pydantic read it as 1 epoch
    with pytest.raises(ConfigError, match="weight_ema=null to switch it off"):
        resolve_plan(planned, {"weight_ema": False})
    assert resolve_plan(planned, {"channels_last": False}).channels_last is False  # a real yes/no field
    assert resolve_plan(planned, {"epochs": 3}).epochs == 3


def test_none_overrides_switch_planned_values_off() -> None:
    planned = make_plan(_fingerprint())
    assert planned.class_weights is not None
    plan = resolve_plan(planned, {"class_weights": None, "grad_clip_norm": None})
    assert plan.class_weights is None and plan.grad_clip_norm is None
    with pytest.raises(ConfigError, match="epochs"):
        resolve_plan(planned, {"epochs": None})


def test_precision_follows_cpu_bf16_support() -> None:
    assert make_plan(_fingerprint(), bf16_supported=True).amp == "bf16"
    fp32 = make_plan(_fingerprint(), bf16_supported=False)
    assert fp32.amp == "none" and "fp32" in fp32.reasons["amp"]


def test_batch_size_scales_with_sqrt_of_pixels() -> None:
    from medimg.planning.planner import determine_batch_size

    fp = _fingerprint()
    assert determine_batch_size(fp, [28, 28])[0] == 128
    assert determine_batch_size(fp, [64, 64])[0] == 64
    assert determine_batch_size(fp, [128, 128])[0] == 32
    assert determine_batch_size(fp, [32, 32, 32])[0] == 16
    assert determine_batch_size(_fingerprint(num_train_cases=40), [28, 28])[0] == 8


def test_bf16_follows_the_gpu_when_one_is_present(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training runs on the GPU when CUDA is present, so its bf16 support decides the precision, not the CPU's."""
    import torch

    from medimg.planning import planner

    monkeypatch.setattr(planner, "cpu_supports_bf16", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)  # a pre-Ampere GPU
    assert planner.device_supports_bf16() is False
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(planner, "cpu_supports_bf16", lambda: False)
    assert planner.device_supports_bf16() is True
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # no GPU: the CPU decides
    assert planner.device_supports_bf16() is False


def test_the_epochs_reason_says_when_the_step_target_is_capped() -> None:
    """60 epochs of 4 steps were explained as "~1200 steps at 4 steps/epoch" (240 steps)."""
    from medimg.planning.planner import determine_epochs

    epochs, _, reason = determine_epochs(_fingerprint(num_train_cases=28), batch_size=8)
    assert (
        epochs == 60
        and reason == "240 steps at 4 steps/epoch: at most 60 epochs (the ~1200-step target would need 300)"
    )
    epochs, _, reason = determine_epochs(_fingerprint(), batch_size=128)
    assert epochs == 32 and reason == "~1200 steps at 37 steps/epoch"


def test_a_plan_json_of_other_data_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    """`fit grey --config rgb_plan.json`: 3 channels and the RGB set's clip range and mean were applied without a
    word, the reasons still saying they came from this data."""
    import logging

    planned = make_plan(_fingerprint())
    other = planned.model_dump() | {"in_channels": 3, "clip_low": planned.clip_low + 40.0, "epochs": 5}
    with caplog.at_level(logging.WARNING, logger="medimg.config"):
        assert resolve_plan(planned, other).in_channels == 3  # used as given
    assert "measured on other data: in_channels 3 (this data: 1), clip_low" in caplog.text
    caplog.clear()
    same = planned.model_dump() | {"norm_mean": planned.norm_mean * 1.001, "epochs": 5}  # replanned: tiny drift
    with caplog.at_level(logging.WARNING, logger="medimg.config"):
        resolve_plan(planned, same)
        resolve_plan(planned, {"in_channels": 3})  # a --set, not a saved plan
    assert "other data" not in caplog.text


def test_the_input_size_reason_says_when_images_are_squashed_and_shrunk() -> None:
    """2000x1500 slide tiles planned at 128x128: the plan said only 'capped at 128 for CPU training', not that the
    4:3 tiles are squashed and 11.7x / 15.6x smaller (nuclei of 5-15 px become about a pixel)."""
    plan = make_plan(_fingerprint(median_shape=[1500, 2000], min_shape=[1500, 2000], max_shape=[1500, 2000]))
    assert plan.input_size == [128, 128]
    reason = plan.reasons["input_size"]
    assert "resized anisotropically, aspect ratio not kept: 1500x2000 -> 128x128 px" in reason
    assert "11.7x smaller in height, 15.6x smaller in width" in reason
    assert "structures under about 16 px across shrink to a pixel or less" in reason
    assert make_plan(_fingerprint()).reasons["input_size"] == "median shape [28, 28], capped at 128 for CPU training"
