"""Loading the model bundle: a run folder holds everything a trained model needs (see :mod:`medimg.run_folder`,
whose :class:`~medimg.run_folder.RunMetadata` says which task and backend made it).

:func:`load_bundle` rebuilds a torch bundle's network from ``plan.json`` and ``model.pt``; export, serving, CNN
embeddings and ``Model.load`` all load bundles through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


def dataset_options(run_dir: str | Path, data: Any = None) -> dict[str, Any]:
    """How the run's training data was loaded (``config.json``), to load it (or an external set, ``data``, the same
    way: the run's label column where ``data`` holds a table with that column, not another hospital's class
    folders)."""
    from medimg.io.windowing import window_from_json
    from medimg.run_folder import RunFolder

    options = RunFolder(run_dir).read_json("config.json").get("dataset_options", {})
    loaded: dict[str, Any] = {
        "include": options.get("include") or None,
        "exclude": options.get("exclude") or None,
        "window": window_from_json(options.get("window")),
    }
    for key in ("colour_table", "rle_order", "label_column"):  # layout options a run was loaded with
        if options.get(key):
            loaded[key] = options[key]
    if loaded.get("label_column") and isinstance(data, (str, Path)):
        from medimg.data.layouts.csv_manifest import reads_label_column

        if not reads_label_column(Path(data).expanduser(), loaded["label_column"]):
            del loaded["label_column"]
    return loaded


def load_network(task: Any, plan: Any, state: dict[str, Any]) -> Any:
    """``task``'s network for ``plan`` (an ensemble when ``plan.ensemble > 1``) with the trained ``state``, in
    eval mode.

    Raises:
        RunFolderError: the weights do not match the plan.
    """
    from medimg.engine.ensemble import build_planned
    from medimg.errors import RunFolderError

    network = build_planned(lambda single: task.build_network(single, initial_weights=False), plan)
    try:
        network.load_state_dict(state)
    except (RuntimeError, KeyError) as error:
        raise RunFolderError(f"the saved weights do not match plan.json: {error}") from error
    network.eval()
    return network


@dataclass
class TrainedBundle:
    """A trained torch model as its run folder holds it (the attributes a fitted ``Model`` has too).

    Attributes:
        network_: the network in eval mode (an ensemble when the plan has several members).
        plan_: the task's plan (``plan.json``).
        class_names_: label names, index-aligned with the outputs.
        run_dir_: the run folder.
        metadata_: ``metadata.json``.
    """

    network_: Any
    plan_: Any
    class_names_: list[str]
    run_dir_: Path
    metadata_: dict[str, Any]

    @property
    def task(self) -> str:
        """The task registry name."""
        return str(self.metadata_.get("task", "classify"))


def load_bundle(run_dir: str | Path) -> TrainedBundle:
    """Load a torch bundle: its plan, metadata and network with the trained weights (checked against the plan).

    Raises:
        RunFolderError: the folder is missing, incomplete, a cross-validation parent, not a torch bundle, or its
            weights do not match its plan.
    """
    from medimg.engine.checkpoint import load_checkpoint
    from medimg.errors import RunFolderError
    from medimg.run_folder import RunFolder, RunLock, RunMetadata, run_folder_to_load
    from medimg.tasks.registry import get_task

    run = RunFolder(run_folder_to_load(run_dir))
    if run.file("cv.json").is_file() and not run.file("metadata.json").is_file():
        raise RunFolderError(f"{run.path} is a cross-validation run; load one fold, e.g. {run.path / 'fold_0'}")
    holder = RunLock(run.path).busy()
    if holder is not None and not run.is_complete():
        raise RunFolderError(f"{run.path} is being trained ({holder}); load it when that has finished")
    metadata = run.read_json("metadata.json")
    if RunMetadata.model_validate(metadata).backend != "torch" or not run.file("model.pt").is_file():
        raise RunFolderError(
            f"{run.path} holds no torch network (model.pt): a classical model (random forest, SVM...) has no ONNX "
            "export or network to load here; it predicts through medimg.Model.load(RUN).predict and `medimg predict`"
        )
    run.verify_weights(metadata)
    task = get_task(str(metadata.get("task", "classify")))
    plan = task.plan_type.model_validate(run.read_json("plan.json"))
    try:
        network = load_network(task, plan, load_checkpoint(run.file("model.pt"))["model"])
    except RunFolderError as error:
        raise RunFolderError(f"{run.file('model.pt')}: {error}") from error
    names = list(metadata.get("class_names") or getattr(plan, "class_names", []))
    return TrainedBundle(network, plan, names, run.path, metadata)
