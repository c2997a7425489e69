"""The HTTP API adaptation (clipsearch/search/http_api.py) and presigned frame links (frame_links.py): on
their own (unit), then through the search handler with payload 2.0 events (the `world` fixture)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config

from clipsearch.catalog.videos import VideoInfo
from clipsearch.runtime.errors import RequestError
from clipsearch.search.frame_links import FrameLinks, expiry_from_env
from clipsearch.search.http_api import (
    CappedDeadline,
    HttpApi,
    VideosPage,
    is_http_api_event,
    timeout_from_env,
    video_listing,
)
from local.tiny_clip import PROJECTION_DIM
from tests.conftest import BUCKET, REGION
from tests.search.conftest import SearchWorld, unit_rows


def v2_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """What API Gateway sends for an HTTP API route with payload format 2.0 (the parts we read)."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "authorizer": {"jwt": {"claims": {"sub": "user"}, "scopes": []}},
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = json.dumps(body)
    return event


class FixedDeadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def remaining_seconds(self) -> float:
        return self.seconds


def api(**overrides: Any) -> tuple[HttpApi, list[Any]]:
    calls: list[Any] = []

    def search(request: dict[str, Any], deadline: Any) -> dict[str, Any]:
        calls.append((request, deadline.remaining_seconds()))
        return {"results": []}

    def videos(page: VideosPage) -> dict[str, Any]:
        calls.append(("videos", page))
        return {"videos": [], "count": 0, "next_cursor": None}

    return HttpApi(search=search, videos=videos, **overrides), calls


def test_only_payload_2_events_are_http_api_events():
    assert is_http_api_event(v2_event("POST", "/search", {}))
    assert not is_http_api_event({"query": "a"})
    assert not is_http_api_event({"requestContext": {"http": {"method": "POST"}}, "body": "{}"})
    assert not is_http_api_event({"version": "1.0", "rawPath": "/", "requestContext": {}})


def test_post_search_passes_the_body_and_a_deadline_within_the_integration_timeout():
    handler, calls = api(timeout_s=30)
    result = handler.handle(
        v2_event("POST", "/search", {"query": "a man riding a bicycle"}), FixedDeadline(55)
    )
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"results": []}
    ((request, remaining),) = calls
    assert request == {"query": "a man riding a bicycle"}
    assert 27 < remaining <= 28.5  # 30 s less the answer margin, not the function's 55 s


def test_the_cap_counts_from_when_api_gateway_got_the_request():
    handler, calls = api(timeout_s=29, epoch_clock=lambda: 1_000_008.0)
    event = v2_event("POST", "/search", {"query": "a"})
    event["requestContext"]["timeEpoch"] = 1_000_000_000  # 8 s ago: a cold start, say
    handler.handle(event, FixedDeadline(55))
    assert calls[0][1] == pytest.approx(29 - 1.5 - 8, abs=0.1)


def test_the_lambda_deadline_wins_when_it_is_sooner():
    handler, calls = api(timeout_s=30)
    handler.handle(v2_event("POST", "/search", {"query": "a"}), FixedDeadline(4))
    assert calls[0][1] == 4


def test_get_videos_and_a_trailing_slash():
    handler, calls = api()
    assert handler.handle(v2_event("GET", "/videos/"), FixedDeadline(10))["statusCode"] == 200
    assert calls == [("videos", VideosPage(None, 1000))]


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/search", 405, "GET /search is not allowed; use POST"),
        ("DELETE", "/videos", 405, "use GET"),
        ("GET", "/", 404, "no route GET /; this API has POST /search, GET /videos"),
        ("POST", "/admin", 404, "no route POST /admin"),
    ],
)
def test_unknown_routes_are_json_errors(method, path, status, message):
    handler, calls = api()
    with pytest.raises(RequestError) as raised:
        handler.handle(v2_event(method, path), FixedDeadline(10))
    assert (raised.value.status, message in raised.value.message) == (status, True)
    assert calls == []


def test_a_search_without_a_body_is_a_400():
    handler, _ = api()
    with pytest.raises(RequestError, match="no body"):
        handler.handle(v2_event("POST", "/search"), FixedDeadline(10))


def test_capped_deadline_counts_down():
    now = [100.0]
    capped = CappedDeadline(FixedDeadline(60), 10, clock=lambda: now[0])
    now[0] += 4
    assert capped.remaining_seconds() == 6


def test_video_listing_gives_the_duration_from_the_table_or_the_frames():
    videos = [
        VideoInfo("a", "processed", video_fps=30, frame_step=15, frames_count=8, duration_s=4.2),
        VideoInfo("b", "processed", video_fps=30, frame_step=15, frames_count=8),
        VideoInfo("c", "processed", frames_count=3),
    ]
    assert video_listing(videos, VideosPage()) == {
        "videos": [
            {"video_id": "a", "name": "a", "frames": 8, "duration_s": 4.2},
            {"video_id": "b", "name": "b", "frames": 8, "duration_s": 4.0},
            {"video_id": "c", "name": "c", "frames": 3, "duration_s": None},
        ],
        "count": 3,
        "next_cursor": None,
    }


