"""The service under faults and load: nothing raw on disk, the swept working folder, the bounded inference pool
(503 + Retry-After, time limit, a heavy image never stalls small ones), the streamed size limit, errors that
keep the connection and name no internals, and `medimg serve` refusing broken runs. Real uvicorn servers."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from medimg.interrupts import raise_if_interrupted
from medimg.serve import ServeSettings, create_app
from medimg.serve.service import PredictionService
from medimg.serve.storage import Storage
from medimg.serve.workers import Abandoned, Busy, CommitGuard, InferencePool
from medimg.serve.workspace import LEGACY_PREFIX, LOCK_SUFFIX, UNLOCKED_GRACE_S, UploadWorkspace, sweep
from tests.serve.support import ct_small, phantom_file, serving

HEAVY_SIDE = 64
"""Test uploads this wide are 'heavy': the patched classifier holds them until the test opens the gate."""


def png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((np.arange(side * side) % 251).astype(np.uint8).reshape(side, side)).save(buffer, "PNG")
    return buffer.getvalue()


def post(client: httpx.Client, data: bytes, name: str = "x.png") -> httpx.Response:
    return client.post("/v1/predictions", files={"file": (name, data, "application/octet-stream")})


@contextmanager
def app_server(run: Path, folder: Path, **overrides: Any) -> Iterator[tuple[str, dict[str, str], Any]]:
    """``create_app`` on a fresh SQLite database and its own working folder, served by uvicorn in a thread."""
    settings = ServeSettings(
        run_dir=run, database=str(folder / "reports.db"), work_dir=folder / "work", explain_method=None, **overrides
    )
    storage = Storage(settings.database_url)
    _, token = storage.create_token("tests")
    storage.close()
    app = create_app(settings)
    with serving(app) as url:
        yield url, {"Authorization": f"Bearer {token}"}, app


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Heavy uploads (HEAVY_SIDE px wide) wait in the classifier until the event is set (always set at the end)."""
    event = threading.Event()
    classify = PredictionService._classify

    def held(self: PredictionService, image: Any, *rest: Any) -> dict[str, Any]:
        if image.array.shape[-1] >= HEAVY_SIDE:
            assert event.wait(60), "the test never opened the gate"
        return classify(self, image, *rest)

    monkeypatch.setattr(PredictionService, "_classify", held)
    try:
        yield event
    finally:
        event.set()


def wait_for(condition: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------- the pool


def test_pool_refuses_when_full_and_gives_up_after_its_time_limit() -> None:
    async def scenario() -> None:
        pool = InferencePool(workers=1, queue_limit=1, timeout_s=0.5)
        release = threading.Event()
        stored: list[str] = []

        def slow(guard: CommitGuard) -> str:
            release.wait(10)
            return guard.commit(lambda: stored.append("slow") or "slow")

        first = asyncio.ensure_future(pool.run(slow))
        second = asyncio.ensure_future(pool.run(lambda guard: guard.commit(lambda: "quick")))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy, match="busy") as full:  # 1 running + 1 waiting: the third is refused at once
            await pool.run(lambda guard: "never")
        assert 1 <= full.value.retry_after_s <= 60
        with pytest.raises(Busy, match=r"longer than the server's limit of 0\.5 s to process") as ran:
            await first  # its own work took the time: no Retry-After, a retry would take as long
        assert ran.value.retry_after_s is None
        with pytest.raises(Busy, match=r"waited for a worker and ran past the limit of 0\.5 s") as waited:
            await second  # it waited behind the slow one: retrying later is right
        assert waited.value.retry_after_s is not None and 1 <= waited.value.retry_after_s <= 60
        release.set()
        await asyncio.sleep(0.3)
        assert stored == [] and pool.in_flight == 0  # the timed-out results were never stored
        assert await pool.run(lambda guard: guard.commit(lambda: "after")) == "after"
        pool.close()

    asyncio.run(scenario())


def _until_stopped(steps: list[int]) -> str:
    """A long prediction that checks between batches (as the segmentation windows and classifier batches do)."""
    for step in range(2000):
        raise_if_interrupted()
        steps.append(step)
        time.sleep(0.01)
    return "finished"


