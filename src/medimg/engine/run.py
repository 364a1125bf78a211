"""The training run of every task: split -> read -> fingerprint -> plan -> train -> bundle.

A task brings only what is specific to it (:class:`RunnableTask`: reading and fingerprinting its cases, its
planner and override rules, and a :class:`TrainingSetup` with its batch source, loss and validation hooks and
network builder); the run chooses the plan, trains, and writes every artifact of the bundle once, atomically, as
soon as it exists, so an interrupted run keeps everything it had and ``--resume`` continues from the last epoch.
Under torchrun every rank runs this; rank 0 alone writes.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from pydantic import BaseModel
from torch import nn

from medimg.config import FitOptions
from medimg.data.case import Case
from medimg.data.splits import Splits, make_splits
from medimg.engine.batches import BatchSource
from medimg.engine.checkpoint import save_checkpoint
from medimg.engine.distributed import Distributed, init_distributed, lost_peer
from medimg.engine.ensemble import member_seed, train_members
from medimg.engine.trainer import TaskHooks
from medimg.errors import ConfigError, DatasetError, RunFolderError
from medimg.planning.plan import TrainingPlan
from medimg.run_folder import RunFolder, RunMetadata

logger = logging.getLogger(__name__)

TRAIN_ON_ALL = "+train-on-all"
"""The suffix of ``Splits.method`` when the validation cases joined training (a resumed run keeps it)."""


@dataclass
class Planned:
    """A task's plan for a dataset: the training split's fingerprint, the plan, and the training cases as read
    (so training does not read them twice); ``run_dir``: the run folder, for a task that keeps a helper model
    beside its own (generation's feature classifier), set by :func:`fit_run`."""

    fingerprint: BaseModel
    plan: TrainingPlan
    loaded: Any
    run_dir: Path | None = None


@dataclass
class TrainingSetup:
    """What a task hands the run: its artifacts and the pieces the engine trains with.

    Attributes:
        batches: the training batch source.
        hooks: loss of a batch and validation metrics.
        build: ``plan -> network``, freshly initialised.
        class_names: label names, index-aligned with the network's outputs.
        input_spec: what the network expects (``metadata.json`` ``input``).
        summary: task facts for the training summary (``train_images``, ``val_cases``, logit shifts...).
        skipped: unreadable files as ``(path, reason)``.
        finish: applied to each trained member (classification's logit adjustment).
        after_training: ``(network, plan) -> (plan, summary)`` once the members are trained (segmentation chooses
            its post-processing on validation); the returned plan is saved.
    """

    batches: BatchSource
    hooks: TaskHooks
    build: Callable[[TrainingPlan], nn.Module]
    class_names: list[str]
    input_spec: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    finish: Callable[[nn.Module], object] | None = None
    after_training: Callable[[nn.Module, Any], tuple[TrainingPlan, dict[str, Any]]] | None = None


class RunnableTask(Protocol):
    """What the run needs from a task (the full protocol is :class:`medimg.tasks.base.Task`)."""

    #: registry name (``"classify"``, ``"segment"``)
    name: str
    #: the plan model (a :class:`~medimg.planning.plan.TrainingPlan`); overrides are checked against its fields
    plan_type: type[TrainingPlan]
    #: whether ``setup`` accepts no validation cases (``FitOptions.train_on_all``): nothing of the run is chosen
    #: on validation but the epoch, which is then the last
    trains_without_validation: bool

    def split_cases(self, dataset: Any) -> list[Case]:
        """The dataset's cases as :class:`~medimg.data.case.Case` for splitting (labels stratify, patients group)."""
        ...

    def fingerprint(self, dataset: Any, train_cases: Sequence[Any], options: FitOptions) -> tuple[BaseModel, Any]:
        """Read the training cases and fingerprint them; returns the fingerprint and the cases as read."""
        ...

    def propose_plan(self, fingerprint: Any, *, bf16_supported: bool) -> TrainingPlan:
        """The planner's plan for a fingerprint (the ``determine_*`` heuristics with their reasons)."""
        ...

    def resolve_plan(self, planned: Any, *layers: dict[str, Any] | None) -> TrainingPlan:
        """The planned plan under override layers (config file, then arguments); ConfigError when invalid."""
        ...

    def setup(
        self, dataset: Any, planned: Planned, val_cases: Sequence[Any], options: FitOptions, distributed: Distributed
    ) -> TrainingSetup:
        """Prepare the training and validation data and the pieces the engine trains with."""
        ...


@dataclass
class FitResult:
    """A trained network and where it lives (``None`` fields on ranks other than 0)."""

    network: nn.Module
    plan: TrainingPlan
    class_names: list[str]
    run_dir: Path
    metadata: RunMetadata


def fit_run(
    task: RunnableTask,
    dataset: Any,
    run_dir: Path,
    options: FitOptions,
    *,
    plan_layers: tuple[dict[str, Any] | None, ...] = (),
    splits: Splits | None = None,
    distributed: Distributed | None = None,
) -> FitResult | None:
    """Train ``task``'s model on ``dataset`` into ``run_dir``. Returns ``None`` on ranks other than 0.

    Training runs on ``options.num_threads`` CPU threads; the caller's thread count is restored afterwards (a
    notebook that set ``torch.set_num_threads(1)`` keeps it).
    """
    caller_threads = torch.get_num_threads()
    try:
        return _fit_run(task, dataset, run_dir, options, plan_layers, splits, distributed)
    except RuntimeError as error:
        if not lost_peer(error):
            raise
        # one line instead of this process's traceback of gloo's "Read error ... Connection reset by peer"
        raise RunFolderError(
            f"training stopped: another process of this job is gone (killed, out of memory, or its own error: see "
            f"its messages); {run_dir} keeps its last complete checkpoint: run the same command with --resume to "
            "go on"
        ) from None
    finally:
        torch.set_num_threads(caller_threads)


def _fit_run(
    task: RunnableTask,
    dataset: Any,
    run_dir: Path,
    options: FitOptions,
    plan_layers: tuple[dict[str, Any] | None, ...],
    splits: Splits | None,
    distributed: Distributed | None,
) -> FitResult | None:
    dist = distributed or init_distributed()
    threads = options.num_threads
    if dist.device.type == "cpu" and dist.local_world_size > 1:  # the processes of one node share its cores
        threads = max(1, threads // dist.local_world_size)
    torch.set_num_threads(threads)
    run = RunFolder(run_dir, writable=dist.is_main)
    if dist.is_main:
        run.ensure_writable(resume=options.resume)
    started = time.perf_counter()
    if options.resume:
        options = keep_saved_options(run, options)
    if splits is None:
        if options.resume and run.file("splits.json").is_file():
            splits = Splits.from_dict(run.read_json("splits.json"))
            refuse_other_images(run, dataset, splits)
        else:
            splits = default_splits(task, dataset, options)
    if options.train_on_all:
        splits = validation_joins_training(task, splits)
    resumed = options.resume and run.file("fingerprint.json").is_file()

    def write_data_files() -> None:
        run.write_json(
            "config.json",
            {
                "task": task.name,
                "data": str(Path(dataset.root).resolve()),
                "dataset_options": dataset.options,
                "options": options.model_dump(),
                "plan_overrides": [layer for layer in plan_layers if layer],
            },
        )
        run.write_json("dataset.json", dataset.describe())
        run.write_json("splits.json", splits.to_dict())

    if not resumed:  # a resumed run's are rewritten once its data is known to be the same (below)
        write_data_files()
    train_cases, val_cases = training_cases(dataset, splits)
    synthetic = synthetic_cases(dataset, options.synthetic, splits) if options.synthetic else []
    train_cases = [*train_cases, *synthetic]
    saved_plan = run.read_json("plan.json") if options.resume and run.file("plan.json").is_file() else None
    local = options.model_copy(update={"progress": options.progress and dist.is_main})  # bars on rank 0 only
    planned = plan_training(task, dataset, train_cases, local, plan_layers, saved_plan)
    batch = getattr(planned.plan, "batch_size", None)
    if isinstance(batch, int) and batch < dist.world_size:  # a process would draw empty batches
        raise ConfigError(
            f"batch_size {batch} is smaller than the {dist.world_size} training processes: each needs at least one "
            f"image per step; give --batch-size {dist.world_size} or more (or fewer processes)"
        )
    planned.run_dir = run.path
    if resumed:
        refuse_other_contents(run, dataset, planned.fingerprint.model_dump(mode="json"))
        write_data_files()
    setup = task.setup(dataset, planned, val_cases, local, dist)
    run.write_json("fingerprint.json", planned.fingerprint.model_dump())
    run.write_json("plan.json", planned.plan.model_dump())
    plan = planned.plan
    network, results = train_members(
        setup.build,
        setup.batches,
        plan,
        setup.hooks,
        run.path,
        seed=options.seed,
        resume=options.resume,
        progress=options.progress,
        tensorboard=options.tensorboard,
        label=dataset.name,
        distributed=dist,
        finish=setup.finish,
    )
    if not dist.is_main:
        return None
    network.eval()
    if len(results) != plan.ensemble:
        plan = plan.model_copy(update={"ensemble": len(results)})
    extra: dict[str, Any] = {}
    if setup.after_training is not None:
        plan, extra = setup.after_training(network, plan)
    run.write_json("plan.json", plan.model_dump())
    save_checkpoint(run.file("model.pt"), {"model": network.state_dict()})
    result = results[0]
    training: dict[str, Any] = {
        "best_epoch": result.best_epoch,
        f"best_val_{plan.monitor}": _measured(result.best_metric),
        "epochs_run": len(result.history),
        "epochs_scheduled": result.epochs,
        "stopped_early": result.stopped_early,
        "train_time_s": round(sum(r.train_time_s for r in results), 2),
        "ensemble": {
            "members": len(results),
            "seeds": [member_seed(options.seed, k) for k in range(len(results))],
            "best_epochs": [r.best_epoch for r in results],
            "epochs_run": [len(r.history) for r in results],
            f"best_val_{plan.monitor}": [_measured(r.best_metric) for r in results],
        },
        "total_time_s": round(time.perf_counter() - started, 2),
        "processes": dist.world_size,
        "device": str(dist.device),
        **setup.summary,
        **({"synthetic_images": len(synthetic), "synthetic_source": options.synthetic} if synthetic else {}),
        **extra,
        "skipped_files": [list(s) for s in setup.skipped],
        **({"excluded_files": list(dataset.excluded)} if getattr(dataset, "excluded", None) else {}),
    }
    metadata = RunMetadata.create(
        task=task.name,
        network=str(getattr(plan, "network", "")),
        class_names=setup.class_names,
        input_spec=setup.input_spec,
        training=training,
        weights_sha256={"model.pt": run.sha256("model.pt")},
    )
    run.write_json("metadata.json", metadata.model_dump())
    return FitResult(network, plan, setup.class_names, run.path, metadata)


def without_test_split(run_dir: Path) -> bool:
    """True, with a note saying how to evaluate, when the split saved in ``run_dir`` holds no test images
    (``--test-fraction 0`` on data without a test part of its own): the fit (deep or classical) has no test
    report, which is no failure."""
    counts = Splits.from_dict(RunFolder(run_dir).read_json("splits.json")).counts()
    if counts["test"]:
        return False
    logger.info(
        "%s: no test split (--test-fraction 0, and the data has no test part of its own), so no test report: "
        "evaluate the model on held-out data with `medimg evaluate %s DATA` (Model.evaluate(DATA) in Python)",
        run_dir,
        run_dir,
    )
    return True


def _measured(value: float) -> float | None:
    """A validation score for JSON: None when there was none (no validation, or never finite)."""
    return value if math.isfinite(value) else None


def default_splits(task: RunnableTask, dataset: Any, options: FitOptions) -> Splits:
    """The split a run makes when it is given none: the data's own, else stratified/grouped by ``options``."""
    cases = task.split_cases(dataset)
    return make_splits(
        cases,
        val_fraction=options.val_fraction,
        test_fraction=options.test_fraction,
        seed=options.seed,
        class_names=getattr(dataset, "class_names", None),
    )


def synthetic_cases(dataset: Any, source: str, splits: Splits) -> list[Case]:
    """The images of a synthetic set (``medimg generate``) as extra training cases of a classification dataset;
    they are never in ``splits.json``, so validation and test stay real.

    Images that are copies of a validation or test image of ``splits`` (the same bytes: a generator that memorised
    them, a set copied together by hand) are dropped with a warning, as from an unlabelled pool; a generator run
    (the manifest's ``run`` column) that trained on this run's validation or test images (another ``--seed`` or
    fractions split the data otherwise) is warned about, naming how many: its images may carry them.

    Raises:
        ConfigError: the dataset is not classification data.
        DatasetError: the set is missing, empty, names a class the dataset lacks, or holds only copies of
            validation/test images.
    """
    from medimg.data.pool import case_digests, drop_evaluation_copies
    from medimg.data.synthetic_sets import (
        evaluation_images_trained_on,
        generator_runs,
        read_synthetic_cases,
        refuse_unlike_images,
    )

    if getattr(dataset, "task", None) != "classify":
        raise ConfigError(f"--synthetic adds labelled images to classification data, not to {dataset.task} data")
    cases = read_synthetic_cases(source, list(dataset.class_names))
    refuse_unlike_images(
        dataset, [c for c in dataset.cases if splits.assignment.get(c.case_id) == "train"], cases, source
    )
    evaluation = set(case_digests(dataset, [c for c in dataset.cases if splits.assignment.get(c.case_id) != "train"]))
    digests = case_digests(dataset, cases)
    cases, _ = drop_evaluation_copies(cases, digests, evaluation, what=f"synthetic set {source}")
    if not cases:
        raise DatasetError(
            f"--synthetic {source}: every image is a copy of a validation/test image of this run; nothing is left "
            "to train on"
        )
    runs, lost = generator_runs(source)
    for run in runs:
        leaked = evaluation_images_trained_on(run, splits.assignment)
        if leaked:
            logger.warning(
                "synthetic set %s was drawn from generator %s, which trained on %d of this run's validation/test "
                "images (e.g. %s): its images may copy them and the test metrics may be optimistic; fit with the "
                "generator's split (same --seed, --val-fraction and --test-fraction)",
                source,
                run,
                len(leaked),
                leaked[0],
            )
    if lost:
        logger.warning(
            "synthetic set %s: its generator run %s is not found, so whether it trained on this run's "
            "validation/test images is not checked",
            source,
            ", ".join(lost),
        )
    logger.info("%d synthetic image(s) from %s join the training split", len(cases), source)
    return cases


def check_train_on_all(task: RunnableTask, folds: int | None) -> None:
    """Refuse ``--train-on-all`` where a run needs its validation split.

    Raises:
        ConfigError: the task chooses more than the epoch on validation (a classifier's thresholds...), or
            cross-validation asks for validation folds.
    """
    if not task.trains_without_validation:
        raise ConfigError(
            f"--train-on-all is for segmentation: {task.name} chooses its epoch and more (thresholds, calibration) "
            "on the validation images; leave it out, or lower --val-fraction"
        )
    if folds:
        raise ConfigError("--train-on-all leaves no validation images, --folds validates on each fold: choose one")


def validation_joins_training(task: RunnableTask, splits: Splits) -> Splits:
    """``splits`` with its validation cases moved to training (``--train-on-all``; the test split stays); splits
    that were moved already (a resumed run's) are returned as they are.

    Raises:
        ConfigError: the task chooses more than the epoch on validation (a classifier's thresholds...).
    """
    check_train_on_all(task, None)
    if TRAIN_ON_ALL in splits.method:
        return splits
    moved = sum(1 for split in splits.assignment.values() if split == "val")
    assignment = {case_id: "train" if split == "val" else split for case_id, split in splits.assignment.items()}
    note = f"--train-on-all: the {moved} validation case(s) joined training; the last epoch is kept"
    logger.info(note)
    return Splits(
        assignment=assignment, method=splits.method + TRAIN_ON_ALL, seed=splits.seed, notes=[*splits.notes, note]
    )


#: the options a resumed run keeps as saved: its split was made with them, its remaining epochs draw from the seed
RESUME_KEEPS = ("seed", "val_fraction", "test_fraction")


def keep_saved_options(run: RunFolder, options: FitOptions) -> FitOptions:
    """``options`` with the saved run's :data:`RESUME_KEEPS` (a warning names those given otherwise now): resumed
    with ``--seed 5`` its remaining epochs augmented from another seed and ``config.json`` and ``metadata.json``
    recorded seed 5 and the new fractions for a split made with the saved ones."""
    saved = (run.read_json("config.json").get("options") or {}) if run.file("config.json").is_file() else {}
    kept = {name: saved[name] for name in RESUME_KEEPS if name in saved and saved[name] != getattr(options, name)}
    if not kept:
        return options
    logger.warning(
        "resuming with the saved settings: %s given now differ and are not applied (--resume continues the run as "
        "it was split and seeded; start a new run folder to train with them)",
        ", ".join(
            f"--{name.replace('_', '-')} {getattr(options, name)} (saved {value})" for name, value in kept.items()
        ),
    )
    return options.model_copy(update=kept)


def refuse_other_images(run: RunFolder, dataset: Any, splits: Splits) -> None:
    """``--resume`` continues a run on the images it was split from: other images (another data folder, images
    added or removed) would train its checkpoint on data it never planned for and score it on a test split that is
    not the one saved.

    Raises:
        DatasetError: naming how many images are new or gone, with an example of each.
    """
    now = {case.case_id for case in dataset.cases}
    added, gone = sorted(now - splits.assignment.keys()), sorted(splits.assignment.keys() - now)
    if added or gone:
        found = [f"{len(ids)} image(s) {what} (e.g. {ids[0]})" for ids, what in ((added, "new"), (gone, "gone")) if ids]
        raise DatasetError(
            f"--resume: {dataset.root} is not the data {run.path} was training on: {', '.join(found)}"
            f"{_was_trained_on(run)}; resume with that data, or choose a new --run-dir to train on this"
        )


def refuse_other_contents(run: RunFolder, dataset: Any, fingerprint: dict[str, Any]) -> None:
    """``--resume`` on images of the same names whose contents differ (another copy of the data, images replaced):
    the training split's fingerprint (sizes, intensities, class counts) differs from the one saved.

    Raises:
        DatasetError: naming the fields that differ.
    """
    saved = run.read_json("fingerprint.json")
    differ = sorted(  # compared as JSON: a NaN equals the NaN saved
        k for k in fingerprint.keys() & saved.keys() if k != "dataset" and _json(fingerprint[k]) != _json(saved[k])
    )
    if differ:
        raise DatasetError(
            f"--resume: the images of {dataset.root} are not those {run.path} was training on (their "
            f"{', '.join(differ[:4])} differ from its fingerprint.json){_was_trained_on(run)}; resume with that data, "
            "or choose a new --run-dir to train on this"
        )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _was_trained_on(run: RunFolder) -> str:
    try:
        data = run.read_json("config.json").get("data")
    except Exception:  # an unreadable config.json: the message goes without the path
        return ""
    return f" (it was trained on {data})" if data else ""


def training_cases(dataset: Any, splits: Splits) -> tuple[list[Any], list[Any]]:
    """The training and validation cases of ``splits`` (none of the latter after ``--train-on-all``).

    Raises:
        DatasetError: either is empty (training alone, when the validation cases joined it).
    """
    train_cases = [c for c in dataset.cases if splits.assignment.get(c.case_id) == "train"]
    val_cases = [c for c in dataset.cases if splits.assignment.get(c.case_id) == "val"]
    if not train_cases or (TRAIN_ON_ALL not in splits.method and not val_cases):
        raise DatasetError(
            f"{dataset.root}: the split left {len(train_cases)} training and {len(val_cases)} validation cases; "
            "add images or change --val-fraction"
        )
    return train_cases, val_cases


def plan_run(
    task: RunnableTask, dataset: Any, options: FitOptions, plan_layers: tuple[dict[str, Any] | None, ...] = ()
) -> tuple[BaseModel, TrainingPlan]:
    """The fingerprint and plan a fit of ``dataset`` would use (same split, same reading), without training."""
    splits = default_splits(task, dataset, options)
    if options.train_on_all:
        splits = validation_joins_training(task, splits)
    train_cases, _ = training_cases(dataset, splits)
    planned = plan_training(task, dataset, train_cases, options, plan_layers)
    return planned.fingerprint, planned.plan


def _same_setting(saved: Any, given: Any) -> bool:
    """``given`` sets what ``saved`` holds (one side length for every axis of a ``*_size`` list, some fields of a
    nested model, too)."""
    if isinstance(saved, dict) and isinstance(given, dict):
        return all(_same_setting(saved.get(key), value) for key, value in given.items())
    return bool(saved == given or (isinstance(saved, list) and saved == [given] * len(saved)))


def plan_training(
    task: RunnableTask,
    dataset: Any,
    train_cases: Sequence[Any],
    options: FitOptions,
    plan_layers: tuple[dict[str, Any] | None, ...],
    saved_plan: dict[str, Any] | None = None,
) -> Planned:
    """Fingerprint the training cases and plan: the saved plan when resuming, else the planner's under the
    override layers (``defaults < plan < config file < arguments``)."""
    from medimg.planning.planner import device_supports_bf16

    fingerprint, loaded = task.fingerprint(dataset, train_cases, options)
    if saved_plan is not None:
        plan = task.plan_type.model_validate(saved_plan)
        saved = plan.model_dump()
        ignored = {
            key: value
            for layer in plan_layers
            for key, value in (layer or {}).items()
            if key != "reasons" and key in saved and not _same_setting(saved[key], value)
        }
        if ignored:  # a resumed run keeps its plan: the schedule and the weights belong to it
            logger.warning(
                "resuming with the saved plan: %s given now differ from it and are not applied (--resume continues "
                "the run as planned; start a new run folder to train with them)",
                ", ".join(f"{k}={v!r} (saved {saved[k]!r})" for k, v in ignored.items()),
            )
        else:
            logger.info("resuming with the saved plan")
    else:
        plan = task.resolve_plan(task.propose_plan(fingerprint, bf16_supported=device_supports_bf16()), *plan_layers)
    return Planned(fingerprint, plan, loaded)
