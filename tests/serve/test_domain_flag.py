"""The service compares every upload with the model's training domain: an out-of-domain image (a 16-bit MR DICOM
given to a model trained on 8-bit PNGs) is flagged in the report's JSON, HTML, FHIR and the page, or refused with
422 when the server is started with --strict-domain; an image like the training ones is not flagged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medimg.serve import ServeSettings, create_app
from medimg.serve.storage import Storage
from tests.serve.support import phantom_file


def _client(run: Path, tmp_path: Path, **settings: object) -> Iterator[tuple[TestClient, dict[str, str]]]:
    config = ServeSettings(run_dir=run, database=str(tmp_path / "reports.db"), **settings)  # type: ignore[arg-type]
    _, token = Storage(config.database_url).create_token("tests")
    with TestClient(create_app(config)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def service(deploy_run: Path, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    yield from _client(deploy_run, tmp_path)


def _mr_small() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(str(get_testdata_file("MR_small.dcm"))).read_bytes()


def _post(client: TestClient, headers: dict[str, str], name: str, data: bytes) -> object:
    return client.post("/v1/predictions", headers=headers, files={"file": (name, data, "application/octet-stream")})


def test_an_mr_dicom_is_flagged_in_every_form_of_the_report(service: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = service
    response = _post(client, headers, "mr.dcm", _mr_small())
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    report = response.json()  # type: ignore[attr-defined]
    assert report["domain"]["in_domain"] is False and report["domain"]["reasons"]
    assert any("MR" in reason or "bit" in reason for reason in report["domain"]["reasons"]), report["domain"]
    page = client.get(f"/v1/reports/{report['id']}?format=html", headers=headers).text
    assert "Out of domain." in page and "training domain" in page
    fhir = client.get(f"/v1/reports/{report['id']}?format=fhir", headers=headers).json()
    assert fhir["conclusion"].startswith("The image is outside the model's training domain")
    listed = {item["id"]: item for item in client.get("/v1/reports", headers=headers).json()["items"]}
    assert listed[report["id"]]["in_domain"] is False  # the History shows it too (it was a plain row)


def test_a_training_like_png_is_not_flagged(service: tuple[TestClient, dict[str, str]], deploy_run: Path) -> None:
    client, headers = service
    response = _post(client, headers, "p.png", phantom_file(deploy_run).read_bytes())
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    report = response.json()  # type: ignore[attr-defined]
    assert report["domain"] == {"in_domain": True, "reasons": []}
    page = client.get(f"/v1/reports/{report['id']}?format=html", headers=headers).text
    assert "Out of domain." not in page
    listed = {item["id"]: item for item in client.get("/v1/reports", headers=headers).json()["items"]}
    assert listed[report["id"]]["in_domain"] is True


def test_strict_domain_refuses_with_422(deploy_run: Path, tmp_path: Path) -> None:
    for client, headers in _client(deploy_run, tmp_path, strict_domain=True):
        response = _post(client, headers, "mr.dcm", _mr_small())
        assert response.status_code == 422, response.text  # type: ignore[attr-defined]
        assert "training domain" in response.json()["detail"]  # type: ignore[attr-defined]
        assert client.get("/v1/reports", headers=headers).json()["total"] == 0  # nothing stored


def test_the_page_shows_the_warning(service: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = service
    page = client.get("/").text
    assert 'id="domain"' in page and "report.domain" in page
    assert "item.in_domain === false" in page  # History rows are marked too
