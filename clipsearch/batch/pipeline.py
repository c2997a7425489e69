"""Embed frames as fast as the model allows: S3 reads and decoding run ahead of the model on a
thread pool (a bounded prefetch), images go through the model a batch at a time (as many batches
at once as the embedder runs side by side), each vector's `.npy` is written in parallel (unless
`write_frames` is off: `frame_cache=packed`, where the caller's packed object keeps them). A deadline
stops it between batches; nothing finished is lost."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from PIL.Image import Image

from clipsearch.cache.store import CacheStore
from clipsearch.layout import Frame
from clipsearch.model.embedder import Embedder
from clipsearch.runtime.deadline import Deadline
from clipsearch.runtime.errors import ItemError, ItemGone, ItemUnavailable
from clipsearch.runtime.faults import describe
from clipsearch.vectors import Vector


@dataclass
class Embedded:
    vectors: dict[str, tuple[str, Vector]] = field(default_factory=dict)  # frame_id -> (key, vector)
    rejected: list[tuple[Frame, str]] = field(default_factory=list)  # never embeddable as it is
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, why): not now, retried
    gone: list[Frame] = field(default_factory=list)  # deleted since it was listed
    remaining: list[str] = field(default_factory=list)  # not reached before the deadline


@dataclass
class SlowestBatch:
    """The slowest model batch this container has run, in seconds: it predicts the next one, also
    the first batches of a later run (an invocation may embed several videos one after another)."""

    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    load: Callable[[Frame], Image]  # raises ItemError (rejected), ItemGone, ItemUnavailable
    cache: CacheStore
    write_frames: bool  # a `.npy` per vector (frame_cache=per-frame); off: the vectors are only returned
    batch_size: int
    prefetch: int
    concurrency: int
    reserve_seconds: float  # kept for the packed object and the response
    log: Callable[[str, dict[str, Any]], None]
    slowest: SlowestBatch = field(default_factory=SlowestBatch)

    def run(self, todo: list[Frame], embedder: Embedder, deadline: Deadline, video_id: str) -> Embedded:
        done = Embedded()
        if not todo:
            return done
        started = time.perf_counter()
        with (
            ThreadPoolExecutor(self.concurrency) as readers,
            ThreadPoolExecutor(self.concurrency) as writers,
            ThreadPoolExecutor(embedder.calls_at_once) as models,
        ):
            queue: deque[tuple[Frame, Future[Any]]] = deque()
            upcoming: Iterator[Frame] = iter(todo)
            queued = 0  # frames taken from `upcoming` so far
            # Batches in the model, oldest first, at most calls_at_once: (frames, their vectors to
            # come, when the batch went in).
            embedding: deque[tuple[list[Frame], Future[Vector], float]] = deque()
            writes: list[tuple[Frame, Vector, Future[str]]] = []
            embedded = 0  # frames out of the model so far

            def prepare(frame: Frame) -> Any:  # read, decode and preprocess, ahead of the model
                return embedder.prepare_image(self.load(frame))

            def refill() -> None:
                nonlocal queued
                for frame in upcoming:
                    queue.append((frame, readers.submit(prepare, frame)))
                    queued += 1
                    if len(queue) >= self.prefetch:
                        return

            refill()
            while queue or embedding:
                if queue and len(embedding) < embedder.calls_at_once:
                    if deadline.remaining_seconds() < self.reserve_seconds + 1.5 * self.slowest.seconds:
                        done.remaining = [frame.key for frame, _ in queue] + [frame.key for frame in upcoming]
                        for _, future in queue:
                            future.cancel()
                        queue.clear()
                        self.log(
                            "deadline near: stopping", {"video_id": video_id, "left": len(done.remaining)}
                        )
                        continue  # the batches in the model still finish and are written
                    # Full batches while there are enough for every free call; then the rest
                    # shared among them, so that a short video does not run on one vCPU.
                    unbatched = len(todo) - queued + len(queue)
                    free_calls = embedder.calls_at_once - len(embedding)
                    size = min(self.batch_size, -(-unbatched // free_calls))
                    frames, images = self._next_batch(queue, refill, done, size)
                    if images:
                        embedding.append(
                            (frames, models.submit(embedder.embed_prepared, images), time.perf_counter())
                        )
                    continue
                frames, vectors, submitted = embedding.popleft()
                embedded += len(frames)
                for frame, vector in zip(frames, vectors.result(), strict=True):
                    if self.write_frames:
                        write = writers.submit(self.cache.write_frame, frame, vector, model=embedder.model_id)
                        writes.append((frame, vector, write))
                    else:
                        done.vectors[frame.frame_id] = (frame.key, vector)
                self.slowest.seconds = max(self.slowest.seconds, time.perf_counter() - submitted)
                self.log(
                    "progress",
                    {
                        "video_id": video_id,
                        "done": embedded,
                        "total": len(todo),
                        "frames_per_s": round(embedded / max(time.perf_counter() - started, 1e-9), 2),
                    },
                )
            for frame, vector, write in writes:
                try:
                    write.result()
                    done.vectors[frame.frame_id] = (frame.key, vector)
                except (ClientError, BotoCoreError) as error:
                    done.failed.append((frame.key, f"cache write failed: {describe(error)}"))
        return done

    def _next_batch(
        self, queue: deque[tuple[Frame, Future[Any]]], refill: Callable[[], None], done: Embedded, size: int
    ) -> tuple[list[Frame], list[Any]]:
        """Up to `size` prepared images from the front of the queue; the frames that could not be
        prepared go to `done` (gone, failed for now, or rejected)."""
        frames: list[Frame] = []
        images: list[Any] = []
        while queue and len(images) < size:
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
        return frames, images
