"""Serving a detection run: boxes and counts over the API (the same as the PyTorch model's), stored reports as
JSON, HTML and FHIR (one Observation per class count), and the web page drawing the boxes in a real browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from medimg.serve import ServeSettings, create_app
from medimg.serve.storage import Storage
from tests.serve.support import free_port, service_client
from tests.tasks.detect.synthetic import write_voc
from tests.tasks.detect.test_detect import TINY

CHROMIUM = Path("/usr/bin/chromium")

#: The tiny FCOS of tests/tasks/detect with a low fixed score threshold, so the page has boxes to draw.
TINY_DETECTOR = {**TINY, "score_threshold": 0.05, "detections_per_image": 12}


@pytest.fixture(scope="module")
def det_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from medimg import Model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("deploy-det-run")
    data = write_voc(root / "voc", n=18, seed=1)
    Model("fcos", task="detect", **TINY_DETECTOR).fit(data, run_dir=root / "run", progress=False, tensorboard=False)
    return root / "run"


@pytest.fixture
def det_service(det_run: Path, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with service_client(det_run, tmp_path / "reports.db") as served:
        yield served


def _image(run: Path, index: int = 0) -> Path:
    return run.parent / "voc" / "JPEGImages" / f"img_{index:03d}.png"


def test_boxes_and_counts_match_the_torch_model(
    det_service: tuple[TestClient, dict[str, str]], det_run: Path, tmp_path: Path
) -> None:
    from medimg import Model

    client, headers = det_service
    (model,) = client.get("/v1/models", headers=headers).json()["models"]
    assert model["task"] == "detect" and model["class_names"] == ["disc", "square"]
    source = _image(det_run)
    response = client.post(
        "/v1/predictions", headers=headers, files={"file": ("x.png", source.read_bytes(), "image/png")}
    )
    assert response.status_code == 201, response.text
    report = response.json()
    det = report["detection"]
    assert report["task"] == "detect" and report["explanation"] is None
    (expected,) = Model.load(det_run).predict(source, out_dir=tmp_path)
    wanted = expected.to_dict()  # type: ignore[union-attr]
    assert det["boxes"] == wanted["boxes"] and det["counts"] == wanted["counts"]
    assert det["image_size"] == [48, 64] and det["total"] == len(det["boxes"]) > 0
    assert set(det["colours"]) == {"disc", "square"} and det["score_threshold"] == pytest.approx(0.05)
    top = max(det["counts"], key=lambda name: det["counts"][name])
    assert report["prediction"]["label"] == top
    for name in ("disc", "square"):
        scores = [b["score"] for b in det["boxes"] if b["label"] == name]
        assert report["prediction"]["probabilities"][name] == pytest.approx(max(scores, default=0.0), abs=1e-5)
    overlay = client.get(det["overlay"], headers=headers)
    assert overlay.status_code == 200 and overlay.content.startswith(b"\x89PNG")
    assert client.get(f"/v1/reports/{report['id']}", headers=headers).json()["detection"] == det

    fhir = client.get(f"/v1/reports/{report['id']}?format=fhir", headers=headers).json()
    assert fhir["code"]["text"] == "AI image detection"
    contained = {r["id"]: r for r in fhir["contained"]}
    observations = [contained[r["reference"].removeprefix("#")] for r in fhir["result"]]
    assert [o["valueQuantity"]["value"] for o in observations] == [det["counts"]["disc"], det["counts"]["square"]]
    assert all(o["valueQuantity"]["code"] == "{objects}" for o in observations)
    assert "'disc'" in observations[0]["code"]["text"] and "Detected:" in fhir["conclusion"]
    page = client.get(f"/v1/reports/{report['id']}?format=html", headers=headers).text
    assert "Object detection report" in page and "Highest score" in page and "square" in page


def test_an_image_without_detections_is_a_valid_report() -> None:
    """Nothing found: label "none", index -1, zero counts for every class (FHIR still lists every class)."""
    from datetime import datetime, timezone

    import numpy as np

    from medimg.serve.detection import count_text, detection_fields
    from medimg.serve.reports import report_fhir, report_html
    from medimg.serve.storage import ReportRow
    from medimg.tasks.detect.predict import DetectionPrediction

    empty = DetectionPrediction(
        source="x.png",
        boxes=np.zeros((0, 4), np.float32),
        scores=np.zeros(0, np.float32),
        labels=[],
        label_indices=[],
        class_names=["rbc", "wbc"],
        score_threshold=0.4,
        image_size=(10, 12),
    )
    fields = detection_fields(empty, nms_iou=0.5)
    assert fields["label"] == "none" and fields["label_index"] == -1 and fields["confidence"] == 0.0
    assert (
        fields["detection"]["counts"] == {"rbc": 0, "wbc": 0} and count_text(fields["detection"]) == "nothing detected"
    )
    row = ReportRow(
        id="0" * 32,
        created_at=datetime.now(timezone.utc),
        model_name="run",
        task="detect",
        input_format="png",
        input_info={"format": "png", "shape": [3, 10, 12]},
        model_info={"network": "fcos", "class_names": ["rbc", "wbc"]},
        image_png=b"",
        **fields,
    )
    fhir = report_fhir(row)
    observations = [r for r in fhir["contained"] if r["resourceType"] == "Observation"]
    values = [r["valueQuantity"]["value"] for r in observations]
    assert values == [0, 0] and fhir["conclusion"].startswith("Detected: nothing detected.")
    assert not any("component" in r for r in observations)  # no box, no "highest detection score" of 0
    printed = report_html(row)
    assert "0.00" not in printed and printed.count('<td class="num">–</td>') == 2  # the same on paper


def test_browser_draws_the_boxes(det_run: Path, tmp_path: Path) -> None:
    """`medimg serve` of a detection run behind a real HTTP server: the page shows one rectangle per box and a row
    per class."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)")
    import uvicorn
    from playwright.sync_api import expect, sync_playwright

    settings = ServeSettings(run_dir=det_run, database=str(tmp_path / "reports.db"))
    _, token = Storage(settings.database_url).create_token("browser")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            )
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(url + "/")
                page.fill("#token", token)
                page.click("#signin-button")
                expect(page.locator("#title")).to_contain_text("object detection")
                page.set_input_files(
                    "#file", {"name": "cells.png", "mimeType": "image/png", "buffer": _image(det_run, 2).read_bytes()}
                )
                expect(page.locator("#result")).to_be_visible(timeout=60_000)
                report_id = page.locator("#report-id").inner_text()
                stored = httpx.get(f"{url}/v1/reports/{report_id}", headers={"Authorization": f"Bearer {token}"}).json()
                boxes = stored["detection"]["boxes"]
                assert boxes, "the tiny detector found nothing to draw"
                expect(page.locator("#boxes rect")).to_have_count(len(boxes))
                expect(page.locator("[data-testid=detect-class]")).to_have_count(2)
                expect(page.locator("#boxes")).to_be_visible()
                first = page.locator("#boxes rect").first
                assert float(first.get_attribute("x") or "nan") == pytest.approx(boxes[0]["x1"])
                page.screenshot(path=str(tmp_path / "detect-page.png"), full_page=True)
                # a class without a box has no highest score ("0.00" read as a box scored 0)
                page.evaluate(
                    """() => showDetection({prediction: {probabilities: {cell: 0.9, debris: 0}}}, {counts: {cell: 2,
                    debris: 0}, total: 2, colours: {cell: '#f00', debris: '#00f'}, boxes: [], image_size: [8, 8]})"""
                )
                rows = page.locator("[data-testid=detect-class]")
                page.set_viewport_size({"width": 375, "height": 800})  # a phone: "Platelets" fell below its swatch
                swatch_top, name_top = (
                    rows.nth(1)
                    .locator("td")
                    .first.evaluate(
                        """e => { const r = document.createRange(); r.selectNodeContents(e.lastChild);
                    return [e.firstChild.getBoundingClientRect().bottom, r.getBoundingClientRect().bottom]; }"""
                    )
                )
                assert abs(swatch_top - name_top) < 6, (swatch_top, name_top)  # on one line
                assert rows.nth(0).locator("td").all_inner_texts()[1:3] == ["2", "0.90"]
                assert rows.nth(1).locator("td").all_inner_texts()[1:3] == ["0", "–"]
                page.uncheck("#toggle-heatmap")
                expect(page.locator("#boxes")).to_be_hidden()
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
