"""A long prediction stream says how far it is while it runs (it said nothing until the last image)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from medimg.tasks.classify import stream
from medimg.tasks.classify.stream import StreamStats, stream_predictions
from tests.tasks.classify.test_stream import CountingReader, label_by_value


def test_a_long_stream_logs_its_progress_and_a_short_one_does_not(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stream, "PROGRESS_EVERY_S", 0.0)  # a line after every chunk but the last
    paths = [Path(f"img_{i}.png") for i in range(10)]
    with caplog.at_level(logging.INFO, logger="medimg.tasks.classify.stream"):
        found = list(
            stream_predictions(
                paths, CountingReader(), label_by_value, chunk_size=4, decode_workers=0, stats=StreamStats()
            )
        )
    assert len(found) == 10
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("predicted ")]
    assert [line.split(" (")[0] for line in lines] == ["predicted 4 of 10 files", "predicted 8 of 10 files"], lines
    assert all("images/s)" in line for line in lines), lines

    caplog.clear()
    monkeypatch.setattr(stream, "PROGRESS_EVERY_S", 3600.0)  # the default's effect on a stream of a few seconds
    with caplog.at_level(logging.INFO, logger="medimg.tasks.classify.stream"):
        list(stream_predictions(paths, CountingReader(), label_by_value, chunk_size=4, decode_workers=0))
    assert not [r for r in caplog.records if r.getMessage().startswith("predicted ")]