def test_a_request_past_its_time_limit_stops_at_its_next_batch_and_frees_the_worker() -> None:
    async def scenario() -> None:
        pool = InferencePool(workers=1, queue_limit=1, timeout_s=0.3)
        steps: list[int] = []
        with pytest.raises(Busy, match="longer than the server's limit"):
            await pool.run(lambda guard: _until_stopped(steps))
        await asyncio.sleep(0.2)
        assert pool.in_flight == 0 and len(steps) < 60  # stopped, not computed for 20 s while others wait
        assert await pool.run(lambda guard: guard.commit(lambda: "next")) == "next"
        pool.close()

    asyncio.run(scenario())


def test_closing_the_pool_stops_a_running_request() -> None:
    async def scenario() -> None:
        pool = InferencePool(workers=1, queue_limit=0, timeout_s=30)
        steps: list[int] = []
        running = asyncio.ensure_future(pool.run(lambda guard: _until_stopped(steps)))
        await asyncio.sleep(0.2)
        pool.close()  # the server shutting down
        with pytest.raises(Busy, match="shutting down"):
            await asyncio.wait_for(running, 5)
        assert len(steps) < 100
        raise_if_interrupted()  # the check belonged to the worker's request, not to this thread

    asyncio.run(scenario())


def test_commit_guard_settles_once() -> None:
    guard = CommitGuard()
    assert guard.commit(lambda: 1) == 1 and guard.abandon()
    with pytest.raises(Abandoned):
        guard.commit(lambda: 2)
    with pytest.raises(Abandoned):
        guard.check()


def test_a_heavy_upload_never_stalls_small_ones_and_a_full_pool_says_retry_after(
    deploy_run: Path, tmp_path: Path, gate: threading.Event
) -> None:
    small, heavy = phantom_file(deploy_run).read_bytes(), png(HEAVY_SIDE)
    with app_server(deploy_run, tmp_path, workers=2, queue_limit=1) as (url, headers, app):
        pool = app.state.pool
        results: list[int] = []

        def send_heavy() -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                results.append(post(client, heavy).status_code)

        first = threading.Thread(target=send_heavy)
        first.start()
        wait_for(lambda: pool.in_flight == 1)
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            started = time.perf_counter()
            quick = post(client, small)
            elapsed = time.perf_counter() - started
            assert quick.status_code == 201, quick.text
            assert elapsed < 20 and first.is_alive()  # answered while the heavy one is still held
            more = [threading.Thread(target=send_heavy) for _ in range(2)]
            for thread in more:
                thread.start()
            wait_for(lambda: pool.in_flight == 3)  # 2 workers busy + 1 waiting = full
            refused = post(client, small)
            assert refused.status_code == 503 and "busy" in refused.json()["detail"]
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            gate.set()
            for thread in [first, *more]:
                thread.join(60)
            assert results == [201, 201, 201]
            assert client.get("/v1/reports").json()["total"] == 4


def test_an_upload_over_the_time_limit_gets_503_and_is_not_stored(
    deploy_run: Path, tmp_path: Path, gate: threading.Event
) -> None:
    settings = {"workers": 1, "queue_limit": 0, "request_timeout_s": 1.0}
    with (
        app_server(deploy_run, tmp_path, **settings) as (url, headers, app),
        httpx.Client(base_url=url, headers=headers, timeout=60) as client,
    ):
        slow = post(client, png(HEAVY_SIDE))
        assert slow.status_code == 503 and "longer than the server's limit of 1 s" in slow.json()["detail"]
        assert "Retry-After" not in slow.headers  # its own work took the time: a retry would take as long
        gate.set()
        wait_for(lambda: app.state.pool.in_flight == 0)
        assert client.get("/v1/reports").json()["total"] == 0  # finished after its answer: not stored
        assert post(client, phantom_file(deploy_run).read_bytes()).status_code == 201


