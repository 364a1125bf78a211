"""Whose reports a token reaches (its own; an admin token every one; all with --shared-reports), deleting a report,
token expiry and last use, databases made before reports recorded their token, and the explained class."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from medimg.serve import ServeSettings, create_app
from medimg.serve.storage import Scope, Storage, TokenInfo
from tests.serve.databases import TestDatabase
from tests.serve.support import phantom_file

Tokens = dict[str, tuple[TokenInfo, dict[str, str]]]


def _tokens(url: str) -> Tokens:
    storage = Storage(url)
    made = {
        "alice": storage.create_token("alice"),
        "bob": storage.create_token("bob"),
        "it": storage.create_token("it", admin=True),
    }
    storage.close()
    return {name: (info, {"Authorization": f"Bearer {token}"}) for name, (info, token) in made.items()}


@pytest.fixture
def served(deploy_run: Path, database: TestDatabase) -> Iterator[tuple[TestClient, Tokens]]:
    tokens = _tokens(database.url)
    with TestClient(create_app(ServeSettings(run_dir=deploy_run, database=database.url))) as client:
        yield client, tokens


def _upload(client: TestClient, headers: dict[str, str], path: Path) -> dict[str, Any]:
    response = client.post("/v1/predictions", headers=headers, files={"file": (path.name, path.read_bytes())})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_token_reaches_only_its_own_reports_an_admin_every_one(
    served: tuple[TestClient, Tokens], deploy_run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bob's history listed Alice's uploads and Bob could open their images, HTML and FHIR reports."""
    client, tokens = served
    (alice, alice_auth), (_, bob_auth), (_, admin_auth) = tokens["alice"], tokens["bob"], tokens["it"]
    report = _upload(client, alice_auth, phantom_file(deploy_run))
    assert report["token_id"] == alice.id
    listed = client.get("/v1/reports", headers=bob_auth).json()
    assert listed["total"] == 0 and listed["items"] == []
    for path in (report["links"]["self"], report["links"]["html"], report["links"]["fhir"], report["links"]["image"]):
        refused = client.get(path, headers=bob_auth)
        assert refused.status_code == 404 and "no report" in refused.json()["detail"], path  # as if there were none
    assert client.delete(report["links"]["self"], headers=bob_auth).status_code == 404
    mine = client.get("/v1/reports", headers=alice_auth).json()
    assert mine["total"] == 1 and mine["items"][0]["token_id"] == alice.id
    everything = client.get("/v1/reports", headers=admin_auth).json()
    assert everything["total"] == 1 and everything["items"][0]["token_id"] == alice.id
    assert client.get(report["links"]["image"], headers=admin_auth).status_code == 200

    with caplog.at_level(logging.INFO, logger="medimg.serve"):
        deleted = client.delete(report["links"]["self"], headers=alice_auth)
    assert deleted.status_code == 204 and deleted.content == b""
    assert f"report {report['id']} deleted with token {alice.id} (alice)" in caplog.text
    for headers in (alice_auth, admin_auth):
        assert client.get(report["links"]["self"], headers=headers).status_code == 404
        assert client.get("/v1/reports", headers=headers).json()["total"] == 0
    assert client.delete(report["links"]["self"], headers=alice_auth).status_code == 404  # gone
    other = _upload(client, bob_auth, phantom_file(deploy_run, "normal"))
    assert client.delete(other["links"]["self"], headers=admin_auth).status_code == 204  # an admin deletes any


