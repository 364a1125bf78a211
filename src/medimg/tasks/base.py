"""The ``Task`` protocol: what a task package supplies to the shared engine, run, bundle and facade.

A task is classification, segmentation (and next detection, generation): it knows its plan model, how to read
its data into a batch source, its loss and validation metrics, how to rebuild its network from a plan, and how
to evaluate and predict. Everything else (the training loop, ensembles, time budget, checkpoints, resume,
distributed training, the run folder and ``metadata.json``, the ``Model`` facade) is shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from torch import nn

    from medimg.config import FitOptions
    from medimg.data.case import Case
    from medimg.engine.distributed import Distributed
    from medimg.engine.run import TrainingSetup
    from medimg.planning.plan import TrainingPlan


@dataclass
class Planned:
    """A task's plan for a dataset: the training split's fingerprint, the plan, and the training cases as read
    (so training does not read them twice)."""

    fingerprint: BaseModel
    plan: TrainingPlan
    loaded: Any


class Trained(Protocol):
    """A trained torch model as the facade holds it (``Model`` after ``fit`` or ``load``)."""

    network_: nn.Module | None
    plan_: Any
    class_names_: list[str] | None
    run_dir_: Path | None
    metadata_: dict[str, Any]


class Task(Protocol):
    """One task package's contribution. Implementations are registered in :mod:`medimg.tasks.registry`."""

    #: registry name (``"classify"``, ``"segment"``)
    name: str
    #: the plan model (a :class:`~medimg.planning.plan.TrainingPlan`); overrides are checked against its fields
    plan_type: type[TrainingPlan]
    #: dataset loading options of this task beyond include/exclude/window (e.g. ``colour_table``)
    data_options: tuple[str, ...]

    def check_network(self, name: str) -> str:
        """The canonical network name, or a ConfigError with close matches."""
        ...

    def load_dataset(self, path: str | Path, **options: Any) -> Any:
        """Load this task's dataset from a path (no pixels read)."""
        ...

    def split_cases(self, dataset: Any) -> list[Case]:
        """The dataset's cases as :class:`~medimg.data.case.Case` for splitting (labels stratify, patients group)."""
        ...

    def plan(
        self,
        dataset: Any,
        train_cases: Sequence[Any],
        options: FitOptions,
        plan_layers: tuple[dict[str, Any] | None, ...],
        saved_plan: dict[str, Any] | None = None,
    ) -> Planned:
        """Read the training cases, fingerprint them and plan (the saved plan when resuming, else the planner's
        under the override layers)."""
        ...

    def setup(
        self, dataset: Any, planned: Planned, val_cases: Sequence[Any], options: FitOptions, distributed: Distributed
    ) -> TrainingSetup:
        """Prepare the training and validation data and the pieces the engine trains with."""
        ...

    def build_network(self, plan: Any, *, initial_weights: bool = True) -> nn.Module:
        """One freshly initialised network of the plan (``initial_weights``: from the plan's local weights file,
        when it names one; off when loading a trained bundle)."""
        ...

    def evaluate(
        self,
        model: Trained,
        dataset: Any,
        cases: Sequence[Any],
        *,
        split: str,
        out_dir: Path,
        n_resamples: int,
        strict: bool,
    ) -> Any:
        """Evaluate ``cases`` of ``dataset``; write the report to ``out_dir`` and return it."""
        ...

    def predict(
        self, model: Trained, files: Sequence[Path], *, explain: str | None, out_dir: Path | None
    ) -> tuple[list[Any], list[tuple[str, str]]]:
        """Predict files; returns the predictions and the unreadable files as ``(path, reason)``."""
        ...
