"""The real thing: `medimg token create`, `medimg serve` (uvicorn on 127.0.0.1, a free port), real uploads,
a killed and restarted server, and Debian's chromium driven by Playwright through the web page."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serve.databases import DATABASE_KINDS
from tests.serve.postgres import PostgresServer
from tests.serve.support import ct_small, free_port, phantom_file

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")


def medimg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medimg.cli.app", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


class Server:
    """A `medimg serve` process; ``restart(kill=True)`` SIGKILLs it and starts a new one on the same database."""

    def __init__(self, run: Path, folder: Path, db: str) -> None:
        self.run, self.folder, self.db = run, folder, db
        created = medimg("token", "create", "--name", "e2e", "--db", self.db, cwd=folder)
        assert created.returncode == 0, created.stderr
        self.token = created.stdout.strip()
        self.log = folder / "server.log"
        self.work_dir = folder / "work"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "medimg.cli.app", "serve", str(self.run), "--port", str(self.port)]
        command += ["--db", self.db, "--max-upload-mb", "1", "--work-dir", str(self.work_dir)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError(f"the server did not start in time:\n{self.log.read_text()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=30)

    def restart(self, *, kill: bool) -> None:
        self.stop(kill=kill)
        self.start()


@pytest.fixture(scope="module")
def sqlite_server(deploy_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`medimg serve` on an SQLite file."""
    folder = tmp_path_factory.mktemp("server")
    running = Server(deploy_run, folder, str(folder / "serve.db"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def postgres_served(
    deploy_run: Path, tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[Server]:
    """`medimg serve` on a database of the throwaway PostgreSQL server."""
    running = Server(deploy_run, tmp_path_factory.mktemp("pg-server"), postgres_server.create_database())
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=DATABASE_KINDS)
def server(request: pytest.FixtureRequest) -> Server:
    """The running server on each database kind."""
    return request.getfixturevalue("sqlite_server" if request.param == "sqlite" else "postgres_served")


def test_real_server_uploads_and_survives_a_kill(server: Server, deploy_run: Path) -> None:
    import pydicom

    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
        dicom = client.post("/v1/predictions", files={"file": ("CT_small.dcm", ct_small().read_bytes())})
        assert dicom.status_code == 201, dicom.text
        png = client.post("/v1/predictions", files={"file": ("x.png", phantom_file(deploy_run).read_bytes())})
        assert png.status_code == 201, png.text
        oversize = client.post("/v1/predictions", files={"file": ("big.png", b"\x89PNG" + b"\0" * 2_000_000)})
        assert oversize.status_code == 413 and "limit" in oversize.json()["detail"]
        assert client.get("/healthz").status_code == 200
        before = {r["id"]: r for r in (dicom.json(), png.json())}

    killed = {p.name for p in server.work_dir.iterdir()}
    server.restart(kill=True)  # SIGKILL: no clean shutdown, nothing flushed on exit
    assert not killed & {p.name for p in server.work_dir.iterdir()}  # what the killed server left: swept
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
        listed = client.get("/v1/reports").json()
        assert listed["total"] == 2 and {item["id"] for item in listed["items"]} == set(before)
        for report_id, report in before.items():
            stored = client.get(f"/v1/reports/{report_id}").json()
            assert stored["prediction"] == report["prediction"] and stored["input"] == report["input"]
            assert client.get(f"/v1/reports/{report_id}/image.png").content.startswith(b"\x89PNG")
        assert before[dicom.json()["id"]]["input"]["dicom"]["Modality"] == "CT"
        assert client.get("/v1/reports", headers={"Authorization": "Bearer nope"}).status_code == 401
    leaked = httpx.get(f"{server.url}/v1/models?token={server.token}", timeout=30)  # a token put in the URL
    assert leaked.status_code == 401 and "not accepted" in leaked.json()["detail"]
    time.sleep(0.5)  # the access log line is written after the answer
    assert server.token not in server.log.read_text() and "/v1/models?..." in server.log.read_text()

    original = pydicom.dcmread(ct_small())
    log = server.log.read_text()
    assert "report " in log  # the server did log its work...
    for identifier in (str(original.PatientName), str(original.PatientID), original.StudyInstanceUID):
        assert identifier not in log  # ...but no patient identifier


def _series_slices(folder: Path, slices: int) -> list[Path]:
    """``slices`` CT slices of one series (16 px, positions 2 mm apart)."""
    import numpy as np

    from tests.io.conftest import write_dicom

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    return [
        write_dicom(folder / f"IM{z:04d}.dcm", rng.integers(0, 255, (16, 16)), position=(0.0, 0.0, 2.0 * z),
                    orientation=(1, 0, 0, 0, 1, 0), series_uid="1.2.826.0.5.1", instance=z + 1)
        for z in range(slices)
    ]  # fmt: skip


def _report_count(server: Server) -> int:
    with httpx.Client(base_url=server.url, headers=server.headers) as client:
        return int(client.get("/v1/reports").json()["total"])


def test_browser_signs_in_uploads_and_sees_the_result(sqlite_server: Server, deploy_run: Path, tmp_path: Path) -> None:
    server = sqlite_server
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import expect, sync_playwright

    screenshot = tmp_path / "medimg-web.png"
    png = phantom_file(deploy_run).read_bytes()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(server.url + "/")
            page.fill("#token", "mdg_wrong")
            page.click("#signin-button")
            expect(page.locator("#signin-error")).to_contain_text("not accepted")
            page.fill("#token", "Bearer " + server.token)  # pasted with its header word: accepted
            page.click("#signin-button")
            expect(page.locator("#app")).to_be_visible()
            expect(page.locator("#model-name")).to_contain_text("simple-cnn")
            # a proxy's 502 when the page is reopened: the token (shown once, when it was made) is kept for a retry
            page.route("**/v1/models", lambda route: route.fulfill(status=502, body="bad gateway"))
            page.reload()
            expect(page.locator("#signin-error")).to_contain_text("sign in again in a moment")
            assert page.evaluate("sessionStorage.getItem('medimg-token')") == server.token
            page.unroute("**/v1/models")
            page.click("#signin-button")
            expect(page.locator("#app")).to_be_visible()

            # Drag and drop a file onto the drop zone, as a user would.
            page.evaluate(
                """(bytes) => {
                    const file = new File([new Uint8Array(bytes)], "phantom.png", { type: "image/png" });
                    const data = new DataTransfer();
                    data.items.add(file);
                    document.getElementById("drop").dispatchEvent(
                        new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
                }""",
                list(png),
            )
            expect(page.locator("#result")).to_be_visible(timeout=60_000)
            label = page.locator("#label").inner_text()
            assert label in {"normal", "lesion"}
            expect(page.locator("[data-testid=probability]")).to_have_count(2)
            page.wait_for_function("document.getElementById('image').naturalWidth > 0")
            page.wait_for_function("document.getElementById('overlay').naturalWidth > 0")
            overlay = page.locator("#overlay")
            expect(overlay).to_be_visible()
            page.uncheck("#toggle-heatmap")
            expect(overlay).to_be_hidden()
            page.check("#toggle-heatmap")
            expect(overlay).to_be_visible()
            report_id = page.locator("#report-id").inner_text()
            expect(page.locator(f"#history tr[data-id='{report_id}']")).to_have_count(1)

            # The answer to an upload is lost on the way back (the server stored the report): the page asks
            # again with the upload's key and shows the stored report; the history holds it once.
            keys: list[str | None] = []

            def lose_the_first_answer(route: Any) -> None:
                keys.append(route.request.headers.get("idempotency-key"))
                if len(keys) == 1:
                    route.fetch()  # the server processes the upload...
                    route.abort("connectionreset")  # ...and the answer never arrives
                else:
                    route.continue_()

            page.route("**/v1/predictions", lose_the_first_answer)
            stored_before = _report_count(server)
            page.set_input_files("#file", str(phantom_file(deploy_run, "normal", 2)))
            expect(page.locator("#report-id")).not_to_have_text(report_id, timeout=60_000)
            assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
            assert _report_count(server) == stored_before + 1
            expect(page.locator("#upload-error")).to_be_hidden()
            page.unroute("**/v1/predictions")
            report_id = page.locator("#report-id").inner_text()
            label = page.locator("#label").inner_text()

            # The slices of a DICOM series chosen together are one upload: every slice predicted.
            page.set_input_files("#file", [str(f) for f in _series_slices(tmp_path / "series", slices=6)])
            expect(page.locator("#confidence")).to_contain_text("mean of 6 frames", timeout=60_000)

            # A bad file gets a clear message, and the page keeps working; the earlier result is not left under it.
            page.set_input_files("#file", {"name": "notes.png", "mimeType": "image/png", "buffer": b"just text"})
            expect(page.locator("#upload-error")).to_contain_text("unrecognised image format")
            expect(page.locator("#result")).to_be_hidden()
            page.screenshot(path=str(screenshot), full_page=True)

            # Two uploads in flight (a slow network): the earlier one's late answer must not replace the result of
            # the file chosen after it (the page showed patient A's result after the user chose patient B).
            held: list[Any] = []
            page.route("**/v1/predictions", lambda route: held.append(route) if not held else route.continue_())
            stored_before = _report_count(server)
            page.set_input_files("#file", str(phantom_file(deploy_run, "normal", 3)))
            page.wait_for_function("document.getElementById('status').textContent.length > 0")
            while not held:
                page.wait_for_timeout(50)
            page.set_input_files("#file", str(phantom_file(deploy_run, "lesion", 3)))
            expect(page.locator("#result")).to_be_visible(timeout=60_000)
            chosen_last = page.locator("#report-id").inner_text()
            held[0].continue_()  # the first upload's answer arrives now
            deadline = time.monotonic() + 60
            while _report_count(server) < stored_before + 2 and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            page.wait_for_timeout(1000)
            assert _report_count(server) == stored_before + 2
            expect(page.locator("#report-id")).to_have_text(chosen_last)
            page.unroute("**/v1/predictions")

            # A busy server: the page says so and when to try again (it quoted "the Retry-After header")
            busy = {"detail": "the server is busy; retry after the time in the Retry-After header"}
            page.route(
                "**/v1/predictions",
                lambda route: route.fulfill(status=503, headers={"Retry-After": "1"}, json=busy),
            )
            page.set_input_files("#file", str(phantom_file(deploy_run, "normal", 4)))
            expect(page.locator("#upload-error")).to_contain_text("The server is busy", timeout=30_000)
            expect(page.locator("#upload-error")).to_contain_text("Try again in 1 s")
            page.unroute("**/v1/predictions")

            # History rows open from the keyboard and name their model
            row = page.locator("#history tr").first
            expect(row).to_contain_text(f"{deploy_run.parent.name}/{deploy_run.name}")
            row.focus()
            page.keyboard.press("Enter")
            expect(page.locator("#result")).to_be_visible()
            # a button whose request fails says so on the page (it failed only in the console)
            page.route("**/v1/reports/**", lambda route: route.abort("connectionrefused"))
            page.click("#fhir")
            expect(page.locator("#upload-error")).to_contain_text("Could not download the FHIR report")
            page.unroute("**/v1/reports/**")
            # a token revoked while signed in (the API answers 401): back to the sign-in form, saying why
            revoked = {"detail": "the API token is unknown or revoked"}
            page.route("**/v1/reports/**", lambda route: route.fulfill(status=401, json=revoked))
            page.click("#fhir")
            expect(page.locator("#signin")).to_be_visible()
            expect(page.locator("#signin-error")).to_contain_text("revoked or is no longer valid")
            page.unroute("**/v1/reports/**")
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    with httpx.Client(base_url=server.url, headers=server.headers) as client:
        assert client.get(f"/v1/reports/{report_id}").json()["prediction"]["label"] == label
