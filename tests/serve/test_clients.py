"""HTTP clients the service meets in the wild: ones that wait for a Basic challenge, send HEAD, put the token in
the URL, send a file part without a file name, gzip their body, post an HTML form without its enctype, run in a
browser on another origin (upload widgets, a 413 they must be able to read), or send base64 JSON near the limit."""

from __future__ import annotations

import base64
import gzip
import logging
import stat
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medimg.serve import ServeSettings, create_app
from medimg.serve.storage import Storage
from tests.serve.support import phantom_file

VIEWER = "https://viewer.hospital.example"


@pytest.fixture
def served(deploy_run: Path, tmp_path: Path) -> Iterator[tuple[TestClient, str, bytes]]:
    """The app on an SQLite file with a 64 KiB upload limit and CORS open to :data:`VIEWER`; its token; a PNG."""
    settings = ServeSettings(
        run_dir=deploy_run, database=str(tmp_path / "serve.db"), max_upload_bytes=64 * 1024, cors_origins=[VIEWER]
    )
    storage = Storage(settings.database_url)
    _, token = storage.create_token("tests")
    storage.close()
    with TestClient(create_app(settings)) as client:
        yield client, token, phantom_file(deploy_run).read_bytes()


def test_a_401_offers_basic_too_and_says_why_no_token_was_read(served: tuple[TestClient, str, bytes]) -> None:
    client, token, _ = served
    refused = client.get("/v1/models")
    assert refused.status_code == 401 and "Basic realm=" in refused.headers["www-authenticate"]
    assert "X-API-Key" in refused.json()["detail"] and "HTTP Basic" in refused.json()["detail"]
    in_url = client.get(f"/v1/models?token={token}")
    assert in_url.status_code == 401 and "a token in the URL is not accepted" in in_url.json()["detail"]
    other_scheme = client.get("/v1/models", headers={"Authorization": f"Token {token}"})
    assert other_scheme.status_code == 401 and "scheme (Token)" in other_scheme.json()["detail"]
    bare = client.get("/v1/models", headers={"Authorization": token})
    assert "without a scheme" in bare.json()["detail"] and token not in bare.text  # never echoed


def test_the_access_log_never_keeps_a_query_string() -> None:
    from medimg.serve.app import RedactQueries

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/v1/predictions?token=mdg_secret&x=1", "1.1", 401), None,
    )  # fmt: skip
    assert RedactQueries().filter(record)
    assert "mdg_secret" not in record.getMessage() and "/v1/predictions?..." in record.getMessage()


