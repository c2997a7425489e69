"""What a search backend answers: the best frames of the searched videos, and the videos it could
not search (with why). The search service turns that into the response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from clipsearch.catalog.videos import VideoInfo
from clipsearch.index.query import SearchRequest
from clipsearch.vectors import Vector


@dataclass(frozen=True)
class FrameHit:
    video_id: str
    frame_id: str
    frame_key: str
    frame_index: int  # -1: the frame id holds no number
    score: float  # cosine with the query


@dataclass(frozen=True)
class Found:
    hits: list[FrameHit]  # best first, at most top_k
    searched_videos: int
    searched_frames: int | None  # None: the backend does not know (the S3 Vectors index)
    missing: list[str] = field(default_factory=list)  # nothing usable to search: batch builds it
    # missing, damaged, or not covering the video: video id -> the version of its cache or index
    # seen (NOTHING_SEEN: none), which names the change the work message is for
    to_queue: dict[str, str] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)  # searched as they are, not every frame
    skipped: list[dict[str, str]] = field(default_factory=list)  # not searched, and why
    degraded: list[dict[str, str]] = field(default_factory=list)  # searched from older vectors


class SearchBackend(Protocol):
    def find(
        self, query: Vector, model: str | None, videos: list[VideoInfo], request: SearchRequest
    ) -> Found:
        """The best frames of `videos` for the unit `query` of `model` (None: a raw embedding)."""
        ...


NOTHING_SEEN = "none"  # what to_queue says of a video with no cache or index version at all


def reason(video_id: str, why: str) -> dict[str, str]:
    return {"video_id": video_id, "reason": why}


def untimed_reason() -> str:
    return "no timing (video_fps and frame step unknown) for time_range"
