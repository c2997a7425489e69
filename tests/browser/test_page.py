"""The page in a real browser against the local system: sign in through the sign-in stand-in, the
guide's query, thumbnails that really load from S3 (moto) through presigned URLs, sorted scores and
times, an image query, a refused request's message, no results, the larger view by keyboard, and an
API call without a token refused."""

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


def search(page: Page, text: str = QUERY, *, min_score: str = "") -> None:
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
    assert all(
        re.match(r"Frame \S+ of video \S+, at \d\d:\d\d, score", i.get_attribute("alt")) for i in images
    )
    assert re.match(r"\d+ frames from 4 videos", message(page))
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


def test_an_image_query_from_the_file_picker(signed_in: Page, tmp_path: Path):
    page = signed_in
    frame = tmp_path / "bicycle.webp"
    frame.write_bytes(sample_videos()["sample-bicycle"][2])
    element(page, "image").send_keys(str(frame))
    wait(page, lambda: element(page, "image-chosen").is_displayed())
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
    search(page, min_score="5")
    assert "The search was refused: min_score must be a number from -1 to 1" in message(page)
    assert "error" in element(page, "message").get_attribute("class")
    assert results(page) == []


def test_no_results_says_so(signed_in: Page):
    page = signed_in
    search(page, min_score="0.99")
    assert message(page).startswith("No frames matched. Try a lower minimum score.")


def test_an_empty_search_box_asks_for_a_query(signed_in: Page):
    page = signed_in
    search(page, "")
    assert message(page) == "Type what the frames should show, or choose an image."
    assert page.driver.switch_to.active_element == element(page, "query")


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
    """GET /videos pages (issue #22.9): with pages of 3, the 4 videos come in two, all listed."""
    page = signed_in
    with serve_system_web(page.system, auth_mode="jwt", videos_page_size=3) as web:
        page.driver.get(web.page_url)
        wait(page, lambda: element(page, "token-form").is_displayed())
        element(page, "token").send_keys(web.user_pool.token("pages@example.com"))
        page.driver.find_element(By.CSS_SELECTOR, "#token-form button").click()
        filter_box = element(page, "video-filter")
        wait(page, lambda: len(filter_box.find_elements(By.TAG_NAME, "option")) == len(VIDEOS) + 1)
        labels = [option.text for option in filter_box.find_elements(By.TAG_NAME, "option")]
        assert [label.split(" · ")[0] for label in labels[1:]] == sorted(VIDEOS)
        first = sorted(VIDEOS)[2]
        assert [r for r in web.requests if r.startswith("GET /videos")] == [
            "GET /videos?limit=3",
            f"GET /videos?limit=3&cursor={first}",
        ]
        element(page, "sign-out").click()
