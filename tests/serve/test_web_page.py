"""The web page in Debian's chromium (Playwright) against a real server: several images chosen at once, a phone's
width, the explained class, deleting a report, and each token's own history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medimg.serve import ServeSettings, create_app
from medimg.serve.storage import Storage
from tests.serve.support import phantom_file, serving

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def site(deploy_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str, str]]:
    """``(base URL, Alice's token, Bob's token, Carol's token)`` of a real server (uvicorn) on a new SQLite
    database."""
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'serve.db'}"
    storage = Storage(url)
    (_, alice), (_, bob), (_, carol) = (storage.create_token(name) for name in ("alice", "bob", "carol"))
    storage.close()
    with serving(create_app(ServeSettings(run_dir=deploy_run, database=url))) as base:
        yield base, alice, bob, carol


def _sign_in(browser: Any, base: str, token: str, **context: Any) -> Any:
    from playwright.sync_api import expect

    page = browser.new_context(**context).new_page()
    page.goto(base + "/")
    page.fill("#token", token)
    page.click("#signin-button")
    expect(page.locator("#app")).to_be_visible()
    return page


def _payload(path: Path) -> dict[str, Any]:
    return {"name": path.name, "mimeType": "image/png", "buffer": path.read_bytes()}


def test_several_images_get_a_report_each_on_a_phone_without_sideways_scrolling(
    site: tuple[str, str, str, str], deploy_run: Path
) -> None:
    """Choosing several PNGs was refused as a whole ("send one image per request"); at 375 px the History table
    overflowed to 431 px; the page named the heatmap's method, not its class; no report could be deleted."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)")
    from playwright.sync_api import expect, sync_playwright

    base, alice, bob, _ = site
    chosen = [_payload(phantom_file(deploy_run, "lesion", 0)), _payload(phantom_file(deploy_run, "normal", 1))]
    chosen.append({"name": "notes.png", "mimeType": "image/png", "buffer": b"just text, not an image"})
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            phone = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
            page = _sign_in(browser, base, alice, **phone)
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.set_input_files("#file", chosen)
            expect(page.locator("#status")).to_contain_text("3 uploads: 2 reports stored", timeout=60_000)
            expect(page.locator("#status")).to_contain_text("1 refused")
            expect(page.locator("#upload-error")).to_contain_text("notes.png: Upload refused")
            expect(page.locator("#history tr")).to_have_count(2)
            expect(page.locator("#result")).to_be_visible()
            expect(page.locator("#method")).to_contain_text("gradcam heatmap for “")
            page.wait_for_function("document.getElementById('overlay').naturalWidth > 0")
            wide, seen = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert wide <= seen == 375, (wide, seen)
            # nor inside the history table: its probability column was cut behind the one-line date and time
            box = page.locator("#history").locator("xpath=ancestor::div[contains(@class, 'table-scroll')]")
            inner, shown = box.evaluate("e => [e.scrollWidth, e.clientWidth]")
            assert inner <= shown, (inner, shown)
            assert not [e for e in errors if "favicon" in e]

            shown = page.locator("#report-id").inner_text()
            page.once("dialog", lambda dialog: dialog.accept())
            page.click("#delete")
            expect(page.locator("#status")).to_contain_text(f"Report {shown} deleted")
            expect(page.locator("#result")).to_be_hidden()
            expect(page.locator("#history tr")).to_have_count(1)
            expect(page.locator(f"#history tr[data-id='{shown}']")).to_have_count(0)

            other = _sign_in(browser, base, bob)  # Bob's history holds none of Alice's reports
            expect(other.locator("#history-empty")).to_be_visible()
            expect(other.locator("#history tr")).to_have_count(0)
        finally:
            browser.close()


def test_deleting_the_only_report_of_the_last_history_page_shows_the_page_before(
    site: tuple[str, str, str, str], deploy_run: Path
) -> None:
    """With 11 reports (10 a page), deleting the one report on the second page left an empty History page (no rows,
    no "No reports yet.", only "Newer" to click)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)")
    import httpx
    from playwright.sync_api import expect, sync_playwright

    base, _, _, carol = site
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {carol}"}, timeout=60) as client:
        for index in range(11):
            path = phantom_file(deploy_run, "normal", index)
            stored = client.post("/v1/predictions", files={"file": (path.name, path.read_bytes())})
            assert stored.status_code == 201, stored.text
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            page = _sign_in(browser, base, carol)
            expect(page.locator("#history tr")).to_have_count(10)
            expect(page.locator("#history-count")).to_have_text("1–10 of 11")
            page.click("#next")
            expect(page.locator("#history tr")).to_have_count(1)
            expect(page.locator("#history-count")).to_have_text("11–11 of 11")
            page.click("#history tr")
            expect(page.locator("#result")).to_be_visible()
            page.once("dialog", lambda dialog: dialog.accept())
            page.click("#delete")
            expect(page.locator("#status")).to_contain_text("deleted")
            expect(page.locator("#history tr")).to_have_count(10)
            expect(page.locator("#history-count")).to_have_text("1–10 of 10")
            expect(page.locator("#prev")).to_be_disabled()
            expect(page.locator("#next")).to_be_disabled()
            expect(page.locator("#history-empty")).to_be_hidden()
        finally:
            browser.close()


def test_no_other_site_may_frame_the_page_or_a_report(site: tuple[str, str, str, str], deploy_run: Path) -> None:
    """The page had only ``cache-control``: another site could frame it (clickjacking)."""
    import httpx

    base, alice, _, _ = site
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {alice}"}, timeout=60) as client:
        path = phantom_file(deploy_run)
        report = client.post("/v1/predictions", files={"file": (path.name, path.read_bytes())}).json()
        for answer in (client.get("/"), client.get(report["links"]["html"]), client.get("/v1/nothing")):
            assert answer.headers["x-frame-options"] == "DENY", answer.url
            assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
            assert answer.headers["x-content-type-options"] == "nosniff"
