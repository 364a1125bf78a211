"""Plan values that would train nonsense or crash mid-run are refused when the plan is made, naming the field:
class weights (one per class, above 0), clip bounds in order, finite numbers, flip axes among the spatial axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from medimg.config import check_overrides, resolve_plan
from medimg.errors import ConfigError
from medimg.planning.plan import AugmentationPlan, Plan
from medimg.tasks.segment.planning import SegAugmentation, SegPlan

PLANNED = Plan(
    spatial_dims=2,
    num_classes=2,
    clip_low=0.0,
    clip_high=181.0,
    norm_mean=60.0,
    norm_std=20.0,
    augmentation=AugmentationPlan(flip_axes=[0, 1]),
    class_weights=None,
)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"class_weights": [1, 2, 3]}, r"class_weights: class_weights has 3 value\(s\) but the data has 2 classes"),
        ({"class_weights": [0, 0]}, r"class_weights: .*must be above 0"),
        ({"class_weights": [-1, 1]}, r"class_weights: .*must be above 0"),
    ],
)
def test_class_weights_are_one_positive_weight_per_class(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_plan(PLANNED, layer)


def test_class_weights_of_another_count_than_the_default_pass_the_early_check() -> None:
    check_overrides(Plan, {"class_weights": [1, 2, 3]})  # 3-class data: the count is checked once it is planned
    with pytest.raises(ConfigError, match="class_weights"):
        check_overrides(Plan, {"class_weights": [0, 1]})  # wrong whatever the data


def test_a_fit_with_the_wrong_number_of_class_weights_stops_before_training(tmp_path: Path) -> None:
    from medimg import Model
    from medimg.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(tmp_path / "data", n_per_class=8, size=16, seed=0)
    with pytest.raises(ConfigError, match=r"class_weights has 3 value\(s\) but the data has 2 classes"):
        Model("simple-cnn").fit(data, run_dir=tmp_path / "run", epochs=1, progress=False, class_weights=[1, 2, 3])
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "plan.json").exists()


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"clip_low": 200}, r"clip_low: clip_low \(200\) must be below clip_high \(181\)"),
        ({"clip_low": 181}, r"clip_low: .*must be below clip_high"),
        ({"clip_low": 10, "clip_high": 5}, r"clip_low: .*must be below clip_high \(5\)"),
        ({"norm_mean": "nan"}, r"norm_mean: .*finite"),
        ({"norm_mean": float("nan")}, r"norm_mean: .*finite"),
        ({"clip_high": float("inf")}, r"clip_high: .*finite"),
        ({"learning_rate": float("inf")}, r"learning_rate: .*finite"),
        ({"semi_supervised": {"confidence_threshold": float("nan")}}, r"confidence_threshold: .*finite"),
        ({"augmentation": {"flip_axes": [-1]}}, r"augmentation.flip_axes: .*\[-1\] is not a spatial axis"),
        ({"augmentation": {"flip_axes": [0, 5]}}, r"augmentation.flip_axes: \[5\] is not a spatial axis of 2D data"),
    ],
)
def test_values_that_train_nonsense_are_refused(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_plan(PLANNED, layer)


def test_bounds_are_checked_together_only_once_both_are_planned() -> None:
    for layer in ({"clip_low": 300}, {"clip_high": -500}, {"augmentation": {"flip_axes": [2]}}):
        check_overrides(Plan, layer)  # CT bounds, a volume's axis: the data's plan decides
    assert resolve_plan(PLANNED, {"clip_low": -1000, "clip_high": -200}).clip_high == -200
    volume = PLANNED.model_copy(update={"spatial_dims": 3})
    assert resolve_plan(volume, {"augmentation": {"flip_axes": [0, 1, 2]}}).augmentation.flip_axes == [0, 1, 2]
    assert Plan.model_validate(PLANNED.model_dump()) == PLANNED  # a saved plan loads as it was


def test_a_negative_flip_axis_never_reaches_the_channels() -> None:
    from medimg.transforms.augment import BatchAugment

    with pytest.raises(ValidationError, match="not a spatial axis"):
        BatchAugment(AugmentationPlan(flip_axes=[-1]), 2)(torch.zeros(4, 3, 4, 4), torch.Generator().manual_seed(0))


def test_segmentation_plans_are_checked_alike() -> None:
    planned = SegPlan(
        spatial_dims=3,
        normalisation="ct",
        clip_low=-1000.0,
        clip_high=400.0,
        augmentation=SegAugmentation(flip_axes=[0, 1, 2]),
    )
    with pytest.raises(ConfigError, match=r"clip_low: .*must be below clip_high"):
        resolve_plan(planned, {"clip_low": 500})
    with pytest.raises(ConfigError, match=r"augmentation.flip_axes: \[3\] is not a spatial axis of 3D data"):
        resolve_plan(planned, {"augmentation": {"flip_axes": [3]}})
    with pytest.raises(ConfigError, match=r"norm_std: .*finite"):
        resolve_plan(planned, {"norm_std": float("inf")})
    with pytest.raises(ValidationError, match="not a spatial axis"):
        SegAugmentation(flip_axes=[-2])


def test_a_schedule_reason_says_it_was_planned_when_its_epochs_are_set() -> None:
    """The plan's reasons still read "200 epochs x 25 steps" beside epochs=3, "set by user"."""
    planned = SegPlan(spatial_dims=2, epochs=200, reasons={"schedule": "200 epochs x 25 steps of 64 patches"})
    resolved = resolve_plan(planned, {"epochs": 3})
    assert resolved.epochs == 3 and resolved.reasons["epochs"] == "set by user"
    assert resolved.reasons["schedule"] == "200 epochs x 25 steps of 64 patches (as planned; epochs then set otherwise)"
    saved = resolve_plan(planned, {**planned.model_dump(), "epochs": 200})  # a saved plan.json: no note
    assert saved.reasons["schedule"] == "200 epochs x 25 steps of 64 patches"


def test_tta_on_a_plan_that_flips_nothing_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """Grey images get no flips (X-rays are not mirror images), so --set tta=true averaged nothing, silently."""
    import logging

    from medimg.tasks.classify.task import ClassifyTask

    grey = PLANNED.model_copy(update={"augmentation": AugmentationPlan(flip_axes=[])})
    with caplog.at_level(logging.WARNING):
        assert ClassifyTask().resolve_plan(grey, {"tta": True}).tta
    assert "tta=true has nothing to average here" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ClassifyTask().resolve_plan(PLANNED, {"tta": True})  # flips to average over
    assert "tta" not in caplog.text


def test_num_classes_other_than_the_data_is_said_before_the_planned_class_weights() -> None:
    """On imbalanced data the planner sets class weights; num_classes=3 then got a class_weights error the user
    never set ("has 2 value(s) but the data has 3 classes")."""
    from medimg.tasks.classify.task import ClassifyTask

    weighted = PLANNED.model_copy(update={"class_weights": [1.0, 3.0]})
    with pytest.raises(ConfigError, match="num_classes=3, but the data has 2 classes"):
        ClassifyTask().resolve_plan(weighted, {"num_classes": 3})
