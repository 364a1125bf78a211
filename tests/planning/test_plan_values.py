"""Plan values that would crash mid-run are refused when the plan is made, naming the field: class weights (one per
class, above 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medimg.config import check_overrides, resolve_plan
from medimg.errors import ConfigError
from medimg.planning.plan import AugmentationPlan, Plan

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
