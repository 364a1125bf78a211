"""The command line as a newcomer types it: ``-h``, a mistyped command or option, a value of the wrong type, and
Ctrl-C in the seconds medimg takes to start. Each mistake is one ``error:`` line with the usage and where the help
is (it was a Rich box of box-drawing characters, written into log files and pipes too); Ctrl-C while starting is
one line and exit code 130 (it was the traceback of whichever import it landed in)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``medimg ARGS`` run by the console entry point in this process: exit code, stdout, stderr."""
    from medimg.cli.app import main

    monkeypatch.setattr(sys, "argv", ["medimg", *args])
    with pytest.raises(SystemExit) as done:
        main()
    said = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 0), said.out, said.err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit", "data", "--epoch", "3"], "error: No such option: --epoch (Possible options: --epochs"),
        (["fit", "data", "--lr=abc"], "error: Invalid value for '--lr'"),
        (["fitt"], "error: No such command 'fitt'. Did you mean 'fit'? usage: medimg "),
        (["fit"], "error: Missing argument 'data'. usage: medimg fit [OPTIONS]"),
        (["networks", "--bogus"], "error: No such option: --bogus. usage: medimg networks [OPTIONS]"),
        (["fit", "data", "--set"], "error: Option '--set' requires an argument. `medimg fit --help`"),
    ],
)
def test_a_usage_mistake_is_one_error_line_with_the_usage_and_the_help_to_read(
    args: list[str],
    expected: str,
    restored_signals: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _main(monkeypatch, capsys, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), err
    command = "medimg" if args[0] == "fitt" else f"medimg {args[0]}"
    assert f"`{command} --help` explains the options" in lines[0]
    assert not any(ch in err for ch in "╭│╰─"), err  # no box drawn into a log file


def test_ultralytics_key_value_still_gets_its_hint(
    restored_signals: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(monkeypatch, capsys, "fit", "data", "epochs=5")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 2, err
    assert lines[0].startswith("error: Got unexpected extra argument(s) (epochs=5).")
    assert lines[1].startswith("hint: epochs=5 is not read as a setting: medimg takes --epochs 5")


def test_help_version_and_bare_medimg_keep_their_exit_codes(
    restored_signals: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _main(monkeypatch, capsys, "--version")
    assert code == 0 and out.startswith("medimg ")
    code, out, _ = _main(monkeypatch, capsys, "fit", "--help")
    assert code == 0 and "--epochs" in out
    code, out, _ = _main(monkeypatch, capsys)  # `medimg` alone: the commands, as --help lists them
    assert code == 2 and "fit" in out and "predict" in out


@pytest.mark.parametrize("args", [["-h"], ["fit", "-h"], ["token", "create", "-h"]])
def test_dash_h_is_help_as_in_most_tools(
    args: list[str], restored_signals: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _main(monkeypatch, capsys, *args)
    assert code == 0 and "Usage: medimg" in out and "error" not in err, (out, err)


def test_ctrl_c_while_medimg_starts_is_one_line_and_exit_130(
    restored_signals: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medimg.engine import distributed

    def interrupted() -> int:  # Ctrl-C while torch is imported, before any command runs
        raise KeyboardInterrupt

    monkeypatch.setattr(distributed, "process_rank", interrupted)
    code, out, err = _main(monkeypatch, capsys, "networks")
    assert code == 130 and out == ""
    assert err == "interrupted while medimg was starting: nothing was done; run the command again\n", err


@pytest.mark.parametrize("name", ["check", "plan", "fit", "evaluate", "predict"])
def test_the_main_commands_help_ends_with_examples_that_parse(name: str) -> None:
    """`medimg fit --help` listed 40 options and no command to copy (Ultralytics and nnU-Net show examples)."""
    import shlex

    import typer
    from typer.testing import CliRunner

    from medimg.cli.app import app

    shown = CliRunner().invoke(app, [name, "--help"])
    assert shown.exit_code == 0 and "Examples:" in shown.output and f"medimg {name} " in shown.output
    command = typer.main.get_command(app)
    text = shown.output.split("Examples:", 1)[1]
    examples = [shlex.split(line, comments=True) for line in text.splitlines() if line.strip().startswith("medimg ")]
    assert examples
    for words in examples:  # every example's options exist: it parses as the command it shows
        command.commands[words[1]].make_context(words[1], words[2:])


@pytest.mark.parametrize("args", [["--help"], ["predict", "--help"], ["fit", "--help"]])
def test_a_flag_is_not_shown_as_taking_a_value(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rich's help showed `--explain <bool>`, `--version <bool>`, `--help <bool>`: `--explain true` was then refused."""
    import typer

    from medimg.cli.app import app
    from medimg.cli.help_layout import fit_help_to_terminal

    monkeypatch.setenv("COLUMNS", "300")  # Rich's panels (not click's plain help, which never showed the type)
    command = typer.main.get_command(app)
    fit_help_to_terminal(command)
    assert command.main(args=args, prog_name="medimg", standalone_mode=False) == 0
    shown = capsys.readouterr().out
    assert "╭" in shown and "<bool>" not in shown and "--help" in shown, shown


@pytest.mark.parametrize(("flag", "level"), [("-q", "WARNING"), ("--quiet", "WARNING"), ("-v", "DEBUG")])
def test_quiet_and_verbose_set_how_much_medimg_says(flag: str, level: str) -> None:
    """There was no way to keep the progress lines out of a script's stderr but its errors and warnings in."""
    import logging

    from typer.testing import CliRunner

    from medimg.cli.app import app

    logger = logging.getLogger("medimg")
    before = logger.level
    logger.setLevel(logging.INFO)
    try:
        done = CliRunner().invoke(app, [flag, "networks"])
        assert done.exit_code == 0 and "resnet18" in done.output
        assert logging.getLevelName(logger.level) == level
    finally:
        logger.setLevel(before)  # setLevel, not an attribute: it also clears the loggers' cached levels


def test_quiet_after_the_command_says_where_it_goes(
    restored_signals: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(monkeypatch, capsys, "fit", "my data", "-q", "--epochs", "1")
    lines = err.strip().splitlines()
    assert code == 2 and lines[0].startswith("error: No such option: -q"), err
    assert lines[1] == "hint: -q belongs before the command: medimg -q fit 'my data' --epochs 1"


def test_a_bad_value_names_its_field_once() -> None:
    """`fit --batch-size -1` said 'invalid value for batch_size: batch_size: Input should be ...'."""
    from medimg.config import check_overrides
    from medimg.errors import ConfigError
    from medimg.tasks.registry import get_task

    with pytest.raises(ConfigError) as refused:
        check_overrides(get_task("classify").plan_type, {"batch_size": -1})
    assert str(refused.value) == "invalid value for batch_size: Input should be greater than or equal to 1"


def test_the_command_list_gives_check_a_short_line() -> None:
    """`medimg --help` listed check's whole docstring, nine ragged lines (its own line breaks kept)."""
    from typer.testing import CliRunner

    from medimg.cli.app import app

    shown = CliRunner().invoke(app, ["--help"]).output
    assert "Count classes and splits; find unreadable" in shown and "patients by hashed ID" not in shown


def test_fit_options_the_planner_chooses_say_so() -> None:
    """`--lr` and `--input-size` showed no default and did not say the planner chooses them, as --epochs does."""
    import typer

    from medimg.cli.app import app

    fit = typer.main.get_command(app).commands["fit"]
    helps = {param.name: getattr(param, "help", "") or "" for param in fit.params}
    for name in ("epochs", "batch_size", "learning_rate", "input_size"):
        assert "(default: planned)" in helps[name], (name, helps[name])


def test_quiet_also_hides_progress_bars_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """`medimg -q fit` still drew the epoch bar and the loading bars on a terminal."""
    import io
    import logging

    from typer.testing import CliRunner

    from medimg.cli.app import app
    from medimg.engine import progress as epoch_progress
    from medimg.engine.progress import EpochProgress
    from medimg.terminal import show_bars

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    logger = logging.getLogger("medimg")
    before = logger.level
    try:
        assert CliRunner().invoke(app, ["-q", "networks"]).exit_code == 0
        assert not show_bars(True, Terminal())
        monkeypatch.setattr(epoch_progress, "is_interactive", lambda: True)  # training on a terminal
        with EpochProgress("training", total=3) as progress:
            assert progress._bar is None
        assert CliRunner().invoke(app, ["networks"]).exit_code == 0  # the next command without -q: bars again
        assert show_bars(True, Terminal())
    finally:
        logger.setLevel(before)


def test_predict_evaluate_and_check_take_no_progress_as_fit_does(tmp_path: Path) -> None:
    """``medimg predict RUN IMG --no-progress`` was "No such option: --no-progress", which fit and compare take."""
    import io

    import numpy as np
    from PIL import Image
    from typer.testing import CliRunner

    from medimg.cli.app import app
    from medimg.terminal import show_bars

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for k in range(12):
        path = tmp_path / "data" / ("a", "b")[k % 2] / f"{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(k).integers(0, 60, (12, 12)) + 100 * (k % 2)
        Image.fromarray(pixels.astype(np.uint8)).save(path)
    checked = CliRunner().invoke(app, ["check", str(tmp_path / "data"), "--no-progress"])
    assert checked.exit_code == 0, checked.output
    assert not show_bars(True, Terminal())
    assert CliRunner().invoke(app, ["networks"]).exit_code == 0  # the next command: bars again
    assert show_bars(True, Terminal())
    for command in ("predict", "evaluate"):
        assert "--no-progress" in CliRunner().invoke(app, [command, "--help"]).output


def test_a_bad_nested_value_names_its_field_once() -> None:
    """`--set augmentation.rotate_deg=abc` said 'invalid value for augmentation: augmentation.rotate_deg: ...'."""
    from medimg.config import check_overrides
    from medimg.errors import ConfigError
    from medimg.tasks.registry import get_task

    with pytest.raises(ConfigError) as refused:
        check_overrides(get_task("classify").plan_type, {"augmentation": {"rotate_deg": "abc"}})
    assert str(refused.value).startswith("invalid value for augmentation.rotate_deg: Input should be a valid number")
