"""Idempotency keys' parts the HTTP test cannot reach in order: a key still being processed, and two server
processes storing one key at once (the database's unique key decides); and two servers creating the service's
secret at once. The races are made deterministic: the other server's storage writes between this one's look-up
and its insert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medimg.serve import ServeSettings, create_app
from medimg.serve.idempotency import KeysInProcess, upload_digest
from medimg.serve.storage import KeyTaken, SecretRow, Storage
from tests.serve.databases import TestDatabase
from tests.serve.support import REPORT, phantom_file


def test_a_key_being_processed_is_answered_409_with_retry_after() -> None:
    keys = KeysInProcess()
    with keys.hold("t1:k"):
        with pytest.raises(HTTPException) as conflict, keys.hold("t1:k"):
            pass
        assert conflict.value.status_code == 409 and conflict.value.headers == {"Retry-After": "2"}
        with keys.hold("t1:other"), keys.hold(None), keys.hold(None):  # other keys, and requests without one
            pass
    with keys.hold("t1:k"):  # released when its request ended
        pass


def test_a_key_stored_by_another_process_first_is_not_stored_again(tmp_path: Path) -> None:
    """The report that lost the race is not stored; the caller is given the winner's, to compare the files by
    (before, it was returned as if it were the new report: another file's prediction answered as 201)."""
    storage = Storage(f"sqlite:///{tmp_path / 'reports.db'}")
    first = storage.add_report(**REPORT, idempotency_key="t1:k", upload_sha256="a" * 64)
    with pytest.raises(KeyTaken) as taken:
        storage.add_report(**{**REPORT, "confidence": 0.8}, idempotency_key="t1:k", upload_sha256="b" * 64)
    assert taken.value.first.id == first.id and taken.value.first.upload_sha256 == "a" * 64
    assert storage.count_reports() == 1
    found = storage.report_for_key("t1:k")
    assert found is not None and found.id == first.id and storage.report_for_key("t2:k") is None
    unkeyed = [storage.add_report(**REPORT).id for _ in range(2)]  # reports without a key never collide
    assert len(set(unkeyed)) == 2 and storage.count_reports() == 3
    storage.close()


# --------------------------------------------------------------------- two servers on one database, deterministically


@pytest.fixture
def two_servers(deploy_run: Path, database: TestDatabase) -> Iterator[tuple[TestClient, dict[str, str], Storage]]:
    """A server (the app) and a second one's storage on the same database (each database kind), with a token."""
    settings = ServeSettings(run_dir=deploy_run, database=database.url, explain_method=None)
    other = Storage(database.url)
    _, token = other.create_token("two workstations")
    with TestClient(create_app(settings)) as client:
        yield client, {"Authorization": f"Bearer {token}"}, other
    other.close()


@pytest.mark.parametrize("same_file", [False, True], ids=["another-file", "same-file"])
def test_a_key_the_other_server_stores_while_this_one_predicts(
    two_servers: tuple[TestClient, dict[str, str], Storage],
    deploy_run: Path,
    monkeypatch: pytest.MonkeyPatch,
    same_file: bool,
) -> None:
    """Two workstations sharing a token send one Idempotency-Key at once, each to another server: this server finds
    no report for the key, the other stores its report, then this one's insert meets the key. Another file is a 422
    and the same file a replay (200, Idempotent-Replayed), nothing stored twice; before, both were 201 with the
    other server's report, so a client got the prediction of another image as its own."""
    client, headers, other = two_servers
    image = phantom_file(deploy_run).read_bytes()
    theirs = image if same_file else phantom_file(deploy_run, "normal", 1).read_bytes()
    looked_up = Storage.report_for_key
    stored: list[str] = []

    def the_other_server_stores_after_the_look_up(self: Storage, key: str, **options: Any) -> Any:
        found = looked_up(self, key, **options)
        if self is not other and not stored:  # this server found nothing; the other one stores its report now
            stored.append(other.add_report(**REPORT, idempotency_key=key, upload_sha256=upload_digest(theirs)).id)
        return found

    monkeypatch.setattr(Storage, "report_for_key", the_other_server_stores_after_the_look_up)
    answer = client.post(
        "/v1/predictions",
        headers={**headers, "Idempotency-Key": "counter-0001"},
        files={"file": ("image.png", image, "application/octet-stream")},
    )
    assert stored, "the look-up was not intercepted"
    if same_file:
        assert answer.status_code == 200, answer.text
        assert answer.headers["Idempotent-Replayed"] == "true" and answer.json()["id"] == stored[0]
        assert answer.headers["Location"] == f"/v1/reports/{stored[0]}"
    else:
        assert answer.status_code == 422, answer.text
        assert "used for another file" in answer.json()["detail"] and "Idempotent-Replayed" not in answer.headers
    assert other.count_reports() == 1  # the other server's report only


def test_two_servers_creating_a_secret_at_once_get_the_same_one(
    database: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two servers starting together on a new database both find no de-identification salt and both create one:
    the second insert meets the first's row and reads it; before, that server died with a UniqueViolation
    traceback that also printed its candidate salt."""
    this, other = Storage(database.url), Storage(database.url)
    looked_up = Session.get
    theirs: list[str] = []

    def the_other_server_stores_after_the_look_up(self: Session, entity: Any, ident: Any, **options: Any) -> Any:
        found = looked_up(self, entity, ident, **options)
        if entity is SecretRow and not theirs:  # this server found nothing; the other one stores its salt now
            theirs.append("")
            theirs[0] = other.secret(ident)
        return found

    monkeypatch.setattr(Session, "get", the_other_server_stores_after_the_look_up)
    try:
        salt = this.secret("dicom_uid_salt")
        assert theirs and salt == theirs[0] and len(salt) == 64
        assert this.secret("dicom_uid_salt") == other.secret("dicom_uid_salt") == salt  # stable afterwards
        monkeypatch.undo()
        # the values of a failed statement stay out of its error (a log or a traceback would keep them)
        with pytest.raises(IntegrityError) as duplicate, this.session() as session:
            session.add(SecretRow(key="dicom_uid_salt", value="candidate-salt-0123456789"))
        assert "candidate-salt-0123456789" not in str(duplicate.value)
    finally:
        this.close()
        other.close()
