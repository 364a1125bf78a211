"""Knowledge distillation: ``fit --teacher RUN`` trains a network on a classifier's soft predictions too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from medimg import Dataset, Model
from medimg.cli.app import app
from medimg.errors import ConfigError
from medimg.planning.plan import Plan
from medimg.tasks.classify.distillation import distillation_loss, load_teacher
from tests.conftest import write_npz

COMMON = dict(epochs=2, progress=False, tensorboard=False, batch_size=16)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An npz and a 2-network ensemble trained on it with class weights (so it has a logit adjustment)."""
    folder = tmp_path_factory.mktemp("distil")
    data = write_npz(folder / "data.npz", n=(80, 30, 30), seed=3)
    Model("simple-cnn").fit(data, run_dir=folder / "teacher", ensemble=2, class_weights=[1.5, 0.75], **COMMON)
    return data, folder / "teacher"


def test_loss_blends_labels_and_the_teachers_soft_predictions() -> None:
    plan = Plan(distill_weight=1.0, distill_temperature=3.0)
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    label_loss = torch.tensor(0.9)
    assert float(distillation_loss(logits, logits, label_loss, plan)) == pytest.approx(0.0, abs=1e-6)
    other = torch.tensor([[-1.0, 2.0], [0.0, 1.0]])
    soft = F.kl_div(F.log_softmax(logits / 3, 1), F.softmax(other / 3, 1), reduction="batchmean") * 9
    assert float(distillation_loss(logits, other, label_loss, plan)) == pytest.approx(float(soft), rel=1e-5)
    half = plan.model_copy(update={"distill_weight": 0.5})
    assert float(distillation_loss(logits, other, label_loss, half)) == pytest.approx(0.45 + 0.5 * float(soft))


def test_student_learns_from_the_teacher(teacher: tuple[Path, Path], tmp_path: Path) -> None:
    data, teacher_run = teacher
    student = Model("simple-cnn").fit(data, run_dir=tmp_path / "student", teacher=str(teacher_run), width=0.5, **COMMON)
    assert student.metadata_["training"]["teacher"] == str(teacher_run)
    assert student.plan_ is not None and student.plan_.ensemble == 1 and student.plan_.width == 0.5
    assert student.report_ is not None and student.report_.metrics["accuracy"] > 0.8


def test_a_student_learns_the_teachers_predictions_on_an_unlabelled_pool(
    teacher: tuple[Path, Path], tmp_path: Path
) -> None:
    """--teacher with --unlabelled: a noisy student (it was refused as "cannot be combined yet")."""
    import dataclasses

    data, teacher_run = teacher
    dataset = Dataset.load(data)
    train = [c for c in dataset.cases if c.split == "train"]
    labelled = dataclasses.replace(dataset, cases=[c for c in dataset.cases if c not in train[20:]])
    teacher_plan = Model.load(teacher_run).plan_
    assert teacher_plan is not None
    student = Model(
        "simple-cnn"
    ).fit(  # its own 20 images' statistics differ: the teacher's inputs are adopted
        labelled,
        run_dir=tmp_path / "noisy",
        teacher=str(teacher_run),
        unlabelled=train[20:],
        **{**COMMON, "epochs": 8},  # 20 labelled images: 2 steps an epoch
    )
    assert student.plan_ is not None
    for field in ("clip_low", "clip_high", "norm_mean", "norm_std", "input_size"):
        assert getattr(student.plan_, field) == getattr(teacher_plan, field)
        assert student.plan_.reasons[field] == f"the teacher's (--teacher {teacher_run})"
    training = student.metadata_["training"]
    assert training["teacher"] == str(teacher_run) and training["unlabelled_images"] == 60
    semi = training["semi_supervised"]
    assert semi["targets"].startswith(f"the soft predictions of teacher {teacher_run}")
    first = semi["epochs"][0]  # the pool joined at once, at full weight, despite 10 planned labelled-only epochs
    assert first["epoch"] == 1 and first["weight"] == 1.0 and first["unlabelled_loss"] > 0
    # 20 labelled images select an early epoch whose class-weight adjustment moves accuracy: rank by AUC
    assert student.report_ is not None and student.report_.metrics["roc_auc"] > 0.8


def test_teacher_logits_are_taken_before_its_logit_adjustment(teacher: tuple[Path, Path]) -> None:
    _, teacher_run = teacher
    loaded = Model.load(teacher_run)
    plan = loaded.plan_
    assert plan is not None and plan.class_weights is not None
    split = json.loads((teacher_run / "splits.json").read_text())["assignment"]
    soft_targets = load_teacher(teacher_run, plan, loaded.class_names_ or [], split, torch.device("cpu"))
    x = torch.randn(4, 1, *plan.input_size)
    assert loaded.network_ is not None
    with torch.no_grad():
        adjusted = loaded.network_(x).float()
    weights = torch.tensor(plan.class_weights)
    assert torch.allclose(soft_targets(x), adjusted + weights.log(), atol=1e-5)


def test_teacher_mismatches_are_clear_errors(teacher: tuple[Path, Path], tmp_path: Path) -> None:
    data, teacher_run = teacher
    loaded = Model.load(teacher_run)
    plan, names = loaded.plan_, loaded.class_names_ or []
    assert plan is not None
    split = json.loads((teacher_run / "splits.json").read_text())["assignment"]
    cpu = torch.device("cpu")
    with pytest.raises(ConfigError, match="classifies"):
        load_teacher(teacher_run, plan, ["a", "b", "c"], split, cpu)
    with pytest.raises(ConfigError, match=r"input_size differ.*--set input_size=\[28,28\]"):
        load_teacher(teacher_run, plan.model_copy(update={"input_size": [32, 32]}), names, split, cpu)
    leaking = {**split, next(c for c, part in split.items() if part == "train"): "test"}
    with pytest.raises(ConfigError, match="trained on 1 of this run's validation/test images"):
        load_teacher(teacher_run, plan, names, leaking, cpu)
    with pytest.raises(ConfigError, match=r"input_size differ.*--set input_size=\[28,28\]"):  # the user's own
        Model("simple-cnn").fit(data, run_dir=tmp_path / "own", teacher=str(teacher_run), input_size=32, **COMMON)
    with pytest.raises(ConfigError, match="does not take one"):
        Model("unet", task="segment").fit(data, run_dir=tmp_path / "seg", teacher=str(teacher_run), **COMMON)


def test_cli_fit_with_teacher(teacher: tuple[Path, Path], tmp_path: Path) -> None:
    data, teacher_run = teacher
    run = tmp_path / "cli_student"
    result = CliRunner().invoke(
        app,
        [
            "fit",
            str(data),
            "--network",
            "simple-cnn",
            "--teacher",
            str(teacher_run),
            "--epochs",
            "1",
            "--run-dir",
            str(run),
            "--no-progress",
            "--set",
            "distill_temperature=4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((run / "plan.json").read_text())["distill_temperature"] == 4.0
    assert Dataset.load(data).class_names == Model.load(run).class_names_
