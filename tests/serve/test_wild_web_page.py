"""The web page as a clinician uses it on a slow network (Debian's chromium driven by Playwright, a real server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medimg.serve import ServeSettings, create_app
from medimg.serve.storage import Storage
from tests.serve.support import chromium, phantom_file, serving

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(deploy_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, str]]]:
    """``(base URL, a token, {"small": id, "large": id, "db": database URL})``: a real server holding one report of
    a 32 px phantom and one of the same phantom enlarged to 64 px (their pictures tell them apart)."""
    import httpx
    from PIL import Image

    folder = tmp_path_factory.mktemp("wild-web")
    url = f"sqlite:///{folder / 'serve.db'}"
    storage = Storage(url)
    _, token = storage.create_token("clinician")
    storage.close()
    small = phantom_file(deploy_run, "normal", 0)
    large = folder / "large.png"
    Image.open(small).resize((64, 64)).save(large)
    with serving(create_app(ServeSettings(run_dir=deploy_run, database=url))) as base:
        ids = {"db": url}
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            for name, path in (("small", small), ("large", large)):
                answer = client.post("/v1/predictions", files={"file": (path.name, path.read_bytes())})
                assert answer.status_code == 201, answer.text
                ids[name] = answer.json()["id"]
        yield base, token, ids


@pytest.mark.parametrize("slow", ["image.png", "heatmap.png"])
def test_a_slow_report_opened_first_never_replaces_or_mixes_into_the_one_opened_after_it(
    site: tuple[str, str, dict[str, str]], slow: str
) -> None:
    """Two History rows clicked one after the other on a slow network: when the first one's picture answered last,
    the page showed the first report, not the one clicked last; when its heatmap answered last, the page showed the
    second report's image under the first report's heatmap, prediction and report id (a heatmap over the wrong
    image)."""
    from playwright.sync_api import expect

    base, token, ids = site
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin-button")
        expect(page.locator("#history tr")).to_have_count(2)
        page.route(
            f"**/v1/reports/{ids['large']}/{slow}", lambda route: (page.wait_for_timeout(1500), route.continue_())
        )
        page.click(f"#history tr[data-id='{ids['large']}']")
        page.wait_for_timeout(200)
        page.click(f"#history tr[data-id='{ids['small']}']")
        expect(page.locator("#report-id")).to_have_text(ids["small"])
        page.wait_for_timeout(2500)  # the slow answer has come by now
        shown = page.evaluate(
            """() => [document.getElementById('report-id').textContent,
                      document.getElementById('image').naturalWidth,
                      document.getElementById('overlay').naturalWidth]"""
        )
        assert shown == [ids["small"], 32, 32], shown


def test_the_next_person_to_sign_in_after_a_token_is_revoked_sees_none_of_its_reports(
    site: tuple[str, str, dict[str, str]], deploy_run: Path
) -> None:
    """A token revoked while the page was open sent the page back to sign in, but the report on screen (its image,
    heatmap, prediction and id) and the page's error stayed: the next person to sign in on that workstation, with
    their own token, saw the other token's report under their own empty History."""
    from playwright.sync_api import expect

    base, _, ids = site
    storage = Storage(ids["db"])
    (first, first_token), (_, next_token) = storage.create_token("day shift"), storage.create_token("night shift")
    try:
        with chromium() as browser:
            page = browser.new_context().new_page()
            page.on("dialog", lambda dialog: dialog.dismiss())
            page.goto(base + "/")
            page.fill("#token", first_token)
            page.click("#signin-button")
            page.set_input_files("#file", str(phantom_file(deploy_run, "lesion", 3)))
            expect(page.locator("#result")).to_be_visible(timeout=60_000)
            assert storage.revoke_token(first.id)
            page.click("#print")
            expect(page.locator("#signin-error")).to_contain_text("revoked")
            page.fill("#token", next_token)
            page.click("#signin-button")
            expect(page.locator("#history-empty")).to_be_visible()
            expect(page.locator("#result")).to_be_hidden()
            expect(page.locator("#upload-error")).to_be_hidden()
            assert page.locator("#image").get_attribute("src") is None
    finally:
        storage.close()


