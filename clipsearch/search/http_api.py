"""API Gateway HTTP API (payload format 2.0) in front of the search function.

Routes, by `requestContext.http.method` and `rawPath`:
- `POST /search`: the body is the search request a direct invoke sends (same fields, same checks);
  every result carries a presigned `url` of its frame (the handler adds them on this route).
- `GET /videos?limit=&cursor=`: the processed videos, for the page's filter box (`video_id`,
  `frames`, `duration_s`), a page of at most `limit` (1 to MAX_VIDEOS_PAGE, the default) after
  `cursor` (the `next_cursor` of the page before; null on the last page): Lambda's 6 MB response
  limit would end an unpaged list at about 80,000 videos.
- anything else: 404 (405 for a known path with another method), JSON like every other answer.

API Gateway ends the integration after `HTTP_API_TIMEOUT_S` (29 s here; at most 30 s for an HTTP
API) while the function may run on (60 s by default, room for a cold CLIP function). A request that
came through the API therefore gets a deadline of that timeout less a margin: a slow CLIP call becomes the
search's own 504 with a message, before API Gateway would answer a bare 503 "Service Unavailable".
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clipsearch.catalog.videos import VideoInfo
from clipsearch.layout import is_valid_id
from clipsearch.runtime.deadline import Deadline
from clipsearch.runtime.errors import RequestError, bad_request
from clipsearch.runtime.events import parse_request, response
from clipsearch.runtime.settings import positive_ints
from clipsearch.search.routes import INTEGRATION_TIMEOUT_S, MAX_TIMEOUT_S, ROUTES, SEARCH, VIDEOS

# Time kept back for answering: API Gateway's own overhead and the response's way back.
ANSWER_MARGIN_S = 1.5
# The most videos in one GET /videos page: about 80 KB of JSON, far below Lambda's 6 MB.
MAX_VIDEOS_PAGE = 1000


def timeout_from_env(env: Mapping[str, str]) -> int:
    """`HTTP_API_TIMEOUT_S` (set by the stack: the integration timeout), or 29."""
    seconds = positive_ints(env, {"timeout": "HTTP_API_TIMEOUT_S"}).get("timeout", INTEGRATION_TIMEOUT_S)
    if seconds > MAX_TIMEOUT_S:
        raise ValueError(f"HTTP_API_TIMEOUT_S must be at most {MAX_TIMEOUT_S} (API Gateway's limit)")
    return seconds


def is_http_api_event(event: Any) -> bool:
    """An HTTP API payload 2.0 event (`version` "2.0", `requestContext.http`, `rawPath`)."""
    if not isinstance(event, dict) or event.get("version") != "2.0" or "rawPath" not in event:
        return False
    context = event.get("requestContext")
    return isinstance(context, dict) and isinstance(context.get("http"), dict)


def route_of(event: dict[str, Any]) -> tuple[str, str]:
    """(method, path) of a payload 2.0 event; the stage prefix of a named stage is not in `rawPath`
    for `$default`, which is the only stage the stack makes."""
    method = str(event["requestContext"]["http"].get("method", "")).upper()
    return method, str(event["rawPath"]).rstrip("/") or "/"


@dataclass
class CappedDeadline:
    """The Lambda deadline, or `seconds` from now if that comes first."""

    inner: Deadline
    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining_seconds(self) -> float:
        own = self.seconds - (self.clock() - self.started)
        return min(self.inner.remaining_seconds(), own)


@dataclass(frozen=True)
class VideosPage:
    """Which page of GET /videos: the videos after `cursor` (a video id; None: from the first), at
    most `limit` of them."""

    cursor: str | None = None
    limit: int = MAX_VIDEOS_PAGE

    @classmethod
    def of(cls, event: dict[str, Any]) -> VideosPage:
        """From the request's query string; RequestError(400) saying what is allowed."""
        query = event.get("queryStringParameters") or {}
        limit = query.get("limit", str(MAX_VIDEOS_PAGE))
        if not (isinstance(limit, str) and limit.isdigit() and 1 <= int(limit) <= MAX_VIDEOS_PAGE):
            raise bad_request(f"limit must be a whole number from 1 to {MAX_VIDEOS_PAGE}, got {limit!r}")
        cursor = query.get("cursor")
        if cursor is not None and not (isinstance(cursor, str) and is_valid_id(cursor)):
            raise bad_request(f"cursor must be the next_cursor of the page before, got {cursor!r}")
        return cls(cursor, int(limit))


def video_listing(videos: list[VideoInfo], page: VideosPage) -> dict[str, Any]:
    """The body of GET /videos: one page of the processed videos (sorted by id), each one's id,
    name (its file's, else its id), frame count and duration (seconds, from the table's
    `duration_seconds`, else frames x step / fps; null when unknown), and the cursor of the next
    page (null: this is the last)."""
    ids = [video.video_id for video in videos]
    start = bisect.bisect_right(ids, page.cursor) if page.cursor is not None else 0
    shown = videos[start : start + page.limit]
    listed = []
    for video in shown:
        duration = video.length_s
        listed.append(
            {
                "video_id": video.video_id,
                "name": video.name,
                "frames": video.frames_count,
                "duration_s": None if duration is None else round(duration, 3),
            }
        )
    more = start + page.limit < len(videos)
    return {"videos": listed, "count": len(listed), "next_cursor": shown[-1].video_id if more else None}


class HttpApi:
    """Routes payload 2.0 events to `search(request, deadline) -> body` and `videos(page) -> body`.

    Errors are RequestErrors: the handler's wrapper turns them into their status and message."""

    def __init__(
        self,
        *,
        search: Callable[[dict[str, Any], Deadline], dict[str, Any]],
        videos: Callable[[VideosPage], dict[str, Any]],
        timeout_s: float = INTEGRATION_TIMEOUT_S,
        epoch_clock: Callable[[], float] = time.time,
    ) -> None:
        self.search = search
        self.videos = videos
        self.timeout_s = timeout_s
        self.epoch_clock = epoch_clock

    def handle(self, event: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        route = route_of(event)
        if route == SEARCH:
            if not event.get("body"):  # API Gateway leaves `body` out when there is none
                raise bad_request('POST /search has no body: send a JSON object such as {"query": "..."}')
            capped = CappedDeadline(deadline, self.timeout_s - ANSWER_MARGIN_S - self._waited_s(event))
            return response(200, self.search(parse_request(event), capped))
        if route == VIDEOS:
            return response(200, self.videos(VideosPage.of(event)))
        method, path = route
        allowed = [m for m, p in ROUTES if p == path]
        if allowed:
            raise RequestError(405, f"{method} {path} is not allowed; use {' or '.join(allowed)}")
        known = ", ".join(f"{m} {p}" for m, p in ROUTES)
        raise RequestError(404, f"no route {method} {path}; this API has {known}")

    def _waited_s(self, event: dict[str, Any]) -> float:
        """Seconds since API Gateway got the request (`requestContext.timeEpoch`): its integration
        timeout runs from then, this function's cold start included."""
        received_ms = event["requestContext"].get("timeEpoch")
        if not isinstance(received_ms, (int, float)) or isinstance(received_ms, bool):
            return 0.0
        return max(0.0, self.epoch_clock() - received_ms / 1000)
