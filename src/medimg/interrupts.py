"""Ctrl-C that is never lost.

CPython drops a ``KeyboardInterrupt`` raised while it runs a weakref callback or a ``__del__`` method: it prints
"Exception ignored in ..." and carries on. A Ctrl-C that lands in such a callback (an import's module-lock cleanup
at the start of training is one) was swallowed, and ``medimg fit`` trained on to its end. The CLI installs
:func:`install`'s handler, which remembers the signal as well as raising; the training loop calls
:func:`raise_if_interrupted` every step, and prediction (PyTorch and ONNX Runtime, evaluation included) every batch,
so a dropped interrupt still stops them there. The Python API leaves SIGINT as Python set it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

_pending = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
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
    """Remember every Ctrl-C (SIGINT) as well as raising ``KeyboardInterrupt``, and keep Python from printing a
    traceback for one it drops; main thread only (a no-op elsewhere, where Python cannot set signal handlers)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
        sys.unraisablehook = _quiet_about_remembered_interrupts(sys.unraisablehook)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C came since :func:`install` (even one Python dropped)."""
    if _pending.is_set():
        raise KeyboardInterrupt


def clear() -> None:
    """Forget a remembered Ctrl-C (for a caller that handled it and goes on)."""
    _pending.clear()
