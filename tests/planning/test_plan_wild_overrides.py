"""Overrides as users type them (`--set`, `--config`): repeated keys, a nested model given whole and field by
field, settings that contradict the data, config files that are folders or name a field twice. Each is applied as
given or refused with a one-line message naming the field, before any run folder is written."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from medimg.config import parse_assignments, read_config_file, resolve_plan
from medimg.errors import ConfigError
from medimg.planning.fingerprint import Fingerprint, IntensityStats
from medimg.planning.planner import make_plan


def _fingerprint(**kw: object) -> Fingerprint:
    base: dict[str, object] = dict(
        dataset="d",
        num_train_cases=40,
        class_names=["a", "b"],
        class_counts={"a": 20, "b": 20},
        spatial_dims=2,
        channels=1,
        channel_counts={"1": 40},
        median_shape=[24, 24],
        min_shape=[24, 24],
        max_shape=[24, 24],
        modality="png",
        intensity=IntensityStats(mean=120, std=60, min=0, max=255, percentile_00_5=3, percentile_99_5=250),
        sampled_images=40,
    )
    base.update(kw)
    return Fingerprint.model_validate(base)


def test_a_nested_model_given_field_by_field_then_whole_keeps_both() -> None:
    """`--set augmentation.rotate_deg=5 --set augmentation={"scale":0.2}` dropped rotate_deg=5 without a word."""
    overrides = parse_assignments(["augmentation.rotate_deg=5", 'augmentation={"scale": 0.2}'])
    plan = resolve_plan(make_plan(_fingerprint()), overrides)
    assert plan.augmentation.rotate_deg == 5 and plan.augmentation.scale == 0.2


def test_fields_inside_a_field_given_one_value_are_refused_by_name() -> None:
    """`--set epochs=5 --set epochs.x=1` was a TypeError traceback."""
    with pytest.raises(ConfigError, match=r"--set 'epochs\.x=1': epochs was given the value 5, which has no fields"):
        parse_assignments(["epochs=5", "epochs.x=1"])


def test_a_field_set_twice_to_different_values_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="medimg.config"):
        assert parse_assignments(["epochs=5", " epochs=7"]) == {"epochs": 7}
        assert parse_assignments(["mixup=0.2", "mixup=0.2"]) == {"mixup": 0.2}
    assert caplog.text.count("given twice") == 1 and "epochs given twice (5, then 7)" in caplog.text


@pytest.mark.parametrize(("dims", "given"), [(2, 3), (3, 2)])
def test_spatial_dims_other_than_the_datas_is_refused(dims: int, given: int) -> None:
    """spatial_dims=3 on 2D images was planned "set by user"; fit then failed after writing the run folder with
    'canonical_orientation=False, but the training volumes were read in the closest RAS+ axis order'."""
    shape = [24] * dims
    planned = make_plan(_fingerprint(spatial_dims=dims, median_shape=shape, min_shape=shape, max_shape=shape))
    with pytest.raises(ConfigError, match=f"spatial_dims={given}, but the data is {dims}D"):
        resolve_plan(planned, {"spatial_dims": given})
    assert resolve_plan(planned, {"spatial_dims": dims}).spatial_dims == dims  # the data's own: fine


def test_a_plan_json_of_volumes_given_for_images_is_refused() -> None:
    """`fit images --config volumes_plan.json` warned 'used as given', then failed reading the first image."""
    volumes = make_plan(_fingerprint(spatial_dims=3, median_shape=[32] * 3, min_shape=[32] * 3, max_shape=[32] * 3))
    with pytest.raises(ConfigError, match=r"--config plan was made for 3D data .* this data is 2D .*medimg plan"):
        resolve_plan(make_plan(_fingerprint()), volumes.model_dump())


def test_an_input_size_with_another_axis_count_is_refused_at_planning() -> None:
    """input_size=[32,32,32] on 2D images was planned; the network refused it after plan.json was written."""
    with pytest.raises(ConfigError, match=r"input_size \[32, 32, 32\] has 3 axes, but the data is 2D"):
        resolve_plan(make_plan(_fingerprint()), {"input_size": [32, 32, 32]})


def test_an_input_size_below_the_networks_smallest_is_refused_at_planning() -> None:
    """input_size=3 for ResNet-18 was planned; the network refused it after plan.json was written."""
    planned = make_plan(_fingerprint())
    with pytest.raises(ConfigError, match=r"too small for network 'resnet18': every side must be at least 8"):
        resolve_plan(planned, {"input_size": 3})
    with pytest.raises(ConfigError, match=r"too small for network 'efficientnet-b0'.* at least 16"):
        resolve_plan(planned, {"network": "efficientnet-b0", "input_size": 12})
    assert resolve_plan(planned, {"input_size": 8}).input_size == [8, 8]


def test_a_config_folder_and_a_config_naming_a_field_twice_are_refused(tmp_path: Path) -> None:
    """`--config plan_dir` said 'cannot write or read ...: Is a directory; choose a folder you can write to';
    a file naming epochs twice trained the last silently."""
    (tmp_path / "plan.json").write_text('{"epochs": 5}')
    with pytest.raises(ConfigError, match=r"is a folder: .*did you mean .*plan\.json"):
        read_config_file(tmp_path)
    twice = tmp_path / "twice.json"
    twice.write_text('{"epochs": 5, "augmentation": {"scale": 0.1}, "epochs": 9}')
    with pytest.raises(ConfigError, match=r"twice\.json gives 'epochs' more than once"):
        read_config_file(twice)
    assert read_config_file(tmp_path / "plan.json") == {"epochs": 5}


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (
            '{\n  "epochs": 5,\n  "augmentation": {"scale": 0.1,},\n}\n',
            "remove the comma before it: JSON allows no trailing",
        ),
        ('{\n  // fewer epochs\n  "epochs": 5\n}\n', "JSON has no comments"),
        ("{'epochs': 5}", "double quotes, not single ones"),
        ("", "the file is empty"),
    ],
)
def test_a_hand_edited_config_that_is_not_json_shows_the_line_and_the_usual_cause(
    tmp_path: Path, text: str, hint: str
) -> None:
    """It said only 'Expecting property name enclosed in double quotes: line 3 column 36 (char 52)'."""
    edited = tmp_path / "plan.json"
    edited.write_text(text)
    with pytest.raises(ConfigError) as raised:
        read_config_file(edited)
    message = str(raised.value)
    assert hint in message and "plan.json is not valid JSON" in message
    if text:
        shown = [line for line in message.splitlines() if " | " in line]
        assert len(shown) == 1 and shown[0].split(" | ", 1)[1] in text.splitlines()


def test_a_broken_config_is_refused_before_the_data_are_read(tmp_path: Path) -> None:
    """fit read and checked every image (minutes on a large folder) before saying the --config file is not JSON."""
    from typer.testing import CliRunner

    from medimg.cli.app import app

    (tmp_path / "plan.json").write_text('{"epochs": 5,}')
    missing = tmp_path / "no_such_data"
    for command in ("fit", "plan"):
        out = ["--out", str(tmp_path / "p")] if command == "plan" else []
        result = CliRunner().invoke(app, [command, str(missing), "--config", str(tmp_path / "plan.json"), *out])
        assert result.exit_code != 0
        assert "is not valid JSON" in str(result.exception), (command, result.exception)


def test_a_plan_of_another_task_is_refused_naming_both_tasks() -> None:
    """A segmentation plan.json given to a classification fit: "unknown plan field 'patch_size'. Did you mean
    'batch_size'"."""
    with pytest.raises(ConfigError, match=r"is a 'segment' plan, and this data is planned as 'classify'"):
        resolve_plan(make_plan(_fingerprint()), {"task": "segment", "patch_size": [16, 16], "reasons": {}})


