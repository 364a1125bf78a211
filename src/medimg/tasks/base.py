"""The ``Task`` protocol: what a task package supplies to the shared engine, run, bundle and facade.

A task is classification, segmentation (and next detection, generation): it knows its plan model, how to read
its data into a batch source, its loss and validation metrics, how to rebuild its network from a plan, and how
to evaluate and predict. Everything else (the training loop, ensembles, time budget, checkpoints, resume,
distributed training, the run folder and ``metadata.json``, the ``Model`` facade) is shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from medimg.engine.run import Planned, RunnableTask, TrainingSetup

if TYPE_CHECKING:
    from torch import nn

    from medimg.planning.domain import InputReader


__all__ = ["Planned", "Task", "Trained", "TrainingSetup"]


class Trained(Protocol):
    """A trained torch model as tasks, export and serving read it: a fitted or loaded ``Model``, or a
    :class:`~medimg.bundle.TrainedBundle` (read-only view)."""

    @property
    def task(self) -> str: ...

    @property
    def network_(self) -> nn.Module | None: ...

    @property
    def plan_(self) -> Any: ...

    @property
    def class_names_(self) -> list[str] | None: ...

    @property
    def run_dir_(self) -> Path | None: ...

    @property
    def metadata_(self) -> dict[str, Any]: ...


class Task(RunnableTask, Protocol):
    """One task package's contribution. Implementations are registered in :mod:`medimg.tasks.registry`.

    What the run needs (``name``, ``plan_type``, ``split_cases``, ``fingerprint``, ``propose_plan``,
    ``resolve_plan``, ``setup``) is
    :class:`~medimg.engine.run.RunnableTask`; the rest serves the facade, the bundle, export and serving.
    """

    #: dataset loading options of this task beyond include/exclude/window (e.g. ``colour_table``)
    data_options: tuple[str, ...]

    def check_network(self, name: str) -> str:
        """The canonical network name, or a ConfigError with close matches."""
        ...

    def load_dataset(self, path: str | Path, **options: Any) -> Any:
        """Load this task's dataset from a path (no pixels read)."""
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
        self,
        model: Trained,
        files: Sequence[Path],
        *,
        explain: str | None,
        out_dir: Path | None,
        reader: InputReader | None = None,
    ) -> tuple[list[Any], list[tuple[str, str]]]:
        """Predict files; returns the predictions and the unreadable files as ``(path, reason)``.

        ``reader`` reads each file (window, modality scaling) and checks it against the training domain
        (:class:`~medimg.planning.domain.InputReader`); ``None``: the run's own (``InputReader.for_run``).
        """
        ...


def run_details(model: Trained) -> dict[str, Any]:
    """The run facts every report carries: run folder, plan (without its reasons and bulky encodings) and the
    training summary."""
    plan = model.plan_.model_dump() if model.plan_ is not None else {}
    return {
        "run_dir": str(model.run_dir_),
        "plan": {k: v for k, v in plan.items() if k not in {"reasons", "label_encoding"}},
        "training": model.metadata_.get("training", {}),
    }
