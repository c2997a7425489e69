"""Headless Chromium (Debian's chromium and chromium-driver, driven by Selenium) on the local page:
the local system and its page, HTTP API and sign-in stand-in started once per module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.sample_frames import sample_videos
from local.stack import LocalSystem, local_system
from local.web import LocalWeb, serve_system_web
from scripts.prerequisites import find_browser, find_driver

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".local" / "artifacts"
GROWING = "sample-growing"  # a video still being indexed (see `page`)


def _found(path: str | None, what: str) -> str:
    if path is None:  # make test installs them first: a missing browser is a broken set-up, not a skip
        pytest.fail(f"{what} is not installed: python3 -m scripts.prerequisites --browser", pytrace=False)
    return path


@dataclass
class Page:
    system: LocalSystem
    web: LocalWeb
    driver: Any


@pytest.fixture(scope="module")
def page(tiny_model_dir: Path) -> Iterator[Page]:
    browser = _found(find_browser(), "Chromium")
    driver_path = _found(find_driver(), "chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    with local_system(tiny_model_dir) as system:
        for video_id in system.add_samples():
            system.invoke("batch", {"video_id": video_id})
        # A video whose extractor says 9 frames while 6 are uploaded: packed as it is, searched, and
        # listed as still being indexed (incomplete_videos), as a video mid-upload would be.
        frames = sample_videos()["sample-bicycle"]
        system.add_video(GROWING, [(f"frame_{i:06d}.webp", data) for i, data in enumerate(frames)])
        system.dynamodb.update_item(
            TableName=system.table,
            Key={"video_id": {"S": GROWING}},
            UpdateExpression="SET frames_count = :n",
            ExpressionAttributeValues={":n": {"N": str(len(frames) + 3)}},
        )
        system.settle()
        with serve_system_web(system) as web:
            driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
            driver.set_page_load_timeout(30)
            try:
                yield Page(system, web, driver)
            finally:
                driver.quit()