def test_settings_from_the_environment():
    assert timeout_from_env({}) == 29
    assert timeout_from_env({"HTTP_API_TIMEOUT_S": "20"}) == 20
    with pytest.raises(ValueError, match="at most 30"):
        timeout_from_env({"HTTP_API_TIMEOUT_S": "45"})
    assert expiry_from_env({}) == 600
    assert expiry_from_env({"FRAME_URL_SECONDS": "300"}) == 300
    with pytest.raises(ValueError, match="60 to 3600"):
        expiry_from_env({"FRAME_URL_SECONDS": "7200"})


def test_frame_links_presign_frames_only(s3):
    s3.put_object(Bucket=BUCKET, Key="frames/v/frame_000001.webp", Body=b"pixels")
    signer = boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4"))
    links = FrameLinks(signer, BUCKET, expires_s=300)
    body = links.add_urls(
        {
            "results": [
                {"frame_key": "frames/v/frame_000001.webp"},
                {"frame_key": "embeddings-cache/v/packed.npz"},
            ]
        }
    )
    first, second = body["results"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(first["url"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert first["url_expires_s"] == 300
    assert "url" not in second


# Through the handler: payload 2.0 events as API Gateway sends them.


def test_post_search_through_the_handler_carries_frame_urls(world: SearchWorld, lambda_context):
    world.add_video("v", frames_count=3)
    world.pack("v", unit_rows(np.random.default_rng(21), 3, PROJECTION_DIM))
    result = world.app.handler(v2_event("POST", "/search", {"query": "a cat", "top_k": 2}), lambda_context)
    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert [r["url"].split("?")[0].endswith(r["frame_key"]) for r in body["results"]] == [True, True]
    # a direct invoke gets URLs only when it asks
    _, plain = world.search({"query": "a cat"}, lambda_context)
    assert all("url" not in r for r in plain["results"])
    _, asked = world.search({"query": "a cat", "frame_urls": True}, lambda_context)
    assert all("url" in r for r in asked["results"])


def test_get_videos_and_errors_through_the_handler(world: SearchWorld, lambda_context):
    world.add_video("v", frames_count=6)
    world.add_video("pending", status="extracting")
    result = world.app.handler(v2_event("GET", "/videos"), lambda_context)
    assert json.loads(result["body"]) == {
        "videos": [{"video_id": "v", "name": "v", "frames": 6, "duration_s": 3.0}],
        "count": 1,
        "next_cursor": None,
    }
    bad = world.app.handler(v2_event("POST", "/search", {"query": ""}), lambda_context)
    assert bad["statusCode"] == 400
    assert "query must be a non-empty string" in json.loads(bad["body"])["error"]
    missing = world.app.handler(v2_event("GET", "/nothing"), lambda_context)
    assert missing["statusCode"] == 404
    refused = world.app.handler(
        v2_event("POST", "/search", {"query": "a", "frame_urls": "yes"}), lambda_context
    )
    assert "frame_urls must be true or false" in json.loads(refused["body"])["error"]


def test_get_videos_answers_200_when_a_row_holds_absurd_numbers(world: SearchWorld, lambda_context):
    world.add_video("fine", frames_count=6)
    world.dynamodb.put_item(  # issue #22.1: a frames_count that does not fit 64 bits
        TableName="videos",
        Item={
            "video_id": {"S": "odd"},
            "status": {"S": "processed"},
            "frames_count": {"N": str(2**63)},
            "video_fps": {"N": "30"},
            "frame_step": {"N": "15"},
        },
    )
    result = world.app.handler(v2_event("GET", "/videos"), lambda_context)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["videos"] == [
        {"video_id": "fine", "name": "fine", "frames": 6, "duration_s": 3.0},
        {"video_id": "odd", "name": "odd", "frames": None, "duration_s": None},
    ]


def videos_page(world: SearchWorld, context, **query: str) -> tuple[int, dict[str, Any]]:
    event = v2_event("GET", "/videos")
    if query:
        event["rawQueryString"] = urllib.parse.urlencode(query)
        event["queryStringParameters"] = query
    result = world.app.handler(event, context)
    return result["statusCode"], json.loads(result["body"])


def test_get_videos_pages_with_a_cursor_and_a_bounded_page_size(world: SearchWorld, lambda_context):
    for index in range(5):
        world.add_video(f"v{index}", frames_count=2)
    status, first = videos_page(world, lambda_context, limit="2")
    assert status == 200
    assert [v["video_id"] for v in first["videos"]] == ["v0", "v1"]  # issue #22.9: at most `limit`
    assert (first["count"], first["next_cursor"]) == (2, "v1")
    listed, cursor = [], None
    while True:
        _, page = videos_page(world, lambda_context, limit="2", **({"cursor": cursor} if cursor else {}))
        listed += [v["video_id"] for v in page["videos"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert listed == [f"v{index}" for index in range(5)]  # every video once, in order
    _, whole = videos_page(world, lambda_context)  # the default page: up to the bound
    assert (whole["count"], whole["next_cursor"]) == (5, None)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, "limit must be a whole number from 1 to 1000"),
        ({"limit": "1001"}, "limit must be a whole number from 1 to 1000"),
        ({"limit": "ten"}, "limit must be a whole number from 1 to 1000"),
        ({"cursor": "../x"}, "cursor must be"),
    ],
)
def test_a_bad_page_request_is_a_400(world: SearchWorld, lambda_context, query, message):
    status, body = videos_page(world, lambda_context, **query)
    assert status == 400
    assert message in body["error"]
