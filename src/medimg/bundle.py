"""The model bundle's typed metadata (``RUN/metadata.json``), written in one place by every task's run.

A run folder is the whole bundle (see :mod:`medimg.run_folder` for its files); ``metadata.json`` says which task
and backend made it, with which versions, class names and input, and how training went.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RunMetadata(BaseModel):
    """``metadata.json``: what a bundle holds and how it was made.

    Attributes:
        task: the task registry name (``classify``, ``segment``...).
        backend: ``torch`` (a network in ``model.pt``) or ``sklearn`` (an estimator in ``model.joblib``).
        network: the network or estimator name.
        class_names: label names, index-aligned with the model's outputs.
        input: what the model expects (spatial dims, channels, size, DICOM window...).
        training: the training summary (best epoch, time, ensemble, counts, skipped files...).
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    medimg_version: str = ""
    torch_version: str = ""
    python_version: str = ""
    created: str = ""
    task: str = "classify"
    backend: Literal["torch", "sklearn"] = "torch"
    network: str = ""
    class_names: list[str] = Field(default_factory=list)
    input: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        task: str,
        network: str,
        class_names: list[str],
        input_spec: dict[str, Any],
        training: dict[str, Any],
        backend: Literal["torch", "sklearn"] = "torch",
        **extra: Any,
    ) -> RunMetadata:
        """Metadata of a run finished now, with this process's versions."""
        import torch

        from medimg import __version__

        return cls(
            medimg_version=__version__,
            torch_version=torch.__version__,
            python_version=platform.python_version(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            task=task,
            backend=backend,
            network=network,
            class_names=list(class_names),
            input=input_spec,
            training=training,
            **extra,
        )


def dataset_options(run_dir: str | Path) -> dict[str, Any]:
    """How the run's training data was loaded (``config.json``), to load it (or an external set) the same way."""
    from medimg.run_folder import RunFolder

    options = RunFolder(run_dir).read_json("config.json").get("dataset_options", {})
    window = options.get("window")
    loaded: dict[str, Any] = {
        "include": options.get("include") or None,
        "exclude": options.get("exclude") or None,
        "window": (float(window[0]), float(window[1])) if isinstance(window, list) else window,
    }
    if options.get("colour_table"):
        loaded["colour_table"] = options["colour_table"]
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
