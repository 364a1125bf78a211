"""Nothing of an upload's headers reaches the service's log, its API answers or its disk before de-identification:
pydicom's warnings about malformed values (which quote them), the training metadata's file paths, and uploads that
are not a format the service reads."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import pydicom
import pytest

from medimg.io.deidentify import deidentify_bytes
from tests.serve.support import ct_small, service_client

#: UIDs as legacy PACS exports write them: a component with a leading zero, an MRN inside the UID
MALFORMED_UIDS = {
    "StudyInstanceUID": "1.2.840.113619.2.55.3.0604688.1",
    "SeriesInstanceUID": "1.2.840.113619.2.55.3.0604688.1.2",
    "SOPInstanceUID": "1.2.826.0.1.3680043.9999.0.0.MRN100000",
}


def malformed_dicom() -> bytes:
    dataset = pydicom.dcmread(ct_small())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for keyword, uid in MALFORMED_UIDS.items():
            setattr(dataset, keyword, uid)
        dataset.file_meta.MediaStorageSOPInstanceUID = MALFORMED_UIDS["SOPInstanceUID"]
        buffer = io.BytesIO()
        dataset.save_as(buffer)
    return buffer.getvalue()


def leaked(text: str) -> list[str]:
    return [uid for uid in MALFORMED_UIDS.values() if uid in text or "0604688" in text or "MRN100000" in text]


def test_deidentifying_a_malformed_uid_warns_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """pydicom's validation quoted each malformed original UID (a UserWarning and a 'pydicom' log record) while the
    file was parsed, before the UIDs were replaced: `medimg serve` wrote them into its log."""
    upload = malformed_dicom()
    caplog.clear()  # making it logged them
    logging.getLogger("pydicom").setLevel(logging.WARNING)  # as before the service quietens it
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        data, dataset = deidentify_bytes(upload, salt="k")
    said = caplog.text + "\n".join(str(w.message) for w in shown)
    assert not leaked(said), said
    for keyword in MALFORMED_UIDS:
        assert str(dataset.get(keyword)).startswith("2.25.")
    assert not leaked(data.decode("latin-1"))
    assert logging.getLogger("pydicom").filters  # this thread's records dropped only while de-identifying
    with caplog.at_level(logging.WARNING, logger="pydicom"):
        logging.getLogger("pydicom").warning("after")
    assert "after" in caplog.text


def test_a_dicom_upload_with_malformed_uids_leaves_them_out_of_the_log(
    deploy_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    upload = malformed_dicom()
    caplog.clear()
    capfd.readouterr()
    with (
        service_client(deploy_run, tmp_path / "reports.db") as (client, headers),
        caplog.at_level(logging.DEBUG),
        warnings.catch_warnings(record=True) as shown,
    ):
        warnings.simplefilter("always")
        answer = client.post("/v1/predictions", headers=headers, files={"file": ("a.dcm", upload)})
    assert answer.status_code == 201, answer.text
    said = caplog.text + "\n".join(str(w.message) for w in shown) + "".join(capfd.readouterr())
    assert not leaked(said + answer.text), said


def test_the_models_endpoint_names_no_training_file(deploy_run: Path, tmp_path: Path) -> None:
    """`GET /v1/models` served `training.excluded_files` (training paths: patient names and MRNs in folder names),
    `teacher` and `synthetic_source`; it now shows only the fields listed for it."""
    import json
    import shutil

    run = shutil.copytree(deploy_run, tmp_path / "run")
    metadata = json.loads((run / "metadata.json").read_text())
    place = "data/normal/Smith_John_MRN100000/Smith_John_0.dcm"
    metadata["training"].update(
        excluded_files=[{"case_id": place, "path": place, "label": "normal", "reason": "label conflict"}],
        skipped_files=[[place, "unreadable"]],
        teacher="runs/Smith_John_MRN100000/exp1",
        synthetic_source="synthetic/Smith_John_MRN100000",
        semi_supervised={"method": "mean-teacher", "pool": "unlabelled/Smith_John_MRN100000"},
        a_field_added_later="Smith_John_MRN100000",
    )
    (run / "metadata.json").write_text(json.dumps(metadata))
    with service_client(run, tmp_path / "reports.db") as (client, headers):
        answer = client.get("/v1/models", headers=headers)
    assert answer.status_code == 200, answer.text
    assert "MRN100000" not in answer.text
    training = answer.json()["models"][0]["training"]
    assert training["epochs_run"] == metadata["training"]["epochs_run"] and "best_val_auc_bacc" in training
    assert not {"excluded_files", "skipped_files", "teacher", "synthetic_source", "semi_supervised"} & set(training)


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_an_unrecognised_upload_is_refused_in_memory_without_quoting_it(
    deploy_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A .tar of a DICOM series (a PACS export), a .tar.gz or a .dcm.gz was written raw (with its PHI) to the
    working folder before the 415; the answer quoted the tar member's name and advised re-exporting as PNG."""
    import gzip

    dicom = ct_small().read_bytes()
    member = "Smith_John_MRN100000/IM0.dcm"
    uploads = {
        "tar": (_tar({member: dicom}), "a tar archive"),
        "tar.gz": (_tar({member: dicom}, "w:gz"), "a tar archive compressed with gzip"),
        "dcm.gz": (gzip.compress(dicom), "a gzip-compressed DICOM file"),
        "text": (b"Smith_John_MRN100000 notes\n" * 40, "unrecognised image format"),
    }
    written: list[bytes] = []
    original = Path.write_bytes

    def spy(self: Path, data: bytes) -> int:  # type: ignore[override]
        written.append(bytes(data))
        return original(self, data)

    with service_client(deploy_run, tmp_path / "reports.db") as (client, headers):
        monkeypatch.setattr(Path, "write_bytes", spy)
        for name, (body, says) in uploads.items():
            written.clear()
            answer = client.post("/v1/predictions", headers=headers, files={"file": (f"x.{name}", body)})
            assert answer.status_code == 415, (name, answer.text)
            detail = answer.json()["detail"]
            assert says in detail and "Smith" not in detail and "MRN" not in detail, (name, detail)
            assert not written, (name, len(written))
            if name != "text":
                assert ".zip" in detail and "PNG" not in detail, detail
        monkeypatch.undo()
        png = client.post("/v1/predictions", headers=headers, files={"file": ("a.png", phantom_png(deploy_run))})
    assert png.status_code == 201, png.text


def phantom_png(run: Path) -> bytes:
    from tests.serve.support import phantom_file

    return phantom_file(run).read_bytes()
