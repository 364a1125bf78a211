"""What the CLI writes to a terminal: colour only where allowed (``NO_COLOR``, ``TERM=dumb``: the `error:` line was
red regardless), and a ``--help`` whose option names are never cut at a narrow width."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.cli.test_logging import on_a_terminal

ESC = "\x1b["


SETTINGS = [({}, True), ({"NO_COLOR": "1"}, False), ({"TERM": "dumb"}, False), ({"NO_COLOR": ""}, True)]


@pytest.mark.parametrize(("setting", "coloured"), SETTINGS)
def test_the_error_line_is_red_only_where_colour_is_allowed(setting: dict[str, str], coloured: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")} | {"TERM": "xterm"} | setting
    text = on_a_terminal([sys.executable, "-m", "medimg.cli.app", "check", "/no/such/folder"], env=env)
    assert "error: dataset path /no/such/folder does not exist" in text, text
    assert (ESC in text) == coloured, repr(text)


def _help(command: str, columns: int) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "medimg.cli.app", command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", ["fit", "serve"])
def test_help_at_a_narrow_width_cuts_no_option_name(command: str) -> None:
    """`COLUMNS=40 medimg fit --help` showed `--netw…` and `classi… segmen…`: Rich's panels cut what did not fit.
    Where they would, the plain help is printed, every option name whole."""
    import typer

    from medimg.cli.app import app

    names = [opt for param in typer.main.get_command(app).commands[command].params for opt in param.opts]  # type: ignore[attr-defined]
    narrow = _help(command, 40)
    assert "…" not in narrow, narrow
    assert all(name in narrow for name in names), [name for name in names if name not in narrow]
    assert "╭─ Options" in _help("networks", 200)  # the panels where they fit
