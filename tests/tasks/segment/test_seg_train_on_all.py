"""``--train-on-all`` (nnU-Net's fold "all"): the validation images join training, the last epoch is kept, nothing
is chosen on validation, the test split stays out; refused where a run needs its validation split."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from medimg.data.splits import Splits
from medimg.engine.run import TRAIN_ON_ALL, training_cases, validation_joins_training
from medimg.errors import ConfigError, DatasetError
from medimg.model import Model
from medimg.tasks.registry import get_task
from tests.tasks.segment.synthetic import FAST_FIT, write_2d_pairs

THREE_EPOCHS = {**FAST_FIT, "epochs": 3, "iterations_per_epoch": 2, "amp": "none", "val_every": 1}


def test_every_non_test_case_trains_and_the_last_epoch_is_kept(tmp_path: Path) -> None:
    data = write_2d_pairs(tmp_path / "discs", n=10, size=32)
    run = tmp_path / "all"
    model = Model("unet", task="segment").fit(data, run_dir=run, train_on_all=True, test_fraction=0.2, **THREE_EPOCHS)
    splits = json.loads((run / "splits.json").read_text())
    assert splits["counts"] == {"train": 8, "val": 0, "test": 2}
    assert splits["method"].endswith(TRAIN_ON_ALL) and "joined training" in splits["notes"][-1]
    training = json.loads((run / "metadata.json").read_text())["training"]
    assert training["train_cases"] == 8 and training["val_cases"] == 0
    assert training["best_epoch"] == training["epochs_run"] == 3 and training["best_val_dice"] is None
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["best_epoch"] for row in history] == [1, 2, 3]
    assert not any(key.startswith("val_") and key != "val_time_s" for row in history for key in row)
    assert not (run / "checkpoints" / "best.pt").exists()  # nothing was validated
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=False)["model"]
    kept = torch.load(run / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(last[k], v) for k, v in kept.items())  # model.pt is the last epoch's network
    assert "--train-on-all" in model.plan_.reasons["postprocessing"] and model.plan_.postprocessing == "none"
    assert model.report_ is not None and model.report_.metrics["n"] == 2  # evaluated on the untouched test split
    Model("unet", task="segment").fit(data, run_dir=run, resume=True, test_fraction=0.2, **THREE_EPOCHS)
    assert json.loads((run / "splits.json").read_text())["counts"]["val"] == 0  # resumed without the flag: kept


def test_the_split_moves_validation_to_training_and_keeps_test() -> None:
    splits = Splits({"a": "train", "b": "val", "c": "test", "d": "val"}, "own+carved-val", 0)
    merged = validation_joins_training(get_task("segment"), splits)
    assert merged.assignment == {"a": "train", "b": "train", "c": "test", "d": "train"}
    assert merged.method == "own+carved-val" + TRAIN_ON_ALL and "2 validation case(s)" in merged.notes[-1]

    dataset = SimpleNamespace(root="data", cases=[SimpleNamespace(case_id=k) for k in "abcd"])
    train, val = training_cases(dataset, merged)
    assert [c.case_id for c in train] == ["a", "b", "d"] and val == []
    assert validation_joins_training(get_task("segment"), merged) is merged  # a resumed run's: moved already
    without_val = Splits({"a": "train", "b": "train", "c": "test", "d": "train"}, "own", 0)
    with pytest.raises(DatasetError, match="0 validation cases"):
        training_cases(dataset, without_val)  # a run that validates still needs its cases


def test_refused_where_validation_chooses_more_than_the_epoch(tmp_path: Path) -> None:
    from medimg.data.synthetic import make_phantom_dataset

    phantoms = make_phantom_dataset(tmp_path / "ph", n_per_class=6, size=16, seed=0)
    with pytest.raises(ConfigError, match="--train-on-all is for segmentation"):
        Model("simple-cnn", epochs=1).fit(phantoms, run_dir=tmp_path / "cls", train_on_all=True, progress=False)
    with pytest.raises(ConfigError, match="--train-on-all applies to deep segmentation"):
        Model("random-forest").fit(phantoms, run_dir=tmp_path / "rf", train_on_all=True, progress=False)
    discs = write_2d_pairs(tmp_path / "discs", n=6, size=24)
    with pytest.raises(ConfigError, match="choose one"):
        Model("unet", task="segment").fit(discs, run_dir=tmp_path / "cv", train_on_all=True, folds=2)
    assert not (tmp_path / "cls").exists() and not (tmp_path / "cv").exists()  # refused before any folder


def test_the_cli_plans_and_refuses_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app
    from medimg.data.synthetic import make_phantom_dataset

    discs = write_2d_pairs(tmp_path / "discs", n=10, size=24)
    counts = {}
    for flag in ([], ["--train-on-all"]):
        out = tmp_path / f"plan{len(flag)}"
        result = CliRunner().invoke(app, ["plan", str(discs), "--task", "segment", "--out", str(out), *flag])
        assert result.exit_code == 0, result.output
        counts[len(flag)] = json.loads((out / "fingerprint.json").read_text())["num_train_cases"]
    assert counts[1] > counts[0]  # the validation cases are fingerprinted with the training ones
    phantoms = make_phantom_dataset(tmp_path / "ph", n_per_class=6, size=16, seed=0)
    refused = CliRunner().invoke(app, ["fit", str(phantoms), "--train-on-all", "--epochs", "1", "--no-progress"])
    assert isinstance(refused.exception, ConfigError) and "is for segmentation" in str(refused.exception)
