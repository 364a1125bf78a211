"""Ctrl-C or SIGTERM says how to go on with the command it stopped: a fit (or a cross-validation) with its own
command and ``--resume``; the other commands (evaluate, predict, generate, ...) that running them again is safe or
starts over. Before, every one of them was told to run ``medimg fit DATA --resume``, which resumes nothing of theirs."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from medimg.cli.app import interrupted_message


def test_a_fit_and_a_cross_validation_are_told_their_own_resume_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r" / "checkpoints").mkdir(parents=True)  # the run the fit wrote before it was stopped
    assert interrupted_message(["fit", "data", "--run-dir", "r"]) == (
        "interrupted; the fit goes on from its last checkpoint with `medimg fit data --run-dir r --resume`"
    )
    assert interrupted_message(["fit", "data", "--folds", "5", "--resume"], signal.SIGTERM) == (
        "interrupted by SIGTERM; the cross-validation goes on from its last checkpoint with "
        "`medimg fit data --folds 5 --resume`"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["evaluate", "r", "d"], "the evaluation did not finish (the model is unchanged); `medimg evaluate r d` "),
        (["predict", "r", "scans", "--out", "o"], "no predictions file was written"),
        (["predict", "r", "a b.png"], "`medimg predict r 'a b.png'` predicts every input again and is safe to re-run"),
        (["generate", "r", "--n", "4", "--out", "syn", "--seed=3"], "syn/*/synthetic_s3_* files"),
        (["compare", "d"], "`medimg compare` did not finish; `medimg compare d` starts it over"),
        (["demo"], "`medimg demo` starts the demo over"),
        (["export", "r"], "`medimg export r` starts it over"),
    ],
)
def test_other_commands_are_not_told_to_resume_a_fit(args: list[str], expected: str) -> None:
    message = interrupted_message(args)
    assert message.startswith("interrupted; ") and expected in message, message
    assert "fit" not in message and "--resume" not in message, message


def test_an_interrupted_evaluate_says_so_and_exits_130(
    restored_signals: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medimg.cli.app import main
    from medimg.model import Model

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Model, "load", interrupted)
    monkeypatch.setattr(sys, "argv", ["medimg", "evaluate", "runs/x", "data"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 130
    last = capsys.readouterr().err.rstrip("\n").split("\n")[-1]
    assert last.startswith("interrupted; the evaluation did not finish"), last
    assert "`medimg evaluate runs/x data` evaluates again from the start" in last


def test_a_fit_stopped_before_it_wrote_its_run_is_not_told_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the data was read: the advice was `... --resume`, which then refused, 'r holds no run to
    continue'; nothing was written, so the same command without --resume starts it."""
    monkeypatch.chdir(tmp_path)
    assert interrupted_message(["fit", "data", "--run-dir", "r", "--resume"]) == (
        "interrupted before the fit wrote its run (r holds none): nothing to resume; `medimg fit data --run-dir r` "
        "starts it"
    )
