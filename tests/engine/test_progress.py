"""Progress where standard error is a log file (a Slurm job's, ``> log.txt 2>&1``): no bars, whose carriage
returns made the log unreadable and glued the next message onto the bar's line, but a time-stamped line now and then;
on a terminal the bar as before, closed however training ends."""

from __future__ import annotations

import io
import logging
import os
import re

import pytest

from medimg.engine import progress
from medimg.engine.progress import EpochProgress


def test_in_a_log_training_writes_a_line_every_tenth_of_the_epochs_and_no_bar(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="medimg.engine.progress")
    with EpochProgress("training data", total=20) as bar:
        for epoch in range(1, 21):
            bar.epoch_done(epoch, {"loss": "0.500", "val_auc": "0.9000", "best": "0.9000 at epoch 1"})
    epochs = [int(re.search(r"epoch (\d+)/20", r.getMessage()).group(1)) for r in caplog.records]  # type: ignore[union-attr]
    assert epochs == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 20]
    first = caplog.records[0].getMessage()
    assert re.fullmatch(
        r"training data: epoch 1/20, loss 0.500, val_auc 0.9000 \(best 0.9000 at epoch 1\), .* s/epoch, ~.* left", first
    )
    assert "left" not in caplog.records[-1].getMessage()  # the last epoch
    assert capsys.readouterr().err == ""  # no bar


def test_a_slow_epoch_is_logged_within_a_minute_and_the_last_one_at_the_end(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="medimg.engine.progress")
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    with EpochProgress("training", total=100, done=40) as bar:  # a resumed run
        for epoch, at in ((41, 5.0), (42, 10.0), (43, 70.0), (44, 75.0)):
            now[0] = at
            bar.epoch_done(epoch, {"loss": "1.000"})
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "training: epoch 41/100",  # the first of this session
        "training: epoch 43/100",  # a minute after the last line
        "training: epoch 44/100",  # where training ended (early stopping, a budget)
    ]


def test_an_interrupted_training_closes_its_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the bar is drawn, and closed when the loop is left by an exception (the message that follows
    starts on a line of its own)."""
    from tqdm.std import tqdm

    monkeypatch.setattr(progress, "is_interactive", lambda: True)
    with pytest.raises(KeyboardInterrupt), EpochProgress("training", total=5) as bar:
        bar.epoch_done(1, {"loss": "1.000"})
        assert bar._bar is not None and bar._bar in tqdm._instances
        raise KeyboardInterrupt
    assert bar._bar is None and not tqdm._instances


def test_bars_are_shown_on_a_terminal_only() -> None:
    from medimg.terminal import is_interactive, show_bars

    primary, secondary = os.openpty()
    try:
        with os.fdopen(os.dup(secondary), "w") as terminal:
            assert is_interactive(terminal) and show_bars(True, terminal) and not show_bars(False, terminal)
    finally:
        os.close(primary)
        os.close(secondary)
    assert not is_interactive(io.StringIO()) and not show_bars(True, io.StringIO())


def test_bars_left_open_are_closed_before_a_message() -> None:
    from tqdm.auto import tqdm

    from medimg.terminal import close_progress_bars

    out = io.StringIO()
    bar = tqdm(total=10, file=out, leave=True)
    bar.update(3)
    close_progress_bars()
    assert bar.disable  # closed: a closed tqdm is disabled
    assert out.getvalue().endswith("\n")  # the next message starts on a new line