def test_the_report_json_carries_the_printed_reports_caveats_beside_the_prediction() -> None:
    """The printed report warned that a "normal" call from a model that found only 33% of the test split's lesions
    does not rule a lesion out, and named the operating point folded into the percentages; the JSON the web page
    shows had neither, so the page showed "normal (51.6%)" without a word."""
    from medimg.serve.reports import report_json
    from tests.serve.support import report_row

    performance = {
        "split": "test",
        "positive_class": "lesion",
        "metrics": {"sensitivity": {"value": 1 / 3}},
        "operating_point": {"rule": "youden", "class": "lesion", "thresholds": [0.10297]},
    }
    row = report_row(
        label="normal",
        label_index=0,
        confidence=0.516,
        probabilities={"normal": 0.516, "lesion": 0.484},
        model_info={"network": "simple-cnn", "class_names": ["normal", "lesion"], "performance": performance},
    )
    caveats = report_json(row)["caveats"]
    assert len(caveats) == 2, caveats
    assert "50% here is the threshold" in caveats[0]
    assert "its “normal” predictions do not rule “lesion” out" in caveats[1]
    lesion = report_row(
        label="lesion", label_index=1, probabilities={"normal": 0.4, "lesion": 0.6}, model_info={"class_names": []}
    )
    assert report_json(lesion)["caveats"] == []


def test_the_page_shows_the_caveats_and_says_an_unreachable_server_in_words_until_it_answers_again(
    site: tuple[str, str, dict[str, str]],
) -> None:
    """The page showed none of the report's caveats; a server down (restarting) was "Could not open the report:
    Failed to fetch", and that error stayed on screen over the report opened once the server answered again."""
    from playwright.sync_api import expect

    base, token, ids = site
    caveat = "its “normal” predictions do not rule “lesion” out."

    def with_caveat(route: Any) -> None:
        body = route.fetch().json()
        route.fulfill(json={**body, "caveats": [caveat]})

    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin-button")
        row = page.locator(f"#history tr[data-id='{ids['small']}']")
        page.route(f"**/v1/reports/{ids['small']}", lambda route: route.abort())
        row.click()
        expect(page.locator("#upload-error")).to_contain_text("the server could not be reached")
        page.unroute(f"**/v1/reports/{ids['small']}")
        page.route(f"**/v1/reports/{ids['small']}", with_caveat)
        row.click()
        expect(page.locator("#report-id")).to_have_text(ids["small"])
        expect(page.locator("#upload-error")).to_be_hidden()
        expect(page.locator("#caveats")).to_have_text(caveat)


