"""The task registry: a task name -> its :class:`~medimg.tasks.base.Task`. A new task is one package plus one
line in ``TASKS``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from medimg.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from medimg.tasks.base import Task

#: name -> "module:attribute" of the task object (imported on first use: importing medimg stays light)
TASKS: dict[str, str] = {
    "classify": "medimg.tasks.classify.task:CLASSIFY",
    "segment": "medimg.tasks.segment.task:SEGMENT",
    "detect": "medimg.tasks.detect.task:DETECT",
    "generate": "medimg.tasks.generate.task:GENERATE",
}


def list_tasks() -> list[str]:
    """Registered task names."""
    return list(TASKS)


def get_task(name: str) -> Task:
    """The task registered as ``name``.

    Raises:
        ConfigError: unknown name (with close matches).
    """
    key = str(name).lower()
    if key not in TASKS:
        raise ConfigError(f"unknown task {name!r}.{did_you_mean(str(name), TASKS)} Available: {', '.join(TASKS)}.")
    module, attribute = TASKS[key].split(":")
    task: Task = getattr(importlib.import_module(module), attribute)
    return task
