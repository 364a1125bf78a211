"""Ctrl-C and SIGTERM that are never lost.

SIGTERM (``kill``, ``docker stop``, ``timeout``, Slurm's ``scancel`` and time limit) stops the CLI as Ctrl-C does:
it raises ``KeyboardInterrupt`` where the process is, atomic writes remove their temporary file, the last complete
checkpoint stays, and the CLI says how to go on with the command it stopped (:func:`advice`: a fit's ``--resume``;
for the other commands, that running them again starts over) and exits with 128 + the signal's number (130 for
Ctrl-C, 143 for SIGTERM; :func:`exit_code`). Before, SIGTERM ended ``medimg fit`` at once without a word, and a
checkpoint being saved left its temporary file behind.

CPython drops a ``KeyboardInterrupt`` raised while it runs a weakref callback or a ``__del__`` method: it prints
"Exception ignored in ..." and carries on. A Ctrl-C that lands in such a callback (an import's module-lock cleanup
at the start of training is one) was swallowed, and ``medimg fit`` trained on to its end. The CLI installs
:func:`install`'s handler, which remembers the signal as well as raising; the training loop calls
:func:`raise_if_interrupted` every step, and prediction (PyTorch and ONNX Runtime, evaluation included) every batch,
so a dropped interrupt still stops them there. The Python API leaves SIGINT and SIGTERM as Python set them.

The same calls stop work a caller has given up: inside :func:`stop_when` (per thread), :func:`raise_if_interrupted`
also runs the caller's check, which raises to stop. The web service's workers stop a request that ran past its
time limit this way, at the next batch (a segmentation's next sliding window), instead of computing it to the end
while every later request waits.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

#: the signals that stop the CLI as Ctrl-C does (SIGTERM: kill, docker stop, Slurm's time limit and scancel)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_pending = threading.Event()
_received: list[int] = []  # the stop signals received since install(), in order
_installed_by: list[int] = []  # the process that installed the handler (a forked worker inherits it)
_local = threading.local()  # .check: this thread's stop check (stop_when)


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    if signum != signal.SIGINT and _installed_by and os.getpid() != _installed_by[-1]:
        # a forked worker process (a pool's): SIGTERM is how its parent ends it, so it ends as Python's default would
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _received.append(signum)
    _pending.set()
    raise KeyboardInterrupt


def _quiet_about_remembered_interrupts(previous: Callable[[Any], object]) -> Callable[[Any], object]:
    """An ``sys.unraisablehook`` that does not print the traceback of a dropped, remembered Ctrl-C (the user sees
    the CLI's one line on how to go on instead) and passes everything else to ``previous``."""

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _pending.is_set():
            return
        previous(unraisable)

    return hook


def install() -> None:
    """Remember every Ctrl-C (SIGINT) and SIGTERM as well as raising ``KeyboardInterrupt``, and keep Python from
    printing a traceback for one it drops; main thread only (a no-op elsewhere, where Python cannot set signal
    handlers)."""
    if threading.current_thread() is threading.main_thread():
        _installed_by.append(os.getpid())
        for signum in STOP_SIGNALS:
            signal.signal(signum, _on_stop_signal)
        sys.unraisablehook = _quiet_about_remembered_interrupts(sys.unraisablehook)


def received_signal() -> int | None:
    """The stop signal that came first since :func:`install` (``signal.SIGINT``, ``signal.SIGTERM``), else ``None``."""
    return _received[0] if _received else None


def exit_code() -> int:
    """The exit status of a process stopped by :func:`received_signal`: 128 + its number, as a shell reports a
    process the signal ended (130 for Ctrl-C, 143 for SIGTERM); 130 when none was seen (an interrupt from within)."""
    return 128 + int(received_signal() or signal.SIGINT)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C came since :func:`install` (even one Python dropped), and whatever
    the check of an enclosing :func:`stop_when` raises."""
    if _pending.is_set():
        raise KeyboardInterrupt
    check = getattr(_local, "check", None)
    if check is not None:
        check()


@contextmanager
def stop_when(check: Callable[[], None]) -> Iterator[None]:
    """Within this block, in this thread, every :func:`raise_if_interrupted` also calls ``check``, which raises
    to stop the work (e.g. the service's ``CommitGuard.check`` once a request was given up)."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous


def clear() -> None:
    """Forget a remembered Ctrl-C or SIGTERM (for a caller that handled it and goes on)."""
    _pending.clear()
    _received.clear()


# ------------------------------------------------------------------------------------------------ how to go on
def advice(args: Sequence[str], signum: int | None = None) -> str:
    """What the CLI says when Ctrl-C (or SIGTERM, ``signum``: a time limit, ``scancel``, ``docker stop``, ``kill``)
    stopped ``medimg ARGS``: how to go on with *that* command.

    A fit (a cross-validation too) goes on from its last checkpoint with its own command and ``--resume`` (a run in
    ``--run-dir RUN`` is continued only with it: the template ``medimg fit DATA --resume`` started a new run
    instead). The other commands keep no partial state to resume: the message says what was kept and that running
    the same command again starts over. Before, every command was told to run ``medimg fit DATA --resume``.
    """
    by = f"interrupted by {signal.Signals(signum).name}" if signum not in (None, signal.SIGINT) else "interrupted"
    name = next((arg for arg in args if not arg.startswith("-")), None)
    again = f"`{shlex.join(['medimg', *args])}`"
    if name is None:
        return by
    if name == "fit":
        from medimg.run_folder import looks_like_run

        what = "cross-validation" if _has_option(args, "--folds") else "fit"
        run_dir = _option(args, "--run-dir")
        if run_dir is not None and not looks_like_run(Path(run_dir)):  # stopped while reading the data or planning
            anew = shlex.join(["medimg", *(arg for arg in args if arg != "--resume")])
            return f"{by} before the {what} wrote its run ({run_dir} holds none): nothing to resume; `{anew}` starts it"
        resume = shlex.join(["medimg", *args, *([] if "--resume" in args else ["--resume"])])
        return f"{by}; the {what} goes on from its last checkpoint with `{resume}`"
    if name == "evaluate":
        return f"{by}; the evaluation did not finish (the model is unchanged); {again} evaluates again from the start"
    if name == "predict":
        kept = (
            "no predictions file was written (it is written once every input is predicted)"
            if _has_option(args, "--out")
            else "the output above is incomplete"
        )
        return f"{by}; {kept}; {again} predicts every input again and is safe to re-run"
    if name == "generate":
        out, seed = _option(args, "--out") or "OUT", _option(args, "--seed") or "0"
        return (
            f"{by}; {out}/synthetic.csv lists the images of the draws that finished, not this one's; {again} draws "
            f"them again (should it refuse, delete this draw's unlisted {out}/*/synthetic_s{seed}_* files first)"
        )
    if name == "serve":
        return f"{by}; the service stopped"
    if name == "demo":
        return f"{by}; {again} starts the demo over (it replaces its own phantoms and run)"
    return f"{by}; `medimg {name}` did not finish; {again} starts it over"


def _option(args: Sequence[str], name: str) -> str | None:
    """The value of ``name`` among ``args`` (``--out X`` or ``--out=X``; the last one given), else ``None``."""
    value = None
    for before, arg in zip(["", *args], args, strict=False):
        if before == name:
            value = arg
        elif arg.startswith(f"{name}="):
            value = arg.split("=", 1)[1]
    return value


def _has_option(args: Sequence[str], name: str) -> bool:
    return any(arg == name or arg.startswith(f"{name}=") for arg in args)
