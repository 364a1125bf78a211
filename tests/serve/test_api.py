"""The service API with TestClient: auth, predictions, reports (JSON/HTML/FHIR), paging, refusals, de-identification."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from medimg.serve import ServeSettings, create_app
from medimg.serve.dependencies import get_settings
from medimg.serve.storage import Storage, hash_token
from tests.serve.databases import TestDatabase
from tests.serve.support import ct_small, phantom_file

Service = tuple[TestClient, dict[str, str], TestDatabase]


@pytest.fixture
def service(deploy_run: Path, database: TestDatabase) -> Iterator[Service]:
    """The app on each database kind (SQLite, PostgreSQL), with a token."""
    settings = ServeSettings(run_dir=deploy_run, database=database.url)
    storage = Storage(settings.database_url)
    _, token = storage.create_token("tests")
    storage.close()
    with TestClient(create_app(settings)) as client:
        yield client, {"Authorization": f"Bearer {token}"}, database


def upload(client: TestClient, headers: dict[str, str], data: bytes, name: str = "image.png") -> httpx.Response:
    return client.post("/v1/predictions", headers=headers, files={"file": (name, data, "application/octet-stream")})


def test_health_is_open_everything_else_needs_a_token(service: Service) -> None:
    client, headers, database = service
    assert client.get("/healthz").json() == {"status": "ok", "model_loaded": True, "database": "ok"}
    for path in ("/v1/models", "/v1/reports", "/v1/reports/abc"):
        refused = client.get(path)
        assert refused.status_code == 401 and "token" in refused.json()["detail"]
        assert client.get(path, headers={"Authorization": "Bearer mdg_wrong"}).status_code == 401
    assert upload(client, {}, b"\x89PNG\r\n\x1a\n").status_code == 401
    assert client.get("/v1/models", headers={"X-API-Key": headers["Authorization"][7:]}).status_code == 200
    # HTTP Basic, for clients that speak nothing else: the token as the password, or as the user with no password
    for login in (("medimg", headers["Authorization"][7:]), (headers["Authorization"][7:], "")):
        assert client.get("/v1/models", auth=login).status_code == 200
    assert client.get("/v1/models", auth=("medimg", "mdg_wrong")).status_code == 401
    for malformed in ("Basic abc", "Basic " + base64.b64encode(b"no-colon").decode()):  # was a bare "Not authenticated"
        refused = client.get("/v1/models", headers={"Authorization": malformed})
        assert refused.status_code == 401 and "not base64 of 'user:token'" in refused.json()["detail"], refused.text
        assert "medimg token create" in refused.json()["detail"]
    storage = Storage(database.url)
    (token,) = storage.list_tokens()
    assert storage.revoke_token(token.id)
    assert client.get("/v1/models", headers=headers).status_code == 401
    storage.close()
    stored = database.stored_bytes()
    assert hash_token(headers["Authorization"][7:]).encode() in stored  # what is stored: the hash...
    assert headers["Authorization"][7:].encode() not in stored  # ...never the token


def test_png_prediction_and_report_formats(service: Service, deploy_run: Path) -> None:
    client, headers, database = service
    response = upload(client, headers, phantom_file(deploy_run).read_bytes())
    assert response.status_code == 201, response.text
    report = response.json()
    prediction = report["prediction"]
    assert set(prediction["probabilities"]) == {"normal", "lesion"}
    # every data set's first run is exp1: reports name the run with its parent, and the weights that answered
    assert report["model"]["name"] == f"{deploy_run.parent.name}/{deploy_run.name}"
    weights = json.loads((deploy_run / "metadata.json").read_text())["weights_sha256"]["model.pt"]
    assert report["model"]["weights_sha256"] == weights
    assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-6
    assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    assert report["explanation"]["method"] == "gradcam" and report["input"]["format"] == "png"

    stored = client.get(f"/v1/reports/{report['id']}", headers=headers).json()
    assert stored["prediction"] == prediction
    for kind in ("image", "heatmap", "overlay"):
        png = client.get(f"/v1/reports/{report['id']}/{kind}.png", headers=headers)
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    page = client.get(f"/v1/reports/{report['id']}?format=html", headers=headers)
    assert page.headers["content-type"].startswith("text/html")
    assert prediction["label"] in page.text and "data:image/png;base64," in page.text and "@media print" in page.text
    accept_html = client.get(f"/v1/reports/{report['id']}", headers={**headers, "Accept": "text/html"})
    assert accept_html.headers["content-type"].startswith("text/html")
    assert client.get("/v1/reports/0123456789abcdef", headers=headers).status_code == 404
    assert database.state() == (1, "ok")


def test_fhir_diagnostic_report(service: Service, deploy_run: Path) -> None:
    client, headers, _ = service
    report = upload(client, headers, phantom_file(deploy_run).read_bytes()).json()
    response = client.get(f"/v1/reports/{report['id']}", headers={**headers, "Accept": "application/fhir+json"})
    assert response.headers["content-type"].startswith("application/fhir+json")
    fhir = response.json()
    assert fhir["resourceType"] == "DiagnosticReport" and fhir["id"] == report["id"]
    assert fhir["status"] in {"registered", "partial", "preliminary", "final"}
    assert fhir["code"]["coding"][0]["system"] == "http://loinc.org"
    assert fhir["issued"].endswith("+00:00") and "subject" not in fhir
    contained = {r["id"]: r for r in fhir["contained"]}
    values = []
    for reference in fhir["result"]:
        observation = contained[reference["reference"].removeprefix("#")]
        assert observation["resourceType"] == "Observation" and observation["device"]["reference"] == "#model"
        values.append(observation["valueQuantity"]["value"])
    assert contained["model"]["resourceType"] == "Device"
    assert sorted(values) == pytest.approx(sorted(report["prediction"]["probabilities"].values()), abs=1e-6)
    forms = {f["contentType"]: f for f in fhir["presentedForm"]}
    assert report["prediction"]["label"] in base64.b64decode(forms["text/html"]["data"]).decode()
    assert base64.b64decode(forms["image/png"]["data"]).startswith(b"\x89PNG")


def test_history_is_paged(service: Service, deploy_run: Path) -> None:
    client, headers, _ = service
    ids = [upload(client, headers, phantom_file(deploy_run, "normal", i).read_bytes()).json()["id"] for i in range(3)]
    first = client.get("/v1/reports?limit=2", headers=headers).json()
    assert first["total"] == 3 and len(first["items"]) == 2 and first["next"] == "/v1/reports?limit=2&offset=2"
    second = client.get(first["next"], headers=headers).json()
    assert second["next"] is None and len(second["items"]) == 1
    listed = [item["id"] for item in first["items"] + second["items"]]
    assert sorted(listed) == sorted(ids) and listed[0] == ids[-1]  # newest first
    assert client.get("/v1/reports?limit=0", headers=headers).status_code == 422


def test_a_retried_upload_with_an_idempotency_key_answers_its_first_report(service: Service, deploy_run: Path) -> None:
    """A client that lost the answer (a timeout, a dropped connection) and sends the upload again with its key
    gets the stored report, not a second one; the key names one file, and each caller's keys are its own."""
    client, headers, database = service
    image = phantom_file(deploy_run).read_bytes()
    keyed = {**headers, "Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324"}
    first = upload(client, keyed, image)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = upload(client, keyed, image, name="renamed.png")  # the same bytes, whatever the client calls them
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    assert client.get("/v1/reports", headers=headers).json()["total"] == 1
    other_file = upload(client, keyed, phantom_file(deploy_run, "normal", 1).read_bytes())
    assert other_file.status_code == 422 and "used for another file" in other_file.json()["detail"]
    storage = Storage(database.url)
    _, second_token = storage.create_token("another client")
    storage.close()
    theirs = upload(
        client, {"Authorization": f"Bearer {second_token}", "Idempotency-Key": keyed["Idempotency-Key"]}, image
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]  # keys are per caller
    assert upload(client, headers, image).status_code == 201  # without a key, every upload is a new report
    assert client.get("/v1/reports", headers=headers).json()["total"] == 2  # its own two: the other caller's is theirs
    for bad in ("", "x" * 256, "two words"):
        refused = upload(client, {**headers, "Idempotency-Key": bad}, image)
        assert refused.status_code == 400 and "Idempotency-Key" in refused.json()["detail"]


