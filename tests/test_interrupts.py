"""Ctrl-C is never lost: one that Python drops inside a ``__del__`` or weakref callback still stops training."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from medimg import interrupts

#: the dropped KeyboardInterrupt is reported by pytest as an unraisable exception: expected here
DROPPED = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def installed() -> Iterator[None]:
    previous, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
    interrupts.install()
    yield
    signal.signal(signal.SIGINT, previous)
    sys.unraisablehook = hook
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


def test_a_remembered_ctrl_c_prints_no_traceback_and_other_unraisables_still_do() -> None:
    reported: list[BaseException] = []
    hook = interrupts._quiet_about_remembered_interrupts(lambda u: reported.append(u.exc_value))
    interrupts._pending.set()
    try:
        hook(SimpleNamespace(exc_value=KeyboardInterrupt()))
        hook(SimpleNamespace(exc_value=ValueError("a real problem")))
    finally:
        interrupts.clear()
    hook(SimpleNamespace(exc_value=KeyboardInterrupt()))  # not one the handler saw: reported as Python would
    assert [type(e) for e in reported] == [ValueError, KeyboardInterrupt]


@pytest.fixture
def remembered() -> Iterator[None]:
    """A Ctrl-C the handler remembered and Python dropped (as :func:`_drop_a_ctrl_c` leaves it)."""
    interrupts._pending.set()
    yield
    interrupts.clear()


def test_prediction_stops_at_the_next_batch_after_a_dropped_ctrl_c(remembered: None) -> None:
    """Evaluation and prediction check too, in each task's PyTorch loop and in the ONNX Runtime predictor's."""
    import numpy as np
    import torch

    from medimg.export.predictor import OnnxPredictor
    from medimg.tasks.classify.inference import predict_logits
    from medimg.tasks.segment.inference import sliding_window_probabilities
    from medimg.tasks.segment.planning import SegPlan
    from tests.engine.test_trainer import _data, _net, _plan

    plan = _plan()
    with pytest.raises(KeyboardInterrupt):
        predict_logits(_net(plan), _data(8)[0].float(), plan)
    seg_plan = SegPlan(patch_size=[16, 16], amp="none", channels_last=False)
    with pytest.raises(KeyboardInterrupt):
        sliding_window_probabilities(torch.nn.Conv2d(1, 2, 1), torch.zeros(1, 1, 20, 20), seg_plan)
    predictor = OnnxPredictor.__new__(OnnxPredictor)  # the loops only: no session is reached
    predictor.batch_size, predictor.preprocessing = 2, {}
    with pytest.raises(KeyboardInterrupt):
        predictor.run(np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(KeyboardInterrupt):
        predictor.run_windows(np.zeros((4, 1, 8, 8), np.float32))


@pytest.fixture
def stop_signals_installed() -> Iterator[None]:
    previous = {s: signal.getsignal(s) for s in interrupts.STOP_SIGNALS}
    hook = sys.unraisablehook
    interrupts.install()
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    sys.unraisablehook = hook
    interrupts.clear()


def test_sigterm_stops_as_ctrl_c_does_and_sets_the_exit_code_143(stop_signals_installed: None) -> None:
    """Slurm's time limit, scancel, docker stop and kill send SIGTERM: it ended fit at once without a word."""
    import os

    assert interrupts.received_signal() is None and interrupts.exit_code() == 130
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert interrupts.received_signal() == signal.SIGTERM and interrupts.exit_code() == 143
    with pytest.raises(KeyboardInterrupt):
        interrupts.raise_if_interrupted()
    interrupts.clear()
    assert interrupts.received_signal() is None


def test_a_forked_worker_still_ends_on_sigterm(stop_signals_installed: None) -> None:
    """A pool ends its forked workers with SIGTERM: the inherited handler lets them end, without a traceback."""
    import os

    ready, started = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: waits to be ended
        try:
            os.write(started, b"1")  # (a signal that came before Python set up the child would be lost)
            signal.pause()
        finally:
            os._exit(0)  # reached only if SIGTERM were turned into an exception here
    assert os.read(ready, 1) == b"1"
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
