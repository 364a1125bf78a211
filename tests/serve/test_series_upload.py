"""A DICOM series uploaded as one zip: a 3D classifier predicts the volume as ``medimg predict`` predicts the series
folder, a 2D classifier each slice; slices are de-identified before they are written; bad zips are refused."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from medimg.serve import ServeSettings, create_app
from medimg.serve.storage import Storage
from tests.io.conftest import write_dicom
from tests.serve.support import service_client

pytest.importorskip("pydicom")

SLICES = 10
PATIENT = "Doe^Jane"


def _series(folder: Path, label: str, seed: int, *, series_uid: str | None = None) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    uid = series_uid or f"1.2.826.0.7.{seed}"
    for z in range(SLICES):
        pixels = rng.integers(0, 1000, (16, 16))
        if label == "tumour" and 3 <= z <= 6:
            pixels[4:12, 4:12] += 1500
        write_dicom(
            folder / f"IM{z:04d}.dcm",
            pixels,
            modality="MR",
            position=(0.0, 0.0, 2.0 * z),
            orientation=(1, 0, 0, 0, 1, 0),
            thickness=2.0,
            series_uid=uid,
            instance=z + 1,
            extra={"PatientID": f"P{seed:04d}", "PatientName": PATIENT},
        )
    return folder


@pytest.fixture(scope="module")
def volume_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3D classifier trained on DICOM series in class folders (2 epochs)."""
    from medimg import Model

    root = tmp_path_factory.mktemp("series-run")
    for n in range(16):
        label = ("normal", "tumour")[n % 2]
        _series(root / "data" / label / f"p{n:02d}", label, n)
    Model("simple-cnn").fit(root / "data", run_dir=root / "run", epochs=2, seed=0, progress=False, tensorboard=False)
    return root / "run"


def _zip(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*.dcm")):
            archive.write(file, f"{PATIENT}/{file.relative_to(folder)}")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def client(volume_run: Path, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    with service_client(volume_run, tmp_path / "reports.db") as (test_client, headers):
        yield test_client, headers, tmp_path / "reports.db"


def _post(client: TestClient, headers: dict[str, str], data: bytes) -> object:
    return client.post("/v1/predictions", headers=headers, files={"file": ("series.zip", data, "application/zip")})


def test_a_zipped_series_is_predicted_as_the_series_folder_is(
    client: tuple[TestClient, dict[str, str], Path], volume_run: Path, tmp_path: Path
) -> None:
    from medimg import Model

    test_client, headers, database = client
    folder = _series(tmp_path / "study", "tumour", 99)
    junk = {"__MACOSX/._IM0000.dcm": b"\0" * 64, "DICOMDIR": b"\0" * 200, "readme.txt": b"exported by a viewer"}
    response = _post(test_client, headers, _zip(folder, junk))
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    report = response.json()  # type: ignore[attr-defined]
    (expected,) = Model.load(volume_run).predict(folder)
    assert report["prediction"]["label"] == expected.label
    assert report["prediction"]["probabilities"] == pytest.approx(expected.probabilities, abs=1e-4)
    assert report["input"]["format"] == "dicom series" and report["input"]["shape"] == [1, SLICES, 16, 16]
    assert report["input"]["dicom"]["files"] == SLICES and report["input"]["dicom"]["skipped_files"] == 3
    assert report["input"]["dicom"]["patient_identity_removed"] is True
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert PATIENT.encode() not in stored and b"P0099" not in stored


def test_a_zipped_series_to_a_2d_classifier_is_predicted_slice_by_slice(deploy_run: Path, tmp_path: Path) -> None:
    folder = _series(tmp_path / "study", "tumour", 5)
    with service_client(deploy_run, tmp_path / "reports.db") as (test_client, headers):
        response = _post(test_client, headers, _zip(folder))
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    assert response.json()["input"]["frames"]["count"] == SLICES  # type: ignore[attr-defined]


def test_bad_zips_are_refused_with_the_reason(volume_run: Path, tmp_path: Path) -> None:
    one = _series(tmp_path / "a", "normal", 1)
    _series(tmp_path / "both" / "b", "normal", 2)
    _series(tmp_path / "both" / "c", "normal", 3)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("slice.dcm", b"\0" * (3 * 2**20))  # 3 MB of zeros in a few KB
    settings = ServeSettings(run_dir=volume_run, database=str(tmp_path / "r.db"), max_image_bytes=2**21)
    _, token = Storage(settings.database_url).create_token("tests")
    headers = {"Authorization": f"Bearer {token}"}
    cases = {
        "no DICOM": (_zip(tmp_path / "nothing", {"notes.txt": b"hello"}), 422, "no DICOM files"),
        "two series": (_zip(tmp_path / "both"), 422, "one series per upload"),
        "damaged": (_zip(one)[:-200], 400, "zip"),
        "bomb": (bomb.getvalue(), 413, "unpacks to more than"),
    }
    with TestClient(create_app(settings)) as test_client:
        for name, (data, status, words) in cases.items():
            response = _post(test_client, headers, data)
            assert response.status_code == status, (name, response.text)  # type: ignore[attr-defined]
            assert words in response.json()["detail"], (name, response.text)  # type: ignore[attr-defined]
            assert "series_uid=" not in response.json()["detail"]  # a Python caller's hint, not a client's
        assert test_client.get("/v1/reports", headers=headers).json()["total"] == 0


def test_a_series_sent_as_several_files_in_one_form(
    client: tuple[TestClient, dict[str, str], Path], volume_run: Path, tmp_path: Path
) -> None:
    """``curl -F file=@IM0000.dcm -F file=@IM0001.dcm ...`` (or a browser's folder upload): one series, as its zip."""
    from medimg import Model

    test_client, headers, _ = client
    folder = _series(tmp_path / "study", "normal", 98)
    files = [("file", (f.name, f.read_bytes(), "application/dicom")) for f in sorted(folder.glob("*.dcm"))]
    files.append(("file", ("DICOMDIR", b"\0" * 128 + b"DICM" + b"\0" * 64, "application/dicom")))
    files.append(files[0])  # a client retrying one instance: the same file twice is one slice
    response = test_client.post("/v1/predictions", headers=headers, files=files)
    assert response.status_code == 201, response.text
    (expected,) = Model.load(volume_run).predict(folder)
    assert response.json()["prediction"]["probabilities"] == pytest.approx(expected.probabilities, abs=1e-4)
    assert response.json()["input"]["dicom"]["files"] == SLICES
    png = ("file", ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"))
    mixed = test_client.post("/v1/predictions", headers=headers, files=[files[0], png])
    assert mixed.status_code == 422 and "file 2 is not DICOM" in mixed.json()["detail"]


def test_a_series_sent_as_dicomweb_stow_instances(
    client: tuple[TestClient, dict[str, str], Path], volume_run: Path, tmp_path: Path
) -> None:
    """DICOMweb STOW-RS sends a series as the instances of one multipart/related body."""
    from medimg import Model

    test_client, headers, _ = client
    folder = _series(tmp_path / "study", "tumour", 97)
    boundary = "stow.7d1f"
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + f.read_bytes() + b"\r\n"
            for f in sorted(folder.glob("*.dcm"))
        )
        + f"--{boundary}--\r\n".encode()
    )
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    response = test_client.post("/v1/predictions", headers={**headers, "Content-Type": content_type}, content=body)
    assert response.status_code == 201, response.text
    (expected,) = Model.load(volume_run).predict(folder)
    assert response.json()["prediction"]["probabilities"] == pytest.approx(expected.probabilities, abs=1e-4)
