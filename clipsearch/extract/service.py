"""The extraction function's logic: an upload under `uploads/` becomes the upstream's keyframes and
`videos` row, by itself; a replaced or deleted upload takes its video with it.

Per upload event, what S3 holds now decides (events come at least once and in any order): the
object as it is now (HEAD) is the version extracted; an event for an older version, or for an
object that is gone, does nothing but clear away what no longer has an upload. A new version's
run first removes the videos of the key's earlier versions (their row and frames here; their
cache and index entries through the work queue, whose batch run finds no frames and clears
them). The row goes `processing` -> `processed` only once every frame is written, so the table's
stream starts the embedding with nothing new on that side; a file that is not a usable video
ends `failed` with the reason and touches nothing else.

A video longer than `range_seconds` is extracted as ranges of sampled frames that run side by
side (one message each on the ingest queue); the last range to finish completes the row. A
retried range writes the same frames again (the frames are a function of the file).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from clipsearch.catalog.rows import VideoRows
from clipsearch.extract.media import (
    Limits,
    MediaError,
    SampledFrame,
    Sampling,
    Video,
    open_video,
    plan_pieces,
)
from clipsearch.extract.s3_file import S3File, UploadChanged
from clipsearch.extract.webp import encode_webp
from clipsearch.layout import (
    UPLOADS_PREFIX,
    extracted_frame_key,
    frames_prefix,
    upload_video_id,
)
from clipsearch.runtime.deadline import Deadline
from clipsearch.runtime.errors import bad_request
from clipsearch.runtime.faults import is_not_found
from clipsearch.runtime.settings import positive_ints, required
from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import SEND_BATCH, WorkQueue

DELETE_BATCH = 1000  # DeleteObjects' limit
# A piece decoded on its own decoder spans at least this much video: opening one reads the header and
# decodes a frame, and a piece decodes up to a sampling step of frames before its own.
MIN_PIECE_SECONDS = 4.0


@dataclass(frozen=True)
class UploadVersion:
    """The version of an upload a run reads."""

    key: str
    etag: str
    size: int


@dataclass(frozen=True, kw_only=True)
class ExtractSettings:
    bucket: str
    table: str
    ingest_queue_url: str  # the ranges of a long video go there
    work_queue_url: str  # a removed video's cache and index entries are cleared through it
    key_index: str | None = None  # the table's index on original_key (None: a Scan finds a key's videos)
    extract_fps: float = 1.0
    max_frames: int = 3600
    max_side: int = 1280  # a frame's long side, pixels
    webp_quality: int = 80
    max_upload_mb: int = 5120
    max_seconds: int = 3600
    max_pixels: int = 4096 * 2160
    range_seconds: int = 300  # seconds of video per range: a longer video is split (the stack derives it)
    concurrency: int = 8  # frames encoded and written at once
    decoders: int = 1  # pieces of a run decoded side by side, one thread each (the stack: one per vCPU)
    reserve_seconds: float = 15.0  # kept to record the result
    stale_seconds: int = 1800  # a `processing` run older than this died (the stack: 2 x the timeout)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExtractSettings:
        numbers = positive_ints(
            env,
            {
                "max_frames": "EXTRACT_MAX_FRAMES",
                "max_side": "EXTRACT_MAX_SIDE",
                "webp_quality": "EXTRACT_WEBP_QUALITY",
                "max_upload_mb": "EXTRACT_MAX_UPLOAD_MB",
                "max_seconds": "EXTRACT_MAX_SECONDS",
                "max_pixels": "EXTRACT_MAX_PIXELS",
                "range_seconds": "EXTRACT_RANGE_SECONDS",
                "concurrency": "EXTRACT_CONCURRENCY",
                "decoders": "EXTRACT_DECODERS",
                "stale_seconds": "EXTRACT_STALE_SECONDS",
            },
        )
        fps = env.get("EXTRACT_FPS", "1")
        try:
            extract_fps = float(fps)
        except ValueError:
            extract_fps = 0.0
        if not 0 < extract_fps <= 60:
            raise ValueError(f"EXTRACT_FPS must be a number above 0 and at most 60, got {fps!r}")
        if numbers.get("webp_quality", 80) > 100:
            raise ValueError("EXTRACT_WEBP_QUALITY must be at most 100")
        return cls(
            bucket=required(env, "BUCKET_NAME", "the bucket holding uploads/ and frames/"),
            table=required(env, "VIDEOS_TABLE", "the videos table"),
            ingest_queue_url=required(env, "INGEST_QUEUE_URL", "the ingest queue (ranges of long videos)"),
            work_queue_url=required(env, "WORK_QUEUE_URL", "the work queue (clearing a removed video)"),
            key_index=env.get("VIDEOS_KEY_INDEX") or None,
            extract_fps=extract_fps,
            **numbers,
        )

    @property
    def limits(self) -> Limits:
        return Limits(
            max_bytes=self.max_upload_mb * 1024 * 1024,
            max_seconds=self.max_seconds,
            max_pixels=self.max_pixels,
        )


@dataclass(frozen=True)
class UploadChange:
    """An S3 event for an upload: `created` (with the version's ETag) or `removed`."""

    change: str
    key: str
    etag: str | None = None


@dataclass(frozen=True)
class RangeWork:
    """One range [start, stop) of the sampled frames of a video being extracted in ranges."""

    video_id: str
    key: str
    etag: str
    index: int
    start: int
    stop: int
    extract_fps: float
    max_frames: int

    def body(self) -> str:
        return json.dumps({"extract_range": asdict(self)}, separators=(",", ":"))


@dataclass
class ExtractResult:
    """What one event did. `status`: processed, split, failed (the file: `error`), removed (videos
    whose upload is gone), stale (an older version's event), busy or done (a duplicate event),
    range (a range written), superseded (the upload changed during the run: nothing kept)."""

    status: str
    key: str
    video_id: str | None = None
    frames: int = 0
    ranges: int = 0
    cut_frames: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"seconds": round(self.seconds, 3)}