def test_shared_reports_lets_every_token_reach_every_report(deploy_run: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    tokens = _tokens(url)
    settings = ServeSettings(run_dir=deploy_run, database=url, shared_reports=True)
    with TestClient(create_app(settings)) as client:
        report = _upload(client, tokens["alice"][1], phantom_file(deploy_run))
        assert client.get("/v1/reports", headers=tokens["bob"][1]).json()["total"] == 1
        assert client.get(report["links"]["image"], headers=tokens["bob"][1]).status_code == 200


def _old_tables(url: str, sqlite: bool) -> None:
    """The reports and api_tokens tables as medimg made them before tokens expired and reports had owners."""
    blob, moment = ("BLOB", "DATETIME") if sqlite else ("BYTEA", "TIMESTAMP WITH TIME ZONE")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE api_tokens (id VARCHAR(16) PRIMARY KEY, name VARCHAR(200), token_sha256 VARCHAR(64) "
                f"UNIQUE, created_at {moment}, revoked_at {moment})"
            )
        )
        connection.execute(
            text(
                f"CREATE TABLE reports (id VARCHAR(32) PRIMARY KEY, created_at {moment}, model_name VARCHAR(200), "
                "label VARCHAR(200), label_index INTEGER, confidence FLOAT, probabilities JSON, explain_method "
                f"VARCHAR(40), input_format VARCHAR(20), input_info JSON, model_info JSON, image_png {blob}, "
                f"heatmap_png {blob}, overlay_png {blob}, task VARCHAR(20) DEFAULT 'classify', idempotency_key "
                "VARCHAR(300), upload_sha256 VARCHAR(64))"
            )
        )
        connection.execute(
            text("INSERT INTO api_tokens VALUES ('0123abcd', 'old', :hash, '2024-01-01 00:00:00', NULL)").bindparams(
                hash=hashlib.sha256(b"mdg_old-token").hexdigest()
            )
        )
        connection.execute(
            text(
                "INSERT INTO reports (id, created_at, model_name, label, label_index, confidence, probabilities, "
                "explain_method, input_format, input_info, model_info, image_png, heatmap_png, overlay_png) "
                "VALUES ('abc', '2024-01-01 00:00:00', 'm', 'lesion', 1, 0.9, '{\"normal\": 0.1, \"lesion\": 0.9}', "
                "'gradcam', 'png', '{}', '{}', :png, :png, :png)"
            ).bindparams(png=b"\x89PNG")
        )
    engine.dispose()


def test_a_database_from_before_owners_keeps_working(database: TestDatabase) -> None:
    """Old tokens keep working (users' tokens that never expire); old reports are reached by admin tokens only."""
    from medimg.serve.reports import report_html, report_json
    from medimg.serve.storage import EVERY_REPORT, Scope

    _old_tables(database.url, database.kind == "sqlite")
    storage = Storage(database.url)
    old = storage.verify_token("mdg_old-token")
    assert old is not None and (old.admin, old.expires_at) == (False, None) and old.last_used_at is not None
    assert storage.get_report("abc", Scope(old.id)) is None and storage.list_reports(scope=Scope(old.id))[0] == 0
    row = storage.get_report("abc", EVERY_REPORT)
    assert row is not None and row.token_id is None and storage.count_unowned_reports() == 1
    assert storage.list_reports(scope=EVERY_REPORT)[1][0]["token_id"] is None
    assert report_json(row)["explanation"]["class"] == "lesion"  # the most probable class, as it was explained
    assert "heatmap for “lesion”" in report_html(row)
    info, _ = storage.create_token("new", admin=True, expires_in_days=1)
    assert info.admin and storage.list_tokens()[-1].admin
    assert Storage(database.url).count_unowned_reports() == 1  # opened again: nothing added twice
    storage.close()


