"""A command-line option and its ``--set FIELD=VALUE`` twin (``--lr`` and ``learning_rate``): one value, or an error
naming both. Shared by ``medimg fit``, ``plan`` and ``compare``."""

from __future__ import annotations

import json
from typing import Any

import typer

from medimg.config import FitOptions


def flags_or_set(ctx: typer.Context, assignments: dict[str, Any], flags: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """Each field's value, from its option (``field -> (parameter, value)``: ``--lr`` for ``learning_rate``) or
    from ``--set FIELD=VALUE``, taken out of ``assignments``: an option given on the command line with another
    value than its ``--set`` twin is an error naming both (``--lr 0.1`` trained at 0.1 and ignored
    ``--set learning_rate=0.5``; ``--set seed=3`` lost to ``--seed``'s default); equal values are one value.

    Raises:
        ConfigError: the option and ``--set`` give the field two values.
    """
    from medimg.errors import ConfigError

    chosen: dict[str, Any] = {}
    for field, (parameter, value) in flags.items():
        chosen[field] = value
        source = ctx.get_parameter_source(parameter)
        typed = source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")  # typer's own click's enum
        if field not in assignments or (not typed and field not in FitOptions.model_fields):
            continue  # a plan field from --set alone stays in the assignments
        set_value = assignments.pop(field)
        if typed and not same_value(value, set_value):
            raise ConfigError(
                f"--set {field}={json.dumps(set_value)} contradicts {option_text(ctx, parameter, value)}: give one "
                "of them"
            )
        chosen[field] = value if typed else set_value
    return chosen


def same_value(flag: Any, given: Any) -> bool:
    """An option's value and its ``--set`` twin's are one value (``--lr 0.1`` and ``learning_rate=1e-1``)."""
    if isinstance(flag, bool) or isinstance(given, bool):
        return flag is given
    if isinstance(flag, int | float) and isinstance(given, int | float):
        return float(flag) == float(given)
    return str(flag) == str(given)


def option_text(ctx: typer.Context, parameter: str, value: Any) -> str:
    """How an option was written: ``--lr 0.1``, ``--strict`` / ``--no-strict``."""
    option = next(p for p in ctx.command.params if p.name == parameter)
    if isinstance(value, bool) and option.secondary_opts:
        return option.opts[0] if value else option.secondary_opts[0]
    return f"{option.opts[0]} {value:g}" if isinstance(value, float) else f"{option.opts[0]} {value}"
