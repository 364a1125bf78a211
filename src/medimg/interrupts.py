"""Ctrl-C that is never lost.

CPython drops a ``KeyboardInterrupt`` raised while it runs a weakref callback or a ``__del__`` method: it prints
"Exception ignored in ..." and carries on. A Ctrl-C that lands in such a callback (an import's module-lock cleanup
at the start of training is one) was swallowed, and ``medimg fit`` trained on to its end. The CLI installs
:func:`install`'s handler, which remembers the signal as well as raising; the training loop calls
:func:`raise_if_interrupted` every step, so a dropped interrupt still stops it there. The Python API leaves
SIGINT as Python set it.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_pending = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _pending.set()
    raise KeyboardInterrupt


def install() -> None:
    """Remember every Ctrl-C (SIGINT) as well as raising ``KeyboardInterrupt``; main thread only (a no-op
    elsewhere, where Python cannot set signal handlers)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C came since :func:`install` (even one Python dropped)."""
    if _pending.is_set():
        raise KeyboardInterrupt


def clear() -> None:
    """Forget a remembered Ctrl-C (for a caller that handled it and goes on)."""
    _pending.clear()
