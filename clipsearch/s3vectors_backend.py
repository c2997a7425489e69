"""The `s3vectors` backend: one QueryVectors over the S3 Vectors index that batch writes, instead of
loading vectors into this container. The catalog stays the source of truth: only processed videos'
frames are returned, and a processed video with no ledger (nothing in the index) is requeued.

QueryVectors returns at most 100 frames, so `min_score`, `dedupe` and dropping frames of videos no
longer processed all work on those 100 candidates: a search may return fewer than `top_k`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.errors import RequestError, bad_request
from clipsearch.faults import describe, error_code, is_transient
from clipsearch.ranking import collapse_neighbours
from clipsearch.search_backend import Found, FrameHit, reason, untimed_reason
from clipsearch.search_request import SearchRequest
from clipsearch.vector_index import MAX_TOP_K, IndexHit, Ledgers, VectorIndex
from clipsearch.vectors import Vector
from clipsearch.video_catalog import VideoInfo

CONFIRM_AT_MOST = 100  # HEADs of ledgers per search for videos the held listing does not have


class IndexedVideos:
    """The videos the index holds (their ledgers), listed at most once per `ttl_seconds`. A video
    the catalog has that the held listing does not is confirmed with one HEAD of its ledger (up to
    CONFIRM_AT_MOST per search; the rest wait for the next listing), so a video indexed since the
    listing is searched, not requeued. When S3 fails, the last listing answers, and before any
    there is none (None: not known)."""

    def __init__(
        self,
        ledgers: Ledgers,
        *,
        ttl_seconds: float,
        concurrency: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledgers = ledgers
        self.ttl_seconds = ttl_seconds
        self.concurrency = concurrency
        self.clock = clock
        self._listed: tuple[float, set[str]] | None = None

    def holding(self, video_ids: list[str]) -> set[str] | None:
        """Which of `video_ids` the index holds (None: not known)."""
        listed = self._listing()
        if listed is None:
            return None
        unlisted = [video_id for video_id in video_ids if video_id not in listed][:CONFIRM_AT_MOST]
        if unlisted:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                listed.update(
                    v
                    for v, present in zip(unlisted, pool.map(self._confirm, unlisted), strict=True)
                    if present
                )
        return {video_id for video_id in video_ids if video_id in listed}

    def _confirm(self, video_id: str) -> bool:
        try:
            return self.ledgers.exists(video_id)
        except (ClientError, BotoCoreError):
            return True  # not known to be missing: never requeue on an S3 fault

    def _listing(self) -> set[str] | None:
        if self._listed and self.clock() - self._listed[0] < self.ttl_seconds:
            return self._listed[1]
        try:
            self._listed = (self.clock(), self.ledgers.video_ids())
        except (ClientError, BotoCoreError):
            return self._listed[1] if self._listed else None
        return self._listed[1]


class S3VectorsBackend:
    def __init__(
        self,
        index: VectorIndex,
        indexed: IndexedVideos,
        *,
        measure: Callable[[str, float], None] = lambda name, value: None,
    ) -> None:
        self.index = index
        self.indexed = indexed
        self.measure = measure  # IndexLatency in ms

    def find(
        self, query: Vector, model: str | None, videos: list[VideoInfo], request: SearchRequest
    ) -> Found:
        indexed = self.indexed.holding([video.video_id for video in videos])
        in_index = [video for video in videos if indexed is None or video.video_id in indexed]
        missing = [
            video.video_id for video in videos if indexed is not None and video.video_id not in indexed
        ]
        skipped = []
        if request.time_range:
            skipped = [reason(video.video_id, untimed_reason()) for video in in_index if not video.timed]
            in_index = [video for video in in_index if video.timed]
        searched = {video.video_id for video in in_index}
        hits = self._query(query, request, in_index) if in_index else []
        hits = [hit for hit in hits if hit.video_id in searched]  # never a video no longer processed
        if model is None:  # a raw embedding: the index must say which model it is
            models = sorted({hit.model for hit in hits})
            if len(models) > 1:
                raise bad_request(
                    f'the index holds vectors of several models ({", ".join(models)}): say which with "model"'
                )
            model = models[0] if models else None
        other_models = {hit.video_id: hit.model for hit in hits if hit.model != model}
        skipped += [
            reason(video_id, f"indexed with model {other!r}, the query uses {model!r}")
            for video_id, other in sorted(other_models.items())
        ]
        hits = [hit for hit in hits if hit.model == model]
        if request.min_score is not None:
            hits = [hit for hit in hits if hit.score >= request.min_score]
        # Best first; equal scores by video id then frame id, as the memory backend orders them.
        hits.sort(key=lambda hit: (-hit.score, hit.video_id, hit.frame_id))
        if request.dedupe and hits:
            vectors = self.index.vectors([hit.key for hit in hits])
            hits = collapse_neighbours(hits, lambda hit: (hit.video_id, hit.frame_index, vectors[hit.key]))
        return Found(
            hits=[
                FrameHit(hit.video_id, hit.frame_id, hit.frame_key, hit.frame_index, hit.score)
                for hit in hits[: request.top_k]
            ],
            searched_videos=len(in_index),
            searched_frames=None,
            missing=missing,
            to_queue=missing,
            skipped=skipped,
        )

    def _query(self, query: Vector, request: SearchRequest, videos: list[VideoInfo]) -> list[IndexHit]:
        started = time.perf_counter()
        try:
            return self.index.query(query, top_k=MAX_TOP_K, filter=_filter(request, videos))
        except ClientError as error:
            if error_code(error) == "ValidationException" and request.mode == "embedding":
                raise bad_request(
                    f"embedding has {len(query)} numbers; the vector index refused it ({describe(error)})"
                ) from None
            if is_transient(error):
                raise _unavailable(error) from None
            raise
        except BotoCoreError as error:
            raise _unavailable(error) from None
        finally:
            self.measure("IndexLatency", (time.perf_counter() - started) * 1000)


def _filter(request: SearchRequest, videos: list[VideoInfo]) -> dict[str, Any] | None:
    """The metadata filter: the asked videos (`video_ids`), and the time range."""
    conditions: list[dict[str, Any]] = []
    if request.video_ids:
        conditions.append({"video_id": {"$in": sorted(video.video_id for video in videos)}})
    if request.time_range:
        start, end = request.time_range
        conditions.append({"time_s": {"$gte": start, "$lte": end}})
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _unavailable(error: Exception) -> RequestError:
    return RequestError(503, f"the vector index is unavailable, try again shortly ({describe(error)})")
