"""Registration of the command modules beside ``app.py`` (one module per concept, heavy imports inside commands).

Each module listed in ``COMMAND_MODULES`` defines ``register(app: typer.Typer) -> None``.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES: tuple[str, ...] = ("compare", "deploy", "generate", "download")


def register(app: typer.Typer) -> None:
    """Add every command module's commands to ``app``."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"medimg.cli.{name}").register(app)
