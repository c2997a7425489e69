"""Frames a browser can show: a short-lived presigned GET URL for each search result's frame, and
for a moment's uploaded video (the page plays it from the moment's start).

The search role may read `frames/*` and `uploads/*` for this alone (docs/operators/iam.md, the deviation
table).
The URL is signed with the function's own temporary credentials, so it stops working at `expires_s`
or when those credentials expire, whichever comes first. Signing is local (no request to S3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clipsearch.layout import FRAMES_PREFIX, UPLOADS_PREFIX
from clipsearch.runtime.settings import positive_ints

DEFAULT_EXPIRES_S = 600
# What the stack's `frame_url_seconds` key allows: long enough to look at a page of results, short
# enough that a link copied out of the page soon stops working.
MIN_EXPIRES_S, MAX_EXPIRES_S = 60, 3600


def expiry_from_env(env: Mapping[str, str]) -> int:
    """`FRAME_URL_SECONDS` (set by the stack from `frame_url_seconds`), or the default."""
    seconds = positive_ints(env, {"expires": "FRAME_URL_SECONDS"}).get("expires", DEFAULT_EXPIRES_S)
    if not MIN_EXPIRES_S <= seconds <= MAX_EXPIRES_S:
        raise ValueError(f"FRAME_URL_SECONDS must be {MIN_EXPIRES_S} to {MAX_EXPIRES_S}, got {seconds}")
    return seconds


class FrameLinks:
    """Adds `url` (and `url_expires_s`) to each result whose `frame_key` is a frame of `bucket`.

    `s3` is built once per container by the handler (a SigV4 client)."""

    def __init__(self, s3: Any, bucket: str, *, expires_s: int = DEFAULT_EXPIRES_S) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.expires_s = expires_s

    def url(self, key: str) -> str:
        return str(
            self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires_s
            )
        )

    def add_urls(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` (a search response) with a URL on every result, and on every moment's best and
        preview frames; a key outside `frames/` (never written by this system) gets none rather
        than a link the role could not serve."""
        frames = list(body.get("results", []))
        for moment in body.get("moments", []):
            frames += [moment["best"], *moment["preview"]]
            key = moment.get("video_key")
            if isinstance(key, str) and key.startswith(UPLOADS_PREFIX):  # the page plays it
                moment["video_url"] = self.url(key)
        for frame in frames:
            key = frame.get("frame_key")
            if isinstance(key, str) and key.startswith(FRAMES_PREFIX):
                frame["url"] = self.url(key)
                frame["url_expires_s"] = self.expires_s
        return body
