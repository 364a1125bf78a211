"""Operating the service's database as a hospital's IT would: mistyped --db values, an upgraded database used by two
servers, and a deleted report that must really be gone from the file."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from medimg.errors import ConfigError
from medimg.serve import storage as storage_module
from medimg.serve.settings import ServeSettings, database_url
from medimg.serve.storage import KeyTaken, Storage
from medimg.serve.workspace import UploadWorkspace
from tests.serve.databases import TestDatabase
from tests.serve.postgres import PostgresServer
from tests.serve.support import REPORT, free_port, phantom_file, service_client


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("sqlite://reports.db", "two slashes"),  # was a SQLAlchemy traceback
        ("sqlite://", "in-memory"),  # was a database in memory: the token it created was gone at once
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:/reports.db", "without its '//'"),  # was a new database in a folder named "sqlite:"
        ("postgresql+psycopg:/medimg@db-host/medimg", "without its '//'"),
        ("", "empty"),
    ],
)
def test_a_mistyped_database_is_a_one_line_error_that_creates_nothing(
    value: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=says) as refused:
        Storage(database_url(value))
    assert "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_spaces_around_the_database_path_are_not_part_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value from an environment variable or a unit file often carries a space or a newline."""
    monkeypatch.chdir(tmp_path)
    assert database_url(f"  {tmp_path / 'reports.db'}\n") == f"sqlite:///{tmp_path / 'reports.db'}"
    assert database_url(" sqlite:///reports.db ") == "sqlite:///reports.db"


def test_a_database_path_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file")
    with pytest.raises(ConfigError, match=r"cannot create the SQLite database .*not-a-folder"):
        Storage(database_url(tmp_path / "not-a-folder" / "reports.db"))


def test_token_create_on_a_mistyped_url_exits_2_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "medimg.cli.app", "token", "create", "--db", "sqlite://reports.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().startswith("error: sqlite://reports.db has two slashes") and not done.stdout
    assert list(tmp_path.iterdir()) == []


def _old_schema(database: TestDatabase) -> None:
    """The tables as a medimg from before idempotency keys, tokens' owners and tasks made them."""
    blob, moment = ("BLOB", "DATETIME") if database.kind == "sqlite" else ("BYTEA", "TIMESTAMP WITH TIME ZONE")
    engine = create_engine(database.url)
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE reports (id VARCHAR(32) PRIMARY KEY, created_at {moment}, model_name VARCHAR(200), "
                "label VARCHAR(200), label_index INTEGER, confidence FLOAT, probabilities JSON, "
                "explain_method VARCHAR(40), input_format VARCHAR(20), input_info JSON, model_info JSON, "
                f"image_png {blob}, heatmap_png {blob}, overlay_png {blob})"
            )
        )
        connection.execute(text("CREATE INDEX ix_reports_created_at ON reports (created_at)"))
        connection.execute(
            text(
                "CREATE TABLE api_tokens (id VARCHAR(16) PRIMARY KEY, name VARCHAR(200), token_sha256 VARCHAR(64) "
                f"UNIQUE, created_at {moment}, revoked_at {moment})"
            )
        )
    engine.dispose()


def test_an_upgraded_database_stores_one_report_per_idempotency_key(database: TestDatabase) -> None:
    """The unique index on the key is what settles two servers racing on one key; an upgraded database lacked it,
    so both servers' reports were stored."""
    _old_schema(database)
    first, second = Storage(database.url), Storage(database.url)  # two servers on the upgraded database
    try:
        indexes = {index["name"]: index for index in inspect(first.engine).get_indexes("reports")}
        assert indexes["ix_reports_idempotency_key"]["unique"]
        stored = first.add_report(**REPORT, idempotency_key="t1:k", upload_sha256="a" * 64)
        with pytest.raises(KeyTaken) as taken:
            second.add_report(**REPORT, idempotency_key="t1:k", upload_sha256="a" * 64)
        assert taken.value.first.id == stored.id and first.count_reports() == 1
    finally:
        first.close()
        second.close()