def test_an_idempotency_key_names_its_upload_for_a_day_then_a_new_one(service: Service, deploy_run: Path) -> None:
    """A key sent again after ``idempotency_key_hours`` (24 by default) is a new upload: predicted and stored anew,
    the old report kept without the key; before, a client that reuses keys (a counter per day) was answered the
    old report forever."""
    client, headers, database = service
    keyed = {**headers, "Idempotency-Key": "daily-0001"}
    image = phantom_file(deploy_run).read_bytes()
    first = upload(client, keyed, image)
    assert first.status_code == 201
    expired = ServeSettings(run_dir=deploy_run, database=database.url, idempotency_key_hours=1e-9)
    client.app.dependency_overrides[get_settings] = lambda: expired  # type: ignore[attr-defined]
    try:
        later = upload(client, keyed, phantom_file(deploy_run, "normal", 1).read_bytes())  # another file: allowed now
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert client.get(first.headers["Location"], headers=headers).status_code == 200  # the old report is kept
    replay = upload(client, keyed, phantom_file(deploy_run, "normal", 1).read_bytes())  # within the day: the new one
    assert replay.status_code == 200 and replay.json()["id"] == later.json()["id"]
    assert database.state() == (2, "ok")


def test_dicom_is_deidentified_before_storage_and_logs(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    import pydicom

    client, headers, database = service
    original = pydicom.dcmread(ct_small())
    identifiers = [str(original.PatientName), str(original.PatientID), original.StudyInstanceUID]
    identifiers += [original.SOPInstanceUID, str(original.InstitutionName)]
    with caplog.at_level(logging.DEBUG):
        first = upload(client, headers, ct_small().read_bytes(), name=f"{original.PatientName}.dcm")
        second = upload(client, headers, ct_small().read_bytes())
    assert first.status_code == 201, first.text
    info = first.json()["input"]["dicom"]
    assert info["patient_identity_removed"] is True and info["Modality"] == "CT"
    assert info["StudyInstanceUID"].startswith("2.25.") and info["StudyInstanceUID"] != original.StudyInstanceUID
    assert second.json()["input"]["dicom"]["StudyInstanceUID"] == info["StudyInstanceUID"]  # consistent
    printed = client.get(f"/v1/reports/{first.json()['id']}?format=html", headers=headers).text
    assert info["StudyInstanceUID"] in printed  # a printed report can be matched back to its study (it could not)
    everything = json.dumps([first.json(), second.json()]) + caplog.text
    fhir = client.get(f"/v1/reports/{first.json()['id']}?format=fhir", headers=headers).json()
    for form in fhir.pop("presentedForm"):  # search the attachments decoded, not their base64 (random matches)
        if form["contentType"] == "text/html":
            everything += re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", base64.b64decode(form["data"]).decode())
    everything += json.dumps(fhir)
    stored = database.stored_bytes()
    assert info["StudyInstanceUID"].encode() in stored  # the search does see the stored reports
    for identifier in identifiers:
        assert identifier not in everything, identifier
        assert identifier.encode() not in stored, identifier


def test_a_dicom_with_burned_in_annotation_is_refused_and_nothing_stored(service: Service) -> None:
    """BurnedInAnnotation YES (a name drawn into the pixels): the basic profile keeps pixels, and the report stored
    a picture of the upload."""
    import io

    import pydicom

    client, headers, _ = service
    dataset = pydicom.dcmread(ct_small())
    dataset.BurnedInAnnotation = "YES"
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    before = client.get("/v1/reports", headers=headers).json()["total"]
    answer = upload(client, headers, buffer.getvalue())
    assert answer.status_code == 422 and "burned-in annotation" in answer.json()["detail"]
    assert client.get("/v1/reports", headers=headers).json()["total"] == before


def png_bomb(side: int) -> bytes:
    """A valid 1-bit PNG of side x side pixels that compresses to a few kB."""
    raw = zlib.compress(b"\x00" * ((side // 8 + 1) * side), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def nifti_volume() -> bytes:
    import nibabel as nib

    image = nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4))
    return image.to_bytes()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan.png", b"not really")
    return buffer.getvalue()


def dicom_frames_1a() -> bytes:
    """pydicom's badVR.dcm: NumberOfFrames '1A' (was a 500: the pixel count's int('1A'))."""
    from pydicom.data import get_testdata_file

    return Path(str(get_testdata_file("badVR.dcm"))).read_bytes()


def dicom_unknown_vr() -> bytes:
    """CT_small with an unknown value representation ('CI') in its file meta (was a 500: pydicom's
    NotImplementedError)."""
    data = ct_small().read_bytes()
    assert data.count(b"\x02\x00\x03\x00UI") == 1
    return data.replace(b"\x02\x00\x03\x00UI", b"\x02\x00\x03\x00CI")


BAD_UPLOADS = {
    "empty": (lambda: b"", 400, "empty"),
    "truncated-dicom": (lambda: ct_small().read_bytes()[:2000], 422, "DICOM"),
    "text-named-png": (lambda: b"patient notes, definitely not an image\n" * 5, 415, "unrecognised image format"),
    "zip": (zip_bytes, 422, "no DICOM files"),  # a zip is read as a DICOM series; this one has none
    "gif": (lambda: b"GIF89a" + b"\x01\x00\x01\x00" + b"\x00" * 40, 415, "GIF files are not accepted"),
    "decompression-bomb": (lambda: png_bomb(30_000), 413, "limit"),
    "3d-volume-for-2d-model": (nifti_volume, 422, "expects 2D"),
    "dicom-malformed-frame-count": (dicom_frames_1a, 422, "the DICOM file cannot be read"),
    "dicom-unknown-vr": (dicom_unknown_vr, 422, "the DICOM file cannot be read: Unknown Value Representation"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_upload_is_refused_and_database_intact(case: str, service: Service, deploy_run: Path) -> None:
    client, headers, database = service
    assert upload(client, headers, phantom_file(deploy_run).read_bytes()).status_code == 201
    make, status, message = BAD_UPLOADS[case]
    response = upload(client, headers, make(), name="scan.png")
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json" and message in response.json()["detail"]
    assert database.state() == (1, "ok")
    assert upload(client, headers, phantom_file(deploy_run).read_bytes()).status_code == 201  # still serving
    assert database.state() == (2, "ok")


def test_an_unreadable_upload_is_named_without_the_servers_work_folder(service: Service) -> None:
    """A PNG signature and random bytes: the 422 said "cannot identify image file '/tmp/medimg-serve-0/server-23369-
    .../request-.../upload.png'", telling a client the server's user, process and folders."""
    client, headers, _ = service
    garbage = b"\x89PNG\r\n\x1a\n" + np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    response = upload(client, headers, garbage, name="scan.png")
    detail = response.json()["detail"]
    assert response.status_code == 422 and "upload.png" in detail, detail
    assert "medimg-serve" not in detail and "request-" not in detail and "/tmp" not in detail, detail


def test_a_nifti_whose_affine_makes_absurd_pixels_is_answered(service: Service) -> None:
    """A 2D NIfTI whose sform makes its pixels 8,388 km by 1 mm (a damaged header): drawing it with square pixels
    asked Pillow for a 24 x 167,772,160 picture, a MemoryError and a 500."""
    import nibabel as nib

    client, headers, database = service
    affine = np.eye(4)
    affine[1, 0] = 8388608.0
    image = nib.Nifti1Image(np.random.default_rng(0).random((20, 24, 1), np.float32), affine)
    answer = upload(client, headers, image.to_bytes(), name="slice.nii")
    assert answer.status_code == 201, answer.text
    picture = client.get(answer.json()["links"]["image"], headers=headers)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert database.state() == (1, "ok")


def test_oversize_upload_with_overridden_settings(service: Service, deploy_run: Path) -> None:
    client, headers, database = service
    small = ServeSettings(run_dir=deploy_run, database=database.url, max_upload_bytes=500)
    client.app.dependency_overrides[get_settings] = lambda: small  # type: ignore[attr-defined]
    try:
        response = upload(client, headers, phantom_file(deploy_run).read_bytes())
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert response.status_code == 413 and "500 bytes" in response.json()["detail"]
    assert database.state() == (0, "ok")


def test_models_endpoint_and_openapi(service: Service) -> None:
    client, headers, _ = service
    (model,) = client.get("/v1/models", headers=headers).json()["models"]
    assert model["class_names"] == ["normal", "lesion"] and model["network"] == "simple-cnn"
    schema = client.get("/openapi.json").json()
    assert {"/v1/predictions", "/v1/reports", "/v1/reports/{report_id}", "/v1/models", "/healthz"} <= set(
        schema["paths"]
    )
    docs = client.get("/docs")  # readable offline: nothing loaded from a CDN
    assert docs.status_code == 200 and "/v1/predictions" in docs.text and "Upload an image" in docs.text
    assert "http" not in docs.text.replace("http-equiv", "")
    page = client.get("/")
    assert page.status_code == 200 and 'id="drop"' in page.text


def test_clients_that_name_the_field_otherwise_or_send_the_raw_body(service: Service, deploy_run: Path) -> None:
    client, headers, database = service
    png = phantom_file(deploy_run).read_bytes()
    named = client.post("/v1/predictions", headers=headers, files={"image": ("scan.png", png, "image/png")})
    assert named.status_code == 201, named.text
    # curl --data-binary without -H sends x-www-form-urlencoded; requests.post(data=file) and fetch(file) none
    for content_type in ("application/octet-stream", "image/png", "application/x-www-form-urlencoded", None):
        raw_headers = {**headers, **({"Content-Type": content_type} if content_type else {})}
        raw = client.post("/v1/predictions", headers=raw_headers, content=png)
        assert raw.request.headers.get("content-type") == content_type
        assert raw.status_code == 201, raw.text
        assert raw.json()["prediction"] == named.json()["prediction"]
    dicom = client.post(
        "/v1/predictions", headers={**headers, "Content-Type": "application/dicom"}, content=ct_small().read_bytes()
    )
    assert dicom.status_code in (201, 422), dicom.text  # read as DICOM: a CT slice may not fit a PNG model
    assert "format" not in dicom.json().get("detail", "")
    two = client.post(
        "/v1/predictions", headers=headers, files={"a": ("a.png", png, "image/png"), "b": ("b.png", png, "image/png")}
    )
    assert two.status_code in (400, 422) and "detail" in two.json()
    # JSON clients (a web or mobile app): the file as base64, plain or as the data URL a browser's FileReader makes
    encoded = base64.b64encode(png).decode()
    for body in ({"image": encoded}, {"file": f"data:image/png;base64,{encoded}"}):
        as_json = client.post("/v1/predictions", headers=headers, json=body)
        assert as_json.status_code == 201, as_json.text
        assert as_json.json()["prediction"] == named.json()["prediction"]
    not_an_image = client.post("/v1/predictions", headers=headers, json={"image": "aGVsbG8="})  # "hello"
    assert not_an_image.status_code == 415 and "unrecognised image format" in not_an_image.json()["detail"]
    for body, words in (({"name": "scan.png"}, "base64 string"), ({"image": "not base64!"}, "not valid base64")):
        refused = client.post("/v1/predictions", headers=headers, json=body)
        assert refused.status_code == 400 and words in refused.json()["detail"], refused.text
    bad_json = client.post("/v1/predictions", headers={**headers, "Content-Type": "application/json"}, content=b"{")
    assert bad_json.status_code == 400 and "cannot be parsed" in bad_json.json()["detail"]
    small = ServeSettings(run_dir=deploy_run, database=database.url, max_upload_bytes=500)
    client.app.dependency_overrides[get_settings] = lambda: small  # type: ignore[attr-defined]
    try:
        raw_headers = {**headers, "Content-Type": "application/octet-stream"}
        big = client.post("/v1/predictions", headers=raw_headers, content=png)
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert big.status_code == 413 and "500 bytes" in big.json()["detail"]
    assert database.state() == (7 + (dicom.status_code == 201), "ok")


def test_pgm_webp_jpeg2000_metaimage_and_nrrd_uploads_predict_as_the_png(
    service: Service, deploy_run: Path, tmp_path: Path
) -> None:
    """A scan exported by ITK tools (3D Slicer, grand-challenge sets), as Netpbm, lossless WebP (grey stored as RGB)
    or JPEG 2000 is read, not refused (415)."""
    import SimpleITK as sitk
    from PIL import Image

    client, headers, database = service
    png_path = phantom_file(deploy_run)
    expected = upload(client, headers, png_path.read_bytes()).json()["prediction"]
    pixels = np.asarray(Image.open(png_path).convert("L"))
    Image.fromarray(pixels).save(tmp_path / "scan.pgm")
    Image.fromarray(pixels).save(tmp_path / "scan.webp", lossless=True)
    Image.fromarray(pixels).save(tmp_path / "scan.jp2")  # reversible wavelet: lossless
    for name in ("scan.mha", "scan.nrrd"):  # ITK images are read in index order (x, y), as NIfTI: transposed here
        sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(pixels.T)), str(tmp_path / name))
    for name in ("scan.pgm", "scan.webp", "scan.jp2", "scan.mha", "scan.nrrd"):
        response = upload(client, headers, (tmp_path / name).read_bytes(), name="upload")
        assert response.status_code == 201, (name, response.text)
        assert response.json()["prediction"]["label"] == expected["label"], name
        assert response.json()["prediction"]["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-4)
    sitk.WriteImage(sitk.GetImageFromArray(pixels), str(tmp_path / "detached.mhd"))  # + detached.raw
    detached = upload(client, headers, (tmp_path / "detached.mhd").read_bytes(), name="detached.mhd")
    assert detached.status_code == 422 and "detached.raw" in detached.json()["detail"]
    assert ".mha" in detached.json()["detail"]
    assert database.state() == (6, "ok")


def test_npz_and_hdf5_array_uploads_predict_as_the_png(service: Service, deploy_run: Path, tmp_path: Path) -> None:
    """An image saved as arrays (``np.savez(image=..., label=...)``, an HDF5 file) is read as ``medimg predict``
    reads it; an ``.npz`` is a zip, and it was taken for a zipped DICOM series and refused."""
    import h5py
    from PIL import Image

    client, headers, database = service
    png_path = phantom_file(deploy_run)
    expected = upload(client, headers, png_path.read_bytes()).json()["prediction"]
    pixels = np.asarray(Image.open(png_path).convert("L"))
    np.savez(tmp_path / "slice.npz", image=pixels, label=np.zeros_like(pixels))
    with h5py.File(tmp_path / "slice.h5", "w") as handle:
        handle["image"] = pixels
    for name in ("slice.npz", "slice.h5"):
        response = upload(client, headers, (tmp_path / name).read_bytes(), name=name)
        assert response.status_code == 201, (name, response.text)
        assert response.json()["input"]["format"] == name.split(".")[1].replace("h5", "hdf5")
        assert response.json()["prediction"]["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-4)
    np.savez(tmp_path / "dataset.npz", train_images=np.stack([pixels] * 3), train_labels=np.zeros((3, 1)))
    dataset = upload(client, headers, (tmp_path / "dataset.npz").read_bytes(), name="dataset.npz")
    assert dataset.status_code == 422 and "medimg fit" in dataset.json()["detail"]
    assert database.state() == (3, "ok")


def test_cors_is_off_by_default_and_opens_to_the_origins_given(deploy_run: Path, tmp_path: Path) -> None:
    """A viewer on another origin (a hospital's web PACS) calls the API from the browser only when allowed."""
    from pydantic import ValidationError

    storage = Storage(f"sqlite:///{tmp_path / 'cors.db'}")
    _, token = storage.create_token("tests")
    storage.close()
    viewer = "https://viewer.hospital.example"
    preflight = {"Origin": viewer, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"}  # fmt: skip
    closed = ServeSettings(run_dir=deploy_run, database=str(tmp_path / "cors.db"))
    with TestClient(create_app(closed)) as client:
        answer = client.options("/v1/predictions", headers=preflight)
        assert "access-control-allow-origin" not in answer.headers
    opened = closed.model_copy(update={"cors_origins": [viewer]})
    with TestClient(create_app(opened)) as client:
        answer = client.options("/v1/predictions", headers=preflight)
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == viewer
        assert "authorization" in answer.headers["access-control-allow-headers"].lower()
        listed = client.get("/v1/models", headers={"Origin": viewer, "Authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == viewer
        other = client.options("/v1/predictions", headers={**preflight, "Origin": "https://elsewhere.example"})
        assert other.headers.get("access-control-allow-origin") != "https://elsewhere.example"
    with pytest.raises(ValidationError, match="not an origin"):
        ServeSettings(run_dir=deploy_run, cors_origins=["viewer.hospital.example/app"])


def test_a_multi_frame_dicom_is_classified_frame_by_frame(service: Service, deploy_run: Path, tmp_path: Path) -> None:
    """An ultrasound cine uploaded to a 2D classifier was refused ("3D"): every frame is predicted as `medimg predict`
    predicts it, the report gives the label most frames have with the mean probabilities, each frame's label, and
    shows the frame most probably of that label."""
    from medimg import Model
    from tests.io.conftest import write_dicom

    client, headers, _ = service
    rng = np.random.default_rng(0)
    frames = np.clip(rng.normal(90, 40, (5, 32, 32)), 0, 255)
    frames[1:4, 8:24, 8:24] = 250
    cine = write_dicom(tmp_path / "us.dcm", frames, modality="US", bits_stored=8, series_uid="1.2.9")
    response = upload(client, headers, cine.read_bytes(), "us.dcm")
    assert response.status_code == 201, response.text
    report = response.json()
    *per_frame, _summary = Model.load(deploy_run).predict(cine)
    listed = report["input"]["frames"]
    assert listed["count"] == 5 and [f["label"] for f in listed["per_frame"]] == [p.label for p in per_frame]
    names = list(per_frame[0].probabilities)
    mean = {n: float(np.mean([p.probabilities[n] for p in per_frame])) for n in names}
    assert report["prediction"]["probabilities"] == pytest.approx(mean, abs=1e-4)
    counts = {n: sum(p.label == n for p in per_frame) for n in names}
    assert listed["label_counts"] == counts and report["prediction"]["label"] == max(
        names, key=lambda n: (counts[n], mean[n])
    )
    page = client.get(report["links"]["html"], headers=headers).text
    assert "Frames" in page and f"shown: frame {listed['shown']}" in page


def _related(parts: list[tuple[str, bytes]], boundary: str = "DICOMwebBoundary.3f2a") -> tuple[bytes, str]:
    body = b"preamble\r\n"
    for kind, data in parts:
        body += f"--{boundary}\r\nContent-Type: {kind}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary="{boundary}"'


def test_a_dicomweb_stow_style_upload_is_read(service: Service) -> None:
    """A DICOMweb client (STOW-RS) posts the instance as a part of a multipart/related body: the same report as the
    raw file; several instances are one series (two at one position are not; one sent twice is one), a body
    without its boundary is a 400."""
    import pydicom

    client, headers, _ = service
    dicom = ct_small().read_bytes()
    raw = client.post("/v1/predictions", headers={**headers, "Content-Type": "application/dicom"}, content=dicom)
    body, content_type = _related([("application/dicom", dicom)])
    related = client.post("/v1/predictions", headers={**headers, "Content-Type": content_type}, content=body)
    assert related.status_code == 201, related.text
    assert related.json()["prediction"] == raw.json()["prediction"]
    assert related.json()["input"]["dicom"] == raw.json()["input"]["dicom"]
    retried, content_type = _related([("application/dicom", dicom), ("application/dicom", dicom)])
    again = client.post("/v1/predictions", headers={**headers, "Content-Type": content_type}, content=retried)
    assert again.status_code == 201 and again.json()["prediction"] == raw.json()["prediction"]  # one copy read
    other = pydicom.dcmread(io.BytesIO(dicom))
    other.SOPInstanceUID = pydicom.uid.generate_uid()  # another instance at the same position
    written = io.BytesIO()
    other.save_as(written)
    two, content_type = _related([("application/dicom", dicom), ("application/dicom", written.getvalue())])
    refused = client.post("/v1/predictions", headers={**headers, "Content-Type": content_type}, content=two)
    assert refused.status_code == 422 and "series cannot be read" in refused.json()["detail"]
    lost = client.post("/v1/predictions", headers={**headers, "Content-Type": "multipart/related"}, content=body)
    assert lost.status_code == 400 and "boundary" in lost.json()["detail"]


def test_an_upload_may_name_the_class_its_heatmap_explains(service: Service, deploy_run: Path) -> None:
    """`?explain_class=` was ignored (201, the predicted class explained): the service had no equivalent of
    `medimg predict --explain-class`."""
    client, headers, _ = service
    data = phantom_file(deploy_run).read_bytes()

    def post(query: str) -> httpx.Response:
        files = {"file": ("image.png", data, "application/octet-stream")}
        return client.post(f"/v1/predictions{query}", headers=headers, files=files)

    plain = post("").json()
    other = next(name for name in plain["prediction"]["probabilities"] if name != plain["prediction"]["label"])
    answer = post(f"?explain_class={other.upper()}")
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert report["explanation"]["class"] == other != report["prediction"]["label"]
    assert report["prediction"]["probabilities"] == pytest.approx(plain["prediction"]["probabilities"], abs=1e-6)
    refused = post("?explain_class=tumour")
    assert refused.status_code == 422 and "'normal', 'lesion'" in refused.json()["detail"]
