"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import pytest

from medimg import interrupts


@pytest.fixture
def restored_signals() -> Iterator[None]:
    """The signal handlers, the unraisable hook and medimg's interrupt state as they were before the test."""
    previous = {s: signal.getsignal(s) for s in interrupts.STOP_SIGNALS}
    hook = sys.unraisablehook
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    sys.unraisablehook = hook
    interrupts.clear()