def test_a_deleted_reports_pictures_are_gone_from_the_sqlite_files(tmp_path: Path) -> None:
    """DELETE /v1/reports/{id} promises the pictures go: they were left in the database's free pages and its
    write-ahead log, readable by anyone with a copy of the files (a backup)."""
    storage = Storage(database_url(tmp_path / "reports.db"))
    picture = os.urandom(20_000)  # several pages, like a real image
    kept = storage.add_report(**REPORT)
    deleted = storage.add_report(**{**REPORT, "image_png": picture, "heatmap_png": picture[::-1]})
    assert storage.delete_report(deleted.id)
    stored = b"".join(path.read_bytes() for path in sorted(tmp_path.glob("reports.db*")))
    for blob in (picture, picture[::-1]):
        assert not any(blob[start : start + 64] in stored for start in range(0, len(blob), 512))
    assert storage.get_report(kept.id) is not None and storage.get_report(deleted.id) is None
    storage.close()


def _serve(run: Path, folder: Path, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "medimg.cli.app", "serve", str(run), "--port", str(free_port()), *options]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_serve_with_a_size_that_is_no_number_exits_2_with_one_line(tmp_path: Path) -> None:
    value = "nan"  # inf too: int() of either was a traceback
    server = _serve(tmp_path / "run", tmp_path, "--max-upload-mb", value)
    output, _ = server.communicate(timeout=120)
    assert server.returncode == 2 and "Traceback" not in output, output
    assert (
        output.strip() == f"error: --max-upload-mb {value} is not a size: give a number of MB (e.g. --max-upload-mb 50)"
    )


