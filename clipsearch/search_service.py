"""The search function's logic: query -> vector -> videos -> cached vectors -> ranked frames."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from clipsearch.clip_client import ClipClient
from clipsearch.deadline import Deadline
from clipsearch.errors import bad_request
from clipsearch.ranking import RankOptions, rank
from clipsearch.refill import Refill
from clipsearch.search_request import SearchRequest
from clipsearch.settings import positive_ints, required
from clipsearch.vector_cache import VectorCache, VideoLoad
from clipsearch.vectors import Vector, unit_vector
from clipsearch.video_catalog import VideoCatalog, VideoInfo
from clipsearch.video_vectors import VideoVectors


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


@dataclass(frozen=True)
class _Loaded:
    """The videos of one search, sorted by what can be done with them."""

    usable: list[tuple[VideoVectors, VideoInfo]]
    missing: list[str]  # nothing usable cached: expired, never built, or damaged
    to_queue: list[str]  # missing, damaged, or not covering the video's frames
    incomplete: list[str]  # searched as they are, but they do not cover the catalog's frames
    skipped: list[dict[str, str]]
    degraded: list[dict[str, str]]


def _reason(video_id: str, reason: str) -> dict[str, str]:
    return {"video_id": video_id, "reason": reason}


class SearchService:
    def __init__(
        self,
        *,
        clip: ClipClient,
        catalog: VideoCatalog,
        vectors: VectorCache,
        refill: Refill,
        measure: Callable[[str, float], None] = lambda name, value: None,
    ) -> None:
        self.clip = clip
        self.catalog = catalog
        self.vectors = vectors
        self.refill = refill
        self.measure = measure  # (metric name, value): ClipLatency in ms, CacheHits, CacheMisses

    def search(self, request: SearchRequest, deadline: Deadline) -> dict[str, Any]:
        started = time.perf_counter()
        query, model = self._query_vector(request, deadline)
        if request.video_ids:
            videos, unknown = self.catalog.lookup(request.video_ids)
        else:
            videos, unknown = self.catalog.processed(), []
        read = self.vectors.get_many([video.video_id for video in videos])
        self.measure("CacheHits", read.hits)
        self.measure("CacheMisses", read.misses)
        loaded = self._sort(videos, read.loads, read.over_bound, query, model, request)
        queued = self.refill.queue_videos(loaded.to_queue)
        info = {vectors.video_id: video for vectors, video in loaded.usable}
        hits = rank(
            self.vectors.shelf([vectors for vectors, _ in loaded.usable]),
            query,
            RankOptions(
                top_k=request.top_k,
                min_score=request.min_score,
                dedupe=request.dedupe,
                allow=_time_filter(info, request.time_range),
            ),
        )
        results = []
        for rank_number, hit in enumerate(hits, start=1):
            video = hit.video
            result: dict[str, Any] = {
                "video_id": video.video_id,
                "frame_id": video.frame_ids[hit.row],
                "frame_key": video.frame_keys[hit.row],
                "score": round(hit.score, 6),
                "rank": rank_number,
            }
            (seconds,) = info[video.video_id].frame_seconds(video.frame_indices[hit.row : hit.row + 1])
            if not np.isnan(seconds):
                result["timestamp_s"] = round(float(seconds), 3)
            results.append(result)
        return {
            "results": results,
            "model": model,
            "searched_videos": len(loaded.usable),
            "searched_frames": sum(len(vectors.frame_ids) for vectors, _ in loaded.usable),
            "missing_videos": loaded.missing,
            "incomplete_videos": loaded.incomplete,
            "queued_videos": queued,
            "unknown_videos": unknown,
            "skipped_videos": loaded.skipped,
            "degraded_videos": loaded.degraded,
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
        }

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

    def _sort(
        self,
        videos: list[VideoInfo],
        loads: dict[str, VideoLoad],
        over_bound: list[str],
        query: Vector,
        model: str | None,
        request: SearchRequest,
    ) -> _Loaded:
        """Sort videos into those to rank and those not (with why), never mixing models or dimensions."""
        missing, to_queue, incomplete = [], [], []
        skipped = [
            _reason(video_id, "over this function's memory bound (MAX_CACHED_VECTORS): give it more memory")
            for video_id in over_bound
        ]
        degraded = []
        candidates = []
        for video in videos:
            load = loads.get(video.video_id)
            if load is None:
                continue
            vectors = load.vectors
            if load.problem:
                degraded.append(_reason(video.video_id, load.problem))
            if vectors is None:
                if not load.problem or load.damaged:  # nothing (usable) cached: batch builds it
                    missing.append(video.video_id)
                    to_queue.append(video.video_id)
                continue
            if load.damaged:  # searched from its per-frame files meanwhile
                to_queue.append(video.video_id)
            # Per-frame files only, or fewer (or other) frames than the video has: searchable as it
            # is now, and batch brings it up to date (a repack reflects frames/ exactly).
            if video.frames_count is not None and vectors.covered_frames != video.frames_count:
                incomplete.append(video.video_id)
                to_queue.append(video.video_id)
            elif vectors.source == "frames":
                to_queue.append(video.video_id)
            candidates.append((vectors, video))
        if model is None:  # a raw embedding: the cache must say which model it is
            models = sorted({vectors.model for vectors, _ in candidates if vectors.dim == len(query)})
            if len(models) > 1:
                raise bad_request(
                    f'the cache holds vectors of several models ({", ".join(models)}): say which with "model"'
                )
            model = models[0] if models else None
        usable = []
        for vectors, video in candidates:
            if vectors.dim != len(query):
                skipped.append(
                    _reason(
                        video.video_id, f"cached vectors are {vectors.dim}-d, the query is {len(query)}-d"
                    )
                )
            elif vectors.model != model:
                skipped.append(
                    _reason(video.video_id, f"cached with model {vectors.model!r}, the query uses {model!r}")
                )
            elif request.time_range and not video.timed:
                skipped.append(
                    _reason(video.video_id, "no timing (video_fps and frame step unknown) for time_range")
                )
            else:
                usable.append((vectors, video))
        if (
            request.mode == "embedding"
            and candidates
            and not usable
            and all(v.dim != len(query) for v, _ in candidates)
        ):
            dims = sorted({v.dim for v, _ in candidates})
            raise bad_request(
                f"embedding has {len(query)} numbers; the cached vectors are {'/'.join(map(str, dims))}-d"
            )
        return _Loaded(usable, missing, list(dict.fromkeys(to_queue)), incomplete, skipped, degraded)


def _time_filter(
    info: dict[str, VideoInfo], time_range: tuple[float, float] | None
) -> Callable[[VideoVectors], npt.NDArray[np.bool_]] | None:
    if time_range is None:
        return None
    start, end = time_range

    def allow(vectors: VideoVectors) -> npt.NDArray[np.bool_]:
        seconds = info[vectors.video_id].frame_seconds(vectors.frame_indices)
        return (seconds >= start) & (seconds <= end)  # NaN (no index) is never in range

    return allow
