"""What medimg writes depends on where it goes: a person's terminal or notebook, or a log file.

A terminal (or a Jupyter notebook) gets progress bars redrawn in place. A file or a pipe (a Slurm job's
``slurm-1234.out``, ``medimg fit ... > log.txt 2>&1``, ``docker logs``) gets no bars: their carriage returns make a
log unreadable in ``less`` and in web views, and a bar left open glued the next message to its line. Training logs
a line now and then instead (:class:`medimg.engine.progress.EpochProgress`) and the CLI's log lines carry the time
(:func:`medimg.cli.app.configure_logging`), so a log says when a job stalled.

Colour follows the conventions: none where ``NO_COLOR`` is set (https://no-color.org) or ``TERM=dumb``, nor on a
stream that is not a terminal. This module is where those environment variables are read.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

__all__ = [
    "close_progress_bars",
    "escape_what_streams_cannot_encode",
    "is_interactive",
    "is_quiet",
    "set_bars",
    "set_quiet",
    "show_bars",
    "use_colour",
]

_quiet = [False]  # `medimg -q`: no progress bars either (set for each command by the CLI's root options)


_bars = [True]  # a command's --no-progress (predict, evaluate, check): no bars, the lines kept


def set_bars(enabled: bool) -> None:
    """Progress bars drawn (where :func:`show_bars` allows) or none (a command's ``--no-progress``)."""
    _bars[0] = enabled


def set_quiet(quiet: bool) -> None:
    """No progress bars at all while ``quiet`` (``medimg --quiet``), even on a terminal."""
    _quiet[0] = quiet


def is_quiet() -> bool:
    """Whether ``medimg --quiet`` asked for no progress bars (:func:`set_quiet`)."""
    return _quiet[0]


def is_interactive(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (standard error by default) is a terminal or a notebook's output, where progress bars
    are redrawn in place; False for a file, a pipe or a closed stream."""
    stream = sys.stderr if stream is None else stream
    if stream is None:
        return False
    if type(stream).__module__.startswith("ipykernel"):  # Jupyter: tqdm.auto draws widgets there
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def show_bars(progress: bool, stream: TextIO | None = None) -> bool:
    """Whether a progress bar asked for with ``progress`` is drawn: only where it is redrawn in place
    (:func:`is_interactive`) and not under ``medimg --quiet``; a log file gets none
    (``tqdm(..., disable=not show_bars(progress))``)."""
    return progress and _bars[0] and not _quiet[0] and is_interactive(stream)


def use_colour(stream: TextIO | None = None) -> bool:
    """Whether coloured text may be written to ``stream`` (standard error by default): a terminal, without
    ``NO_COLOR`` set to anything but the empty string and without ``TERM=dumb``."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def close_progress_bars() -> None:
    """Close every progress bar still open (an error or an interrupt left it), so that the next message starts on
    a line of its own and no bar is redrawn after it; nothing when tqdm was never imported."""
    tqdm_std = sys.modules.get("tqdm.std")
    if tqdm_std is None:
        return
    for bar in list(getattr(tqdm_std.tqdm, "_instances", ())):
        try:
            bar.close()
        except Exception:  # a bar whose stream is gone: nothing to tidy
            continue


def escape_what_streams_cannot_encode(*streams: TextIO | None) -> None:
    """Let standard output and error write any text: a character their encoding lacks (a class named ``Pneumonia
    – viral`` or a file ``img é.png`` on a Latin-1 or ASCII console, ``PYTHONIOENCODING=ascii``) is written as a
    backslash escape (``\\u2013``, ``\\xe9``), where it raised ``UnicodeEncodeError`` half-way through a CSV.
    JSON escapes such characters itself, as JSON spells them
    (:func:`medimg.tasks.prediction_output.write_predictions`). A stream that cannot be reconfigured (a test's
    capture, a notebook's) is left as it is."""
    for stream in streams or (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # closed or detached
                continue
