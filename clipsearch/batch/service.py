"""The batch function's logic: embed a video's frames into the cache, resumably, within a deadline.

Per video: list `frames/{video_id}/`, take what is cached for this model (the packed object, then
`.npy` files) unless `force`, embed the rest (frame_pipeline), then write the packed object from
everything cached for the frames listed now, so that it reflects `frames/` exactly. The packed
object is written conditionally on the version read: when another run wrote it meanwhile, this
run reads again and merges, so a packed object never loses a completed frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL.Image import Image

from clipsearch.batch.pipeline import Pipeline
from clipsearch.batch.request import VideoRequest, VideoResult
from clipsearch.batch.video_state import VideoState, VideoStates
from clipsearch.cache.store import CacheStore, ChunkDone, PackedChanged, PackedVideo, RejectedFrame
from clipsearch.catalog.frames import FrameListing
from clipsearch.index.sync import IndexSync
from clipsearch.layout import (
    PACK_PROGRESS_NAME,
    Frame,
    frames_prefix,
    packed_key,
    parse_s3_uri,
)
from clipsearch.media.image_source import ImageSource
from clipsearch.media.images import decode_image
from clipsearch.model.embedder import Embedder
from clipsearch.runtime.deadline import Deadline
from clipsearch.runtime.errors import RequestError
from clipsearch.runtime.settings import positive_ints, required
from clipsearch.vectors import Vector
from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue

PACK_ATTEMPTS = 5  # conditional writes lost to other runs before this run gives up (and is retried)
# `per-frame` (the guide's): a `.npy` per frame as it is embedded, then the packed object. `packed`:
# no per-frame files; the packed object (and, for a chunk of a split run, its own object) is all
# that is written (docs/decisions/0015-frame-cache.md).
FRAME_CACHES = ("per-frame", "packed")


@dataclass(frozen=True, kw_only=True)
class BatchSettings:
    bucket: str
    table: str  # the videos table (the sweep reads it)
    work_queue_url: str
    chunk_frames: int = 10_000  # more frames to embed than this: split into chunks (the stack sets it)
    batch_size: int = 32  # images per model call
    prefetch: int = 64  # images read and decoded ahead of the model
    s3_concurrency: int = 16
    max_image_bytes: int = 15_000_000
    max_image_pixels: int = 40_000_000
    reserve_seconds: float = 10.0  # kept for the packed object and the response
    frame_cache: str = "per-frame"  # one of FRAME_CACHES

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
                "chunk_frames": "CHUNK_FRAMES",
            },
        )
        frame_cache = env.get("FRAME_CACHE", "per-frame")
        if frame_cache not in FRAME_CACHES:
            raise ValueError(f"FRAME_CACHE must be one of {', '.join(FRAME_CACHES)}, got {frame_cache!r}")
        return cls(
            frame_cache=frame_cache,
            bucket=required(env, "BUCKET_NAME", "the bucket holding frames/ and embeddings-cache/"),
            table=required(env, "VIDEOS_TABLE", "the videos table"),
            work_queue_url=required(env, "WORK_QUEUE_URL", "the work queue (chunks of long videos go there)"),
            **limits,
        )


class BatchService:
    def __init__(
        self,
        *,
        settings: BatchSettings,
        s3: Any,
        queue: WorkQueue,
        embedder: Callable[[], Embedder],
        index: IndexSync | None = None,
        log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None,
    ) -> None:
        self.settings = settings
        self.index = index  # the S3 Vectors backend: every packed object also goes into the index
        self.s3 = s3
        self.queue = queue
        self.embedder = embedder
        self.log = log
        self.cache = CacheStore(s3, settings.bucket)
        self.images = ImageSource(s3, bucket=settings.bucket, max_bytes=settings.max_image_bytes)
        self.states = VideoStates(
            FrameListing(s3, settings.bucket), self.cache, concurrency=settings.s3_concurrency
        )
        self.pipeline = Pipeline(
            load=self._load,
            cache=self.cache,
            write_frames=settings.frame_cache == "per-frame",
            batch_size=settings.batch_size,
            prefetch=settings.prefetch,
            concurrency=settings.s3_concurrency,
            reserve_seconds=settings.reserve_seconds,
            log=log,
        )

    def run(self, request: VideoRequest, deadline: Deadline, *, run_id: str) -> VideoResult:
        """Embed one video; RequestError(404) when it has no frames at all (unless the request says
        the sender removed them: then emptying the cache and the index was the run). `run_id` names this
        request (an SQS message id, a Lambda request id: the same when it is delivered again): a
        long video's chunks carry it."""
        started = time.perf_counter()
        embedder = self.embedder()
        result = VideoResult(request.video_id, embedder.model_id)
        # The pack a split run's chunks asked for: what they rejected, and whether they were forced
        chunks = (
            self.cache.read_chunks_done(request.video_id, request.run)
            if request.whole_video and request.run
            else []
        )
        forced_run = any(c.force for c in chunks)
        ahead, behind = self._run_vectors(request, forced_run)
        state = self.states.read(
            request.video_id,
            embedder,
            # a forced run's chunks that wrote `.npy` files: theirs, over the packed object's
            from_frame_files=forced_run and not all(c.vectors_kept for c in chunks),
            runs_ahead=ahead,
            runs_behind=behind,
            # a request queued while a long video's chunks run embeds only what none of them has done
            runs_not_packed=self._packed_only
            and request.whole_video
            and not request.packs_a_run
            and not request.force,
        )
        if not state.etags:
            self._forget(request.video_id, embedder, state, result, request.frames_count)
            if request.removed:
                result.seconds = time.perf_counter() - started
                return result
            raise RequestError(
                404,
                f"no frames under {frames_prefix(request.video_id)} (unknown video, or its frames "
                "are not extracted yet)",
            )
        result.ignored = state.ignored
        wanted = self._wanted(request, state, result)
        held = (
            self.index.holding_all(request.video_id, embedder.model_id, state.frames, state.etags)
            if self.index
            and request.whole_video
            and not request.force
            and not forced_run  # its chunks embedded anew
            and state.packed.packed is None
            else None
        )
        if held:  # the cache expired, the index did not: nothing to embed
            assert self.index  # what held it
            result.total = result.skipped = len(wanted)
            result.rejected += [{"frame": r.key, "error": r.error} for r in held.rejected]
            unmet = _unmet(request.frames_count, held.covered_frames)
            if request.frames_count is not None and self.index.record_unmet(
                request.video_id, state.listing, unmet
            ):
                result.frames_count_unmet = unmet
            result.seconds = time.perf_counter() - started
            return result
        recorded = {} if request.force else state.recorded_rejects() | _rejected_by(chunks, state)
        # A forced run's pack embeds anew a frame that a chunk keeping its vectors in its own object
        # should have, and that object lacks (it could not be read): what is cached of that frame
        # (a `.npy` left from before, the packed object) is from before the force.
        kept_by_chunks = [c.frame_range for c in chunks if c.force and c.vectors_kept]

        def anew(frame_id: str) -> bool:
            return request.force or any(first <= frame_id <= last for first, last in kept_by_chunks)

        todo = [
            frame
            for frame in wanted
            if frame.key not in recorded
            and frame.frame_id not in state.embedded_by_run
            and (anew(frame.frame_id) or frame.frame_id not in state.cached)
        ]
        result.total = len(wanted)
        result.skipped = len(wanted) - len(todo)
        if request.whole_video and not request.packs_a_run and len(todo) > self.settings.chunk_frames:
            result.chunks = self._split(request, todo, run_id)
            result.seconds = time.perf_counter() - started
            return result
        done = self.pipeline.run(todo, embedder, deadline, request.video_id)
        result.embedded = len(done.vectors)
        result.failed = [{"frame": key, "error": error} for key, error in done.failed]
        result.remaining = done.remaining
        rejected = {r.key: r for r in (*state.listing_rejects, *recorded.values())}
        for frame, error in done.rejected:
            rejected[frame.key] = RejectedFrame(frame.key, state.etags.get(frame.key, ""), error)
        result.rejected += [{"frame": r.key, "error": r.error} for r in rejected.values()]
        if request.frame_range is None or (self._packed_only and request.run is None):
            # frame_cache=packed: a range a person asked for has no other place to go
            complete = result.status == "complete" and request.whole_video  # a count may be judged
            if forced_run and request.packs_a_run:  # kept first: its redelivery goes on from there
                self._keep_run_progress(request, PACK_PROGRESS_NAME, embedder, state, done.vectors)
            packed = self._pack(
                request.video_id,
                embedder,
                state,
                done.vectors,
                list(rejected.values()),
                result,
                count_seen=request.frames_count if complete else None,
            )
            if self.index and packed:
                result.indexed = self.index.sync(*packed, state.etags, state.frames)
        elif request.run:
            if self._packed_only:  # a partial chunk's too: its next delivery goes on from there
                self._keep_run_progress(request, request.frame_range[0], embedder, state, done.vectors)
            if result.status == "complete":
                by_chunk = tuple(
                    RejectedFrame(f.key, state.etags.get(f.key, ""), e) for f, e in done.rejected
                )
                done_record = ChunkDone(
                    request.frame_range, request.chunks, request.force, by_chunk, self._packed_only
                )
                self._chunk_done(request.video_id, request.run, done_record)
        result.seconds = time.perf_counter() - started
        return result

    @property
    def _packed_only(self) -> bool:
        """frame_cache=packed: no per-frame `.npy` files are written."""
        return self.settings.frame_cache == "packed"

    def _run_vectors(
        self, request: VideoRequest, forced_run: bool
    ) -> tuple[tuple[PackedVideo, ...], tuple[PackedVideo, ...]]:
        """What this request's split run embedded into its own objects (frame_cache=packed writes
        them; either mode reads them, so that switching modes mid-run loses nothing), as (ahead,
        behind) the packed object: a chunk's earlier deliveries and a forced run's chunks go ahead;
        the chunks of a run not forced behind (the packed object may hold a frame embedded since)."""
        video_id, run = request.video_id, request.run
        if run is not None and request.frame_range is not None:
            own = self.cache.read_chunk_vectors(video_id, run, request.frame_range[0])
            return ((own,) if own else ()), ()
        if run is not None and request.packs_a_run:
            found = tuple(self.cache.read_run_vectors(video_id, run))
            return (found, ()) if forced_run else ((), found)
        return (), ()

    def _keep_run_progress(
        self,
        request: VideoRequest,
        name: str,
        embedder: Embedder,
        state: VideoState,
        embedded: dict[str, tuple[str, Vector]],
    ) -> None:
        """frame_cache=packed: keep what this chunk embedded, its earlier deliveries' and this one's,
        where the run's pack reads it; a forced run's pack keeps its own with the chunks' it read
        (all the run's, where its redelivery reads them: this happens only when a chunk's object
        could not be used)."""
        assert request.run is not None  # a chunk or a pack
        if not embedded:
            return  # nothing new since the last delivery wrote it
        first, last = request.frame_bounds
        vectors = {
            frame_id: vector
            for frame_id, vector in state.cached.items()
            if frame_id in state.embedded_by_run and first <= frame_id <= last
        } | embedded
        frame_ids = sorted(vectors)
        self.cache.write_chunk_vectors(
            request.run,
            name,
            PackedVideo(
                video_id=request.video_id,
                model=embedder.model_id,
                dim=embedder.dim,
                created_at=time.time(),
                frame_ids=frame_ids,
                frame_keys=[vectors[frame_id][0] for frame_id in frame_ids],
                vectors=np.stack([vectors[frame_id][1] for frame_id in frame_ids]).astype(np.float16),
            ),
        )

    def _split(self, request: VideoRequest, todo: list[Frame], run_id: str) -> int:
        """Queue `todo` as chunks of `chunk_frames` frames, which run side by side; the number queued.
        A chunk is its first and last frame id: it embeds the frames between them that are missing
        (all of them with `force`)."""
        size = self.settings.chunk_frames
        ranges = [
            (todo[start].frame_id, todo[min(start + size, len(todo)) - 1].frame_id)
            for start in range(0, len(todo), size)
        ]
        items = [
            WorkItem(request.video_id, frame_range, run=run_id, chunks=len(ranges), force=request.force)
            for frame_range in ranges
        ]
        sent = self.queue.send(items)
        if sent.failed:  # the whole request is retried; chunks already sent are deduplicated
            raise RuntimeError(f"could not queue the chunks of {request.video_id}: {sent.failed[0][1]}")
        self.log("long video split into chunks", {"video_id": request.video_id, "chunks": len(items)})
        return len(items)

    def _chunk_done(self, video_id: str, run: str, chunk: ChunkDone) -> None:
        """A chunk writes no packed object (a long video's is written once): it records that it is
        done (with what it rejected, which the other chunks never see), and the chunk that finds
        every chunk of its run done asks for the pack. Chunks finishing together ask twice: the
        queue's deduplication (by the run) delivers it once. A range sent without a run (by a
        person) asks for nothing."""
        self.cache.write_chunk_done(video_id, run, chunk)
        if len(self.cache.chunks_done(video_id, run)) >= chunk.chunks:
            sent = self.queue.send([WorkItem(video_id, run=run)])
            if sent.failed:  # this chunk is retried: it finds its frames cached and asks again
                raise RuntimeError(f"could not ask for the packed object of {video_id}: {sent.failed[0][1]}")

    def _wanted(self, request: VideoRequest, state: VideoState, result: VideoResult) -> list[Frame]:
        """The frames this request asks for: every valid frame listed, or those of `request.frames`
        (each one that is not a listed frame of this video is rejected with the reason)."""
        if request.frames is None:
            first, last = request.frame_bounds
            return sorted(
                (frame for frame in state.frames.values() if first <= frame.frame_id <= last),
                key=lambda frame: frame.frame_id,
            )
        by_key = {frame.key: frame for frame in state.frames.values()}
        wanted: dict[str, Frame] = {}
        for item in request.frames:
            problem = None
            key = item if isinstance(item, str) else ""
            if not isinstance(item, str):
                problem = "a frame must be a key string"
            elif item.startswith("s3://"):
                try:
                    bucket, key = parse_s3_uri(item)
                except ValueError as error:
                    problem = str(error)
                else:
                    if bucket != self.settings.bucket:
                        problem = (
                            f"bucket {bucket!r} is not allowed; frames live in s3://{self.settings.bucket}/"
                        )
            if problem is None and not key.startswith(frames_prefix(request.video_id)):
                problem = f"not a frame of this video: expected {frames_prefix(request.video_id)}..."
            if problem is None and key not in by_key:
                listed = [r.error for r in state.listing_rejects if r.key == key]
                problem = listed[0] if listed else f"s3://{self.settings.bucket}/{key} does not exist"
            if problem is not None:
                result.rejected.append(
                    {"frame": item if isinstance(item, str) else repr(item), "error": problem}
                )
            else:
                wanted[key] = by_key[key]  # a frame listed twice is embedded once
        return sorted(wanted.values(), key=lambda frame: frame.frame_id)

    def _load(self, frame: Frame) -> Image:
        return decode_image(self.images.read_key(frame.key), max_pixels=self.settings.max_image_pixels)

    def _forget(
        self,
        video_id: str,
        embedder: Embedder,
        state: VideoState,
        result: VideoResult,
        count_seen: int | None,
    ) -> None:
        """frames/ holds nothing of the video any more (every frame deleted upstream): when the cache
        or the index holds something of it, leave them holding nothing (an empty packed object,
        synced into the index), so that no search returns a frame whose source is gone. An unknown
        video leaves nothing behind."""
        held = state.packed.status != "missing" or bool(self.cache.list_frames(video_id))
        if self.index and not held:
            held = self.index.ledgers.exists(video_id)
        if not held:
            return
        packed = self._pack(video_id, embedder, state, {}, [], result, count_seen=count_seen, even_empty=True)
        if self.index and packed:
            self.index.sync(*packed, state.etags, state.frames)
        self.log(
            "every frame is gone: the video's cache and index hold nothing of it", {"video_id": video_id}
        )

    def _pack(
        self,
        video_id: str,
        embedder: Embedder,
        state: VideoState,
        embedded: dict[str, tuple[str, Vector]],
        rejected: list[RejectedFrame],
        result: VideoResult,
        *,
        count_seen: int | None,
        even_empty: bool = False,
    ) -> tuple[PackedVideo, str] | None:
        """Write the packed object: every vector cached for a frame listed now, this run's first,
        and the rejected frames still listed, with the listing it covers and, when `count_seen`
        (the catalog's count the sender saw, given for a complete run) differs from what it
        covers, that count as unmet. Left alone when that is what it already holds (its ETag is
        what searches revalidate against). The packed object now and its ETag (None: the video has
        nothing to pack, unless `even_empty`)."""
        for _ in range(PACK_ATTEMPTS):
            vectors = {
                frame_id: vector
                for frame_id, vector in {**state.cached, **embedded}.items()
                if frame_id in state.frames and state.frames[frame_id].key == vector[0]
            }
            kept = tuple(sorted((r for r in rejected if r.key in state.etags), key=lambda r: r.key))
            current = state.packed.packed
            listing = state.listing
            if count_seen is not None:
                unmet = _unmet(count_seen, len(vectors) + len(kept))
            else:  # not judged by this run: what was found of this listing stands
                unmet = current.unmet_count if current is not None and current.listing == listing else None
            if (
                current is not None
                and not embedded
                and _holds(current, vectors)
                and current.model == embedder.model_id
                and set(current.rejected) == set(kept)
                and (current.listing, current.unmet_count) == (listing, unmet)
            ):
                result.packed_key, result.packed_frames = packed_key(video_id), len(vectors)
                return (current, state.packed.etag) if state.packed.etag else None
            if not vectors and not kept and not even_empty:
                return None
            frame_ids = sorted(vectors)
            packed = PackedVideo(
                video_id=video_id,
                model=embedder.model_id,
                dim=embedder.dim,
                created_at=time.time(),
                frame_ids=frame_ids,
                frame_keys=[vectors[frame_id][0] for frame_id in frame_ids],
                vectors=np.stack([vectors[frame_id][1] for frame_id in frame_ids]).astype(np.float16)
                if frame_ids
                else np.zeros((0, embedder.dim), np.float16),
                rejected=kept,
                listing=listing,
                unmet_count=unmet,
            )
            try:
                etag = self.cache.write_packed(packed, replacing=state.packed.etag)
            except PackedChanged:  # another run packed meanwhile: merge with what it holds now
                self.log("packed object changed meanwhile: merging", {"video_id": video_id})
                state = self.states.read(
                    video_id,
                    embedder,
                    from_frame_files=state.from_frame_files,
                    runs_ahead=state.runs_ahead,
                    runs_behind=state.runs_behind,
                )
                continue
            result.packed_key, result.packed_frames = packed_key(video_id), len(frame_ids)
            if unmet is not None and (
                current is None or (current.listing, current.unmet_count) != (listing, unmet)
            ):
                result.frames_count_unmet = unmet  # news: reported once
            return packed, etag
        raise RuntimeError(f"the packed object of {video_id} kept changing under {PACK_ATTEMPTS} attempts")


def _holds(packed: PackedVideo, vectors: dict[str, tuple[str, Vector]]) -> bool:
    """Whether the packed object holds exactly these frames, from these keys, with these vectors
    (as float16: a forced run's, or `.npy` files, may differ from what it holds)."""
    if set(packed.frame_ids) != set(vectors):
        return False
    if any(
        key != vectors[frame_id][0] for frame_id, key in zip(packed.frame_ids, packed.frame_keys, strict=True)
    ):
        return False
    rows = [vectors[frame_id][1] for frame_id in packed.frame_ids]
    return not rows or bool(np.array_equal(np.stack(rows).astype(np.float16), packed.vectors))


def _rejected_by(chunks: list[ChunkDone], state: VideoState) -> dict[str, RejectedFrame]:
    """The frames a split run's chunks rejected, as long as they have not changed since."""
    return {r.key: r for chunk in chunks for r in chunk.rejected if state.etags.get(r.key) == r.etag}


def _unmet(count_seen: int | None, covered: int) -> int | None:
    """The catalog's count when what a complete run accounts for does not meet it, else None."""
    return None if count_seen is None or count_seen == covered else count_seen
