"""The `memory` backend: each search container loads the searched videos' packed objects (kept,
revalidated) and ranks every frame exactly (ranking.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clipsearch.cache.vector_cache import VectorCache, VideoLoad
from clipsearch.cache.video_vectors import Shelf, VideoVectors
from clipsearch.catalog.videos import VideoInfo
from clipsearch.index.backend import NOTHING_SEEN, Found, FrameHit, reason, untimed_reason
from clipsearch.index.query import SearchRequest
from clipsearch.index.ranking import RankOptions, rank
from clipsearch.runtime.errors import bad_request
from clipsearch.vectors import Vector


@dataclass(frozen=True)
class _Loaded:
    """The videos of one search, sorted by what can be done with them."""

    usable: list[tuple[VideoVectors, VideoInfo]]
    missing: list[str]  # nothing usable cached: expired, never built, or damaged
    to_queue: dict[str, str]  # missing, damaged, or not covering the video's frames: what was seen
    incomplete: list[str]  # searched as they are, but they do not cover the catalog's frames
    skipped: list[dict[str, str]]
    degraded: list[dict[str, str]]


class MemoryBackend:
    def __init__(
        self, vectors: VectorCache, *, measure: Callable[[str, float], None] = lambda name, value: None
    ) -> None:
        self.vectors = vectors
        self.measure = measure  # CacheHits, CacheMisses

    def find(
        self, query: Vector, model: str | None, videos: list[VideoInfo], request: SearchRequest
    ) -> Found:
        read = self.vectors.get_many([video.video_id for video in videos])
        self.measure("CacheHits", read.hits)
        self.measure("CacheMisses", read.misses)
        loaded = _sort(videos, read.loads, read.over_bound, query, model, request)
        info = {vectors.video_id: video for vectors, video in loaded.usable}
        ranked = rank(
            Shelf.of([vectors for vectors, _ in loaded.usable]),
            query,
            RankOptions(
                top_k=request.top_k,
                min_score=request.min_score,
                dedupe=request.dedupe,
                allow=_time_filter(info, request.time_range),
            ),
        )
        return Found(
            hits=[
                FrameHit(
                    video_id=hit.video.video_id,
                    frame_id=hit.video.frame_ids[hit.row],
                    frame_key=hit.video.frame_keys[hit.row],
                    frame_index=int(hit.video.frame_indices[hit.row]),
                    score=hit.score,
                )
                for hit in ranked
            ],
            searched_videos=len(loaded.usable),
            searched_frames=sum(len(vectors.frame_ids) for vectors, _ in loaded.usable),
            missing=loaded.missing,
            to_queue=loaded.to_queue,
            incomplete=loaded.incomplete,
            skipped=loaded.skipped,
            degraded=loaded.degraded,
        )


def _sort(
    videos: list[VideoInfo],
    loads: dict[str, VideoLoad],
    over_bound: list[str],
    query: Vector,
    model: str | None,
    request: SearchRequest,
) -> _Loaded:
    """Sort videos into those to rank and those not (with why), never mixing models or dimensions."""
    missing, incomplete = [], []
    to_queue: dict[str, str] = {}
    skipped = [
        reason(video_id, "over this function's memory bound (MAX_CACHED_VECTORS): give it more memory")
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
            degraded.append(reason(video.video_id, load.problem))
        if vectors is None:
            if not load.problem or load.damaged:  # nothing (usable) cached: batch builds it
                missing.append(video.video_id)
                to_queue[video.video_id] = NOTHING_SEEN
            continue
        if load.damaged:  # searched from its per-frame files meanwhile
            to_queue[video.video_id] = vectors.version
        # Per-frame files only, or fewer (or other) frames than the video has: searchable as it
        # is now, and batch brings it up to date (a repack reflects frames/ exactly).
        if video.frames_count is not None and vectors.covered_frames != video.frames_count:
            incomplete.append(video.video_id)
            if vectors.unmet_count != video.frames_count:  # not what a run found it cannot meet
                to_queue[video.video_id] = vectors.version
        elif vectors.source == "frames":
            to_queue[video.video_id] = vectors.version
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
                reason(video.video_id, f"cached vectors are {vectors.dim}-d, the query is {len(query)}-d")
            )
        elif vectors.model != model:
            skipped.append(
                reason(video.video_id, f"cached with model {vectors.model!r}, the query uses {model!r}")
            )
        elif request.time_range and not video.timed:
            skipped.append(reason(video.video_id, untimed_reason()))
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
    return _Loaded(usable, missing, to_queue, incomplete, skipped, degraded)


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
