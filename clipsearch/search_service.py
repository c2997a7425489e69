"""The search function's logic: query -> vector -> videos -> cached vectors -> ranked frames."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from clipsearch.clip_client import ClipClient
from clipsearch.errors import bad_request
from clipsearch.layout import is_valid_id
from clipsearch.ranking import RankOptions, rank
from clipsearch.settings import positive_ints, required
from clipsearch.vector_cache import VectorCache, VideoVectors
from clipsearch.vectors import Vector
from clipsearch.video_catalog import VideoCatalog, VideoInfo

QUERY_FIELDS = ("query", "image", "embedding")
OPTION_FIELDS = ("top_k", "video_ids", "min_score", "dedupe", "time_range", "model")
MAX_QUERY_CHARS = 1_000
MAX_VIDEO_IDS = 1_000
MAX_IMAGE_CHARS = 8_000_000  # base64 of about 6 MB: Lambda's synchronous payload limit


@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    bucket: str
    table: str
    clip_function: str
    batch_function: str
    default_top_k: int = 10
    max_top_k: int = 100
    max_cached_vectors: int = 1_000_000  # about 2 GB of float32 at 512-d
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
            batch_function=required(env, "BATCH_FUNCTION_NAME", "the batch function that refills the cache"),
            **limits,
        )


@dataclass(frozen=True)
class SearchRequest:
    mode: str  # "text", "image" or "embedding"
    query: Any
    top_k: int
    video_ids: list[str] | None
    min_score: float | None
    dedupe: bool
    time_range: tuple[float, float] | None
    model: str | None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_search_request(request: dict[str, Any], settings: SearchSettings) -> SearchRequest:
    unknown = sorted(set(request) - set(QUERY_FIELDS) - set(OPTION_FIELDS))
    if unknown:
        allowed = ", ".join(QUERY_FIELDS + OPTION_FIELDS)
        raise bad_request(f"unknown field(s) {', '.join(unknown)}; allowed: {allowed}")
    given = [name for name in QUERY_FIELDS if name in request]
    if len(given) != 1:
        raise bad_request('send exactly one of "query" (text), "image" or "embedding"')
    (kind,) = given
    value = request[kind]
    if kind == "query":
        if not isinstance(value, str) or not value.strip():
            raise bad_request('query must be a non-empty string, e.g. "a man riding a bicycle"')
        if len(value) > MAX_QUERY_CHARS:
            raise bad_request(f"query has {len(value):,} characters; the limit is {MAX_QUERY_CHARS:,}")
    elif kind == "image":
        text = value.get("b64") if isinstance(value, dict) else value
        if not isinstance(text, str) or not text:
            raise bad_request('image must be an s3:// URI of a frame, base64, a data URI or {"b64": ...}')
        if len(text) > MAX_IMAGE_CHARS:
            raise bad_request(f"image has {len(text):,} characters; the limit is {MAX_IMAGE_CHARS:,}")
    else:
        if not isinstance(value, list) or not value or not all(_number(x) for x in value):
            raise bad_request("embedding must be a non-empty list of finite numbers")
        if not any(value):
            raise bad_request("embedding is all zeros: it has no direction to search in")
    top_k = request.get("top_k", settings.default_top_k)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= settings.max_top_k:
        raise bad_request(f"top_k must be a whole number from 1 to {settings.max_top_k}, got {top_k!r}")
    video_ids = request.get("video_ids")
    if video_ids is not None:
        if not isinstance(video_ids, list) or not video_ids:
            raise bad_request("video_ids must be a non-empty list of video ids")
        if len(video_ids) > MAX_VIDEO_IDS:
            raise bad_request(f"{len(video_ids)} video_ids; at most {MAX_VIDEO_IDS}")
        bad = [v for v in video_ids if not isinstance(v, str) or not is_valid_id(v)]
        if bad:
            raise bad_request(f"video_ids must be strings of letters, digits, '_', '.', '-'; got {bad[0]!r}")
    min_score = request.get("min_score")
    if min_score is not None and (not _number(min_score) or not -1 <= min_score <= 1):
        raise bad_request(f"min_score must be a number from -1 to 1 (a cosine), got {min_score!r}")
    dedupe = request.get("dedupe", False)
    if not isinstance(dedupe, bool):
        raise bad_request(f"dedupe must be true or false, got {dedupe!r}")
    time_range = request.get("time_range")
    if time_range is not None:
        if (
            not isinstance(time_range, list)
            or len(time_range) != 2
            or not all(_number(x) for x in time_range)
            or not 0 <= time_range[0] <= time_range[1]
        ):
            raise bad_request(
                f"time_range must be [start_s, end_s] with 0 <= start_s <= end_s, got {time_range!r}"
            )
        time_range = (float(time_range[0]), float(time_range[1]))
    model = request.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise bad_request("model must be a model id string")
    mode = {"query": "text", "image": "image", "embedding": "embedding"}[kind]
    return SearchRequest(mode, value, top_k, video_ids, min_score, dedupe, time_range, model)


class RequeueMemory:
    """Videos recently sent to the batch function, so that a search does not resend them every time."""

    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000
    ):
        self.seconds = seconds
        self.clock = clock
        self.max_entries = max_entries
        self._sent: dict[str, float] = {}

    def due(self, video_id: str) -> bool:
        sent = self._sent.get(video_id)
        return sent is None or self.clock() - sent >= self.seconds

    def remember(self, video_id: str) -> None:
        if len(self._sent) >= self.max_entries:  # forget the oldest half
            for old in sorted(self._sent, key=self._sent.__getitem__)[: self.max_entries // 2]:
                del self._sent[old]
        self._sent[video_id] = self.clock()


class SearchService:
    def __init__(
        self,
        *,
        settings: SearchSettings,
        clip: ClipClient,
        catalog: VideoCatalog,
        vectors: VectorCache,
        lambda_client: Any,
        requeue: RequeueMemory,
        log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None,
    ) -> None:
        self.settings = settings
        self.clip = clip
        self.catalog = catalog
        self.vectors = vectors
        self.lambda_client = lambda_client
        self.requeue = requeue
        self.log = log

    def search(self, request: SearchRequest) -> dict[str, Any]:
        started = time.perf_counter()
        query, model = self._query_vector(request)
        if request.video_ids:
            videos, unknown = self.catalog.lookup(request.video_ids)
        else:
            videos, unknown = self.catalog.processed(), []
        loaded = self.vectors.get_many([video.video_id for video in videos])
        missing = [video_id for video_id, vectors in loaded.items() if vectors is None]
        # Per-frame files only: searchable now, and batch will pack them for one-GET loads.
        unpacked = [video_id for video_id, v in loaded.items() if v is not None and v.source == "frames"]
        queued = self._queue_batch(missing + unpacked)
        usable, skipped = self._usable(videos, loaded, query, model, request)
        info = {vectors.video_id: video for vectors, video in usable}
        hits = rank(
            self.vectors.shelf([vectors for vectors, _ in usable]),
            query,
            RankOptions(
                top_k=request.top_k,
                min_score=request.min_score,
                dedupe=request.dedupe,
                allow=self._time_filter(info, request.time_range),
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
            seconds = info[video.video_id].seconds_at(int(video.frame_indices[hit.row]))
            if seconds is not None:
                result["timestamp_s"] = round(seconds, 3)
            results.append(result)
        return {
            "results": results,
            "model": model,
            "searched_videos": len(usable),
            "searched_frames": sum(len(vectors.frame_ids) for vectors, _ in usable),
            "missing_videos": missing,
            "queued_videos": queued,
            "unknown_videos": unknown,
            "skipped_videos": skipped,
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def _query_vector(self, request: SearchRequest) -> tuple[Vector, str | None]:
        if request.mode == "embedding":
            vector = np.asarray(request.query, dtype=np.float32)
            return vector / np.linalg.norm(vector), request.model
        embedded = self.clip.embed(request.mode, request.query)
        if request.model and request.model != embedded.model:
            raise bad_request(
                f"model {request.model!r} was asked for, but the CLIP function runs {embedded.model!r}"
            )
        return embedded.vector / np.linalg.norm(embedded.vector), embedded.model

    def _usable(
        self,
        videos: list[VideoInfo],
        loaded: dict[str, VideoVectors | None],
        query: Vector,
        model: str | None,
        request: SearchRequest,
    ) -> tuple[list[tuple[VideoVectors, VideoInfo]], list[dict[str, str]]]:
        """Videos to rank, and those skipped with the reason: never mix models or dimensions."""
        candidates = [(vectors, video) for video in videos if (vectors := loaded[video.video_id]) is not None]
        if model is None:  # a raw embedding: the cache must say which model it is
            models = sorted({vectors.model for vectors, _ in candidates if vectors.dim == len(query)})
            if len(models) > 1:
                raise bad_request(
                    f'the cache holds vectors of several models ({", ".join(models)}): say which with "model"'
                )
            model = models[0] if models else None
        usable, skipped = [], []
        for vectors, video in candidates:
            if vectors.dim != len(query):
                skipped.append(
                    {
                        "video_id": video.video_id,
                        "reason": f"cached vectors are {vectors.dim}-d, the query is {len(query)}-d",
                    }
                )
            elif vectors.model != model:
                skipped.append(
                    {
                        "video_id": video.video_id,
                        "reason": f"cached with model {vectors.model!r}, the query uses {model!r}",
                    }
                )
            elif request.time_range and not (video.video_fps and video.frame_step):
                skipped.append(
                    {
                        "video_id": video.video_id,
                        "reason": "no timing (video_fps and frame step unknown) for time_range",
                    }
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
        return usable, skipped

    @staticmethod
    def _time_filter(
        info: dict[str, VideoInfo], time_range: tuple[float, float] | None
    ) -> Callable[[VideoVectors], Any] | None:
        if time_range is None:
            return None
        start, end = time_range

        def allow(vectors: VideoVectors) -> Any:
            video = info[vectors.video_id]
            seconds = vectors.frame_indices * ((video.frame_step or 0) / (video.video_fps or 1))
            return (vectors.frame_indices >= 0) & (seconds >= start) & (seconds <= end)

        return allow

    def _queue_batch(self, video_ids: list[str]) -> list[str]:
        """Ask the batch function (asynchronously) to rebuild these videos' cache, once per window."""
        queued = []
        for video_id in video_ids:
            if not self.requeue.due(video_id):
                continue
            try:
                self.lambda_client.invoke(
                    FunctionName=self.settings.batch_function,
                    InvocationType="Event",
                    Payload=json.dumps({"video_id": video_id}).encode(),
                )
            except Exception as error:  # the search still answers; the next one retries
                self.log("could not queue re-embedding", {"video_id": video_id, "error": str(error)})
                continue
            self.requeue.remember(video_id)
            queued.append(video_id)
        return queued
