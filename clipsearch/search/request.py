"""A search request, checked: one query (text, image or vector) and its options."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from clipsearch.index.query import DEFAULT_GAP_S, MAX_GAP_S, SearchRequest
from clipsearch.layout import is_valid_id
from clipsearch.runtime.errors import bad_request
from clipsearch.runtime.events import is_unicode
from clipsearch.vectors import Vector, unit_vector

QUERY_FIELDS = ("query", "image", "embedding")
OPTION_FIELDS = (
    "top_k",
    "video_ids",
    "min_score",
    "dedupe",
    "time_range",
    "model",
    "frame_urls",
    "group",
    "moment_gap_s",
)
GROUPS = ("frames", "moments")
MODES = {"query": "text", "image": "image", "embedding": "embedding"}
MAX_QUERY_CHARS = 1_000
MAX_VIDEO_IDS = 1_000
MAX_IMAGE_CHARS = 8_000_000  # base64 of about 6 MB: Lambda's synchronous payload limit


def is_finite_number(value: Any) -> bool:
    """A JSON number (not a bool) that is not NaN or infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_search_request(request: dict[str, Any], *, default_top_k: int, max_top_k: int) -> SearchRequest:
    unknown = sorted(set(request) - set(QUERY_FIELDS) - set(OPTION_FIELDS))
    if unknown:
        allowed = ", ".join(QUERY_FIELDS + OPTION_FIELDS)
        raise bad_request(f"unknown field(s) {', '.join(unknown)}; allowed: {allowed}")
    given = [name for name in QUERY_FIELDS if name in request]
    if len(given) != 1:
        raise bad_request('send exactly one of "query" (text), "image" or "embedding"')
    (kind,) = given
    query = _QUERY_PARSERS[kind](request[kind])
    top_k = request.get("top_k", default_top_k)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= max_top_k:
        raise bad_request(f"top_k must be a whole number from 1 to {max_top_k}, got {top_k!r}")
    min_score = request.get("min_score")
    if min_score is not None and (not is_finite_number(min_score) or not -1 <= min_score <= 1):
        raise bad_request(f"min_score must be a number from -1 to 1 (a cosine), got {min_score!r}")
    dedupe = request.get("dedupe", False)
    if not isinstance(dedupe, bool):
        raise bad_request(f"dedupe must be true or false, got {dedupe!r}")
    model = request.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise bad_request("model must be a model id string")
    frame_urls = request.get("frame_urls", False)
    if not isinstance(frame_urls, bool):
        raise bad_request(f"frame_urls must be true or false, got {frame_urls!r}")
    group = request.get("group", "frames")
    if group not in GROUPS:
        raise bad_request(f'group must be "frames" (single frames) or "moments" (time ranges), got {group!r}')
    gap = request.get("moment_gap_s", DEFAULT_GAP_S)
    if group != "moments" and "moment_gap_s" in request:
        raise bad_request('moment_gap_s applies to group "moments" only')
    if not is_finite_number(gap) or not 0 <= gap <= MAX_GAP_S:
        raise bad_request(f"moment_gap_s must be a number of seconds from 0 to {MAX_GAP_S:g}, got {gap!r}")
    return SearchRequest(
        mode=MODES[kind],
        query=query,
        top_k=top_k,
        video_ids=_video_ids(request.get("video_ids")),
        min_score=min_score,
        dedupe=dedupe,
        time_range=_time_range(request.get("time_range")),
        model=model,
        frame_urls=frame_urls,
        group=group,
        moment_gap_s=float(gap),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request('query must be a non-empty string, e.g. "a man riding a bicycle"')
    if len(value) > MAX_QUERY_CHARS:
        raise bad_request(f"query has {len(value):,} characters; the limit is {MAX_QUERY_CHARS:,}")
    if not is_unicode(value):
        raise bad_request("query is not valid Unicode text (it holds a lone surrogate)")
    return value


def _image(value: Any) -> Any:
    text = value.get("b64") if isinstance(value, dict) else value
    if not isinstance(text, str) or not text:
        raise bad_request('image must be an s3:// URI of a frame, base64, a data URI or {"b64": ...}')
    if len(text) > MAX_IMAGE_CHARS:
        raise bad_request(f"image has {len(text):,} characters; the limit is {MAX_IMAGE_CHARS:,}")
    if not is_unicode(text):
        raise bad_request("image is not valid Unicode text (it holds a lone surrogate)")
    return value


def _embedding(value: Any) -> Vector:
    """The query vector in float32, unit length; 400 unless every number is finite and the vector has
    a direction in float32 (1e39 overflows to infinity, 1e-50 underflows to zero)."""
    if not isinstance(value, list) or not value or not all(is_finite_number(x) for x in value):
        raise bad_request("embedding must be a non-empty list of finite numbers")
    with np.errstate(over="ignore", under="ignore"):
        vector = np.asarray(value, dtype=np.float64).astype(np.float32)
    if not np.all(np.isfinite(vector)):
        raise bad_request("embedding has numbers too large for float32 (about ±3.4e38)")
    unit = unit_vector(vector)
    if unit is None:
        raise bad_request("embedding is zero in float32: it has no direction to search in")
    return unit


_QUERY_PARSERS = {"query": _text, "image": _image, "embedding": _embedding}


def _video_ids(video_ids: Any) -> list[str] | None:
    if video_ids is None:
        return None
    if not isinstance(video_ids, list) or not video_ids:
        raise bad_request("video_ids must be a non-empty list of video ids")
    if len(video_ids) > MAX_VIDEO_IDS:
        raise bad_request(f"{len(video_ids)} video_ids; at most {MAX_VIDEO_IDS}")
    bad = [v for v in video_ids if not isinstance(v, str) or not is_valid_id(v)]
    if bad:
        raise bad_request(f"video_ids must be strings of letters, digits, '_', '.', '-'; got {bad[0]!r}")
    return video_ids


def _time_range(time_range: Any) -> tuple[float, float] | None:
    if time_range is None:
        return None
    if (
        not isinstance(time_range, list)
        or len(time_range) != 2
        or not all(is_finite_number(x) for x in time_range)
        or not 0 <= time_range[0] <= time_range[1]
    ):
        raise bad_request(
            f"time_range must be [start_s, end_s] with 0 <= start_s <= end_s, got {time_range!r}"
        )
    return float(time_range[0]), float(time_range[1])