def test_serve_never_logs_the_database_password(
    deploy_run: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """A new database has no token yet, and the warning that says so showed the --db URL as typed, password too."""
    url = make_url(postgres_server.create_database()).set(password="s3cret-pw").render_as_string(hide_password=False)
    server = _serve(deploy_run, tmp_path, "--db", url)
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "medimg serve: http" in line:
                break
    finally:
        server.terminate()
        server.communicate(timeout=60)
    output = "".join(lines)
    assert "no API token yet" in output and "***" in output, output
    assert "s3cret-pw" not in output


def test_the_start_up_log_says_where_reports_are_stored(
    deploy_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server started from another folder with a relative --db opens a new empty database: the log says which."""
    database = tmp_path / "reports.db"
    with caplog.at_level(logging.INFO, logger="medimg.serve"), service_client(deploy_run, database) as (client, auth):
        assert client.get("/v1/reports", headers=auth).json()["total"] == 0
    assert f"reports are stored in the SQLite database {database} (0 so far)" in caplog.text


def _open_storage(url: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        Storage(url).close()
        results.put("ok")
    except Exception as error:  # reported to the test
        results.put(f"{type(error).__name__}: {error}")


def test_servers_starting_together_on_a_new_database_all_start(database: TestDatabase, tmp_path: Path) -> None:
    """Two servers (or a server and `medimg token create`) started together on a new database raced to create its
    tables: the one that lost exited with "table reports already exists"."""
    context = multiprocessing.get_context("fork")
    for round_ in range(3):
        if database.kind == "sqlite":
            url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        else:
            assert database.server is not None
            url = database.server.create_database()
        barrier, results = context.Barrier(3), context.Queue()
        starting = [context.Process(target=_open_storage, args=(url, barrier, results)) for _ in range(3)]
        for process in starting:
            process.start()
        answers = [results.get(timeout=60) for _ in starting]
        for process in starting:
            process.join(timeout=60)
        assert answers == ["ok"] * 3, answers


def test_a_server_starting_while_another_process_writes_to_a_new_sqlite_database_waits(tmp_path: Path) -> None:
    """The switch of a new SQLite database to WAL needs the file to itself, and SQLite answers "database is locked"
    at once (without its busy timeout) while another process writes: a server started while `medimg token create`
    wrote to a new database exited, even with the writer done a moment later."""
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    finish = threading.Timer(0.5, writer.execute, args=("COMMIT",))
    finish.start()
    try:
        storage = Storage(f"sqlite:///{path}")
    finally:
        finish.join()
        writer.close()
    try:
        with storage.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        storage.close()


def test_a_password_with_an_unencoded_at_sign_is_never_shown() -> None:
    """``user:Sec@ret99@host``: the part after the first @ was read as the host and shown in the error."""
    with pytest.raises(ConfigError, match="percent-encoded") as refused:
        Storage("postgresql+psycopg://medimg:Sec@ret99@127.0.0.1:1/medimg")
    assert "ret99" not in str(refused.value) and "Sec" not in str(refused.value)


def test_an_upload_folder_that_cannot_be_made_names_work_dir(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"cannot use the upload folder .* with --work-dir"):
        UploadWorkspace(tmp_path / "a-file" / "work")


def test_serve_with_an_unusable_work_dir_stops_before_creating_the_database(deploy_run: Path, tmp_path: Path) -> None:
    """The database file was created (and the model loaded) before the --work-dir was found unusable."""
    (tmp_path / "a-file").write_text("not a folder")
    server = _serve(deploy_run, tmp_path, "--db", "new.db", "--work-dir", str(tmp_path / "a-file" / "work"))
    output, _ = server.communicate(timeout=120)
    assert server.returncode != 0 and "Traceback" not in output, output
    assert "cannot use the upload folder" in output and "--work-dir" in output
    assert not (tmp_path / "new.db").exists()


def test_a_full_upload_disk_is_a_503_with_retry_after_and_stores_nothing(
    deploy_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The disk of the upload folder filling up was a bare 500 "internal error" (a client does not retry those)."""
    write_bytes = Path.write_bytes

    def full_disk(path: Path, data: Any) -> int:
        if path.name == "upload.bin":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return write_bytes(path, data)

    with service_client(deploy_run, tmp_path / "reports.db") as (client, auth):
        monkeypatch.setattr(Path, "write_bytes", full_disk)
        with caplog.at_level(logging.ERROR, logger="medimg.serve"):
            answer = client.post("/v1/predictions", headers=auth, files={"file": ("x.png", _phantom(deploy_run))})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "30", answer.text
        assert "no room" in answer.json()["detail"] and "cannot be written (No space left on device)" in caplog.text
        monkeypatch.undo()
        assert client.get("/v1/reports", headers=auth).json()["total"] == 0
        again = client.post("/v1/predictions", headers=auth, files={"file": ("x.png", _phantom(deploy_run))})
        assert again.status_code == 201


def _phantom(run: Path) -> bytes:
    return phantom_file(run).read_bytes()


def test_a_database_that_cannot_be_written_is_refused_at_start(
    database: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only database file (or a PostgreSQL standby) started a server that answered every upload 503."""
    Storage(database.url).create_token("before")
    if database.kind == "sqlite":
        pragmas = storage_module._sqlite_pragmas

        def read_only(connection: Any, record: Any) -> None:
            pragmas(connection, record)
            connection.cursor().execute("PRAGMA query_only=ON")  # what SQLite says of a read-only file

        monkeypatch.setattr(storage_module, "_sqlite_pragmas", read_only)
        says = "can be read but not written"
    else:
        url = make_url(database.url)
        url = url.update_query_dict({"options": "-c default_transaction_read_only=on"})  # a standby's answer
        monkeypatch.setattr(database, "url", url.render_as_string(hide_password=False))
        says = "read-only transaction"
    with pytest.raises(ConfigError, match=says):
        Storage(database.url)
    assert [info.name for info in Storage(database.url, create=False).list_tokens()] == ["before"]  # reading works


def test_healthz_reports_a_database_turned_read_only_while_serving(deploy_run: Path, database: TestDatabase) -> None:
    """/healthz said ok (it only read) while every upload was answered 503 because no report could be stored."""
    from fastapi.testclient import TestClient

    from medimg.serve import ServeSettings, create_app

    with TestClient(create_app(ServeSettings(run_dir=deploy_run, database=database.url))) as client:
        storage: Storage = client.app.state.storage  # type: ignore[attr-defined]
        assert client.get("/healthz").json()["database"] == "ok" and not storage.read_only()
        if database.kind == "sqlite":  # the disk remounted read-only

            def read_only(connection: Any, record: Any) -> None:
                connection.cursor().execute("PRAGMA query_only=ON")  # what SQLite says of a read-only file

            event.listen(storage.engine, "connect", read_only)
        else:  # the server turned standby
            name = make_url(database.url).database
            admin = create_engine(database.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
            admin.dispose()
        storage.engine.dispose()  # the next connections see it
        answer = client.get("/healthz")
        assert answer.status_code == 503 and answer.json() == {
            "status": "error",
            "model_loaded": True,
            "database": "read-only",
        }
        assert storage.ping()  # reading still works: it is the writes that are refused


def test_a_mistyped_database_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    """`medimg serve` makes its settings first and loads the model (seconds) before it opens the database."""
    with pytest.raises(ConfigError, match="without its '//'"):
        ServeSettings(run_dir=tmp_path, database="sqlite:/reports.db")
    assert ServeSettings(run_dir=tmp_path, database=" reports.db\n").database == "reports.db"
