"""Serving a segmentation run: per-class areas, the mask and an overlay over the API, stored reports as JSON, HTML
and FHIR (one Observation per class), the web page's segmentation view, and databases from older versions."""

from __future__ import annotations

import base64
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from medimg.serve.storage import Storage
from tests.serve.support import disc_files, service_client


@pytest.fixture
def seg_service(seg_run: Path, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with service_client(seg_run, tmp_path / "reports.db") as served:
        yield served


def _upload(client: TestClient, headers: dict[str, str], path: Path) -> dict:
    response = client.post(
        "/v1/predictions", headers=headers, files={"file": (path.name, path.read_bytes(), "application/octet-stream")}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_png_segmentation_matches_the_torch_model(
    seg_service: tuple[TestClient, dict[str, str]], seg_run: Path, tmp_path: Path
) -> None:
    from PIL import Image

    from medimg import Model

    client, headers = seg_service
    (model,) = client.get("/v1/models", headers=headers).json()["models"]
    assert model["task"] == "segment" and model["explain_method"] is None
    source = disc_files(seg_run, tmp_path / "inputs")["large"]
    report = _upload(client, headers, source)
    assert report["task"] == "segment" and report["explanation"] is None
    seg = report["segmentation"]
    assert seg["count_unit"] == "pixel" and seg["measure"] == "area_mm2" and seg["size_unit"] is None
    assert [c["name"] for c in seg["classes"]] == ["background", "foreground"]
    assert sum(c["count"] for c in seg["classes"]) == 45 * 37
    assert all(c["area_mm2"] is None for c in seg["classes"])  # a PNG has no spacing

    (expected,) = Model.load(seg_run).predict(source, out_dir=tmp_path / "torch")
    assert {c["name"]: c["count"] for c in seg["classes"]} == expected.voxels
    assert report["prediction"]["label"] == expected.label
    mask = client.get(seg["mask"], headers=headers)
    assert seg["mask"].endswith("/mask.png") and mask.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(mask.content))), np.asarray(Image.open(expected.mask_path))
    )
    overlay = client.get(seg["overlay"], headers=headers)
    assert overlay.status_code == 200 and overlay.content.startswith(b"\x89PNG")
    picture = np.asarray(Image.open(io.BytesIO(overlay.content)).convert("RGB"))
    assert picture.shape == (37, 45, 3) and (np.abs(picture[..., 0].astype(int) - picture[..., 2]) > 50).any()

    stored = client.get(f"/v1/reports/{report['id']}", headers=headers).json()
    assert stored["segmentation"] == seg
    assert "heatmap" not in report["links"]  # no explanation was made: no link that answers 404
    heatmap = client.get(f"/v1/reports/{report['id']}/heatmap.png", headers=headers)  # asked all the same
    assert heatmap.status_code == 404 and "a segment report has none: its overlay shows the mask" in heatmap.text
    assert "ran without explanations" not in heatmap.text  # it ran with its default, Grad-CAM: the cause was wrong
    for name, link in report["links"].items():
        assert client.get(link, headers=headers).status_code == 200, name
    assert client.get(f"/v1/reports/{report['id']}/mask.nii.gz", headers=headers).status_code == 404
    listed = client.get("/v1/reports", headers=headers).json()["items"]
    assert listed[0]["task"] == "segment"


def test_a_tiff_stack_is_segmented_section_by_section(
    seg_service: tuple[TestClient, dict[str, str]], seg_run: Path, tmp_path: Path
) -> None:
    """A 2D model's service given a multi-page TIFF (EM sections): every section segmented, as `medimg predict`
    does (it was a 422: "a 3D image for a 2D model")."""
    import tifffile
    from PIL import Image

    from medimg import Model

    client, headers = seg_service
    files = disc_files(seg_run, tmp_path / "inputs")
    section = np.asarray(Image.open(files["png"]).convert("L"))
    stack = tmp_path / "sections.tif"
    tifffile.imwrite(stack, np.stack([section, section[::-1], section[:, ::-1], section, section[::-1]]))
    report = _upload(client, headers, stack)
    seg = report["segmentation"]
    assert report["domain"]["in_domain"], report["domain"]
    assert seg["spatial_dims"] == 3 and sum(c["count"] for c in seg["classes"]) == 5 * section.size
    (expected,) = Model.load(seg_run).predict(stack, out_dir=tmp_path / "torch")
    assert {c["name"]: c["count"] for c in seg["classes"]} == expected.voxels