def test_a_phone_photo_turned_by_its_exif_orientation_is_said_beside_the_prediction(
    site: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    """A phone's JPEG (EXIF orientation 6: the phone shows it turned 90 degrees clockwise) was classified, shown on
    the page and printed sideways, as stored, without a word: a clinician saw a different picture from the one on
    the phone and no reason why."""
    import httpx
    from PIL import Image

    base, _, ids = site
    storage = Storage(ids["db"])
    _, token = storage.create_token("phone photos")
    storage.close()
    photo = Image.new("RGB", (32, 32))
    photo.paste((255, 255, 255), (0, 0, 10, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    photo.save(path, exif=exif.tobytes())
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        report = client.post("/v1/predictions", files={"file": (path.name, path.read_bytes())}).json()
        assert report["input"]["exif_orientation"] == 6
        assert any("EXIF orientation 6: viewers show it turned 90 degrees clockwise" in c for c in report["caveats"])
        upright = client.post("/v1/predictions", files={"file": ("upright.jpg", _jpeg(photo))}).json()
        assert "exif_orientation" not in upright["input"]
        assert not any("EXIF" in c for c in upright["caveats"])
        printed = client.get(report["links"]["html"]).text
        assert "Turned photo." in printed and "EXIF orientation 6" in printed


def _jpeg(image: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


_MOCK_FOLDER = """async ([names, contents]) => {
  // a dropped folder as the browser's FileSystem entries give it: "series/" with the files, a hidden file, a
  // DICOMDIR and a sub-folder
  const file = (name, bytes) => ({ isFile: true, isDirectory: false, name,
    file: (ok) => ok(new File([new Uint8Array(bytes)], name, { type: "image/png" })) });
  const folder = (name, children) => ({ isFile: false, isDirectory: true, name, createReader: () => {
    let given = false;
    return { readEntries: (ok) => { ok(given ? [] : children); given = true; } };
  } });
  const inner = folder("more", [file(names[1], contents[1])]);
  const top = folder("series", [file(names[0], contents[0]), file(".DS_Store", [0]), file("DICOMDIR", [0]), inner]);
  const files = await droppedFiles({ items: [{ kind: "file", webkitGetAsEntry: () => top }], files: [] });
  await upload(files);
  return files.map((f) => f.name);
}"""


def test_a_dropped_folder_uploads_the_images_in_it(site: tuple[str, str, dict[str, str]], deploy_run: Path) -> None:
    """A folder dropped on the page (a DICOM series' folder) was sent as the one unreadable file the browser lists
    for it: no image was uploaded (the send fails as if the server were down). Its files are uploaded now (hidden
    files and a DICOMDIR left out); dropping files, not a folder, still uploads each."""
    from playwright.sync_api import expect

    base, _, ids = site
    storage = Storage(ids["db"])
    _, token = storage.create_token("folders")
    storage.close()
    images = [phantom_file(deploy_run, "lesion", 5), phantom_file(deploy_run, "normal", 6)]
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin-button")
        expect(page.locator("#history-empty")).to_be_visible()
        names = page.evaluate(_MOCK_FOLDER, [[p.name for p in images], [list(p.read_bytes()) for p in images]])
        assert names == [images[0].name, images[1].name]
        expect(page.locator("#status")).to_contain_text("2 uploads: 2 reports stored")
        expect(page.locator("#history tr")).to_have_count(2)
        page.evaluate(  # files dropped as files: the browser's own drop event
            """async (bytes) => {
              const moved = new DataTransfer();
              moved.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
              document.getElementById("drop").dispatchEvent(
                new DragEvent("drop", { dataTransfer: moved, bubbles: true, cancelable: true }));
            }""",
            list(images[0].read_bytes()),
        )
        expect(page.locator("#history tr")).to_have_count(3, timeout=60_000)
        expect(page.locator("#upload-error")).to_be_hidden()


def test_an_empty_heatmap_is_not_shown_as_if_it_were_a_clean_one(site: tuple[str, str, dict[str, str]]) -> None:
    """A heatmap with no heat at all (the score did not depend on any area) was captioned "gradcam heatmap for
    “normal”" like any other, over the bare image: read as "nothing there". The printed report says it is empty and
    not evidence of absence; the page now says so too."""
    from playwright.sync_api import expect

    base, token, ids = site

    def emptied(route: Any) -> None:
        body = route.fetch().json()
        route.fulfill(json={**body, "explanation": {**body["explanation"], "empty": True}})

    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin-button")
        page.route(f"**/v1/reports/{ids['small']}", emptied)
        page.click(f"#history tr[data-id='{ids['small']}']")
        expect(page.locator("#method")).to_contain_text("empty")
        expect(page.locator("#method")).to_contain_text("not evidence that the finding is absent")


def test_the_opened_report_tab_holds_no_copy_of_the_token(site: tuple[str, str, dict[str, str]]) -> None:
    """ "Open report" opened the report in a tab that got a copy of the page's sessionStorage, the token with it, and
    a handle on the page (window.opener): after "Sign out" in the page, that tab, sent to the service's address,
    was still signed in."""
    from playwright.sync_api import expect

    base, token, ids = site
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin-button")
        page.click(f"#history tr[data-id='{ids['small']}']")
        expect(page.locator("#result")).to_be_visible()
        with context.expect_page() as opened:
            page.click("#open-report")
        report = opened.value
        report.wait_for_load_state()
        expect(report.locator("body")).to_contain_text(ids["small"])
        assert report.evaluate("[sessionStorage.length, !!window.opener]") == [0, False]


def test_a_report_deleted_in_another_tab_leaves_the_screen_when_used(
    site: tuple[str, str, dict[str, str]], deploy_run: Path
) -> None:
    """Two tabs open on the same reports: one deleted the report the other showed. In the other, "Print report"
    said "Could not print the report: no report with id …" and left the deleted report on show (its image,
    prediction and a Delete button), its row still in History."""
    import httpx
    from playwright.sync_api import expect

    base, _, ids = site
    storage = Storage(ids["db"])
    _, token = storage.create_token("two tabs")
    storage.close()
    path = phantom_file(deploy_run, "lesion", 7)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        gone = client.post("/v1/predictions", files={"file": (path.name, path.read_bytes())}).json()["id"]
        kept = client.post("/v1/predictions", files={"file": (path.name, path.read_bytes())}).json()["id"]
        with chromium() as browser:
            page = browser.new_context().new_page()
            page.goto(base + "/")
            page.fill("#token", token)
            page.click("#signin-button")
            page.click(f"#history tr[data-id='{gone}']")
            expect(page.locator("#report-id")).to_have_text(gone)
            assert client.delete(f"/v1/reports/{gone}").status_code in (200, 204)  # the other tab
            page.click("#print")
            expect(page.locator("#status")).to_contain_text(f"Report {gone} is no longer stored")
            expect(page.locator("#result")).to_be_hidden()
            expect(page.locator("#upload-error")).to_be_hidden()
            expect(page.locator("#history tr")).to_have_count(1)
            expect(page.locator(f"#history tr[data-id='{kept}']")).to_have_count(1)


def test_an_upload_over_the_size_limit_is_named_with_its_size_and_the_fix(
    site: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    """A DICOM series chosen as its files, over the server's upload limit, was "Upload refused: the request is
    larger than the upload limit of 52,428,800 bytes": no word of the upload's own size or what to do."""
    from playwright.sync_api import expect

    base, token, _ = site
    slices = []
    for index in range(3):
        path = tmp_path / f"IM{index}.dcm"
        path.write_bytes(b"\0" * 128 + b"DICM" + bytes(700_000))
        slices.append(str(path))
    refusal = {"detail": "the request is larger than the upload limit of 1,048,576 bytes"}
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin-button")
        page.route("**/v1/predictions", lambda route: route.fulfill(status=413, json=refusal))
        page.set_input_files("#file", slices)
        expect(page.locator("#upload-error")).to_have_text(
            "Upload refused: these 3 files (2.0 MB) are over the server's upload limit of 1.0 MB; a zip of the"
            " series is often smaller; the server's administrator can raise it (medimg serve --max-upload-mb)."
        )


def test_a_segmentation_rows_percentage_in_history_says_what_it_is(site: tuple[str, str, dict[str, str]]) -> None:
    """History's "Probability" column, titled "the model's probability of the class it predicts", showed a
    segmentation's "foreground 85.4%": the mean probability over the segmented pixels, read as an 85% chance of a
    finding."""
    from playwright.sync_api import expect

    base, token, ids = site

    def as_segmentation(route: Any) -> None:
        page_of_reports = route.fetch().json()
        items = [{**item, "task": "segment", "label": "foreground"} for item in page_of_reports["items"]]
        route.fulfill(json={**page_of_reports, "items": items})

    with chromium() as browser:
        page = browser.new_context().new_page()
        page.route("**/v1/reports?*", as_segmentation)
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin-button")
        cell = page.locator(f"#history tr[data-id='{ids['small']}'] td.num")
        meaning = "the mean probability of “foreground” over the pixels segmented as it"
        expect(cell).to_have_attribute("title", meaning)


def test_a_long_class_name_beside_its_bar_wraps_after_an_underscore_not_in_mid_word(
    site: tuple[str, str, dict[str, str]],
) -> None:
    """Herlev's classes showed as "normal_intermedi" / "ate" and "moderate_dysplas" / "tic" beside their bars."""
    from playwright.sync_api import expect

    base, token, ids = site
    names = {"normal_intermediate": 0.6, "moderate_dysplastic": 0.3, "carcinoma_in_situ": 0.1}

    def renamed(route: Any) -> None:
        body = route.fetch().json()
        prediction = {**body["prediction"], "label": "normal_intermediate", "probabilities": names}
        route.fulfill(json={**body, "prediction": prediction})

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
        page.goto(base + "/")
        page.fill("#token", token)
        page.click("#signin-button")
        page.route(f"**/v1/reports/{ids['small']}", renamed)
        page.click(f"#history tr[data-id='{ids['small']}']")
        expect(page.locator("[data-testid=probability]")).to_have_count(3)
        labels = page.locator("[data-testid=probability] > span:first-child")
        assert labels.all_inner_texts() == list(names)  # the names themselves, nothing inserted
        # every piece of a name lies on one line: a piece broken over two lines has two boxes
        pieces = labels.evaluate_all(
            """spans => spans.flatMap(span => [...span.childNodes].filter(n => n.nodeType === 3).map(n => {
                const range = document.createRange(); range.selectNodeContents(n);
                return [n.textContent, range.getClientRects().length];
            }))"""
        )
        assert all(lines == 1 for _, lines in pieces), pieces


def test_the_printed_report_shows_the_image_beside_its_heatmap(
    site: tuple[str, str, dict[str, str]],
) -> None:
    """Printed, the image and its heatmap were stacked, each up to 15 cm wide: three A4 pages for one prediction
    (a Herlev cell). They now stand side by side, up to 8 cm high: two pages."""
    base, token, ids = site
    with chromium() as browser:
        page = browser.new_context(extra_http_headers={"Authorization": f"Bearer {token}"}).new_page()
        page.emulate_media(media="print")
        page.goto(f"{base}/v1/reports/{ids['small']}?format=html")
        image, heatmap = (page.locator("figure img").nth(k).bounding_box() for k in (0, 1))
        assert image is not None and heatmap is not None
        assert abs(image["y"] - heatmap["y"]) < 1 and heatmap["x"] >= image["x"] + image["width"]  # side by side
        assert image["height"] > 150  # not shrunk to a thumbnail
        assert len(re.findall(rb"/Type\s*/Page\b", page.pdf(format="A4"))) <= 2  # A4 pages
