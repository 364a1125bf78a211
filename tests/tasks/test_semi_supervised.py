"""Semi-supervised training (``fit --unlabelled POOL``): the unlabelled loss, its batches, and classification
runs whose pool never reaches validation or test. Tiny synthetic data only."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from medimg.engine.batches import TensorBatches
from medimg.errors import ConfigError, DatasetError
from medimg.planning.semi_supervised import SemiSupervisedPlan
from medimg.tasks.semi_supervised import (
    PoolViews,
    SemiSupervisedBatches,
    SemiSupervisedLoss,
    cutout,
)

#: the pool's loss at full weight from the first step, every prediction counted as it is (unit tests of the loss)
NOW = SemiSupervisedPlan(warmup_epochs=0, supervised_epochs=0, distribution_alignment=False)
FAST = {"progress": False, "tensorboard": False, "epochs": 1, "input_size": 32, "batch_size": 16}


def _zero_supervised(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return logits[:0].sum()  # 0, but part of the graph


@pytest.mark.parametrize("method", ["fixmatch", "pseudo_label"])
def test_unlabelled_term_is_positive_and_trains_the_network(method: str) -> None:
    torch.manual_seed(0)
    network = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    plan = SemiSupervisedPlan(
        method=method, confidence_threshold=0.34, warmup_epochs=0, supervised_epochs=0
    )  # every prediction counts
    loss_fn = SemiSupervisedLoss(_zero_supervised, plan, steps_per_epoch=1)
    n_labelled, n_unlabelled = 2, 6
    views = 2 if method == "fixmatch" else 1
    x = torch.randn(n_labelled + views * n_unlabelled, 1, 4, 4)
    loss = loss_fn(network, x, torch.zeros(n_labelled, dtype=torch.long))
    assert float(loss.detach()) > 0  # only the unlabelled term can make it non-zero
    loss.backward()
    assert network[1].weight.grad is not None and network[1].weight.grad.abs().sum() > 0
    assert loss_fn.summary()["epochs"][0]["pseudo_label_rate"] == 1.0


def test_unconfident_predictions_give_no_pseudo_labels() -> None:
    network = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    nn.init.zeros_(network[1].weight)
    nn.init.zeros_(network[1].bias)  # every prediction is 50/50
    loss_fn = SemiSupervisedLoss(_zero_supervised, NOW, steps_per_epoch=1)
    loss = loss_fn(network, torch.randn(2 + 2 * 4, 1, 4, 4), torch.zeros(2, dtype=torch.long))
    assert float(loss.detach()) == 0
    assert loss_fn.summary()["epochs"][0]["pseudo_label_rate"] == 0.0


def test_fixmatch_targets_come_from_the_weak_view_and_train_the_strong_one() -> None:
    network = nn.Identity()
    loss_fn = SemiSupervisedLoss(_zero_supervised, NOW, steps_per_epoch=1)
    weak = torch.tensor([[10.0, 0.0]])  # confident: class 0
    strong = torch.tensor([[0.0, 10.0]], requires_grad=True)  # predicts class 1
    logits = torch.cat([weak, strong])
    loss = loss_fn(network, logits, torch.zeros(0, dtype=torch.long))
    assert float(loss.detach()) == pytest.approx(10.0, abs=1e-3)  # cross-entropy of class 0 under the strong logits
    loss.backward()
    assert strong.grad is not None and strong.grad[0, 0] < 0  # pushes the strong view towards the pseudo-label


def test_a_mean_teacher_predicts_the_weak_view_and_the_network_never_sees_it() -> None:
    seen: list[torch.Tensor] = []

    class Recorder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x

    teacher = nn.Linear(2, 2)
    with torch.no_grad():  # the teacher always says class 1, whatever the weak view
        teacher.weight.zero_()
        teacher.bias.copy_(torch.tensor([0.0, 10.0]))
    loss_fn = SemiSupervisedLoss(_zero_supervised, NOW.model_copy(update={"teacher": "weight_average"}), 1)
    loss_fn.use_average(teacher)
    weak = torch.tensor([[10.0, 0.0]])  # the network's own view would say class 0
    strong = torch.tensor([[10.0, 0.0]], requires_grad=True)
    loss = loss_fn(Recorder(), torch.cat([weak, strong]), torch.zeros(0, dtype=torch.long))
    assert len(seen) == 1 and torch.equal(seen[0], strong.detach())  # only the strong view went through it
    assert float(loss.detach()) == pytest.approx(10.0, abs=1e-3)  # cross-entropy towards the teacher's class 1
    loss.backward()
    assert teacher.weight.grad is None  # the teacher does not train


def test_a_trained_teacher_softly_labels_the_pool_from_the_first_step() -> None:
    """Noisy student: the frozen teacher's softened prediction on the weak view is the strong view's target, with
    no threshold (a 60/40 prediction counts), no labelled-only epochs and no warm-up, even when the plan has them."""
    from medimg.tasks.semi_supervised import soft_target_loss

    seen: list[torch.Tensor] = []

    class Recorder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x

    teacher_logits = torch.tensor([[0.4, 0.0]])  # 60/40: below any confidence threshold

    def teacher(x: torch.Tensor) -> torch.Tensor:
        return teacher_logits.expand(len(x), 2)

    plan = SemiSupervisedPlan(supervised_epochs=10, warmup_epochs=5)  # what a user's plan may say
    loss_fn = SemiSupervisedLoss(_zero_supervised, plan, 1, trained_teacher=teacher, temperature=2.0)
    loss_fn.use_average(nn.Linear(2, 2))  # a mean teacher never replaces the trained one
    loss_fn.begin_epoch(1)
    assert loss_fn.uses_pool() and loss_fn.weight() == plan.loss_weight
    weak = torch.tensor([[-5.0, 5.0]])  # the network's own view would say class 1
    strong = torch.tensor([[0.0, 3.0]], requires_grad=True)
    loss = loss_fn(Recorder(), torch.cat([weak, strong]), torch.zeros(0, dtype=torch.long))
    assert len(seen) == 1 and torch.equal(seen[0], strong.detach())  # the student sees the strong view only
    expected = soft_target_loss(strong.detach(), teacher_logits, 2.0)
    assert float(loss.detach()) == pytest.approx(float(expected)) and float(expected) > 0
    loss.backward()
    assert strong.grad is not None and strong.grad[0, 0] < 0  # towards the teacher's class 0
    same = soft_target_loss(teacher_logits, teacher_logits, 2.0)
    assert float(same) == pytest.approx(0.0, abs=1e-7)  # 0 when the student matches


def test_without_a_teacher_in_the_plan_the_average_is_ignored() -> None:
    loss_fn = SemiSupervisedLoss(_zero_supervised, NOW, steps_per_epoch=1)
    loss_fn.use_average(nn.Linear(2, 2))
    assert loss_fn.teacher is None


def test_per_pixel_pseudo_labels_for_segmentation_logits() -> None:
    loss_fn = SemiSupervisedLoss(_zero_supervised, NOW, steps_per_epoch=1)
    weak = torch.zeros(1, 2, 4, 4)
    weak[:, 1, :2] = 10.0  # the top half confidently foreground, the rest 50/50
    strong = torch.zeros(1, 2, 4, 4)
    loss = loss_fn(nn.Identity(), torch.cat([weak, strong]), torch.zeros(0, 4, 4, dtype=torch.long))
    assert float(loss.detach()) == pytest.approx(0.5 * torch.log(torch.tensor(2.0)).item(), rel=1e-4)
    assert loss_fn.summary()["epochs"][0]["pseudo_label_rate"] == 0.5


def test_weight_ramps_up_over_the_warmup_epochs() -> None:
    loss_fn = SemiSupervisedLoss(
        _zero_supervised, SemiSupervisedPlan(loss_weight=2.0, warmup_epochs=2, supervised_epochs=0), 4
    )
    loss_fn.begin_epoch(1)
    assert loss_fn.weight() == 0.0
    loss_fn.step = 2
    assert loss_fn.weight() == pytest.approx(0.5)  # a quarter of the way
    loss_fn.begin_epoch(2)
    assert loss_fn.weight() == pytest.approx(1.0)
    loss_fn.begin_epoch(3)
    assert loss_fn.weight() == pytest.approx(2.0)
    loss_fn.begin_epoch(9)  # also after a resume
    assert loss_fn.weight() == pytest.approx(2.0)


def test_the_pool_waits_for_the_labelled_only_epochs() -> None:
    plan = SemiSupervisedPlan(supervised_epochs=2, warmup_epochs=0, distribution_alignment=False)
    loss_fn = SemiSupervisedLoss(_zero_supervised, plan, steps_per_epoch=1)
    labelled = TensorBatches(torch.zeros(8, 1, 4, 4), torch.zeros(8, dtype=torch.long), batch_size=4)
    views = PoolViews(5, lambda n, g: torch.ones(n, 1, 4, 4), lambda x, g: x, lambda x, g: x, cutout_fraction=0.0)
    batches = SemiSupervisedBatches(labelled, views, unlabelled_ratio=1, strong=True, use_pool=loss_fn.uses_pool)
    network = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    for epoch, pooled in ((1, False), (2, False), (3, True)):
        loss_fn.begin_epoch(epoch)
        assert loss_fn.uses_pool() is pooled and loss_fn.weight() == (1.0 if pooled else 0.0)
        for x, y in batches.epoch(torch.Generator().manual_seed(epoch)):
            assert len(x) == (3 * len(y) if pooled else len(y))  # no pool images drawn before
            loss_fn(network, x, y)


def test_distribution_alignment_moves_pseudo_labels_off_the_majority_class() -> None:
    """A network that calls every pool image class 1 (mean prediction 27/73) while the target is balanced: after
    alignment its least sure class-1 calls become class 0, the sure ones stay class 1."""
    plan = SemiSupervisedPlan(warmup_epochs=0, supervised_epochs=0, ema_momentum=0.0)
    target = torch.tensor([0.5, 0.5])
    loss_fn = SemiSupervisedLoss(_zero_supervised, plan, 1, target_distribution=target)
    probabilities = torch.tensor([[0.45, 0.55]] * 4 + [[0.15, 0.85]] * 6)
    aligned = loss_fn.align(probabilities)
    assert torch.allclose(aligned.sum(1), torch.ones(10))
    assert probabilities.argmax(1).tolist() == [1] * 10
    assert aligned.argmax(1).tolist() == [0] * 4 + [1] * 6
    assert loss_fn.model_distribution is not None
    assert torch.allclose(loss_fn.model_distribution, torch.tensor([0.27, 0.73]))
    off = plan.model_copy(update={"distribution_alignment": False})
    unaligned = SemiSupervisedLoss(_zero_supervised, off, 1, target_distribution=target)
    assert torch.equal(unaligned.align(probabilities), probabilities)  # the plan switches it off
    assert torch.equal(SemiSupervisedLoss(_zero_supervised, plan, 1).align(probabilities), probabilities)  # no target


def test_alignment_target_is_the_prior_the_weighted_loss_trains_towards() -> None:
    from medimg.tasks.classify.semi_supervised import alignment_target

    targets = torch.tensor([0] * 25 + [1] * 75)
    assert torch.allclose(alignment_target(targets, 2, None), torch.tensor([0.25, 0.75]))
    inverse = torch.tensor([2.0, 2 / 3])  # inverse-frequency weights: a balanced target
    assert torch.allclose(alignment_target(targets, 2, inverse), torch.tensor([0.5, 0.5]))
    assert float(alignment_target(torch.zeros(4, dtype=torch.long), 3, None)[2]) > 0  # no class gets 0


def test_self_adaptive_thresholds_are_lower_for_rarely_predicted_classes() -> None:
    plan = SemiSupervisedPlan(threshold="self_adaptive", ema_momentum=0.0, distribution_alignment=False)
    loss_fn = SemiSupervisedLoss(_zero_supervised, plan, 1)
    probabilities = torch.tensor([[0.9, 0.1]] * 3 + [[0.3, 0.7]])
    thresholds = loss_fn.thresholds(probabilities)
    mean_top = (0.9 * 3 + 0.7) / 4
    assert torch.allclose(thresholds, torch.tensor([mean_top, mean_top * (0.1 * 3 + 0.7) / (0.9 * 3 + 0.3)]))
    fixed = SemiSupervisedLoss(_zero_supervised, SemiSupervisedPlan(confidence_threshold=0.8), 1)
    assert torch.equal(fixed.thresholds(probabilities), torch.tensor([0.8, 0.8]))


def test_pseudo_labels_carry_the_class_weights() -> None:
    weak = torch.tensor([[10.0, 0.0], [0.0, 10.0]])  # confident: class 0, class 1
    strong = torch.zeros(2, 2)  # 50/50: each costs log 2 unweighted
    logits = torch.cat([weak, strong])
    weights = torch.tensor([3.0, 1.0])
    loss_fn = SemiSupervisedLoss(_zero_supervised, NOW, 1, class_weights=weights)
    loss = loss_fn(nn.Identity(), logits, torch.zeros(0, dtype=torch.long))
    assert float(loss) == pytest.approx((3 + 1) / 2 * math.log(2), rel=1e-5)
    assert loss_fn.summary()["epochs"][0]["pseudo_labels_per_class"] == [1, 1]


def test_cutout_erases_one_square_per_image_to_its_mean() -> None:
    x = torch.rand(3, 1, 8, 8)
    out = cutout(x.clone(), 0.5, torch.Generator().manual_seed(0))
    for i in range(3):
        changed = out[i, 0] != x[i, 0]
        assert int(changed.sum()) <= 16
        rows, cols = torch.nonzero(changed, as_tuple=True)
        assert int(rows.max() - rows.min()) < 4 and int(cols.max() - cols.min()) < 4
        assert torch.allclose(out[i, 0][changed], x[i].mean().expand(int(changed.sum())))


def test_batches_hold_labelled_then_weak_then_strong_views() -> None:
    labelled = TensorBatches(torch.zeros(10, 1, 4, 4), torch.arange(10), batch_size=4)
    pool = torch.ones(30, 1, 4, 4)
    views = PoolViews(
        30,
        lambda n, g: pool[torch.randint(0, 30, (n,), generator=g)],
        lambda x, g: x * 2,
        lambda x, g: x * 3,
        cutout_fraction=0.0,
    )
    batches = SemiSupervisedBatches(labelled, views, unlabelled_ratio=2, strong=True, steps=4)
    seen = list(batches.epoch(torch.Generator().manual_seed(0)))
    assert len(seen) == 4  # the labelled set (3 steps) is cycled
    assert (
        len(
            list(
                SemiSupervisedBatches(labelled, views, unlabelled_ratio=2, strong=False).epoch(
                    torch.Generator().manual_seed(0)
                )
            )
        )
        == labelled.steps_per_epoch()
    )  # by default an epoch is a pass over the labelled set
    for x, y in seen:
        n = len(y)
        assert x.shape[0] == n + 2 * 2 * n
        assert torch.all(x[:n] == 0) and torch.all(x[n : 3 * n] == 2) and torch.all(x[3 * n :] == 3)


# ---------------------------------------------------------------------------------------- classification runs
def _flat_pool(tmp_path: Path, n_per_class: int, seed: int) -> Path:
    from medimg.data.synthetic import make_phantom_dataset

    source = make_phantom_dataset(tmp_path / f"source{seed}", n_per_class=n_per_class, size=32, seed=seed)
    pool = tmp_path / "pool"
    pool.mkdir()
    for file in source.rglob("*.png"):
        shutil.copy(file, pool / f"{file.parent.name}_{file.name}")
    return pool


def test_fit_with_a_pool_folder_never_trains_on_evaluation_images(phantom_dir: Path, tmp_path: Path) -> None:
    from medimg import Model
    from medimg.config import FitOptions
    from medimg.engine.run import default_splits
    from medimg.tasks.registry import get_task

    pool = _flat_pool(tmp_path, n_per_class=4, seed=5)
    task = get_task("classify")
    assignment = default_splits(task, task.load_dataset(phantom_dir), FitOptions()).assignment  # what fit will use
    evaluation = sorted(k for k, v in assignment.items() if v in ("val", "test"))[:3]
    for k, case_id in enumerate(evaluation):  # copies of validation/test images slipped into the pool
        shutil.copy(phantom_dir / case_id, pool / f"copy_{k}.png")
    model = Model("simple-cnn").fit(
        phantom_dir,
        run_dir=tmp_path / "semi",
        unlabelled=pool,
        semi_supervised={"confidence_threshold": 0.5, "warmup_epochs": 0, "supervised_epochs": 0},
        **FAST,
    )
    run = model.run_dir_
    assert run is not None
    training = json.loads((run / "metadata.json").read_text())["training"]
    semi = training["semi_supervised"]
    assert training["unlabelled_images"] == 8 and semi["unlabelled_images"] == 8
    assert semi["dropped_evaluation_copies"] == 3
    assert semi["epochs"][0]["pseudo_label_rate"] > 0 and semi["epochs"][0]["unlabelled_loss"] > 0
    saved = json.loads((run / "splits.json").read_text())["assignment"]
    assert saved == assignment  # the pool changes no split
    assert not any("pool" in k or "copy_" in k for k in saved)
    assert json.loads((run / "config.json").read_text())["options"]["unlabelled"] == str(pool.resolve())
    plan = json.loads((run / "plan.json").read_text())
    assert plan["semi_supervised"]["confidence_threshold"] == 0.5
    assert plan["reasons"]["semi_supervised"] == "set by user"
    assert model.report_ is not None and model.report_.metrics["n"] == sum(v == "test" for v in assignment.values())


def _manifest_with_empty_labels(root: Path, phantom_dir: Path, unlabelled_every: int = 4) -> Path:
    rows = []
    for k, file in enumerate(sorted(phantom_dir.rglob("*.png"))):
        label = "" if k % unlabelled_every == 0 else file.parent.name
        rows.append({"path": str(file), "label": label})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def test_csv_rows_with_an_empty_label_are_the_pool_only_when_asked(phantom_dir: Path, tmp_path: Path) -> None:
    from medimg import Dataset, Model

    manifest = _manifest_with_empty_labels(tmp_path, phantom_dir)
    dataset = Dataset.load(manifest)
    assert len(dataset.unlabelled) == 20 and len(dataset.cases) == 60
    plain = Model("simple-cnn").fit(manifest, run_dir=tmp_path / "plain", **FAST)
    assert "semi_supervised" not in plain.metadata_["training"]
    semi = Model("simple-cnn").fit(manifest, run_dir=tmp_path / "semi", unlabelled=manifest, **FAST)
    assert semi.metadata_["training"]["unlabelled_images"] == 20
    assert semi.metadata_["training"]["train_data_device"] == "cpu"  # a pool's batches stay on the host, even on a GPU
    assignment = json.loads((tmp_path / "semi" / "splits.json").read_text())["assignment"]
    assert not set(assignment) & {c.case_id for c in dataset.unlabelled}


def test_cases_of_an_npz_dataset_as_the_pool(tmp_path: Path) -> None:
    """The Python form the data-efficiency benchmark uses: a labelled subset, the other training rows as pool."""
    from medimg import Dataset, Model
    from tests.conftest import write_npz

    dataset = Dataset.load(write_npz(tmp_path / "tiny.npz", n=(40, 16, 16)))
    train = [c for c in dataset.cases if c.split == "train"]
    labelled = dataclasses.replace(dataset, cases=[c for c in dataset.cases if c not in train[10:]])
    model = Model("simple-cnn").fit(labelled, run_dir=tmp_path / "run", unlabelled=train[10:], **FAST)
    assert model.metadata_["training"]["unlabelled_images"] == 30
    assert model.metadata_["training"]["train_images"] == 10


def test_an_array_pool_beside_arrays_trains_and_stays_with_the_run(tmp_path: Path) -> None:
    """``fit(X, y, unlabelled=X_pool)``, as a scikit-learn user writes it: the pool is kept in the run's copy of
    the arrays (so the run can be fitted again from the CLI), never split, never evaluated."""
    import numpy as np

    from medimg import Dataset, Model

    rng = np.random.default_rng(0)
    X = rng.integers(0, 120, (48, 16, 16)).astype(np.uint8)
    y = np.arange(48) % 2
    X[y == 1, 4:12, 4:12] = 250
    pool = rng.integers(0, 120, (30, 16, 16)).astype(np.uint8)
    semi = {"confidence_threshold": 0.5, "warmup_epochs": 0, "supervised_epochs": 0}
    model = Model("simple-cnn").fit(X, y, run_dir=tmp_path / "run", unlabelled=pool, semi_supervised=semi, **FAST)
    training = model.metadata_["training"]
    assert training["unlabelled_images"] == 30
    assert training["semi_supervised"]["epochs"][0]["unlabelled_loss"] > 0
    assert model.report_ is not None
    assert training["train_images"] + training["val_images"] + model.report_.metrics["n"] == 48
    copy = tmp_path / "run" / "training_data.npz"
    assert np.array_equal(np.load(copy)["unlabelled_images"], pool)
    reloaded = Dataset.load(copy)
    assert len(reloaded.cases) == 48 and len(reloaded.unlabelled) == 30
    assert np.array_equal(reloaded.read(reloaded.unlabelled[7]).array[0], pool[7].astype(np.float32))
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())["assignment"]
    assert not any(case_id.startswith("unlabelled/") for case_id in splits)


def test_a_list_of_image_files_as_the_pool(phantom_dir: Path, tmp_path: Path) -> None:
    from medimg import Model

    pool = _flat_pool(tmp_path, n_per_class=3, seed=6)
    files = [str(p) for p in sorted(pool.glob("*.png"))]
    model = Model("simple-cnn").fit(phantom_dir, run_dir=tmp_path / "run", unlabelled=files, **FAST)
    assert model.metadata_["training"]["unlabelled_images"] == 6


def test_pool_errors_are_clear(phantom_dir: Path, tmp_path: Path) -> None:
    from medimg import Model

    with pytest.raises(DatasetError, match="no rows with an empty label"):
        Model("simple-cnn").fit(phantom_dir, run_dir=tmp_path / "a", unlabelled=phantom_dir, **FAST)
    with pytest.raises(DatasetError, match="does not exist"):
        Model("simple-cnn").fit(phantom_dir, run_dir=tmp_path / "b", unlabelled=tmp_path / "nope", **FAST)
    with pytest.raises(ConfigError, match="classical"):
        Model("random-forest").fit(phantom_dir, run_dir=tmp_path / "c", unlabelled=phantom_dir)
    import numpy as np

    array = np.zeros((4, 32, 32), np.uint8)
    with pytest.raises(ConfigError, match=r"beside images given as an array, fit\(X, y, unlabelled=X_pool\)"):
        Model("simple-cnn").fit(phantom_dir, run_dir=tmp_path / "d", unlabelled=array, **FAST)
    with pytest.raises(ConfigError, match=r"unlabelled images have shape \(16, 16\) but the labelled ones \(32, 32\)"):
        Model("simple-cnn").fit(array, [0, 1, 0, 1], run_dir=tmp_path / "e", unlabelled=array[:, :16, :16], **FAST)
    with pytest.raises(ConfigError, match=r"1 of the 2 files do not exist \(e\.g\. .*nope\.png\)"):
        Model("simple-cnn").fit(phantom_dir, unlabelled=[next(phantom_dir.rglob("*.png")), tmp_path / "nope.png"])
    with pytest.raises(ConfigError, match="give a folder of images, a CSV manifest, a list of image files"):
        Model("simple-cnn").fit(phantom_dir, run_dir=tmp_path / "f", unlabelled=[1, 2], **FAST)
    with pytest.raises(ConfigError, match=r"semi_supervised\.confidence_treshold"):
        Model("simple-cnn", semi_supervised={"confidence_treshold": 0.9})


def test_the_running_statistics_survive_a_checkpoint_and_start_afresh_for_the_next_network() -> None:
    """--resume restarted distribution alignment and the adaptive thresholds from nothing, and an ensemble's second
    network began with the first one's running means; its epochs were logged as the first's again."""
    torch.manual_seed(0)
    network = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    plan = SemiSupervisedPlan(warmup_epochs=0, supervised_epochs=0, threshold="self_adaptive")
    loss_fn = SemiSupervisedLoss(_zero_supervised, plan, 2, target_distribution=torch.tensor([0.2, 0.3, 0.5]))
    x, y = torch.randn(2 + 2 * 6, 1, 4, 4), torch.zeros(2, dtype=torch.long)
    loss_fn.load_state_dict(None)  # the engine, as the first network starts
    loss_fn.begin_epoch(1)
    loss_fn(network, x, y)
    loss_fn.begin_epoch(2)
    loss_fn(network, x, y)  # epoch 2 in progress when the checkpoint is written
    saved = loss_fn.state_dict()
    resumed = SemiSupervisedLoss(_zero_supervised, plan, 2, target_distribution=torch.tensor([0.2, 0.3, 0.5]))
    resumed.load_state_dict(saved)
    for name in ("model_distribution", "mean_confidence", "class_confidence"):
        assert torch.equal(getattr(resumed, name), getattr(loss_fn, name)), name
    resumed.load_state_dict(None)  # the ensemble's next network
    assert resumed.model_distribution is None and resumed.class_confidence is None
    resumed.begin_epoch(1)
    resumed(network, x, y)
    rows = resumed.summary()["epochs"]
    assert [(row["network"], row["epoch"]) for row in rows] == [(1, 1.0), (1, 2.0), (2, 1.0)]


def test_an_ensembles_pool_history_names_each_network_and_its_checkpoints_keep_the_statistics(
    tmp_path: Path,
) -> None:
    from medimg import Dataset, Model
    from medimg.engine.checkpoint import load_checkpoint
    from tests.conftest import write_npz

    dataset = Dataset.load(write_npz(tmp_path / "tiny.npz", n=(40, 16, 16)))
    train = [c for c in dataset.cases if c.split == "train"]
    labelled = dataclasses.replace(dataset, cases=[c for c in dataset.cases if c not in train[10:]])
    semi = {"warmup_epochs": 0, "supervised_epochs": 0}
    options = {**FAST, "epochs": 3, "ensemble": 2, "semi_supervised": semi}
    model = Model("simple-cnn").fit(labelled, run_dir=tmp_path / "run", unlabelled=train[10:], **options)
    rows = model.metadata_["training"]["semi_supervised"]["epochs"]
    assert [(row["network"], row["epoch"]) for row in rows] == [(n, float(e)) for n in (1, 2) for e in (1, 2, 3)]
    saved = load_checkpoint(tmp_path / "run" / "member_1" / "checkpoints" / "last.pt")["task_state"]
    assert saved["network"] == 2 and saved["model_distribution"] is not None
