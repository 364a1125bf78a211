"""The CLI as users of Ultralytics, nnU-Net and Unix tools type it: a run and its data mixed up, an output named
by its suffix, a quoted glob, a folder that cannot be written, a resumed run given new settings."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from medimg.errors import ImageReadError
from medimg.io import read_image
from tests.serve.support import phantom_file, train_tiny_run
from tests.test_end_to_end import medimg

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory)


def _refused(*arguments: str) -> str:
    """The message of the error a command raised, run in this process (`medimg` prints it as one `error:` line
    with exit code 2, as the first command of the test below checks)."""
    from typer.testing import CliRunner

    from medimg.cli.app import app
    from medimg.errors import MedimgError

    result = CliRunner().invoke(app, list(arguments))
    assert isinstance(result.exception, MedimgError), (arguments, result.output, result.exception)
    return str(result.exception)


def test_a_run_and_its_data_are_never_taken_for_each_other(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = run.parent / "phantoms"
    image = phantom_file(run)
    as_run = medimg("predict", str(data), str(image), cwd=tmp_path)
    assert as_run.returncode == 2 and "is not a medimg run folder" in as_run.stderr
    assert "--resume" not in as_run.stderr  # it advised `fit ... --run-dir DATA --resume`, writing a run into the data
    swapped = _refused("predict", str(image), str(run))
    assert "is a file, not a run folder" in swapped and "medimg predict RUN IMAGES" in swapped
    for command in ("check", "fit"):
        assert "is a medimg run folder, not data (it was trained on" in _refused(command, str(run))
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    inside = _refused("fit", str(copy), "--run-dir", str(copy), "--resume", "--epochs", "1")
    assert "is inside the data folder" in inside
    monkeypatch.chdir(copy)
    assert "is inside the data folder" in _refused("fit", ".", "--epochs", "1")  # runs/ among the class folders
    assert sorted(p.name for p in copy.iterdir()) == ["lesion", "normal"]  # nothing was written into the data


def test_the_output_format_follows_the_suffix_and_quoted_globs_expand(run: Path, tmp_path: Path) -> None:
    pattern = str(run.parent / "phantoms" / "lesion" / "phantom_000*.png")  # quoted: the shell did not expand it
    done = medimg("predict", str(run), pattern, "--out", "p.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with (tmp_path / "p.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))  # was JSON in a .csv file
    assert len(rows) == 10 and all(r["source"].endswith(".png") for r in rows)
    upper = medimg("predict", str(run), str(phantom_file(run)), "--format", "JSONL", cwd=tmp_path)
    assert upper.returncode == 0 and json.loads(upper.stdout.splitlines()[0])["label"] in {"lesion", "normal"}
    nothing = medimg("predict", str(run), str(run.parent / "phantoms" / "*.dcm"), cwd=tmp_path)
    assert nothing.returncode == 2 and "matches no file" in nothing.stderr


def test_a_folder_that_cannot_be_written_is_an_error_line(run: Path, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    blocked = medimg("predict", str(run), str(phantom_file(run)), "--out", "a_file/p.csv", cwd=tmp_path)
    assert blocked.returncode == 2 and "Traceback" not in blocked.stderr
    assert "error: cannot write or read" in blocked.stderr and "a_file" in blocked.stderr


def test_bad_sizes_version_and_a_resumed_run_given_new_settings(run: Path, tmp_path: Path) -> None:
    data = run.parent / "phantoms"
    zero = _refused("fit", str(data), "--input-size", "0", "--run-dir", str(tmp_path / "r0"))
    assert "input_size" in zero and "greater than 0" in zero
    assert not (tmp_path / "r0").exists()  # refused before a run folder was made
    no_threads = _refused("fit", str(data), "--threads", "0", "--run-dir", str(tmp_path / "t0"))
    assert "num_threads" in no_threads and "greater than or equal to 1" in no_threads  # not the default instead
    assert not (tmp_path / "t0").exists()
    version = medimg("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("medimg ")
    shutil.copytree(run, tmp_path / "r1")  # a 3-epoch simple-cnn fit of the data
    (tmp_path / "r1" / "metadata.json").unlink()  # as if it had been interrupted before the end
    again = medimg("fit", str(data), "--run-dir", "r1", "--resume", "--epochs", "5", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "epochs=5 (saved 3) given now differ from it and are not applied" in again.stderr
    split = medimg("evaluate", str(tmp_path / "r1"), "--split", "validation", cwd=tmp_path)
    assert split.returncode == 0, split.stderr


def test_json_to_standard_output_and_a_hint_for_key_value_settings(run: Path, tmp_path: Path) -> None:
    data = run.parent / "phantoms"
    checked = medimg("check", str(data), "--json", "-", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)  # the JSON alone: the summary went to stderr
    assert report["dataset"]["num_cases"] == 80 and "status" in checked.stderr
    assert not (tmp_path / "-").exists()  # it wrote a file named '-'
    ultralytics = medimg("fit", str(data), "epochs=5", cwd=tmp_path)
    assert ultralytics.returncode == 2
    assert "hint: epochs=5 is not read as a setting: medimg takes --epochs 5" in ultralytics.stderr
    assert "--set epochs=5" in ultralytics.stderr


@pytest.mark.parametrize(("root", "option"), [("runs", []), ("experiments", ["--project", "experiments"])])
def test_resume_without_a_run_folder_continues_the_latest_interrupted_run(
    run: Path, tmp_path: Path, root: str, option: list[str]
) -> None:
    """Also under another runs root (`--runs-root`, Ultralytics' `--project`), which the CLI lacked: Python's
    `fit(..., runs_root=)` had it."""
    data = run.parent / "phantoms"
    interrupted = tmp_path / root / "phantoms" / "exp1"
    shutil.copytree(run, interrupted)  # where `medimg fit DATA` from tmp_path puts its first run
    (interrupted / "metadata.json").unlink()  # as a kill before the end leaves it: checkpoints, no bundle
    resumed = medimg("fit", str(data), "--resume", "--no-progress", *option, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "continuing the latest interrupted run" in resumed.stderr  # it started <root>/phantoms/exp2 from scratch
    assert [p.name for p in (tmp_path / root / "phantoms").iterdir()] == ["exp1"]
    assert (interrupted / "metadata.json").is_file()
    assert not (tmp_path / "runs").exists() or root == "runs"


def test_ctrl_c_says_how_to_go_on(run: Path, tmp_path: Path) -> None:
    import shlex
    import signal
    import subprocess
    import sys
    import time

    data = run.parent / "phantoms"
    args = ["fit", str(data), "--network", "simple-cnn", "--epochs", "200", "--no-progress", "--run-dir", "r"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "medimg.cli.app", *args], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (tmp_path / "r" / "metrics.jsonl").is_file():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    # 130, or ended by SIGINT itself (CPython's way out of an unhandled Ctrl-C): a shell shows 130 (128 + 2) for both
    assert proc.returncode in (130, -signal.SIGINT), stderr
    # its own command, --run-dir included (the template `medimg fit DATA --resume` started a new run instead)
    assert f"the fit goes on from its last checkpoint with `medimg {shlex.join(args)} --resume`" in stderr, stderr
    assert "Traceback" not in stderr


def test_paths_piped_to_predict_with_a_dash(run: Path, tmp_path: Path) -> None:
    """`find ... | medimg predict RUN -`, as Unix tools read a list (it looked for a file named '-')."""
    from typer.testing import CliRunner

    from medimg.cli.app import app

    files = [phantom_file(run, "lesion", 0), phantom_file(run, "normal", 1)]
    piped = "# today's scans\n" + "".join(f"{f}\n" for f in files) + "\n"  # a comment line is skipped
    done = CliRunner().invoke(app, ["predict", str(run), "-", "--format", "jsonl"], input=piped)
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["source"] for r in rows] == [str(f) for f in files]
    empty = CliRunner().invoke(app, ["predict", str(run), "-"], input="\n")  # `medimg` prints it as an error line
    assert "read no paths from standard input" in str(empty.exception)
    listed = tmp_path / "scans.txt"  # the list given where an image was expected: named as a list, with the fix
    listed.write_text(piped)
    with pytest.raises(ImageReadError, match=r"text file listing image paths .*\(medimg predict RUN - < scans\.txt"):
        read_image(listed)
