"""The `s3vectors` backend: one QueryVectors over the S3 Vectors index that batch writes, instead of
loading vectors into this container. The catalog stays the source of truth: only processed videos'
frames are returned, and a processed video with no ledger (nothing in the index) is requeued.

A search asks QueryVectors for 100 candidates (the contract's `top_k` maximum), so `min_score`,
`dedupe` and dropping frames of videos no longer processed all work on those 100: a search may
return fewer than `top_k`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.catalog.videos import VideoInfo
from clipsearch.index.backend import NOTHING_SEEN, Found, FrameHit, reason, untimed_reason
from clipsearch.index.limits import MAX_TOP_K
from clipsearch.index.query import SearchRequest
from clipsearch.index.ranking import collapse_neighbours
from clipsearch.index.vector_index import Answer, IndexHit, Ledgers, VectorIndex
from clipsearch.runtime.errors import RequestError, bad_request
from clipsearch.runtime.faults import describe, is_transient
from clipsearch.vectors import Vector

CONFIRM_AT_MOST = 100  # HEADs of ledgers per search for videos the held listing does not have
T = TypeVar("T")


class IndexedVideos:
    """Which videos the index lacks (they have no ledger). The ledgers are listed at most once per
    `ttl_seconds`; what a listing made for this search lacks is missing. A held listing may predate
    a video's indexing: a video it lacks is confirmed with one HEAD of its ledger (up to
    CONFIRM_AT_MOST per search, answers kept until the next listing), so a video indexed since is
    searched, not requeued. Nothing is called missing on an S3 fault: requeueing every video then
    would flood the work queue."""

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
        self._absent: set[str] = set()  # confirmed without a ledger since the listing

    def missing(self, video_ids: list[str]) -> list[str]:
        held = self._listed
        listed = self._listing()
        if listed is None:
            return []
        unknown = [v for v in video_ids if v not in listed and v not in self._absent]
        if self._listed is not held:  # listed just now: what it lacks is missing
            self._absent.update(unknown)
        elif unknown := unknown[:CONFIRM_AT_MOST]:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                for video_id, present in zip(unknown, pool.map(self._confirm, unknown), strict=True):
                    if present is True:
                        listed.add(video_id)
                    elif present is False:
                        self._absent.add(video_id)
        return [video_id for video_id in video_ids if video_id in self._absent]

    def _confirm(self, video_id: str) -> bool | None:
        try:
            return self.ledgers.exists(video_id)
        except (ClientError, BotoCoreError):
            return None  # not known

    def _listing(self) -> set[str] | None:
        if self._listed and self.clock() - self._listed[0] < self.ttl_seconds:
            return self._listed[1]
        try:
            self._listed = (self.clock(), self.ledgers.video_ids())
        except (ClientError, BotoCoreError):
            return self._listed[1] if self._listed else None
        self._absent = set()
        return self._listed[1]


class S3VectorsBackend:
    def __init__(
        self,
        index: VectorIndex,
        indexed: IndexedVideos,
        *,
        dimension: int,
        measure: Callable[[str, float], None] = lambda name, value: None,
    ) -> None:
        self.index = index
        self.indexed = indexed
        self.dimension = dimension  # the index's
        self.measure = measure  # IndexLatency in ms

    def find(
        self, query: Vector, model: str | None, videos: list[VideoInfo], request: SearchRequest
    ) -> Found:
        if len(query) != self.dimension:
            raise bad_request(f"embedding has {len(query)} numbers; the vector index is {self.dimension}-d")
        missing = self.indexed.missing([video.video_id for video in videos])
        absent = set(missing)
        in_index = [video for video in videos if video.video_id not in absent]
        skipped = []
        if request.time_range:
            skipped = [reason(video.video_id, untimed_reason()) for video in in_index if not video.timed]
            in_index = [video for video in in_index if video.timed]
        searched = {video.video_id for video in in_index}
        answer = self._query(query, request, in_index) if in_index else Answer([])
        undecodable = dict(answer.undecodable)
        hits = [hit for hit in answer.value if hit.video_id in searched]  # never a video no longer processed
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
            read = self._call(self.index.vectors, [hit.key for hit in hits])
            vectors = read.value
            undecodable |= read.undecodable
            hits = [hit for hit in hits if hit.key in vectors]  # deleted since the query: gone
            hits = collapse_neighbours(hits, lambda hit: (hit.video_id, hit.frame_index, vectors[hit.key]))
        return Found(
            hits=[
                FrameHit(hit.video_id, hit.frame_id, hit.frame_key, hit.frame_index, hit.score)
                for hit in hits[: request.top_k]
            ],
            searched_videos=len(searched - set(other_models)),
            searched_frames=None,
            missing=missing,
            to_queue=dict.fromkeys(missing, NOTHING_SEEN),
            skipped=skipped,
            degraded=[reason(v, why) for v, why in sorted(undecodable.items()) if v in searched],
        )

    def _query(
        self, query: Vector, request: SearchRequest, videos: list[VideoInfo]
    ) -> Answer[list[IndexHit]]:
        started = time.perf_counter()
        try:
            return self._call(self.index.query, query, top_k=MAX_TOP_K, filter=_filter(request, videos))
        finally:
            self.measure("IndexLatency", (time.perf_counter() - started) * 1000)

    @staticmethod
    def _call(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """An index call; throttling, a timeout, a 5xx or no connection is a 503 the caller may retry."""
        try:
            return call(*args, **kwargs)
        except (ClientError, BotoCoreError) as error:
            if is_transient(error):
                raise RequestError(
                    503, f"the vector index is unavailable, try again shortly ({describe(error)})"
                ) from None
            raise


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
