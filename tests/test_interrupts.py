"""Ctrl-C is never lost: one that Python drops inside a ``__del__`` or weakref callback still stops training."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from medimg import interrupts

#: the dropped KeyboardInterrupt is reported by pytest as an unraisable exception: expected here
DROPPED = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def installed() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGINT)
    interrupts.install()
    yield
    signal.signal(signal.SIGINT, previous)
    interrupts.clear()


class _InterruptedWhileCollected:
    """Ctrl-C arrives while Python runs this object's ``__del__``, as it did in an import's lock callback."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


def _drop_a_ctrl_c() -> None:
    obj = _InterruptedWhileCollected()
    del obj  # CPython prints "Exception ignored in ..." and carries on


@DROPPED
def test_python_drops_a_ctrl_c_in_a_finaliser_and_the_handler_remembers_it(installed: None) -> None:
    _drop_a_ctrl_c()  # no KeyboardInterrupt reaches the caller
    with pytest.raises(KeyboardInterrupt):
        interrupts.raise_if_interrupted()
    interrupts.clear()
    interrupts.raise_if_interrupted()  # forgotten once handled


@DROPPED
def test_training_stops_at_the_next_step_after_a_dropped_ctrl_c(installed: None, tmp_path: Path) -> None:
    from medimg.engine.trainer import train
    from tests.engine.test_trainer import _data, _hooks, _net, _plan, _source

    plan = _plan(epochs=50)
    x, y = _data()
    _drop_a_ctrl_c()
    with pytest.raises(KeyboardInterrupt):
        train(_net(plan), _source(plan, x, y), plan, _hooks(plan), tmp_path, progress=False, tensorboard=False)
    assert not (tmp_path / "checkpoints" / "last.pt").exists()  # stopped in the first epoch, not at the end
