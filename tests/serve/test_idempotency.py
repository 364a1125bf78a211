"""Idempotency keys' parts the HTTP test cannot reach in order: a key still being processed, and two server
processes storing one key at once (the database's unique key decides)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import HTTPException

from medimg.serve.idempotency import KeysInProcess
from medimg.serve.storage import Storage

REPORT = {
    "model_name": "m",
    "label": "lesion",
    "label_index": 1,
    "confidence": 0.9,
    "probabilities": {"normal": 0.1, "lesion": 0.9},
    "input_format": "png",
    "input_info": {},
    "model_info": {},
    "image_png": b"\x89PNG",
}


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


def test_a_key_stored_by_another_process_first_returns_that_report(tmp_path: Path) -> None:
    storage = Storage(f"sqlite:///{tmp_path / 'reports.db'}")
    first = storage.add_report(**REPORT, idempotency_key="t1:k", upload_sha256="a" * 64)
    second = storage.add_report(**{**REPORT, "confidence": 0.8}, idempotency_key="t1:k", upload_sha256="a" * 64)
    assert second.id == first.id and second.confidence == 0.9
    assert storage.count_reports() == 1
    found = storage.report_for_key("t1:k")
    assert found is not None and found.id == first.id and storage.report_for_key("t2:k") is None
    unkeyed = [storage.add_report(**REPORT).id for _ in range(2)]  # reports without a key never collide
    assert len(set(unkeyed)) == 2 and storage.count_reports() == 3
    storage.close()
