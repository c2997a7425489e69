"""The page in a real browser against the local system: sign in through the sign-in stand-in, the
guide's query as moments and as frames, thumbnails that really load from S3 (moto) through presigned
URLs, sorted scores and times, the viewer (a moment's video played from its start, or its frames as
a slideshow; keyboard), an image query, refused requests' messages, no results, an upload that
becomes searchable, and an API call without a token refused."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from local.sample_frames import sample_videos
from local.sample_video import Format, Shot, bicycle, boat, encode_shots, street
from local.web import serve_system_web
from tests.browser.conftest import ARTIFACTS, GROWING, Page

QUERY = "a man riding a bicycle"
VIDEOS = {*sample_videos(), GROWING}
WAIT_S = 30


def wait(page: Page, condition: Any, timeout: float = WAIT_S) -> Any:
    return WebDriverWait(page.driver, timeout).until(lambda driver: condition())


def element(page: Page, element_id: str) -> Any:
    return page.driver.find_element(By.ID, element_id)


def message(page: Page) -> str:
    return str(element(page, "message").text)


def results(page: Page) -> list[Any]:
    return list(page.driver.find_elements(By.CSS_SELECTOR, "#results button.result"))


def choose(page: Page, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(element(page, select_id)).select_by_value(value)


def search(
    page: Page, text: str = QUERY, *, min_score: str = "", group: str = "frames", top_k: str = "12"
) -> None:
    choose(page, "group", group)
    count = element(page, "top-k")
    count.clear()
    count.send_keys(top_k)
    query = element(page, "query")
    query.clear()
    query.send_keys(text)
    score = element(page, "min-score")
    score.clear()
    if min_score:
        score.send_keys(min_score)
    before = message(page)
    element(page, "search-button").click()
    wait(page, lambda: message(page) not in ("Searching…", before) or bool(results(page)))
    wait(page, lambda: message(page) != "Searching…")


@pytest.fixture(scope="module")
def signed_in(page: Page) -> Page:
    page.driver.get(page.web.page_url)
    wait(page, lambda: element(page, "sign-in").is_displayed())
    assert element(page, "search-button").get_attribute("disabled") is not None  # nothing before sign-in
    element(page, "sign-in").click()
    wait(page, lambda: page.driver.current_url.startswith(page.web.auth_url))
    page.driver.find_element(By.ID, "sign-in-submit").click()
    wait(page, lambda: element(page, "auth-status").text == "Signed in")
    assert "code=" not in page.driver.current_url  # the code is gone from the address bar
    wait(page, lambda: len(element(page, "video-filter").find_elements(By.TAG_NAME, "option")) > 1)
    return page


def test_the_guides_query_shows_thumbnails_that_load_with_sorted_scores_and_times(signed_in: Page):
    page = signed_in
    assert element(page, "query").get_attribute("placeholder") == QUERY
    search(page)
    hits = results(page)
    assert hits, message(page)
    images = page.driver.find_elements(By.CSS_SELECTOR, "#results img")
    wait(page, lambda: all(page.driver.execute_script("return arguments[0].complete", i) for i in images))
    widths = [page.driver.execute_script("return arguments[0].naturalWidth", image) for image in images]
    assert all(width > 0 for width in widths), widths  # really loaded from moto's S3, presigned
    assert all(image.get_attribute("src").startswith(page.system.s3.meta.endpoint_url) for image in images)
    scores = [float(hit.find_element(By.CLASS_NAME, "score").text) for hit in hits]
    assert scores == sorted(scores, reverse=True)
    times = [hit.find_element(By.CLASS_NAME, "time").text for hit in hits]
    assert all(re.fullmatch(r"\d\d:\d\d", time) for time in times), times
    videos = {hit.find_element(By.CLASS_NAME, "video").text for hit in hits}
    assert videos <= VIDEOS
    assert all(re.match(r"Frame \S+ of \S+, at \d\d:\d\d, score", i.get_attribute("alt")) for i in images)
    assert re.match(r"\d+ frames from 4 videos", message(page))
    assert element(page, "score-note").is_displayed()  # what a score means
    notices = element(page, "notices").text
    assert f"Searched as far as indexed; more frames are on their way: {GROWING}." in notices
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.driver.save_screenshot(str(ARTIFACTS / "search-page.png"))


def test_the_video_filter_lists_processed_videos_and_narrows_the_search(signed_in: Page):
    page = signed_in
    options = element(page, "video-filter").find_elements(By.TAG_NAME, "option")
    labels = [option.text for option in options]
    assert labels[0] == "All videos"
    assert [label.split(" · ")[0] for label in labels[1:]] == sorted(VIDEOS)
    assert labels[1:] == [
        f"{video} · {9 if video == GROWING else 6} frames · 00:03" for video in sorted(VIDEOS)
    ]
    options[1].click()
    search(page)
    assert {hit.find_element(By.CLASS_NAME, "video").text for hit in results(page)} == {
        labels[1].split(" · ")[0]
    }
    options[0].click()


def test_a_result_opens_larger_by_keyboard_and_closes_with_escape(signed_in: Page):
    page = signed_in
    search(page)
    first = results(page)[0]
    first.send_keys(Keys.ENTER)
    viewer = element(page, "viewer")
    wait(page, lambda: viewer.get_attribute("open") is not None)
    large = element(page, "viewer-image")
    wait(page, lambda: page.driver.execute_script("return arguments[0].naturalWidth", large) > 0)
    assert large.get_attribute("alt").startswith("Frame ")
    page.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(page, lambda: viewer.get_attribute("open") is None)


def choose_image(page: Page, file: Path, data: bytes) -> None:
    """Pick `data`, saved as `file`, in the page's file picker."""
    file.write_bytes(data)
    element(page, "image").send_keys(str(file))
    wait(page, lambda: element(page, "image-chosen").is_displayed())