def test_a_plan_json_of_another_medimg_version_names_its_unknown_fields() -> None:
    saved = make_plan(_fingerprint()).model_dump() | {"old_field": 1, "older": 2}
    with pytest.raises(ConfigError, match=r"names 'old_field', 'older', which this medimg version's plan has not"):
        resolve_plan(make_plan(_fingerprint()), saved)


def test_fp16_asked_for_without_a_gpu_is_recorded_as_it_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`--set amp=fp16` on a CPU trained in fp32 while plan.json said amp "fp16", "set by user"."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="medimg.config"):
        plan = resolve_plan(make_plan(_fingerprint()), {"amp": "fp16"})
    assert plan.amp == "none" and "fp32 on this CPU" in plan.reasons["amp"]
    assert "amp=fp16 runs on a CUDA GPU only" in caplog.text
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_plan(make_plan(_fingerprint()), {"amp": "fp16"}).amp == "fp16"


def test_a_network_is_planned_as_fit_reads_it_and_an_unknown_one_is_refused() -> None:
    """`medimg plan --set network=ResNet18` planned a half-width "ResNet18" (fit trains a quarter-width resnet18);
    `--set network=foo` printed a plan for "foo at half width" (fit refuses it)."""
    from medimg.tasks.classify.task import ClassifyTask

    planned = make_plan(_fingerprint())
    plan = ClassifyTask().resolve_plan(planned, {"network": "ResNet-18"})
    assert (plan.network, plan.width) == ("resnet18", planned.width)
    with pytest.raises(ConfigError, match=r"unknown network 'foo'"):
        resolve_plan(planned, {"network": "foo"})
    with pytest.raises(ConfigError, match=r"network=svm is a classical model"):
        resolve_plan(planned, {"network": "svm"})