def test_a_huge_image_is_read_reduced_and_one_over_the_budget_gets_413(deploy_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    grey = io.BytesIO()
    Image.fromarray(np.zeros((2000, 2000), np.uint8)).save(grey, "PNG")  # decodes to 4 MB
    rgb = io.BytesIO()
    Image.fromarray(np.zeros((2000, 2000, 3), np.uint8)).save(rgb, "PNG")  # decodes to 16 MB (4 bytes a pixel)
    with (
        app_server(deploy_run, tmp_path, max_image_bytes=8 << 20) as (url, headers, _app),
        httpx.Client(base_url=url, headers=headers, timeout=60) as client,
    ):
        reduced = post(client, grey.getvalue())
        assert reduced.status_code == 201, reduced.text
        assert reduced.json()["input"]["shape"] == [1, 2000, 2000] and reduced.json()["input"]["read_reduced_by"] > 1
        refused = post(client, rgb.getvalue())
        assert refused.status_code == 413 and "per-image limit" in refused.json()["detail"]


# ---------------------------------------------------------------------------------------------- edges


def multipart_stream(total_bytes: int, boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    chunk = b"\0" * (1 << 20)
    for _ in range(total_bytes // len(chunk)):
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def test_a_60_mb_chunked_upload_gets_413_and_the_server_keeps_serving(deploy_run: Path, tmp_path: Path) -> None:
    with app_server(deploy_run, tmp_path) as (url, headers, _app):
        boundary = "medimg-test-boundary"
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            response = client.post(
                "/v1/predictions",
                content=multipart_stream(60 << 20, boundary),  # a generator: sent chunked, no Content-Length
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            assert response.status_code == 413 and "upload limit" in response.json()["detail"]
            assert response.request.headers.get("transfer-encoding") == "chunked"
            assert post(client, phantom_file(deploy_run).read_bytes()).status_code == 201


def test_errors_keep_the_connection_and_log_no_sql(
    deploy_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    def failing(self: Storage, **_: Any) -> Any:  # a bug's error, not the database being unavailable
        raise ProgrammingError("SELECT reports.id FROM reports OFFSET %(param_1)s", {"param_1": 424242}, Exception())

    def unavailable(self: Storage, **_: Any) -> Any:
        raise OperationalError("SELECT reports.id FROM reports OFFSET %(param_1)s", {"param_1": 424242}, Exception())

    with app_server(deploy_run, tmp_path) as (url, headers, _app), caplog.at_level(logging.INFO):
        connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)
        connection.request("GET", "/v1/reports?offset=99999999999999999999", headers=headers)
        huge = connection.getresponse()
        assert huge.status == 422 and "offset" in huge.read().decode()
        monkeypatch.setattr(Storage, "list_reports", failing)
        connection.request("GET", "/v1/reports", headers=headers)
        broken = connection.getresponse()
        assert broken.status == 500 and json.loads(broken.read())["detail"].startswith("internal error")
        assert (broken.getheader("connection") or "").lower() != "close"
        socket_before = connection.sock
        connection.request("GET", "/healthz")
        after = connection.getresponse()
        assert after.status == 200 and json.loads(after.read())["status"] == "ok"
        assert connection.sock is socket_before  # the same keep-alive connection served the next request
        # the database unavailable (down, unreachable, locked): a 503 to retry, not an "internal error"
        monkeypatch.setattr(Storage, "list_reports", unavailable)
        connection.request("GET", "/v1/reports", headers=headers)
        down = connection.getresponse()
        assert down.status == 503 and json.loads(down.read()) == {"detail": "the database is unavailable; retry later"}
        assert down.getheader("retry-after") == "5" and (down.getheader("connection") or "").lower() != "close"
        connection.close()
    assert "unexpected ProgrammingError while handling GET /v1/reports" in caplog.text
    database = tmp_path / "reports.db"
    assert f"the SQLite database {database} is unavailable (OperationalError" in caplog.text
    assert "answered 503 to GET /v1/reports" in caplog.text and "unexpected OperationalError" not in caplog.text
    for secret in ("SELECT", "param_1", "424242", "Traceback"):
        assert secret not in caplog.text, secret


def test_a_database_that_goes_down_is_a_503_with_retry_after_until_it_is_back(
    deploy_run: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL stopped, before a request or while an upload is being predicted: every endpoint that needs it
    answers 503 ``the database is unavailable; retry later`` with Retry-After, nothing is stored, and the log names
    the database and its host (never the password); once it is back, the same server answers again. Before, the
    client got a 500 "internal error" and the log said "unexpected OperationalError"."""
    from fastapi.testclient import TestClient
    from sqlalchemy.engine import make_url

    from tests.serve.postgres import PostgresServer, find_binaries

    binaries = find_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql (.ci/run does it)")
    server = PostgresServer(binaries).start()
    try:
        # trust authentication ignores the password: it is here to be kept out of the log
        url = server.create_database().replace("medimg@", "medimg:pw-s3cret@")
        name = make_url(url).database
        settings = ServeSettings(run_dir=deploy_run, database=url, work_dir=server.folder / "work", explain_method=None)
        storage = Storage(url)
        _, token = storage.create_token("tests")
        storage.close()
        image = phantom_file(deploy_run).read_bytes()
        headers = {"Authorization": f"Bearer {token}"}
        unavailable = {"detail": "the database is unavailable; retry later"}
        with TestClient(create_app(settings)) as client, caplog.at_level(logging.INFO):
            assert post_with(client, headers, image).status_code == 201
            server.pause()
            answers = [post_with(client, headers, image), client.get("/v1/reports", headers=headers)]
            for answer in answers:
                assert answer.status_code == 503 and answer.json() == unavailable, answer.text
                assert answer.headers["Retry-After"] == "5"
            assert client.get("/healthz").status_code == 503
            server.resume()
            store = Storage.add_report

            def database_stops_while_predicting(self: Storage, **fields: Any) -> Any:
                server.pause()
                return store(self, **fields)

            monkeypatch.setattr(Storage, "add_report", database_stops_while_predicting)
            midway = post_with(client, headers, image)
            assert midway.status_code == 503 and midway.json() == unavailable and midway.headers["Retry-After"] == "5"
            monkeypatch.undo()
            server.resume()
            assert post_with(client, headers, image).status_code == 201  # the same server, without a restart
            assert client.get("/v1/reports", headers=headers).json()["total"] == 2  # nothing stored while down
        assert f"the database '{name}' on {server.folder} is unavailable (OperationalError" in caplog.text
        for answered in ("answered 503 to POST /v1/predictions", "answered 503 to GET /v1/reports"):
            assert answered in caplog.text
        assert "pw-s3cret" not in caplog.text and "unexpected OperationalError" not in caplog.text
    finally:
        server.stop()


def post_with(client: Any, headers: dict[str, str], data: bytes) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/predictions", headers=headers, files={"file": ("x.png", data, "application/octet-stream")}
    )
    return response


# ---------------------------------------------------------------------------------------------- nothing raw on disk


def test_uploads_reach_the_disk_only_de_identified_and_leave_nothing(
    deploy_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pydicom

    original = pydicom.dcmread(ct_small())
    identifiers = [str(original.PatientName), original.PatientID, original.StudyInstanceUID, original.StudyDate]
    seen: list[bytes] = []
    request_folder = UploadWorkspace.request_folder

    @contextmanager
    def watched(self: UploadWorkspace) -> Iterator[Path]:
        with request_folder(self) as folder:
            yield folder
            seen.extend(p.read_bytes() for p in folder.rglob("*") if p.is_file())

    spooled: list[Any] = []
    temporary_file = tempfile.TemporaryFile

    def recording_temporary_file(*args: Any, **kwargs: Any) -> Any:
        spooled.append(args)
        return temporary_file(*args, **kwargs)

    monkeypatch.setattr(UploadWorkspace, "request_folder", watched)
    monkeypatch.setattr(tempfile, "TemporaryFile", recording_temporary_file)
    dicom = ct_small().read_bytes()
    with app_server(deploy_run, tmp_path) as (url, headers, app):
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            assert post(client, dicom, "scan.dcm").status_code == 201
            big = post(client, b"\x89PNG\r\n\x1a\n" + os.urandom(3 << 20))  # 3 MB: above Starlette's 1 MB spool
            assert big.status_code in (400, 422), big.text
        folder = app.state.service.workspace.folder
        assert folder.is_dir() and [p.name for p in folder.iterdir()] == []  # every request folder is gone
    assert not folder.exists()  # and the server's own folder at shut-down
    assert spooled == []  # the multipart body never went to a temporary file
    assert seen and all(identifier.encode() not in data for data in seen for identifier in identifiers)


def test_start_up_sweeps_what_stopped_servers_left(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir(mode=0o755)
    dead = root / "server-1-dead"
    (dead / "request-x").mkdir(parents=True)
    (dead / "request-x" / "upload.png").write_bytes(b"left by a killed server")
    (root / f"server-1-dead{LOCK_SUFFIX}").write_text("")  # its lock file, no longer locked by anyone
    alive = UploadWorkspace(root)  # a running server: its folder is locked
    (alive.folder / "request-y").mkdir()
    starting = root / "server-2-starting"  # no lock file yet and young: a server starting right now
    starting.mkdir()
    legacy = Path(tempfile.mkdtemp(prefix=LEGACY_PREFIX))
    (legacy / "upload.dcm").write_bytes(b"an older medimg's temporary upload")
    old = time.time() - UNLOCKED_GRACE_S - 60
    os.utime(legacy, (old, old))
    try:
        assert not dead.exists()  # swept by the running server's own start
        second = UploadWorkspace(root)
        assert (alive.folder / "request-y").is_dir() and starting.is_dir()  # a live lock, a young folder: kept
        assert not legacy.exists()
        assert oct(root.stat().st_mode & 0o777) == "0o700"
        assert sweep(root) == 0
        second.close()
        alive.close()
        assert sorted(p.name for p in root.iterdir()) == ["server-2-starting"]
    finally:
        shutil.rmtree(legacy, ignore_errors=True)


def test_a_work_dir_that_is_a_link_is_refused(tmp_path: Path) -> None:
    from medimg.errors import ConfigError

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "work").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="not a plain folder"):
        UploadWorkspace(tmp_path / "work")


# ---------------------------------------------------------------------------------------------- medimg serve


def test_serve_refuses_broken_runs_with_a_clear_error(
    deploy_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before the server listens: the error is a MedimgError, which `medimg` prints as one line, exit 2."""
    import uvicorn
    from typer.testing import CliRunner

    from medimg.cli.app import app
    from medimg.errors import MedimgError

    def never(*_: Any, **__: Any) -> None:
        raise AssertionError("the server started on a broken run")

    monkeypatch.setattr(uvicorn, "run", never)
    runs = {"missing": tmp_path / "missing"}
    for name in ("truncated", "explain"):
        runs[name] = tmp_path / name
        shutil.copytree(deploy_run, runs[name])
    weights = runs["truncated"] / "model.pt"
    weights.write_bytes(weights.read_bytes()[:1000])
    expected = {
        "missing": "does not exist",
        "truncated": "SHA-256",
        "explain": "unknown explanation method 'bogus'",
    }
    for name, message in expected.items():
        arguments = ["serve", str(runs[name]), "--db", str(tmp_path / "serve.db"), "--work-dir", str(tmp_path / "w")]
        arguments += ["--explain", "bogus"] if name == "explain" else []
        result = CliRunner().invoke(app, arguments)
        assert isinstance(result.exception, MedimgError) and message in str(result.exception), (name, result)


def test_serve_on_altered_weights_exits_2_without_a_traceback(deploy_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "flipped"
    shutil.copytree(deploy_run, run)
    flipped = bytearray((run / "model.pt").read_bytes())
    middle = len(flipped) // 2
    flipped[middle : middle + 256] = bytes(b ^ 0x5A for b in flipped[middle : middle + 256])
    (run / "model.pt").write_bytes(bytes(flipped))
    command = [sys.executable, "-m", "medimg.cli.app", "serve", str(run), "--port", "1"]
    command += ["--db", str(tmp_path / "serve.db"), "--work-dir", str(tmp_path / "work")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "does not match the SHA-256" in done.stderr and "model.pt" in done.stderr
