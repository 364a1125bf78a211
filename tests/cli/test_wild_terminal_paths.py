"""A file where medimg needs a folder, or a folder where it needs a file: the error line names the path and the fix
for that (``plan --out notes.txt`` was told "File exists; choose a folder you can write to ... or free some space",
``fit --run-dir notes.txt`` "[Errno 17] File exists: 'notes.txt'")."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest


def test_a_file_where_a_folder_is_needed_says_so() -> None:
    from medimg.cli.app import os_error_line

    line = os_error_line(FileExistsError(errno.EEXIST, "File exists", "notes.txt"))
    assert line.startswith("error: cannot write or read notes.txt: File exists; a file is in the way"), line
    assert "give a folder path" in line and "free some space" not in line
    line = os_error_line(NotADirectoryError(errno.ENOTDIR, "Not a directory", "notes.txt/plan.json"))
    assert "a file is in the way" in line


def test_a_folder_where_a_file_is_needed_and_a_full_disk_say_their_own_fix() -> None:
    from medimg.cli.app import os_error_line

    line = os_error_line(IsADirectoryError(errno.EISDIR, "Is a directory", "reports"))
    assert line.startswith("error: cannot write or read reports: Is a directory; it is a folder"), line
    assert f"e.g. {Path('reports') / 'out.json'}" in line
    line = os_error_line(OSError(errno.ENOSPC, "No space left on device", "out/check.json"))
    assert line.startswith("error: cannot write or read out/check.json: No space left on device; free some space")
    line = os_error_line(PermissionError(errno.EACCES, "Permission denied", "/ro/runs"))
    assert "choose a folder you can write to" in line


def test_a_run_dir_that_is_a_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    from medimg.errors import RunFolderError
    from medimg.run_folder import RunLock

    (tmp_path / "notes.txt").write_text("mine")
    for given in ("notes.txt", "notes.txt/run"):
        with pytest.raises(RunFolderError, match=r"a file is in the way .*give a folder path \(--run-dir\)"):
            RunLock(tmp_path / given).acquire()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_tilde_the_shell_left_alone_is_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--run-dir=~/runs/a` (bash expands no `~` after `=`) made a folder named `~` in the current folder."""
    import typer

    from medimg.cli.app import app, expand_home_in_paths

    monkeypatch.setenv("HOME", str(tmp_path))
    command = typer.main.get_command(app)
    expand_home_in_paths(command)
    fit = command.commands["fit"].make_context("fit", ["~/data", "--run-dir=~/runs/a", "--config", "~/p.json"])
    assert fit.params["data"] == tmp_path / "data"
    assert fit.params["run_dir"] == tmp_path / "runs" / "a" and fit.params["config"] == tmp_path / "p.json"
    check = command.commands["check"].make_context("check", ["data~", "--json", "-"])
    assert check.params["data"] == Path("data~") and str(check.params["json_out"]) == "-"


def test_a_missing_run_folder_or_input_says_what_to_give(tmp_path: Path) -> None:
    """`medimg predict nonexist scan.png` said only 'run folder nonexist does not exist'."""
    from medimg.errors import DatasetError, RunFolderError
    from medimg.io.inputs import expand_inputs
    from medimg.run_folder import run_folder_to_load

    with pytest.raises(RunFolderError, match=r"does not exist: give the folder `medimg fit` printed as 'run folder:'"):
        run_folder_to_load(tmp_path / "nonexist")
    with pytest.raises(DatasetError, match=r"nothere\.png does not exist: check the path"):
        expand_inputs([tmp_path / "nothere.png"])


def test_a_link_loop_says_to_remove_the_link_not_to_choose_a_writable_folder() -> None:
    from medimg.cli.app import os_error_line

    line = os_error_line(OSError(errno.ELOOP, "Too many levels of symbolic links", "data/lesion/self.png"))
    assert line.startswith("error: cannot write or read data/lesion/self.png: Too many levels of symbolic links; ")
    assert "leads back to itself" in line and "write to" not in line
