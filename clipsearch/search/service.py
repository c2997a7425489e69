"""The search function's logic: query -> vector -> videos (the catalog) -> the backend's best frames."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from clipsearch.catalog.videos import VideoCatalog, VideoInfo
from clipsearch.index.backend import FrameHit, SearchBackend, reason
from clipsearch.index.moments import MOMENT_CANDIDATES, group_moments
from clipsearch.index.query import SearchRequest
from clipsearch.runtime.deadline import Deadline
from clipsearch.runtime.errors import bad_request
from clipsearch.runtime.settings import positive_ints, required
from clipsearch.search.clip_client import ClipClient
from clipsearch.vectors import Vector, unit_vector
from clipsearch.work.messages import WorkItem
from clipsearch.work.refill import Refill


@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    bucket: str
    table: str
    clip_function: str
    work_queue_url: str
    default_top_k: int = 10
    max_top_k: int = 100
    max_cached_vectors: int = 200_000  # the stack derives it from the function's memory
    revalidate_seconds: int = 60
    requeue_seconds: int = 900  # do not ask batch for the same video again within this
    s3_concurrency: int = 32
    clip_read_timeout_s: int = 50

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SearchSettings:
        limits = positive_ints(
            env,
            {
                "default_top_k": "DEFAULT_TOP_K",
                "max_top_k": "MAX_TOP_K",
                "max_cached_vectors": "MAX_CACHED_VECTORS",
                "revalidate_seconds": "REVALIDATE_SECONDS",
                "requeue_seconds": "REQUEUE_SECONDS",
                "s3_concurrency": "S3_CONCURRENCY",
                "clip_read_timeout_s": "CLIP_READ_TIMEOUT_S",
            },
        )
        return cls(
            bucket=required(env, "BUCKET_NAME", "the bucket holding embeddings-cache/"),
            table=required(env, "VIDEOS_TABLE", "the videos table"),
            clip_function=required(env, "CLIP_FUNCTION_NAME", "the CLIP function that embeds queries"),
            work_queue_url=required(env, "WORK_QUEUE_URL", "the work queue in front of the batch function"),
            **limits,
        )


class SearchService:
    def __init__(
        self,
        *,
        clip: ClipClient,
        catalog: VideoCatalog,
        backend: SearchBackend,
        refill: Refill,
        measure: Callable[[str, float], None] = lambda name, value: None,
    ) -> None:
        self.clip = clip
        self.catalog = catalog
        self.backend = backend
        self.refill = refill
        self.measure = measure  # (metric name, value): ClipLatency in ms

    def search(self, request: SearchRequest, deadline: Deadline) -> dict[str, Any]:
        started = time.perf_counter()
        query, model = self._query_vector(request, deadline)
        if request.video_ids:
            videos, unknown = self.catalog.lookup(request.video_ids)
        else:
            videos, unknown = self.catalog.processed(), []
        moments = request.group == "moments"
        asked = replace(request, top_k=MOMENT_CANDIDATES, dedupe=False) if moments else request
        found = self.backend.find(query, model, videos, asked)
        info = {video.video_id: video for video in videos}
        queued = self.refill.queue_videos(
            [
                WorkItem(video_id, seen=seen, frames_count=info[video_id].frames_count)
                for video_id, seen in found.to_queue.items()
            ]
        )
        answer: dict[str, Any] = {"group": "moments"} if moments else {}
        if moments:
            grouped = group_moments(found.hits, info, gap_s=request.moment_gap_s, top_k=request.top_k)
            answer["moments"] = [
                moment.as_dict(rank) | _source(info[moment.video_id])
                for rank, moment in enumerate(grouped, start=1)
            ]
        else:
            answer["results"] = [
                self._result(rank, hit, info) for rank, hit in enumerate(found.hits, start=1)
            ]
        return answer | {
            "model": model,
            "searched_videos": found.searched_videos,
            "searched_frames": found.searched_frames,
            "missing_videos": found.missing,
            "incomplete_videos": found.incomplete,
            "queued_videos": queued,
            "unknown_videos": unknown,
            "skipped_videos": found.skipped,
            "degraded_videos": found.degraded + _row_problems(videos),
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    @staticmethod
    def _result(rank: int, hit: FrameHit, info: dict[str, VideoInfo]) -> dict[str, Any]:
        result: dict[str, Any] = {
            "video_id": hit.video_id,
            "frame_id": hit.frame_id,
            "frame_key": hit.frame_key,
            "score": round(hit.score, 6),
            "rank": rank,
        }
        (seconds,) = info[hit.video_id].frame_seconds(np.array([hit.frame_index], dtype=np.int64))
        if not np.isnan(seconds):
            result["timestamp_s"] = round(float(seconds), 3)
        return result

    def _query_vector(self, request: SearchRequest, deadline: Deadline) -> tuple[Vector, str | None]:
        if request.mode == "embedding":
            return request.query, request.model
        started = time.perf_counter()
        embedded = self.clip.embed(request.mode, request.query, deadline)
        self.measure("ClipLatency", (time.perf_counter() - started) * 1000)
        if request.model and request.model != embedded.model:
            raise bad_request(
                f"model {request.model!r} was asked for, but the CLIP function runs {embedded.model!r}"
            )
        vector = unit_vector(embedded.vector)
        if vector is None:
            raise bad_request("the CLIP function returned a vector with no direction for this query")
        return vector, embedded.model


def _source(video: VideoInfo) -> dict[str, Any]:
    """A moment's video as a person knows it: its name, and the uploaded file it came from (the
    page plays it from the moment's start; the HTTP route adds a URL)."""
    return {"video_name": video.name} | ({"video_key": video.original_key} if video.original_key else {})


def _row_problems(videos: list[VideoInfo]) -> list[dict[str, str]]:
    """The searched videos whose `videos` row holds numbers out of range (treated as unknown)."""
    return [reason(video.video_id, problem) for video in videos for problem in video.problems]
