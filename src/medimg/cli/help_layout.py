"""``--help`` that never cuts an option's name or a value to copy.

Typer draws help as Rich panels whose columns share the terminal's width; what does not fit a column is cut with
an ellipsis. At ``COLUMNS=40`` ``medimg fit --help`` showed ``--netw…`` and ``classi… segmen…``; at 100 columns still
``semi_supervised.confidence_thresho…`` among the fields ``--set`` takes. :func:`fit_help_to_terminal` keeps the
panels where they fit and otherwise prints click's plain help, which puts a long option name on its own line and
wraps the text under it instead of cutting it.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from types import MethodType
from typing import Any

#: how Rich ends text it cut (a table cell's ``overflow="ellipsis"``)
CUT = "…"


def fit_help_to_terminal(command: Any) -> None:
    """Make ``command`` and its subcommands print plain help where Rich's panels would cut something at the
    terminal's width (``shutil.get_terminal_size``: ``COLUMNS``, else the terminal, else 80).

    Args:
        command: the click command ``typer.main.get_command(app)`` makes (typer's own copy of click's classes).
    """
    for each in walk_commands(command):
        if getattr(each, "rich_markup_mode", None) is not None:
            each.format_help = MethodType(_format_help_fitting(type(each).format_help), each)
        for param in getattr(each, "params", ()):
            _no_value_shown_for_flag(param)
        each.get_help_option = MethodType(_help_option_without_value(type(each).get_help_option), each)


def _no_value_shown_for_flag(param: Any) -> Any:
    """A flag (``--explain``, ``--version``, ``--help``) is drawn without a value type: Rich's panels showed
    ``--explain <bool>``, and ``--explain true`` was then refused as an extra argument."""
    if getattr(param, "is_flag", False) and hasattr(param, "display_type_rich"):
        param.display_type_rich = MethodType(lambda self, ctx: None, param)
    return param


def _help_option_without_value(get_help_option: Any) -> Any:
    def without_value(self: Any, ctx: Any) -> Any:
        return _no_value_shown_for_flag(get_help_option(self, ctx))

    return without_value


def walk_commands(command: Any) -> Iterator[Any]:
    """``command`` and every subcommand under it (``medimg``, ``medimg fit``, ``medimg token create``...)."""
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from walk_commands(sub)


def _format_help_fitting(format_help: Any) -> Any:
    def fitting(self: Any, ctx: Any, formatter: Any) -> None:
        if self.rich_markup_mode is not None and _rich_help_cut(format_help, self, ctx, formatter):
            self.rich_markup_mode = None  # click's plain help (TyperCommand.format_help falls back to it)
        format_help(self, ctx, formatter)

    return fitting


def _rich_help_cut(format_help: Any, command: Any, ctx: Any, formatter: Any) -> bool:
    """Whether Rich's help of ``command`` cuts something at the terminal's width (drawn into a buffer first)."""
    width = shutil.get_terminal_size().columns
    buffer = io.StringIO()
    with redirect_stdout(buffer), _environment(COLUMNS=str(width)):
        format_help(command, ctx, formatter)
    return CUT in buffer.getvalue()


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set within the block (Rich reads ``COLUMNS`` when its console is made)."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
