"""`medimg serve` and `medimg token`: what a user mistypes is refused with one `error:` line before anything
starts or is created (a port out of range, a missing run, a mistyped SQLite path, an unreachable PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.errors import ConfigError, MedimgError, RunFolderError
from tests.serve.support import free_port, train_tiny_run
from tests.test_end_to_end import medimg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory)


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """`medimg serve` must refuse before uvicorn is started."""
    import uvicorn

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn, "run", never)


def _refusal(arguments: list[str]) -> MedimgError:
    """The MedimgError a command raised (what `medimg` prints as one `error:` line, exit 2)."""
    result = CliRunner().invoke(app, arguments)
    assert isinstance(result.exception, MedimgError), (arguments, result.output, result.exception)
    return result.exception


@pytest.mark.parametrize("port", [99999, 65536, -1, 0])
def test_serve_refuses_a_port_it_could_not_listen_on_as_printed(
    port: int, tiny_run: Path, tmp_path: Path, no_server: None
) -> None:
    """99999 was wrapped by the socket layer (the server listened on 34463 while 99999 was printed); 0 would be
    any free port, not the printed one."""
    database = tmp_path / "serve.db"
    error = _refusal(["serve", str(tiny_run), "--port", str(port), "--db", str(database)])
    assert isinstance(error, ConfigError)
    assert f"--port {port}" in str(error) and "from 1 to 65535" in str(error)
    assert not database.exists()


def test_serve_refuses_a_port_in_use_and_a_host_it_cannot_resolve_before_anything_is_made(
    tiny_run: Path, tmp_path: Path, no_server: None
) -> None:
    """uvicorn found a port in use only after the banner, the model and the database (`ERROR: [Errno 98]`, exit
    3) while the old server on that port went on answering with its old model."""
    import socket

    database = tmp_path / "serve.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        error = _refusal(["serve", str(tiny_run), "--port", str(port), "--db", str(database)])
    assert f"port {port} on 127.0.0.1 is already in use" in str(error) and "choose another --port" in str(error)
    error = _refusal(["serve", str(tiny_run), "--host", "999.1.1.1", "--db", str(database)])
    assert "--host 999.1.1.1: not an address of this machine" in str(error)
    assert not database.exists()


def test_serve_option_errors_name_the_options_typed(tiny_run: Path, tmp_path: Path, no_server: None) -> None:
    error = _refusal(["serve", str(tiny_run), "--db", str(tmp_path / "s.db"), "--max-upload-mb", "0", "--timeout", "0"])
    assert "--max-upload-mb: " in str(error) and "--timeout: " in str(error)
    assert "max_upload_bytes" not in str(error) and "request_timeout_s" not in str(error)


def test_serve_on_a_missing_run_creates_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run is checked first: `medimg serve nonexistent_run` left an empty medimg-serve.db in the cwd."""
    monkeypatch.chdir(tmp_path)
    error = _refusal(["serve", "nonexistent_run"])
    assert isinstance(error, RunFolderError) and "does not exist" in str(error)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["list"], ["revoke", "0123abcd"]])
def test_token_commands_that_read_refuse_a_missing_sqlite_file(command: list[str], tmp_path: Path) -> None:
    """A mistyped --db made a new empty database (exit 0, the tokens seemed gone); now it is named, and how a
    database is made is said."""
    database = tmp_path / "nothere.db"
    error = _refusal(["token", *command, "--db", str(database)])
    assert isinstance(error, ConfigError)
    assert str(database) in str(error) and "does not exist" in str(error) and "medimg token create" in str(error)
    assert list(tmp_path.iterdir()) == []


def test_token_create_makes_the_database_that_list_and_revoke_then_read(tmp_path: Path) -> None:
    database = tmp_path / "new" / "serve.db"
    runner = CliRunner()
    created = runner.invoke(app, ["token", "create", "--name", "ws-3", "--db", str(database)])
    assert created.exit_code == 0 and database.is_file(), created.output
    token_id = created.stderr.split()[1]
    listed = runner.invoke(app, ["token", "list", "--db", str(database)])
    assert listed.exit_code == 0 and token_id in listed.stdout and "active" in listed.stdout
    revoked = runner.invoke(app, ["token", "revoke", token_id, "--db", str(database)])
    assert revoked.exit_code == 0 and f"token {token_id} revoked" in revoked.stdout