def test_step_milestones_are_fractions_of_training() -> None:
    """`step_milestones=[1.5]` never cut the rate, `[-1, 0.5]` cut it from the first step: both planned."""
    planned = make_plan(_fingerprint())
    for marks in ([1.5], [-1, 0.5], [0, 0.5]):
        with pytest.raises(ConfigError, match=r"step_milestones: .*is not a fraction of training"):
            resolve_plan(planned, {"scheduler": "step", "step_milestones": marks})
    assert resolve_plan(planned, {"scheduler": "step", "step_milestones": [0.75, 0.3]}).step_milestones == [0.75, 0.3]


def test_a_setting_the_plan_does_not_use_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    """`--set step_milestones=[0.3,0.6]` under the planned cosine schedule, `--set momentum=0.5` with AdamW: each
    trained as if not given, plan.json saying "set by user"."""
    planned = make_plan(_fingerprint())
    with caplog.at_level(logging.WARNING, logger="medimg.config"):
        resolve_plan(planned, {"step_milestones": [0.3, 0.6], "momentum": 0.5, "budget_epochs_max": 90})
    assert "step_milestones is given, but it applies only with scheduler=step" in caplog.text
    assert "momentum is given, but it applies only with optimizer=sgd" in caplog.text
    assert "budget_epochs_max is given, but it applies only with time_budget_s=SECONDS" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medimg.config"):
        resolve_plan(planned, {"step_milestones": [0.3], "scheduler": "step", "momentum": 0.5, "optimizer": "sgd"})
        resolve_plan(planned, planned.model_dump())  # a saved plan.json carries every field: nothing to say
    assert "is given, but" not in caplog.text


def test_augmentation_null_switches_it_off_and_other_whole_values_name_the_fields() -> None:
    """`--set augmentation=null` was "Input should be a valid dictionary or instance of AugmentationPlan"."""
    from medimg.config import check_overrides
    from medimg.planning.plan import Plan

    planned = make_plan(_fingerprint())
    assert planned.augmentation.enabled
    for off in (None, False):
        check_overrides(Plan, {"augmentation": off})
        plan = resolve_plan(planned, {"augmentation": off})
        assert not plan.augmentation.enabled and plan.reasons["augmentation"] == "set by user"
    with pytest.raises(ConfigError, match=r"augmentation takes its fields, not 5: --set augmentation\.flip_axes="):
        check_overrides(Plan, {"augmentation": 5})
    with pytest.raises(ConfigError, match=r"semi_supervised takes its fields, not null"):
        resolve_plan(planned, {"semi_supervised": None})


def test_a_run_option_given_as_a_plan_field_is_named_as_one() -> None:
    """`medimg plan DATA --set test_fraction=0` said "unknown plan field 'test_fraction'", `--set seed=3` "Did you
    mean 'ensemble'?"."""
    from medimg.config import check_overrides
    from medimg.planning.plan import Plan

    with pytest.raises(ConfigError, match=r"'test_fraction' is a run option, not a plan field: give it as --test-fr"):
        check_overrides(Plan, {"test_fraction": 0})
    with pytest.raises(ConfigError, match=r"'seed' is a run option"):
        resolve_plan(make_plan(_fingerprint()), {"seed": 3})
    check_overrides(Plan, {"seed": 3}, other_fields=["seed"])  # fit takes it


def test_an_invalid_value_read_from_a_config_file_names_the_file(tmp_path: Path) -> None:
    """``--config plan.json`` with ``"epochs": -3``: "invalid plan value: epochs: ..." said which field, not in which
    file; a value given on the command line (after the file) names none."""
    config = tmp_path / "edited plan.json"
    config.write_text('{"epochs": -3, "learning_rate": 0.01}')
    with pytest.raises(ConfigError, match=r"invalid plan value in .*edited plan\.json: epochs"):
        resolve_plan(make_plan(_fingerprint()), read_config_file(config), {})
    with pytest.raises(ConfigError, match=r"invalid plan value: learning_rate"):
        resolve_plan(make_plan(_fingerprint()), read_config_file(config), {"epochs": 2, "learning_rate": -1.0})