def test_nifti_areas_fhir_and_html(
    seg_service: tuple[TestClient, dict[str, str]], seg_run: Path, tmp_path: Path
) -> None:
    from medimg.io import read_image

    client, headers = seg_service
    report = _upload(client, headers, disc_files(seg_run, tmp_path / "inputs")["nifti"])
    seg = report["segmentation"]
    assert seg["size_unit"] == "mm2" and seg["spacing_mm"] == [0.5, 0.8]
    by_name = {c["name"]: c for c in seg["classes"]}
    assert by_name["foreground"]["count"] > 0
    for entry in seg["classes"]:
        assert entry["area_mm2"] == pytest.approx(entry["count"] * 0.4)
    mask = client.get(seg["mask"], headers=headers)
    assert seg["mask"].endswith("/mask.nii.gz") and mask.status_code == 200
    (tmp_path / "mask.nii.gz").write_bytes(mask.content)
    back = read_image(tmp_path / "mask.nii.gz")
    assert (
        back.spacing_mm == pytest.approx((0.5, 0.8)) and int((back.array > 0).sum()) == by_name["foreground"]["count"]
    )
    # the values the training masks held (0/255), as `medimg predict` writes them; the service wrote classes 0/1
    from medimg import Model

    source = disc_files(seg_run, tmp_path / "inputs")["nifti"]
    (expected,) = Model.load(seg_run).predict(source, out_dir=tmp_path / "torch")
    np.testing.assert_array_equal(back.array, read_image(expected.mask_path).array)
    assert set(np.unique(back.array)) == {0, 255}

    fhir = client.get(f"/v1/reports/{report['id']}?format=fhir", headers=headers).json()
    assert fhir["resourceType"] == "DiagnosticReport" and fhir["code"]["text"] == "AI image segmentation"
    contained = {r["id"]: r for r in fhir["contained"]}
    observations = [contained[r["reference"].removeprefix("#")] for r in fhir["result"]]
    assert len(observations) == len(seg["classes"])  # one Observation per class area
    for observation, entry in zip(observations, seg["classes"], strict=True):
        assert observation["resourceType"] == "Observation" and entry["name"] in observation["code"]["text"]
        quantity = observation["valueQuantity"]
        assert quantity["code"] == "mm2" and quantity["system"] == "http://unitsofmeasure.org"
        assert quantity["value"] == pytest.approx(entry["area_mm2"])
        assert observation["component"][0]["valueQuantity"]["value"] == entry["count"]
    assert "mm²" in fhir["conclusion"]
    forms = {f["contentType"]: f for f in fhir["presentedForm"]}
    assert base64.b64decode(forms["image/png"]["data"]).startswith(b"\x89PNG")
    page = client.get(f"/v1/reports/{report['id']}?format=html", headers=headers).text
    assert "Image segmentation report" in page and "Area (mm²)" in page and "foreground" in page


