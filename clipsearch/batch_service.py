"""The batch function's logic: embed a video's frames into the cache, resumably, within a deadline.

Pipeline per video: list or take the frames, skip those cached for this model (unless `force`),
prefetch + decode images on a thread pool while the model embeds batches, write each `.npy` in
parallel, then write the packed object from everything cached. A deadline stops it cleanly between
batches: everything finished is written and the result says `partial` with what remains.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from PIL.Image import Image

from clipsearch.cache_store import CacheStore, PackedVideo, packed_key
from clipsearch.embedder import Embedder
from clipsearch.errors import ItemError, RequestError, bad_request
from clipsearch.image_source import ImageSource
from clipsearch.images import decode_image
from clipsearch.layout import FRAMES_PREFIX, IMAGE_EXTENSIONS, Frame, is_valid_id, parse_frame_key
from clipsearch.settings import positive_ints, required
from clipsearch.vectors import Vector

FIELDS = ("video_id", "frames", "force")


class Clock(Protocol):
    def remaining_seconds(self) -> float: ...


@dataclass(frozen=True)
class LambdaDeadline:
    """Time left in this invocation, from the Lambda context."""

    context: Any

    def remaining_seconds(self) -> float:
        return float(self.context.get_remaining_time_in_millis()) / 1000


@dataclass(frozen=True, kw_only=True)
class BatchSettings:
    bucket: str
    batch_size: int = 32  # images per model call
    prefetch: int = 64  # images read and decoded ahead of the model
    s3_concurrency: int = 16
    max_image_bytes: int = 15_000_000
    max_image_pixels: int = 40_000_000
    reserve_seconds: float = 10.0  # kept for the packed object and the response

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BatchSettings:
        limits = positive_ints(
            env,
            {
                "batch_size": "BATCH_SIZE",
                "prefetch": "PREFETCH",
                "s3_concurrency": "S3_CONCURRENCY",
                "max_image_bytes": "MAX_IMAGE_BYTES",
                "max_image_pixels": "MAX_IMAGE_PIXELS",
            },
        )
        bucket = required(env, "BUCKET_NAME", "the bucket holding frames/ and embeddings-cache/")
        return cls(bucket=bucket, **limits)


@dataclass(frozen=True)
class VideoRequest:
    video_id: str
    frames: list[Any] | None  # None: every frame under frames/{video_id}/
    force: bool


def parse_video_request(request: Any) -> VideoRequest:
    if not isinstance(request, dict):
        raise bad_request(
            f'a request must be an object like {{"video_id": "..."}}, not {type(request).__name__}'
        )
    unknown = sorted(set(request) - set(FIELDS))
    if unknown:
        raise bad_request(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    video_id = request.get("video_id")
    if not isinstance(video_id, str) or not is_valid_id(video_id):
        raise bad_request(f"video_id must be a string of letters, digits, '_', '.', '-', got {video_id!r}")
    frames = request.get("frames")
    if frames is not None and (not isinstance(frames, list) or not frames):
        raise bad_request("frames must be a non-empty list of frame keys (frames/{video_id}/...)")
    force = request.get("force", False)
    if not isinstance(force, bool):
        raise bad_request(f"force must be true or false, got {force!r}")
    return VideoRequest(video_id, frames, force)


@dataclass
class VideoResult:
    video_id: str
    model: str
    total: int = 0
    embedded: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    packed_key: str | None = None
    packed_frames: int = 0
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "partial" if self.failed or self.remaining else "complete"

    def as_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "status": self.status,
            "model": self.model,
            "total": self.total,
            "embedded": self.embedded,
            "skipped": self.skipped,
            "failed": self.failed,
            "ignored": self.ignored,
            "remaining": self.remaining,
            "packed_key": self.packed_key,
            "packed_frames": self.packed_frames,
            "seconds": round(self.seconds, 3),
        }


class BatchService:
    def __init__(
        self,
        *,
        settings: BatchSettings,
        s3: Any,
        embedder: Callable[[], Embedder],
        log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.embedder = embedder
        self.log = log
        self.cache = CacheStore(s3, settings.bucket)
        self.images = ImageSource(s3, bucket=settings.bucket, max_bytes=settings.max_image_bytes)

    def run(self, request: VideoRequest, clock: Clock) -> VideoResult:
        """Embed one video; RequestError(404) when it has no frames at all."""
        started = time.perf_counter()
        embedder = self.embedder()
        result = VideoResult(request.video_id, embedder.model_id)
        frames = self._frames(request, result)
        if not frames and not result.failed:
            raise RequestError(
                404,
                f"no frames under {FRAMES_PREFIX}{request.video_id}/ (unknown video, or its frames "
                "are not extracted yet)",
            )
        result.total = len(frames) + len(result.failed)
        cached, packed_ids = (
            ({}, set()) if request.force else self._cached_vectors(request.video_id, embedder)
        )
        todo = [frame for frame in frames if frame.frame_id not in cached]
        result.skipped = len(frames) - len(todo)
        embedded = self._embed(todo, embedder, clock, result)
        result.embedded = len(embedded)
        if request.force:  # keep what was cached before for frames not redone in this call
            cached, packed_ids = self._cached_vectors(request.video_id, embedder)
        everything = {**cached, **embedded}
        if embedded or set(everything) != packed_ids:
            self._write_packed(request.video_id, embedder, everything, result)
        elif packed_ids:  # already packed as it should be: leave it (and the ETag searches check) alone
            result.packed_key, result.packed_frames = packed_key(request.video_id), len(packed_ids)
        result.seconds = time.perf_counter() - started
        return result

    def _frames(self, request: VideoRequest, result: VideoResult) -> list[Frame]:
        prefix = f"{FRAMES_PREFIX}{request.video_id}/"
        keys: list[str] = []
        if request.frames is None:
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix):
                keys.extend(entry["Key"] for entry in page.get("Contents", []))
        else:
            for item in request.frames:
                if not isinstance(item, str):
                    result.failed.append({"frame": repr(item), "error": "a frame must be a key string"})
                    continue
                key = item
                if item.startswith("s3://"):
                    bucket, _, key = item.removeprefix("s3://").partition("/")
                    if bucket != self.settings.bucket:
                        result.failed.append(
                            {"frame": item, "error": f"bucket {bucket!r} is not allowed; frames live in "
                             f"s3://{self.settings.bucket}/"}
                        )  # fmt: skip
                        continue
                if not key.startswith(prefix):
                    result.failed.append(
                        {"frame": item, "error": f"not a frame of this video: expected {prefix}..."}
                    )
                    continue
                keys.append(key)
        frames: dict[str, Frame] = {}
        for key in dict.fromkeys(keys):  # a frame listed twice is embedded once
            try:
                frame = parse_frame_key(key)
            except ValueError as error:
                if request.frames is None and not key.lower().endswith(IMAGE_EXTENSIONS):
                    result.ignored.append(key)  # e.g. a manifest next to the frames: reported, not failed
                else:
                    result.failed.append({"frame": key, "error": str(error)})
                continue
            if frame.frame_id in frames:
                result.failed.append(
                    {
                        "frame": key,
                        "error": f"frame id {frame.frame_id!r} also names {frames[frame.frame_id].key}",
                    }
                )
                continue
            frames[frame.frame_id] = frame
        return sorted(frames.values(), key=lambda frame: frame.frame_id)

    def _cached_vectors(
        self, video_id: str, embedder: Embedder
    ) -> tuple[dict[str, tuple[str, Vector]], set[str]]:
        """(frame_id -> (frame key, vector) cached for this model, from the packed object and then
        `.npy` files; the frame ids the packed object holds)."""
        vectors: dict[str, tuple[str, Vector]] = {}
        packed = self.cache.read_packed(video_id)
        if packed and packed.model == embedder.model_id and packed.dim == embedder.dim:
            rows = zip(packed.frame_keys, packed.vectors.astype(np.float32), strict=True)
            vectors.update(zip(packed.frame_ids, rows, strict=True))
        packed_ids = set(vectors)
        loose = {fid: key for fid, key in self.cache.list_frame_keys(video_id).items() if fid not in vectors}
        with ThreadPoolExecutor(max_workers=self.settings.s3_concurrency) as pool:
            for cached in pool.map(self.cache.read_frame, loose.values()):
                if cached and cached.model == embedder.model_id and cached.vector.shape == (embedder.dim,):
                    vectors[cached.frame_id] = (cached.frame_key, cached.vector)
        return vectors, packed_ids

    def _load(self, frame: Frame) -> Image:
        return decode_image(self.images.read_key(frame.key), max_pixels=self.settings.max_image_pixels)

    def _embed(
        self, todo: list[Frame], embedder: Embedder, clock: Clock, result: VideoResult
    ) -> dict[str, tuple[str, Vector]]:
        embedded: dict[str, tuple[str, Vector]] = {}
        if not todo:
            return embedded
        settings = self.settings
        batch_seconds = 0.0  # the slowest batch so far predicts the next
        started = time.perf_counter()
        with (
            ThreadPoolExecutor(settings.s3_concurrency) as readers,
            ThreadPoolExecutor(settings.s3_concurrency) as writers,
        ):
            queue: deque[tuple[Frame, Future[Image]]] = deque()
            upcoming: Iterator[Frame] = iter(todo)
            writes: list[tuple[Frame, Vector, Future[str]]] = []

            def refill() -> None:
                for frame in upcoming:
                    queue.append((frame, readers.submit(self._load, frame)))
                    if len(queue) >= settings.prefetch:
                        return

            refill()
            while queue:
                if clock.remaining_seconds() < settings.reserve_seconds + 1.5 * batch_seconds:
                    result.remaining = [frame.key for frame, _ in queue] + [frame.key for frame in upcoming]
                    for _, future in queue:
                        future.cancel()
                    self.log(
                        "deadline near: stopping",
                        {"video_id": result.video_id, "left": len(result.remaining)},
                    )
                    break
                batch_started = time.perf_counter()
                frames: list[Frame] = []
                images: list[Image] = []
                while queue and len(images) < settings.batch_size:
                    frame, future = queue.popleft()
                    try:
                        images.append(future.result())
                        frames.append(frame)
                    except ItemError as error:
                        result.failed.append({"frame": frame.key, "error": str(error)})
                    refill()
                if images:
                    vectors = embedder.embed_images(images)
                    for frame, vector in zip(frames, vectors, strict=True):
                        writes.append(
                            (
                                frame,
                                vector,
                                writers.submit(
                                    self.cache.write_frame, frame, vector, model=embedder.model_id
                                ),
                            )
                        )
                batch_seconds = max(batch_seconds, time.perf_counter() - batch_started)
                done = len(writes)
                self.log(
                    "progress",
                    {
                        "video_id": result.video_id,
                        "done": done,
                        "total": len(todo),
                        "frames_per_s": round(done / max(time.perf_counter() - started, 1e-9), 2),
                    },
                )
            for frame, vector, write in writes:
                try:
                    write.result()
                    embedded[frame.frame_id] = (frame.key, vector)
                except (ClientError, BotoCoreError) as error:
                    result.failed.append({"frame": frame.key, "error": f"cache write failed: {error}"})
        return embedded

    def _write_packed(
        self, video_id: str, embedder: Embedder, vectors: dict[str, tuple[str, Vector]], result: VideoResult
    ) -> None:
        if not vectors:
            return
        frame_ids = sorted(vectors)
        packed = PackedVideo(
            video_id=video_id,
            model=embedder.model_id,
            dim=embedder.dim,
            created_at=time.time(),
            frame_ids=frame_ids,
            frame_keys=[vectors[frame_id][0] for frame_id in frame_ids],
            vectors=np.stack([vectors[frame_id][1] for frame_id in frame_ids]).astype(np.float16),
        )
        result.packed_key = self.cache.write_packed(packed)
        result.packed_frames = len(frame_ids)