def test_an_image_query_from_the_file_picker(signed_in: Page, tmp_path: Path):
    page = signed_in
    choose_image(page, tmp_path / "bicycle.webp", sample_videos()["sample-bicycle"][2])
    search(page, "")
    hits = results(page)
    assert hits, message(page)
    # the same frame, searched by itself, comes first
    assert hits[0].find_element(By.CLASS_NAME, "video").text == "sample-bicycle"
    element(page, "clear-image").click()
    assert not element(page, "image-chosen").is_displayed()


def test_an_image_dropped_on_the_drop_zone(signed_in: Page):
    """A drop (a DragEvent carrying the file, as the browser makes for a file dragged in)."""
    page = signed_in
    data = base64.b64encode(sample_videos()["sample-boat"][1]).decode()
    page.driver.execute_script(
        """
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "boat.webp", {type: "image/webp"}));
        const zone = document.getElementById("drop-zone");
        const options = {dataTransfer: transfer, bubbles: true, cancelable: true};
        zone.dispatchEvent(new DragEvent("dragover", options));
        zone.dispatchEvent(new DragEvent("drop", options));
        """,
        data,
    )
    wait(page, lambda: element(page, "image-chosen").is_displayed())
    assert element(page, "image-name").text == "boat.webp"
    search(page, "")
    hits = results(page)
    assert hits, message(page)
    assert hits[0].find_element(By.CLASS_NAME, "video").text == "sample-boat"
    element(page, "clear-image").click()


def test_a_refused_request_shows_its_message(signed_in: Page):
    page = signed_in
    search(page, "a" * 1001)  # the page sends it; the search function refuses it
    assert "The search was refused: query has 1,001 characters; the limit is 1,000" in message(page)
    assert "error" in element(page, "message").get_attribute("class")
    search(page, min_score="5")  # refused before it is sent
    assert message(page) == "Minimum score must be a number from -1 to 1 (or empty)."


def test_no_results_says_so(signed_in: Page):
    page = signed_in
    search(page, min_score="0.99")
    assert message(page).startswith("No frames matched. Try a lower minimum score.")
    search(page, min_score="0.99", group="moments")
    assert message(page).startswith("No moments matched. Try a lower minimum score.")


def test_an_empty_search_box_asks_for_a_query_and_greys_the_old_results(signed_in: Page):
    page = signed_in
    search(page)
    assert results(page)
    search(page, "")
    assert message(page) == "Type what the frames should show, or choose an image."
    assert page.driver.switch_to.active_element == element(page, "query")
    listing = element(page, "results")
    assert "stale" in listing.get_attribute("class")  # still there, greyed: not this query's answer
    assert listing.get_attribute("aria-hidden") == "true"
    assert not element(page, "score-note").is_displayed()


@pytest.mark.parametrize("count", ["0", "500", "2.5", "ten"])
def test_a_results_count_out_of_range_is_refused_not_replaced(signed_in: Page, count: str):
    page = signed_in
    search(page, top_k=count)
    assert message(page) == "Results must be a whole number from 1 to 100."
    assert page.driver.switch_to.active_element == element(page, "top-k")


def test_with_an_image_and_text_the_page_says_it_searched_by_image(signed_in: Page, tmp_path: Path):
    page = signed_in
    choose_image(page, tmp_path / "boat.webp", sample_videos()["sample-boat"][1])
    search(page, "a man riding a bicycle")
    assert message(page).startswith("Searched by image; the text was not used")
    element(page, "clear-image").click()