class RangeQueue:
    """Sends ranges to the ingest queue (a standard queue: S3 notifies only those), ten per call."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, work: list[RangeWork]) -> list[str]:
        """Why each range SQS refused was refused (empty: all sent)."""
        failed = []
        for start in range(0, len(work), SEND_BATCH):
            entries = [
                {"Id": str(number), "MessageBody": item.body()}
                for number, item in enumerate(work[start : start + SEND_BATCH])
            ]
            answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed += [entry.get("Message", entry.get("Code", "")) for entry in answer.get("Failed", [])]
        return failed


class ExtractService:
    def __init__(
        self,
        *,
        settings: ExtractSettings,
        s3: Any,
        rows: VideoRows,
        ingest: RangeQueue,
        work: WorkQueue,
        clock: Callable[[], float] = time.time,
        log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.rows = rows
        self.ingest = ingest
        self.work = work
        self.clock = clock
        self.log = log

    # --- an upload changed ---

    def changed(self, change: UploadChange, deadline: Deadline) -> ExtractResult:
        started = time.perf_counter()
        if not change.key.startswith(UPLOADS_PREFIX):
            raise bad_request(f"{change.key!r} is not under {UPLOADS_PREFIX}")
        head = self._head(change.key)
        if head is None:  # deleted (this event or a later one): its videos go
            result = ExtractResult("removed", change.key, removed=self._remove_videos(change.key, keep=None))
        elif change.change == "removed" or (change.etag and change.etag != head["etag"]):
            result = ExtractResult("stale", change.key)  # the version now in S3 has its own event
        else:
            result = self._extract(change.key, head["etag"], head["size"], deadline)
        result.seconds = time.perf_counter() - started
        return result

    def _extract(self, key: str, etag: str, size: int, deadline: Deadline) -> ExtractResult:
        video_id = upload_video_id(self.settings.bucket, key, etag)
        removed = self._remove_videos(key, keep=video_id)
        claim = self.rows.claim(
            video_id,
            original_key=key,
            upload_etag=etag,
            upload_size=size,
            now=self.clock(),
            stale_s=self.settings.stale_seconds,
        )
        if claim != "claimed":
            return ExtractResult(claim, key, video_id, removed=removed)
        upload = UploadVersion(key, etag, size)
        try:
            with self._open(upload) as video:
                sampling = video.sampling(
                    extract_fps=self.settings.extract_fps, max_frames=self.settings.max_frames
                )
                ranges = self._ranges(sampling)
                if len(ranges) > 1:
                    return self._split(video_id, key, etag, ranges, removed)
                cuts = self._write_frames(video, upload, video_id, sampling, 0, sampling.count, deadline)
                return self._complete(video, video_id, key, etag, sampling, cuts, removed)
        except MediaError as error:
            return self._fail(video_id, key, etag, f"{error.kind}: {error.reason}", removed)
        except UploadChanged:
            return self._superseded(video_id, key)
        except Exception:
            self.rows.release(video_id, upload_etag=etag)  # the retry need not wait for it to go stale
            raise

    def _ranges(self, sampling: Sampling) -> list[tuple[int, int]]:
        per_range = max(1, int(self.settings.range_seconds * sampling.fps / sampling.step))
        return [
            (start, min(start + per_range, sampling.count)) for start in range(0, sampling.count, per_range)
        ]

    def _split(
        self, video_id: str, key: str, etag: str, ranges: list[tuple[int, int]], removed: list[str]
    ) -> ExtractResult:
        if not self.rows.split(video_id, upload_etag=etag, ranges=len(ranges)):
            return self._superseded(video_id, key)
        work = [
            RangeWork(
                video_id, key, etag, index, start, stop, self.settings.extract_fps, self.settings.max_frames
            )
            for index, (start, stop) in enumerate(ranges)
        ]
        failed = self.ingest.send(work)
        if failed:  # the message is retried: the claim is stale by then, and the ranges resent
            raise RuntimeError(f"could not queue the ranges of {key}: {failed[0]}")
        self.log("long video split into ranges", {"video_id": video_id, "ranges": len(work)})
        return ExtractResult("split", key, video_id, ranges=len(work), removed=removed)

    # --- one range of a long video ---

    def extract_range(self, work: RangeWork, deadline: Deadline) -> ExtractResult:
        started = time.perf_counter()
        upload = UploadVersion(work.key, work.etag, self._size(work))
        try:
            with self._open(upload) as video:
                sampling = video.sampling(extract_fps=work.extract_fps, max_frames=work.max_frames)
                cuts = self._write_frames(
                    video, upload, work.video_id, sampling, work.start, work.stop, deadline
                )
                done = self.rows.range_done(
                    work.video_id, upload_etag=work.etag, index=work.index, cut_frames=cuts
                )
                if done is None:  # removed or superseded meanwhile: what this range wrote goes too
                    self._delete_frames(work.video_id)
                    return ExtractResult("superseded", work.key, work.video_id)
                if done.all_done:
                    return self._complete(
                        video, work.video_id, work.key, work.etag, sampling, done.cut_frames, []
                    )
        except UploadChanged:
            return self._superseded(work.video_id, work.key)
        except MediaError as error:  # the whole video fails: a range sees what one run would
            return self._fail(work.video_id, work.key, work.etag, f"{error.kind}: {error.reason}", [])
        result = ExtractResult("range", work.key, work.video_id, frames=work.stop - work.start)
        result.seconds = time.perf_counter() - started
        return result

    def _size(self, work: RangeWork) -> int:
        head = self._head(work.key)
        if head is None or head["etag"] != work.etag:
            raise UploadChanged(work.key)
        return int(head["size"])

    # --- frames ---

    def _open(self, upload: UploadVersion, *, decode_threads: int = 0) -> Video:
        file = S3File(
            self.s3, bucket=self.settings.bucket, key=upload.key, etag=upload.etag, size=upload.size
        )
        return open_video(file, size=upload.size, limits=self.settings.limits, decode_threads=decode_threads)

    def _write_frames(
        self,
        video: Video,
        upload: UploadVersion,
        video_id: str,
        sampling: Sampling,
        start: int,
        stop: int,
        deadline: Deadline,
    ) -> list[int]:
        """Encode and write frames [start, stop) while decoding goes on, in pieces side by side (each on a
        decoder of its own) where the video's keyframes allow; the cuts among them."""
        pieces = plan_pieces(
            sampling,
            start,
            stop,
            video.keyframe_ticks() if self.settings.decoders > 1 else [],
            video.facts.time_base,
            pieces=self.settings.decoders,
            min_seconds=MIN_PIECE_SECONDS,
        )
        failed = threading.Event()  # one piece failed: the others stop, the run fails with its error
        # Frames decoded and not yet written, at most 2 x concurrency in all: shared out among the pieces.
        held = max(1, 2 * self.settings.concurrency // len(pieces))
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            if len(pieces) == 1:
                return self._write_piece(video, video_id, sampling, pieces[0], deadline, pool, failed, held)

            def piece(bounds: tuple[int, int]) -> list[int]:
                try:
                    with self._open(upload, decode_threads=1) as own:
                        return self._write_piece(
                            own, video_id, sampling, bounds, deadline, pool, failed, held
                        )
                except BaseException:
                    failed.set()
                    raise

            with ThreadPoolExecutor(max_workers=len(pieces)) as decoders:
                runs = [decoders.submit(piece, bounds) for bounds in pieces]
                return sorted(cut for run in runs for cut in run.result())

    def _write_piece(
        self,
        video: Video,
        video_id: str,
        sampling: Sampling,
        bounds: tuple[int, int],
        deadline: Deadline,
        pool: ThreadPoolExecutor,
        failed: threading.Event,
        held: int,
    ) -> list[int]:
        start, stop = bounds
        cuts: list[int] = []
        in_flight: deque[Future[None]] = deque()
        for frame in video.frames(sampling, start, stop, max_side=self.settings.max_side):
            if failed.is_set():
                break
            if deadline.remaining_seconds() < self.settings.reserve_seconds:
                raise TimeoutError(
                    f"frames {start}-{stop} of {video_id} not written before the deadline: "
                    "range_seconds is too long for this function's timeout and speed"
                )
            if frame.cut is not None:
                cuts.append(frame.index)
            in_flight.append(pool.submit(self._write_frame, video_id, frame))
            while len(in_flight) > held:  # bounded memory
                in_flight.popleft().result()
        for future in in_flight:
            future.result()
        return cuts

    def _write_frame(self, video_id: str, frame: SampledFrame) -> None:
        data = encode_webp(frame.image, quality=self.settings.webp_quality, max_side=self.settings.max_side)
        self.s3.put_object(
            Bucket=self.settings.bucket,
            Key=extracted_frame_key(video_id, frame.index),
            Body=data,
            ContentType="image/webp",
        )

    # --- outcomes ---

    def _complete(
        self,
        video: Video,
        video_id: str,
        key: str,
        etag: str,
        sampling: Sampling,
        cuts: list[int],
        removed: list[str],
    ) -> ExtractResult:
        head = self._head(key)
        if head is None or head["etag"] != etag:  # replaced or deleted while this run wrote
            return self._superseded(video_id, key)
        facts = video.facts
        fields = {
            "frames_count": sampling.count,
            "total_frames": facts.total_frames,
            "video_fps": float(sampling.fps),
            "frame_step": sampling.step,
            "extract_fps": self.settings.extract_fps,
            "duration_seconds": facts.duration_seconds,
            "scenes_count": len(cuts) + 1,
            "cut_frames": cuts,
            "width": facts.width,
            "height": facts.height,
            "codec": facts.codec,
            "processing_finished_at": int(self.clock()),
        }
        if not self.rows.complete(video_id, upload_etag=etag, fields=fields):
            return self._superseded(video_id, key)
        return ExtractResult(
            "processed", key, video_id, frames=sampling.count, cut_frames=cuts, removed=removed
        )

    def _fail(self, video_id: str, key: str, etag: str, error: str, removed: list[str]) -> ExtractResult:
        self.log("not a usable video", {"key": key, "video_id": video_id, "error": error})
        self._delete_frames(video_id)  # a range may have written some before the file's fault showed
        self.rows.fail(video_id, upload_etag=etag, error=error, now=self.clock())
        return ExtractResult("failed", key, video_id, error=error, removed=removed)

    def _superseded(self, video_id: str, key: str) -> ExtractResult:
        """The upload changed or went during the run: nothing of this version stays."""
        self._remove_video(video_id)
        return ExtractResult("superseded", key, video_id, removed=[video_id])

    # --- removing ---

    def _remove_videos(self, key: str, *, keep: str | None) -> list[str]:
        """Remove every video of `key` but `keep`."""
        gone = [video_id for video_id in self.rows.videos_of_upload(key) if video_id != keep]
        for video_id in gone:
            self._remove_video(video_id)
        return gone

    def _remove_video(self, video_id: str) -> None:
        """Out of search first (`removing`), then the frames, then the batch function is asked to
        empty the cache and the index (a run that finds no frames does that), the row last: a
        failure on the way leaves the row for the retry to finish from."""
        self.rows.mark_removing(video_id)
        self._delete_frames(video_id)
        sent = self.work.send([WorkItem(video_id, removed=True)])
        if sent.failed:
            raise RuntimeError(
                f"could not ask for the cache of {video_id} to be cleared: {sent.failed[0][1]}"
            )
        self.rows.delete(video_id)

    def _delete_frames(self, video_id: str) -> None:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=frames_prefix(video_id)):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(keys), DELETE_BATCH):
                self.s3.delete_objects(
                    Bucket=self.settings.bucket,
                    Delete={"Objects": keys[start : start + DELETE_BATCH], "Quiet": True},
                )

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head = self.s3.head_object(Bucket=self.settings.bucket, Key=key)
        except ClientError as error:
            if is_not_found(error):
                return None
            raise
        return {"etag": str(head["ETag"]).strip('"'), "size": int(head["ContentLength"])}
