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