def test_one_video_is_singular_and_flat_scores_say_nothing_stands_out(signed_in: Page):
    page = signed_in
    choose(page, "video-filter", "sample-boat")
    search(page, top_k="1")
    assert re.match(r"1 frame from 1 video \(", message(page)), message(page)
    choose(page, "video-filter", "")
    flat = page.driver.execute_script(
        "return summary([0.31, 0.305, 0.3], 3, 'moment', "
        "{searched_videos: 2, searched_frames: 9, took_ms: 5})"
    )
    assert flat.endswith(
        "Nothing stands out: these are the closest, but they may not show what you asked for."
    )
    spread = page.driver.execute_script(
        "return summary([0.4, 0.3], 2, 'moment', {searched_videos: 2, searched_frames: 9, took_ms: 5})"
    )
    assert "Nothing stands out" not in spread


def test_a_request_too_large_for_the_api_is_explained(signed_in: Page):
    """The local API answers a body over Lambda's 6 MB with API Gateway's 413; the page says why."""
    page = signed_in
    text = page.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        callApi("POST", "search", {image: "A".repeat(7 * 1024 * 1024)})
          .then(({status, body}) => done(String(status) + " " + explain(status, body)));
        """
    )
    assert text == "413 The request is too large for the API (about 6 MB): choose a smaller image."


def test_moments_show_a_range_a_name_and_a_preview_strip_and_open_as_a_slideshow(signed_in: Page):
    """Frames from the upstream pipeline (no video file): the viewer shows the moment's frames,
    moved by the arrow keys, larger than the card."""
    page = signed_in
    search(page, group="moments")
    cards = results(page)
    assert cards, message(page)
    assert re.match(r"\d+ moments? from \d videos? \(", message(page)), message(page)
    first = cards[0]
    assert re.fullmatch(r"\d\d:\d\d(–\d\d:\d\d)?", first.find_element(By.CLASS_NAME, "range").text)
    assert first.find_element(By.CLASS_NAME, "video").text in VIDEOS
    strip = first.find_elements(By.CSS_SELECTOR, ".preview img")
    assert 1 <= len(strip) <= 5
    first.send_keys(Keys.ENTER)
    viewer = element(page, "viewer")
    wait(page, lambda: viewer.get_attribute("open") is not None)
    large = element(page, "viewer-image")
    assert large.is_displayed()
    assert not element(page, "viewer-video").is_displayed()
    wait(page, lambda: page.driver.execute_script("return arguments[0].naturalWidth", large) > 0)
    card_width = page.driver.execute_script("return arguments[0].getBoundingClientRect().width", first)
    assert large.size["width"] > 1.5 * card_width  # actually larger
    frames = page.driver.find_elements(By.CSS_SELECTOR, "#viewer-strip button")
    if len(frames) > 1:
        before = large.get_attribute("src")
        current = [f.get_attribute("aria-current") for f in frames].index("true")
        page.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
        wait(page, lambda: large.get_attribute("src") != before)
        after = [f.get_attribute("aria-current") for f in frames].index("true")
        assert after == (current + 1) % len(frames)
    page.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(page, lambda: viewer.get_attribute("open") is None)


def test_an_uploaded_video_becomes_searchable_and_its_moment_plays_from_its_start(
    signed_in: Page, tmp_path: Path
):
    page = signed_in
    video = tmp_path / "three scenes.webm"  # VP9: what every Chromium plays
    video.write_bytes(
        encode_shots([Shot(bicycle, 20), Shot(boat, 20), Shot(street, 20)], fps=10, fmt=Format(codec="vp9"))
    )
    element(page, "video-file").send_keys(str(video))
    element(page, "upload-button").click()
    wait(page, lambda: "is searchable" in element(page, "upload-status").text, timeout=180)
    assert element(page, "upload-status").text == "three scenes.webm is searchable (6 frames)."
    wait(page, lambda: "three-scenes.webm" in element(page, "video-filter").text)  # listed by its name
    option = next(
        o
        for o in element(page, "video-filter").find_elements(By.TAG_NAME, "option")
        if o.text.startswith("three-scenes.webm")
    )
    choose(page, "video-filter", option.get_attribute("value"))
    search(page, group="moments")
    cards = results(page)
    assert len(cards) == 3, message(page)  # one moment per shot: never across a cut
    ranges = sorted(card.find_element(By.CLASS_NAME, "range").text for card in cards)
    assert ranges == ["00:00–00:01", "00:02–00:03", "00:04–00:05"]
    card = next(card for card in cards if card.find_element(By.CLASS_NAME, "range").text == "00:02–00:03")
    card.click()
    viewer = element(page, "viewer")
    wait(page, lambda: viewer.get_attribute("open") is not None)
    player = element(page, "viewer-video")
    assert player.is_displayed()
    assert not element(page, "viewer-image").is_displayed()
    wait(page, lambda: page.driver.execute_script("return arguments[0].readyState", player) >= 1)
    now = page.driver.execute_script("return arguments[0].currentTime", player)
    assert 2.0 <= now <= 3.0, now  # the moment's start, from the presigned upload
    strip = page.driver.find_elements(By.CSS_SELECTOR, "#viewer-strip button")
    strip[-1].click()  # jump within the range
    wait(page, lambda: page.driver.execute_script("return arguments[0].currentTime", player) >= 2.9)
    page.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(page, lambda: viewer.get_attribute("open") is None)
    choose(page, "video-filter", "")
    search(page, group="moments")  # the page as a newcomer sees it: docs/images/moments-page.png
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.driver.save_screenshot(str(ARTIFACTS / "moments-page.png"))


def test_the_api_refuses_a_call_without_a_token(signed_in: Page):
    page = signed_in
    script = """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: "POST", headers: {"Content-Type": "application/json"},
                             body: JSON.stringify({query: "a man riding a bicycle"})})
          .then(async (r) => done([r.status, await r.text()]), (e) => done([0, String(e)]));
    """
    status, body = page.driver.execute_async_script(script, page.web.api_url + "search")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    forged = page.web.user_pool.token("me@example.com").rsplit(".", 1)[0] + ".forged"
    script_with_token = script.replace('"Content-Type": "application/json"', '"Authorization": arguments[1]')
    status, _ = page.driver.execute_async_script(
        script_with_token, page.web.api_url + "search", f"Bearer {forged}"
    )
    assert status == 401


def test_sign_out_returns_to_the_signed_out_page(signed_in: Page):
    page = signed_in
    element(page, "sign-out").click()
    wait(page, lambda: element(page, "auth-status").text == "Not signed in")
    assert message(page) == "Sign in to search."
    assert page.driver.execute_script("return sessionStorage.getItem('clipsearch.token')") is None


def test_a_refused_sign_in_says_so_in_its_own_words(signed_in: Page):
    """Back from the sign-in page with an error: a fixed message, never the address's
    error_description (anyone can write that into a link), and Sign in offered."""
    page = signed_in
    page.driver.execute_script("sessionStorage.clear()")  # whatever the tests before left
    page.driver.get(page.web.page_url + "?error=access_denied&error_description=Call+0800+to+unlock")
    wait(page, lambda: "refused or cancelled" in message(page))
    assert "0800" not in page.driver.find_element(By.TAG_NAME, "body").text
    assert element(page, "sign-in").is_displayed()
    assert "?" not in page.driver.current_url  # the error is gone from the address
    page.driver.get(page.web.page_url + "?code=made-up&state=not-ours")  # not this page's request
    wait(page, lambda: "does not belong to this page's request" in message(page))


def test_with_an_existing_issuer_the_page_takes_a_pasted_token(signed_in: Page):
    """api_auth=jwt: no sign-in button; a token from the identity provider, pasted, then a search."""
    page = signed_in
    system = page.system
    with serve_system_web(system, auth_mode="jwt") as web:
        page.driver.get(web.page_url)
        wait(page, lambda: element(page, "token-form").is_displayed())
        assert not element(page, "sign-in").is_displayed()
        assert message(page) == "Paste a token to search."
        element(page, "token").send_keys(web.user_pool.token("someone@example.com"))
        page.driver.find_element(By.CSS_SELECTOR, "#token-form button").click()
        wait(page, lambda: element(page, "auth-status").text == "Signed in")
        search(page)
        assert results(page), message(page)
        element(page, "sign-out").click()
        wait(page, lambda: element(page, "token-form").is_displayed())


def test_the_video_filter_follows_every_page_of_the_listing(signed_in: Page):
    """GET /videos pages (issue #22.9): with pages of 3, the 4 videos (5 after the upload test) come
    in two, all listed."""
    page = signed_in
    rows = page.system.dynamodb.scan(TableName=page.system.table)["Items"]
    processed = sorted(row["video_id"]["S"] for row in rows if row["status"]["S"] == "processed")
    assert set(VIDEOS) <= set(processed)
    with serve_system_web(page.system, auth_mode="jwt", videos_page_size=3) as web:
        page.driver.get(web.page_url)
        wait(page, lambda: element(page, "token-form").is_displayed())
        element(page, "token").send_keys(web.user_pool.token("pages@example.com"))
        page.driver.find_element(By.CSS_SELECTOR, "#token-form button").click()
        filter_box = element(page, "video-filter")
        wait(page, lambda: len(filter_box.find_elements(By.TAG_NAME, "option")) == len(processed) + 1)
        values = [option.get_attribute("value") for option in filter_box.find_elements(By.TAG_NAME, "option")]
        assert values[1:] == processed
        pages = [processed[end - 1] for end in range(3, len(processed), 3)]  # each page's last video
        assert [r for r in web.requests if r.startswith("GET /videos")] == [
            "GET /videos?limit=3",
            *(f"GET /videos?limit=3&cursor={last}" for last in pages),
        ]
        element(page, "sign-out").click()
