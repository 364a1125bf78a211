"""The progress names each network of a budgeted ensemble out of as many as share the budget: a Herlev run logged
"time budget: 2 networks share it" and then "training data network 1/3", "network 2/3" (3 was the most the
budget could have bought), and ended with two networks."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from medimg.engine import trainer
from medimg.engine.ensemble import train_members
from medimg.engine.progress import network_label
from tests.engine.test_trainer import _data, _hooks, _net, _plan, _source


def test_the_networks_of_a_budget_split_in_two_are_network_1_2_and_2_2_and_a_third_fills_the_time_left(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(trainer, "networks_in_budget", lambda most, *args: min(most, 2))  # epoch 1 says two fit
    plan = _plan(epochs=2, time_budget_s=600.0, ensemble_min_epochs=1, ensemble_budget_max=3)
    x, y = _data(32)
    caplog.set_level(logging.INFO, logger="medimg")
    _, results = train_members(_net, _source(plan, x, y), plan, _hooks(plan), tmp_path, label="data", tensorboard=False)
    assert len(results) == 3  # the two planned ones left time: a third fills it
    labels = [m.group(1) for r in caplog.records if (m := re.match(r"(training .*?): epoch 1/", r.getMessage()))]
    assert labels == [
        "training data network 1/2",
        "training data network 2/2",
        "training data network 3 (time left)",
    ], caplog.text


def test_network_labels() -> None:
    assert network_label("data", 0, 1) == "data"  # one network: no count
    assert network_label("data", 1, 3) == "data network 2/3"
    assert network_label("", 0, 2) == "network 1/2"
    assert network_label("data", 2, 2) == "data network 3 (time left)"  # beyond the budget's split


def test_an_epoch_without_validation_shows_no_undefined_score(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """A BCCD detector validated every 3rd epoch logged "val_map50 undefined (best undefined at epoch 0)" for
    epochs 1 and 2 and "val_map50 undefined" for epochs 4 and 5: read as a broken metric."""
    from medimg.engine.trainer import train

    plan = _plan(epochs=5, val_every=2)
    x, y = _data(32)
    caplog.set_level(logging.INFO, logger="medimg.engine.progress")
    train(_net(plan), _source(plan, x, y), plan, _hooks(plan), tmp_path, tensorboard=False)
    lines = {
        int(m.group(1)): r.getMessage() for r in caplog.records if (m := re.search(r"epoch (\d)/5", r.getMessage()))
    }
    assert "undefined" not in "".join(lines.values()), lines
    assert "validated every 2nd epoch" in lines[1] and "best" not in lines[1]
    assert "val_auc_bacc" in lines[2] and "(best " in lines[2]
    assert "val_auc_bacc" not in lines[3] and "(best " in lines[3]  # the best so far, from epoch 2