def test_tokens_expire_with_a_clear_401_and_list_their_expiry_and_last_use(deploy_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app
    from medimg.errors import ConfigError

    runner = CliRunner()
    db = str(tmp_path / "serve.db")
    created = runner.invoke(app, ["token", "create", "--name", "reading-room", "--expires-in", "30", "--db", db])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert "valid until" in created.stderr
    admin = runner.invoke(app, ["token", "create", "--name", "it", "--admin", "--db", db])
    assert admin.exit_code == 0 and "admin token" in admin.stderr
    for days in ("0", "-1", "nan"):
        refused = runner.invoke(app, ["token", "create", "--expires-in", days, "--db", db])
        assert isinstance(refused.exception, ConfigError) and "--expires-in" in str(refused.exception)

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    with TestClient(create_app(ServeSettings(run_dir=deploy_run, database=url))) as client:
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        listed = runner.invoke(app, ["token", "list", "--db", db]).stdout
        in_30_days = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%d")
        line = next(line for line in listed.splitlines() if "reading-room" in line)
        assert "EXPIRES" in listed and "LAST USED" in listed and in_30_days in line and "active" in line
        assert line.count(datetime.now(timezone.utc).strftime("%Y-%m-%d")) == 2  # created and last used today
        assert "admin" in next(line for line in listed.splitlines() if line.rstrip().endswith("it"))

        engine = create_engine(url)
        with engine.begin() as connection:  # 30 days later
            connection.execute(text("UPDATE api_tokens SET expires_at = :t"), {"t": datetime(2020, 1, 2, 3, 4)})
        engine.dispose()
        refused = client.get("/v1/models", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
        assert "expired on 2020-01-02 03:04 UTC" in refused.json()["detail"]
        assert "medimg token create" in refused.json()["detail"]
    assert "expired" in next(
        line for line in runner.invoke(app, ["token", "list", "--db", db]).stdout.splitlines() if "reading-room" in line
    )


def test_the_answer_names_the_class_its_heatmap_explains(deploy_run: Path, tmp_path: Path) -> None:
    """README: ``"explanation": {"method": "gradcam", "class": ...}``; the service's answer had no class."""
    from medimg import Model

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    tokens = _tokens(url)
    path = phantom_file(deploy_run, "lesion", 3)
    (expected,) = Model.load(deploy_run).predict(path, explain="gradcam")
    with TestClient(create_app(ServeSettings(run_dir=deploy_run, database=url))) as client:
        report = _upload(client, tokens["alice"][1], path)
        assert report["explanation"]["class"] == expected.explained_class
        stored = client.get(report["links"]["self"], headers=tokens["alice"][1]).json()
        assert stored["explanation"]["class"] == expected.explained_class
    page = (Path(__file__).parents[2] / "src/medimg/serve/static/index.html").read_text()
    assert "explanation.class" in page


def test_a_key_used_before_reports_had_owners_answers_its_report_after_the_upgrade(
    database: TestDatabase, deploy_run: Path
) -> None:
    """A report stored with an Idempotency-Key by a medimg whose reports had no owner column: the retry after the
    upgrade was answered a report its own token then got 404 for (the key names the token: it owns the report)."""
    from medimg.serve.idempotency import upload_digest

    _old_tables(database.url, database.kind == "sqlite")
    path = phantom_file(deploy_run)
    engine = create_engine(database.url)
    with engine.begin() as connection:  # stored an hour ago with the old token's key; another key by an unknown token
        for report_id, key in (("keyed", "0123abcd:upload-1"), ("stranger", "ffff0000:upload-1")):
            connection.execute(
                text(
                    "INSERT INTO reports (id, created_at, model_name, label, label_index, confidence, probabilities, "
                    "explain_method, input_format, input_info, model_info, image_png, heatmap_png, overlay_png, "
                    "idempotency_key, upload_sha256) VALUES (:id, :at, 'm', 'lesion', 1, 0.9, "
                    "'{\"normal\": 0.1, \"lesion\": 0.9}', 'gradcam', 'png', '{}', '{}', :png, :png, :png, :key, :sha)"
                ),
                {
                    "id": report_id,
                    "at": datetime.now(timezone.utc) - timedelta(hours=1),
                    "png": b"\x89PNG",
                    "key": key,
                    "sha": upload_digest(path.read_bytes()),
                },
            )
    engine.dispose()
    old = {"Authorization": "Bearer mdg_old-token"}
    with TestClient(create_app(ServeSettings(run_dir=deploy_run, database=database.url))) as client:
        retried = client.post(
            "/v1/predictions",
            headers={**old, "Idempotency-Key": "upload-1"},
            files={"file": (path.name, path.read_bytes())},
        )
        assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true", retried.text
        assert retried.json()["id"] == "keyed"
        assert client.get(retried.json()["links"]["self"], headers=old).status_code == 200
        listed = client.get("/v1/reports", headers=old).json()
        assert [item["id"] for item in listed["items"]] == ["keyed"]  # not "abc" (no key) nor another token's
    storage = Storage(database.url)
    assert storage.count_unowned_reports() == 2  # "abc" (no key names its owner) and "stranger" (no such token)
    engine = create_engine(database.url)
    with engine.begin() as connection:  # an old server still writing to the upgraded database
        connection.execute(
            text("UPDATE reports SET token_id = NULL, idempotency_key = '0123abcd:upload-2' WHERE id = 'keyed'")
        )
    engine.dispose()
    found = storage.report_for_key("0123abcd:upload-2")
    assert found is not None and found.token_id == "0123abcd"
    assert storage.get_report(found.id, Scope("0123abcd")) is not None
    storage.close()