def _closed_port_url(scheme: str = "postgresql+psycopg") -> tuple[str, int]:
    port = free_port()  # bound and closed again: nothing listens there, so connecting is refused at once
    return f"{scheme}://medimg:s3cret-pw@127.0.0.1:{port}/reports", port


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg"])
@pytest.mark.parametrize("command", [["token", "create"], ["token", "list"], ["token", "revoke", "0123abcd"]])
def test_an_unreachable_postgresql_is_one_error_naming_host_and_database(
    command: list[str], scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url, port = _closed_port_url(scheme)
    message = str(_refusal([*command, "--db", url]))
    assert f"'reports' on 127.0.0.1:{port}" in message and "medimg:***@" in message, message
    assert "s3cret-pw" not in message
    assert "Connection refused" in message and "check that the server runs there" in message
    assert list(tmp_path.iterdir()) == []


def test_serve_on_an_unreachable_postgresql_is_one_error(tiny_run: Path, tmp_path: Path, no_server: None) -> None:
    url, port = _closed_port_url()
    message = str(_refusal(["serve", str(tiny_run), "--db", url, "--work-dir", str(tmp_path / "work")]))
    assert f"'reports' on 127.0.0.1:{port}" in message and "s3cret-pw" not in message


def test_an_unreachable_postgresql_prints_no_traceback(tmp_path: Path) -> None:
    """What the user sees: one `error:` line and exit code 2 (was a SQLAlchemy OperationalError traceback)."""
    url, port = _closed_port_url()
    done = medimg("token", "create", "--db", url, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use the database 'reports'"), done.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "s3cret-pw" not in done.stderr + done.stdout


def test_a_postgresql_server_that_never_answers_fails_within_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A port that accepts TCP connections (the kernel completes them) but never answers, as a stuck server or a
    proxy in front of a dead one: it waited for the operating system's TCP timeout, minutes."""
    import socket
    import time

    from medimg.serve import storage

    monkeypatch.setattr(storage, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted: connections wait in the backlog, no byte is ever sent back
        port = silent.getsockname()[1]
        started = time.monotonic()
        message = str(_refusal(["token", "list", "--db", f"postgresql+psycopg://medimg:pw@127.0.0.1:{port}/reports"]))
        waited = time.monotonic() - started
    assert f"'reports' on 127.0.0.1:{port}" in message and "check that the server runs there" in message
    assert waited < 30, f"waited {waited:.0f} s"


def test_a_sqlite_path_that_is_a_folder_is_one_error(tmp_path: Path) -> None:
    message = str(_refusal(["token", "create", "--db", str(tmp_path)]))
    assert f"cannot open the SQLite database {tmp_path}" in message and "not a folder" in message


def test_a_file_that_is_not_a_database_is_one_error_and_left_as_it_was(tmp_path: Path) -> None:
    """A damaged database (or --db naming another file) gave a 50-line SQLAlchemy traceback."""
    damaged = tmp_path / "reports.db"
    damaged.write_bytes(bytes(range(256)) * 4)
    for command in (["token", "list"], ["token", "create"]):
        message = str(_refusal([*command, "--db", str(damaged)]))
        assert f"{damaged} is not an SQLite database (damaged, or another file)" in message
    assert damaged.read_bytes() == bytes(range(256)) * 4


def test_the_driver_message_never_shows_the_password() -> None:
    """A driver's message that quoted the password (whole occurrences) gets *** instead; a short password that
    only appears inside words ("p" in "port") leaves the message readable."""
    from sqlalchemy.exc import OperationalError

    from medimg.serve.storage import unusable_database

    quoted = OperationalError("connect", {}, Exception('bad option "password=s3cret-pw" near host\nmore'))
    message = str(unusable_database("postgresql+psycopg://u:s3cret-pw@db.example:5432/medimg", quoted))
    assert "s3cret-pw" not in message and '"password=***" near host' in message and "more" not in message
    assert "'medimg' on db.example:5432" in message
    short = OperationalError("connect", {}, Exception('connection to server at "h", port 1 failed'))
    assert "port 1 failed" in str(unusable_database("postgresql+psycopg://u:p@h:1/x", short))


@pytest.mark.parametrize(
    "url", ["postgres://medimg:s3cret-pw@db.example/reports", "postgresql+psycopg://medimg:s3cret-pw@db.example:x/r"]
)
def test_a_url_sqlalchemy_cannot_use_is_one_error(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown dialect (Heroku's postgres://) or a port that is no number: one line, never the password."""
    monkeypatch.chdir(tmp_path)
    message = str(_refusal(["token", "list", "--db", url]))
    assert "is not a database URL SQLAlchemy can use" in message and "s3cret-pw" not in message, message


def test_evaluating_a_run_on_data_of_another_task_says_which_run_it_needs(tiny_run: Path, tmp_path: Path) -> None:
    """`evaluate CLASSIFIER_RUN SEGMENTATION_DATA` advised `--task segment`, which evaluate has no use for."""
    from tests.tasks.segment.synthetic import write_2d_pairs

    data = write_2d_pairs(tmp_path / "discs", n=6, size=32)
    message = str(_refusal(["evaluate", str(tiny_run), str(data)]))
    assert "--task" not in message and "task=" not in message, message
    assert f"{data} holds segmentation data" in message and "is a classification run" in message, message
    assert "evaluate a segmentation run on it" in message, message


def test_demo_replaces_only_its_own_earlier_output(tmp_path: Path) -> None:
    """`medimg demo --out study` deleted study/run (a user's trained run, notes included) and study/phantoms
    whatever they held; now only an earlier demo's phantoms and their run are replaced."""
    import json

    from medimg.cli.app import _refuse_folders_demo_did_not_make

    user_run = tmp_path / "study" / "run"
    user_run.mkdir(parents=True)
    (user_run / "NOTES.txt").write_text("my notes")
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "study"), "--n-per-class", "4"])
    assert result.exit_code != 0 and "not the run of an earlier medimg demo" in str(result.exception or result.output)
    assert (user_run / "NOTES.txt").read_text() == "my notes"

    images = tmp_path / "other" / "phantoms" / "normal"
    images.mkdir(parents=True)
    (images / "scan_17.png").write_bytes(b"a user's image")
    with pytest.raises(ConfigError, match=r"scan_17\.png"):
        _refuse_folders_demo_did_not_make(images.parent, tmp_path / "other" / "run")

    earlier = tmp_path / "demo"  # what an earlier demo left: phantoms and the run trained on them
    (earlier / "phantoms" / "lesion").mkdir(parents=True)
    (earlier / "phantoms" / "lesion" / "phantom_0003.png").write_bytes(b"png")
    (earlier / "run").mkdir()
    (earlier / "run" / "config.json").write_text(json.dumps({"task": "classify", "data": str(earlier / "phantoms")}))
    _refuse_folders_demo_did_not_make(earlier / "phantoms", earlier / "run")  # no error: demo may replace them