def test_web_page_has_the_segmentation_view(seg_service: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = seg_service
    page = client.get("/").text
    for hook in ('id="classes"', "showSegmentation", "segment-class", "seg.overlay", 'id="mask"'):
        assert hook in page, hook


def test_pure_measurements_overlay_and_3d_fhir() -> None:
    """The 3D path without a 3D model: volumes in mm^3, a NIfTI mask, the overlay of the busiest slice, FHIR."""
    from datetime import datetime, timezone

    from medimg.explain.overlay import image_picture
    from medimg.serve.reports import report_fhir, report_json
    from medimg.serve.segmentation import mask_file, measurements, overlay_picture
    from medimg.serve.storage import ReportRow

    labels = np.zeros((4, 10, 12), np.uint8)
    labels[2, 3:7, 4:9] = 1
    labels[1, 0:2, 0:2] = 2
    names = ["background", "liver", "lesion"]
    seg = measurements(labels, {"background": 0.9, "liver": 0.08, "lesion": 0.02}, names, (2.0, 1.0, 0.5))
    assert seg["count_unit"] == "voxel" and seg["size_unit"] == "mm3"
    assert [c["count"] for c in seg["classes"]] == [labels.size - 24, 20, 4]
    assert [c["volume_mm3"] for c in seg["classes"]] == [(labels.size - 24) * 1.0, 20.0, 4.0]
    data, fmt = mask_file(labels, nifti=False, affine=None, spacing_mm=(2.0, 1.0, 0.5), colours=None, num_classes=3)
    assert fmt == "nii.gz" and data[:2] == b"\x1f\x8b"
    # a 2D NIfTI slice stored (H, W, 1) gets an (H, W, 1) mask, as predict writes it (was (H, W): ITK viewers
    # placed it off its slice)
    import gzip

    import nibabel as nib

    flat, _ = mask_file(labels[2], nifti=True, affine=np.eye(4), spacing_mm=(1.0, 1.0), colours=None, num_classes=3)
    kept, _ = mask_file(
        labels[2], nifti=True, affine=np.eye(4), spacing_mm=(1.0, 1.0), colours=None, num_classes=3, squeezed_z=True
    )
    shapes = [nib.Nifti1Image.from_bytes(gzip.decompress(blob)).shape for blob in (flat, kept)]
    assert shapes == [(10, 12), (10, 12, 1)]
    _, shown = image_picture(np.zeros((1, *labels.shape), np.float32), evidence=labels > 0)
    assert shown is not None and (shown.axis, shown.index) == (0, 2) and (shown.cut(labels) == labels[2]).all()
    picture = overlay_picture(np.full((20, 24), 100, np.uint8), labels[2])
    assert picture.shape == (20, 24, 3) and (picture != 100).any() and (picture[0, 0] == 100).all()

    row = ReportRow(
        id="0" * 32,
        created_at=datetime.now(timezone.utc),
        model_name="run",
        task="segment",
        label="liver",
        label_index=1,
        confidence=0.08,
        probabilities={"background": 0.9, "liver": 0.08, "lesion": 0.02},
        explain_method=None,
        input_format="nifti",
        input_info={"format": "nifti", "shape": [1, 4, 10, 12], "spacing_mm": [2.0, 1.0, 0.5]},
        model_info={"network": "unet", "class_names": names},
        image_png=b"",
        heatmap_png=None,
        overlay_png=None,
        segmentation={**seg, "mask_format": "nii.gz"},
        mask_data=data,
    )
    assert report_json(row)["segmentation"]["mask"].endswith("/mask.nii.gz")
    fhir = report_fhir(row)
    quantities = [r["valueQuantity"] for r in fhir["contained"] if r["resourceType"] == "Observation"]
    assert [q["code"] for q in quantities] == ["mm3"] * 3 and [q["value"] for q in quantities][1:] == [20.0, 4.0]
    assert "liver 20 mm³ (20 voxels)" in fhir["conclusion"]


def test_database_from_an_older_version_gains_the_new_columns(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    with sqlite3.connect(database) as connection:  # the reports table as medimg wrote it before segmentation
        connection.execute(
            "CREATE TABLE reports (id VARCHAR(32) PRIMARY KEY, created_at DATETIME, model_name VARCHAR(200), "
            "label VARCHAR(200), label_index INTEGER, confidence FLOAT, probabilities JSON, "
            "explain_method VARCHAR(40), input_format VARCHAR(20), input_info JSON, model_info JSON, "
            "image_png BLOB, heatmap_png BLOB, overlay_png BLOB)"
        )
        connection.execute(
            "INSERT INTO reports VALUES ('abc', '2024-01-01 00:00:00', 'm', 'lesion', 1, 0.9, '{}', NULL, 'png', "
            "'{}', '{}', x'00', NULL, NULL)"
        )
    storage = Storage(f"sqlite:///{database}")
    row = storage.get_report("abc")
    assert row is not None and row.task == "classify" and row.segmentation is None and row.mask_data is None
    assert row.idempotency_key is None and storage.report_for_key("t1:k") is None
    total, items = storage.list_reports()
    assert total == 1 and items[0]["task"] == "classify"


def test_a_nifti_mask_keeps_the_uploads_qform_and_sform(
    seg_service: tuple[TestClient, dict[str, str]], seg_run: Path, tmp_path: Path
) -> None:
    """The service wrote its mask with the sform in both fields (code 1) where the upload's qform differed (as
    predict did before 23e9812): ITK-based viewers, which read the qform, showed the mask mirrored."""
    import nibabel as nib

    client, headers = seg_service
    source = nib.load(disc_files(seg_run, tmp_path / "inputs")["nifti"])
    flipped = source.affine.copy()
    flipped[0, 0] *= -1
    image = nib.Nifti1Image(np.asanyarray(source.dataobj), None)
    image.set_sform(source.affine, code=2)
    image.set_qform(flipped, code=1)
    nib.save(image, tmp_path / "two_forms.nii.gz")
    seg = _upload(client, headers, tmp_path / "two_forms.nii.gz")["segmentation"]
    (tmp_path / "mask.nii.gz").write_bytes(client.get(seg["mask"], headers=headers).content)
    mask = nib.load(tmp_path / "mask.nii.gz")
    assert int(mask.header["sform_code"]) == 2 and int(mask.header["qform_code"]) == 1
    np.testing.assert_allclose(mask.get_sform(), source.affine, atol=1e-5)
    np.testing.assert_allclose(mask.get_qform(), flipped, atol=1e-5)
