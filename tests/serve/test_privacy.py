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