def test_head_is_answered_like_get_without_a_body(served: tuple[TestClient, str, bytes]) -> None:
    client, token, _ = served
    for path in ("/healthz", "/"):
        head = client.head(path)
        assert head.status_code == 200 and head.content == b"", path
    assert client.head("/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_browser_clients_on_another_origin(served: tuple[TestClient, str, bytes]) -> None:
    """Dropzone.js asks for X-Requested-With and Cache-Control; a 413 of the size limit must carry the CORS header
    (else the browser reports an opaque network error); Retry-After and Location are readable by the page."""
    client, token, png = served
    preflight = client.options(
        "/v1/predictions",
        headers={
            "Origin": VIEWER,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-requested-with, cache-control, idempotency-key",
        },
    )
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == VIEWER
    too_big = client.post(
        "/v1/predictions",
        content=b"\0" * (200 * 1024),
        headers={"Origin": VIEWER, "Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    )
    assert too_big.status_code == 413 and too_big.headers["access-control-allow-origin"] == VIEWER
    created = client.post(
        "/v1/predictions",
        files={"file": ("scan.png", png)},
        headers={"Origin": VIEWER, "Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == created.json()["links"]["self"]
    exposed = set(created.headers["access-control-expose-headers"].lower().split(", "))
    assert {"retry-after", "location", "idempotent-replayed"} <= exposed


def test_bodies_clients_send_otherwise(served: tuple[TestClient, str, bytes]) -> None:
    client, token, png = served
    auth = {"Authorization": f"Bearer {token}"}
    # a file part without a file name (Node's form.append('file', buffer), requests' (None, data))
    assert client.post("/v1/predictions", headers=auth, files={"file": (None, png)}).status_code == 201
    nameless_binary = client.post(
        "/v1/predictions", headers=auth, files={"scan": (None, png, "application/octet-stream")}
    )
    assert nameless_binary.status_code == 201, nameless_binary.text
    # gzip-encoded raw body: decompressed (bounded by the upload limit)
    zipped = client.post(
        "/v1/predictions",
        headers={**auth, "Content-Type": "image/png", "Content-Encoding": "gzip"},
        content=gzip.compress(png),
    )
    assert zipped.status_code == 201, zipped.text
    bomb = client.post(
        "/v1/predictions",
        headers={**auth, "Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
        content=gzip.compress(b"\0" * (10 << 20)),
    )
    assert bomb.status_code == 413
    brotli = client.post("/v1/predictions", headers={**auth, "Content-Encoding": "br"}, content=b"x")
    assert brotli.status_code == 415 and "Content-Encoding 'br'" in brotli.json()["detail"]
    # an HTML form without enctype="multipart/form-data": the file's name, not the file
    form = client.post("/v1/predictions", headers=auth, data={"file": "scan.png"})
    assert form.status_code == 415 and 'enctype="multipart/form-data"' in form.json()["detail"]
    # DICOM JSON: the header without the pixels
    dicom_json = client.post(
        "/v1/predictions",
        headers={**auth, "Content-Type": "application/dicom+json"},
        content=b'[{"00080016": {"vr": "UI"}}]',
    )
    assert dicom_json.status_code == 415 and "without the pixels" in dicom_json.json()["detail"]


def test_base64_json_is_allowed_its_third_more_bytes(deploy_run: Path, tmp_path: Path) -> None:
    """A 900 KB file under a 1 MiB limit is 1.2 MB as base64: accepted as JSON (the size limit in front of the
    app allowed the limit + 64 KiB whatever the body, so it was 413 "larger than the upload limit")."""
    settings = ServeSettings(run_dir=deploy_run, database=str(tmp_path / "serve.db"), max_upload_bytes=1 << 20)
    storage = Storage(settings.database_url)
    _, token = storage.create_token("tests")
    storage.close()
    png = phantom_file(deploy_run).read_bytes()
    padded = png + b"\0" * (900_000 - len(png))  # a PNG reader stops at IEND: trailing bytes are ignored
    with TestClient(create_app(settings)) as client:
        body = {"image": base64.b64encode(padded).decode()}
        answer = client.post("/v1/predictions", headers={"Authorization": f"Bearer {token}"}, json=body)
        assert answer.status_code == 201, answer.text
        too_big = {"image": base64.b64encode(b"\0" * (1 << 20) + png).decode()}
        refused = client.post("/v1/predictions", headers={"Authorization": f"Bearer {token}"}, json=too_big)
        assert refused.status_code == 413


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    Storage(f"sqlite:///{tmp_path / 'new.db'}").close()
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600


def test_methods_types_and_bodies_met_in_the_wild(served: tuple[TestClient, str, bytes]) -> None:
    client, token, png = served
    auth = {"Authorization": f"Bearer {token}"}
    put = client.put("/v1/predictions", headers=auth, content=png)  # curl -T
    assert put.status_code == 405 and "use POST" in put.json()["detail"] and "curl -F" in put.json()["detail"]
    s3 = client.post("/v1/predictions", headers={**auth, "Content-Type": "binary/octet-stream"}, content=png)
    assert s3.status_code == 201, s3.text  # S3's default type for an object stored without one
    boundary = "cut0ff"
    truncated = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + png[:100]  # no closing boundary: the client was cut off
    cut = client.post(
        "/v1/predictions",
        headers={**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=truncated,
    )
    assert cut.status_code == 400 and "closing boundary" in cut.json()["detail"]


def test_every_refusal_has_one_shape(served: tuple[TestClient, str, bytes]) -> None:
    """``{"detail": "<text>"}``, also for a query value out of range (FastAPI's default was a list of objects)."""
    client, token, _ = served
    for query in ("limit=0", "offset=1.5", "format=pdf"):
        path = "/v1/reports" if "format" not in query else "/v1/reports/abc"
        answer = client.get(f"{path}?{query}", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 422 and isinstance(answer.json()["detail"], str), answer.text
        assert answer.json()["detail"].startswith("invalid request: query ")


def test_an_upload_that_stops_sending_gets_408_and_frees_the_server() -> None:
    """A client that declares a body and sends none (a stalled upload, or a slow-body attack) held its connection
    and a worker slot forever; after ``stall_s`` of silence it is answered 408 and the app sees a disconnect."""
    import asyncio

    from medimg.serve.app import BodySizeLimit

    sent: list[dict] = []
    seen: list[str] = []

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append((await receive())["type"])

    async def silent() -> dict:
        await asyncio.sleep(3600)
        return {"type": "http.request", "body": b""}

    async def record(event: dict) -> None:
        sent.append(event)

    scope = {"type": "http", "method": "POST", "path": "/v1/predictions", "headers": [(b"content-length", b"900")]}
    asyncio.run(asyncio.wait_for(BodySizeLimit(app, max_upload=1000, stall_s=0.2)(scope, silent, record), 5))
    assert sent[0]["status"] == 408 and b"sent nothing for 0.2 s" in sent[1]["body"]
    assert seen == ["http.disconnect"]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("", "json"),
        ("*/*", "json"),
        ("text/html", "html"),
        ("text/html;q=0", "json"),  # q=0 refuses HTML
        ("application/json, text/html;q=0.1", "json"),
        ("text/html;q=0.9, application/fhir+json", "fhir"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "html"),  # a browser's
        ("application/json;q=0.5, text/html;q=0.5", "json"),  # a tie: the first listed
    ],
)
def test_the_accept_header_is_weighed(accept: str, chosen: str) -> None:
    from medimg.serve.routers.reports import negotiate

    assert negotiate(accept) == chosen


def test_a_report_answer_varies_with_accept(served: tuple[TestClient, str, bytes]) -> None:
    client, token, png = served
    auth = {"Authorization": f"Bearer {token}"}
    report = client.post("/v1/predictions", headers=auth, files={"file": ("x.png", png)}).json()["links"]["self"]
    refused_html = client.get(report, headers={**auth, "Accept": "application/json, text/html;q=0.1"})
    assert (
        refused_html.headers["content-type"].startswith("application/json")
        and "accept" in refused_html.headers["vary"].lower()
    )


def test_a_413_names_the_upload_limit_not_the_encodings_allowance(served: tuple[TestClient, str, bytes]) -> None:
    """Chunked bodies (no Content-Length) over the 64 KiB limit: the refusal names the limit the service was
    started with, whichever reader stops the body (the reader behind the size limit named the limit plus the
    multipart or base64 allowance)."""
    client, token, png = served
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'.encode()
    bodies = {
        f"multipart/form-data; boundary={boundary}": [head, png, b"\0" * (200 * 1024), f"\r\n--{boundary}--".encode()],
        "application/json": [b'{"image": "', base64.b64encode(b"\0" * (200 * 1024)), b'"}'],
        'multipart/related; type="application/dicom"; boundary=b0undary': [head, b"\0" * (200 * 1024)],
    }
    for content_type, chunks in bodies.items():
        refused = client.post(
            "/v1/predictions",
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            content=iter(chunks),
        )
        assert refused.status_code == 413, (content_type, refused.text)
        assert "limit of 65,536 bytes" in refused.json()["detail"], (content_type, refused.json())

    import asyncio

    from medimg.serve.uploads import UploadRejected, _limited

    async def read_all() -> None:
        async def chunks() -> AsyncGenerator[bytes, None]:
            yield b"\0" * (200 * 1024)

        async for _ in _limited(chunks(), 64 * 1024 + 65536, 64 * 1024):
            pass

    with pytest.raises(UploadRejected, match="limit of 65,536 bytes"):
        asyncio.run(read_all())
