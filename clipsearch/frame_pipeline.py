"""Embed frames as fast as the model allows: S3 reads and decoding run ahead of the model on a
thread pool (a bounded prefetch), images go through the model a batch at a time, each vector's
`.npy` is written in parallel. A deadline stops it between batches; nothing finished is lost."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from PIL.Image import Image

from clipsearch.cache_store import CacheStore
from clipsearch.deadline import Deadline
from clipsearch.embedder import Embedder
from clipsearch.errors import ItemError, ItemGone, ItemUnavailable
from clipsearch.faults import describe
from clipsearch.layout import Frame
from clipsearch.vectors import Vector


@dataclass
class Embedded:
    vectors: dict[str, tuple[str, Vector]] = field(default_factory=dict)  # frame_id -> (key, vector)
    rejected: list[tuple[Frame, str]] = field(default_factory=list)  # never embeddable as it is
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, why): not now, retried
    gone: list[Frame] = field(default_factory=list)  # deleted since it was listed
    remaining: list[str] = field(default_factory=list)  # not reached before the deadline


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    load: Callable[[Frame], Image]  # raises ItemError (rejected), ItemGone, ItemUnavailable
    cache: CacheStore
    batch_size: int
    prefetch: int
    concurrency: int
    reserve_seconds: float  # kept for the packed object and the response
    log: Callable[[str, dict[str, Any]], None]

    def run(self, todo: list[Frame], embedder: Embedder, deadline: Deadline, video_id: str) -> Embedded:
        done = Embedded()
        if not todo:
            return done
        batch_seconds = 0.0  # the slowest batch so far predicts the next
        started = time.perf_counter()
        with (
            ThreadPoolExecutor(self.concurrency) as readers,
            ThreadPoolExecutor(self.concurrency) as writers,
        ):
            queue: deque[tuple[Frame, Future[Any]]] = deque()
            upcoming: Iterator[Frame] = iter(todo)
            writes: list[tuple[Frame, Vector, Future[str]]] = []

            def prepare(frame: Frame) -> Any:  # read, decode and preprocess, ahead of the model
                return embedder.prepare_image(self.load(frame))

            def refill() -> None:
                for frame in upcoming:
                    queue.append((frame, readers.submit(prepare, frame)))
                    if len(queue) >= self.prefetch:
                        return

            refill()
            while queue:
                if deadline.remaining_seconds() < self.reserve_seconds + 1.5 * batch_seconds:
                    done.remaining = [frame.key for frame, _ in queue] + [frame.key for frame in upcoming]
                    for _, future in queue:
                        future.cancel()
                    self.log("deadline near: stopping", {"video_id": video_id, "left": len(done.remaining)})
                    break
                batch_started = time.perf_counter()
                frames: list[Frame] = []
                images: list[Any] = []
                while queue and len(images) < self.batch_size:
                    frame, future = queue.popleft()
                    try:
                        images.append(future.result())
                        frames.append(frame)
                    except ItemGone:
                        done.gone.append(frame)
                    except ItemUnavailable as error:
                        done.failed.append((frame.key, str(error)))
                    except ItemError as error:
                        done.rejected.append((frame, str(error)))
                    refill()
                if images:
                    for frame, vector in zip(frames, embedder.embed_prepared(images), strict=True):
                        write = writers.submit(self.cache.write_frame, frame, vector, model=embedder.model_id)
                        writes.append((frame, vector, write))
                batch_seconds = max(batch_seconds, time.perf_counter() - batch_started)
                self.log(
                    "progress",
                    {
                        "video_id": video_id,
                        "done": len(writes),
                        "total": len(todo),
                        "frames_per_s": round(len(writes) / max(time.perf_counter() - started, 1e-9), 2),
                    },
                )
            for frame, vector, write in writes:
                try:
                    write.result()
                    done.vectors[frame.frame_id] = (frame.key, vector)
                except (ClientError, BotoCoreError) as error:
                    done.failed.append((frame.key, f"cache write failed: {describe(error)}"))
        return done
