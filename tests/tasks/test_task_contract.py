"""Every registered task honours the Task protocol the engine, run, bundle and facade rely on; every task gets
the engine's features (cross-validation, ensembles, early override checks) through the one Model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medimg.config import FitOptions
from medimg.errors import ConfigError
from medimg.model import Model
from medimg.planning.plan import TrainingPlan
from medimg.tasks.registry import TASKS, get_task, list_tasks

SEG_FAST = {
    "epochs": 1,
    "iterations_per_epoch": 3,
    "batch_size": 4,
    "channels": [8, 16, 32],
    "tta": False,
    "amp": "none",
}


@pytest.mark.parametrize("name", list(TASKS))
def test_task_contract(name: str) -> None:
    task = get_task(name)
    assert task.name == name
    assert issubclass(task.plan_type, TrainingPlan)
    plan = task.plan_type()
    assert plan.epochs >= 1 and plan.batch_size >= 1 and isinstance(plan.monitor, str)
    with pytest.raises(ConfigError, match="unknown"):
        task.check_network("no-such-network")
    network = task.build_network(plan, initial_weights=False)
    assert isinstance(network, torch.nn.Module)
    for option in task.data_options:
        assert option not in task.plan_type.model_fields  # data options never shadow plan fields


def test_unknown_task_suggests_a_close_name() -> None:
    with pytest.raises(ConfigError, match="segment"):
        get_task("segmnt")
    assert set(list_tasks()) >= {"classify", "segment"}


@pytest.mark.parametrize(
    ("task", "overrides", "message"),
    [
        ("classify", {"epochz": 3}, "epochs"),
        ("classify", {"epochs": "abc"}, "epochs"),
        ("classify", {"augmentation": {"rotate_degs": 5}}, "rotate_deg"),
        ("classify", {"seed": "x"}, "seed"),
        ("segment", {"patch_sise": [32, 32]}, "patch_size"),
        ("segment", {"loss": "hinge"}, "loss"),
    ],
)
def test_overrides_are_checked_at_construction(task: str, overrides: dict, message: str) -> None:
    network = "unet" if task == "segment" else "simple-cnn"
    with pytest.raises(ConfigError, match=message):
        Model(network, task=task, **overrides)


def test_a_task_refuses_another_tasks_data(tmp_path: Path) -> None:
    from medimg.data.dataset import Dataset
    from medimg.errors import DatasetError
    from tests.tasks.segment.synthetic import write_2d_pairs

    data = write_2d_pairs(tmp_path / "discs", n=6, size=24)
    dataset = Dataset.load(data)
    assert dataset.task == "segment"  # images/ + masks/ is segmentation data, never two classes
    with pytest.raises(DatasetError, match="segment"):
        Model("simple-cnn").fit(dataset, run_dir=tmp_path / "run")


def test_segmentation_cross_validation(tmp_path: Path) -> None:
    """--folds works for segmentation too: one run per fold and cv.json with the folds' Dice."""
    from tests.tasks.segment.synthetic import write_2d_pairs

    data = write_2d_pairs(tmp_path / "discs", n=12, size=32)
    model = Model("unet", task="segment", **SEG_FAST).fit(
        data, run_dir=tmp_path / "cv", folds=2, progress=False, test_fraction=0.2
    )
    summary = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert summary["folds"] == 2 and len(summary["per_fold"]) == 2
    assert any(key.startswith("val_dice") for key in summary["mean"])
    assert (tmp_path / "cv" / "fold_1" / "model.pt").is_file()
    assert model.run_dir_ == tmp_path / "cv" / "fold_0"


def test_segmentation_ensemble_loads_as_one_network(tmp_path: Path) -> None:
    """plan.ensemble works for every task: two segmentation members averaged, saved and reloaded."""
    from medimg.networks.ensemble import EnsembleNet
    from tests.tasks.segment.synthetic import write_2d_pairs

    data = write_2d_pairs(tmp_path / "discs", n=10, size=32)
    model = Model("unet", task="segment", ensemble=2, **SEG_FAST).fit(data, run_dir=tmp_path / "ens", progress=False)
    assert isinstance(model.network_, EnsembleNet)
    loaded = Model.load(tmp_path / "ens")
    assert isinstance(loaded.network_, EnsembleNet) and len(loaded.network_.members) == 2
    assert (tmp_path / "ens" / "member_1" / "checkpoints" / "last.pt").is_file()
    assert loaded.predict(data / "images" / "case_00.png", out_dir=tmp_path / "out")[0].mask_path


def test_plan_run_matches_the_fit_plan(tmp_path: Path) -> None:
    """``medimg plan`` and ``fit`` share one path: the planned plan is the one the run saves."""
    from medimg.data.synthetic import make_phantom_dataset
    from medimg.engine.run import plan_run

    data = make_phantom_dataset(tmp_path / "ph", n_per_class=12, size=16, seed=0)
    task = get_task("classify")
    dataset = task.load_dataset(data)
    _, planned = plan_run(task, dataset, FitOptions(progress=False), (None, {"epochs": 1}))
    model = Model("auto", epochs=1).fit(dataset, run_dir=tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert saved == json.loads(planned.model_dump_json()) == json.loads(model.plan_.model_dump_json())
