"""The upstream `videos` table: which videos are searchable, how many frames they have, their timing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.catalog.schema import PROCESSED
from clipsearch.runtime.errors import RequestError
from clipsearch.runtime.faults import describe, is_transient
from clipsearch.whole_numbers import OutOfRange, whole_number, whole_numbers

_FIELDS = (
    "video_id, #status, video_fps, frame_step, extract_fps, frames_count, duration_seconds, cut_frames, "
    "original_key"
)
_deserialize = TypeDeserializer().deserialize


@dataclass(frozen=True)
class VideoInfo:
    video_id: str
    status: str
    video_fps: float | None = None
    frame_step: int | None = None  # source frames between two extracted frames, where known
    frames_count: int | None = None  # frames the extractor uploaded
    duration_s: float | None = None  # the source video's length, where the table has it
    # Shot cuts, where known (videos that came through the upload path): a shot starts at each of
    # these frame indices (frames c-1 and c show different shots).
    cut_frames: tuple[int, ...] = ()
    original_key: str | None = None  # the uploaded file it was extracted from, where the row says
    problems: tuple[str, ...] = ()  # numbers of its row that are out of range, treated as unknown

    @property
    def name(self) -> str:
        """What a person calls the video: its file's name where the row has one, else its id."""
        return self.original_key.rsplit("/", 1)[-1] if self.original_key else self.video_id

    @property
    def timed(self) -> bool:
        return bool(self.video_fps and self.frame_step)

    @property
    def length_s(self) -> float | None:
        """The video's length: the table's `duration_seconds`, else when its last frame was taken
        (`frames_count` frames in); None when unknown."""
        if self.duration_s is not None or not self.frames_count or not self.timed:
            return self.duration_s
        return float(self.frame_seconds(np.array([self.frames_count], dtype=np.int64))[0])

    def frame_seconds(self, indices: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """When each frame was taken: index * step / fps (NaN where unknown: no timing, no index)."""
        if not (self.video_fps and self.frame_step):
            return np.full(len(indices), np.nan)
        seconds = indices * (self.frame_step / self.video_fps)
        return np.where(indices >= 0, seconds, np.nan)


def _info(item: dict[str, Any]) -> VideoInfo:
    """The row as a VideoInfo; a number out of range (a count past 64 bits, a fraction of a frame)
    is unknown, and `problems` says so: one row's mistake degrades that video only."""
    record = {name: _deserialize(value) for name, value in item.items()}
    problems: list[str] = []

    def whole(name: str, value: Any, *, minimum: int) -> int | None:
        if not isinstance(value, Decimal):
            return None  # absent, or not a number: unknown, as the extractor may leave it
        try:
            return whole_number(value, name, minimum=minimum)
        except OutOfRange as error:
            problems.append(f"the videos row's {error}; treated as unknown")
            return None

    def cuts(value: Any) -> tuple[int, ...]:
        if not isinstance(value, list):
            return ()  # absent: no known cuts (a video from another pipeline)
        try:
            return tuple(sorted(whole_numbers(value, "cut_frames", minimum=1)))
        except OutOfRange as error:
            problems.append(f"the videos row's {error}; its cuts treated as unknown")
            return ()

    fps = _positive(record.get("video_fps"))
    given_step = record.get("frame_step")
    step = whole("frame_step", given_step, minimum=1) if _positive(given_step) else None
    extract_fps = _positive(record.get("extract_fps"))
    if not _positive(given_step) and fps and extract_fps:  # the extractor's rule, as media.py has it
        step = whole("video_fps / extract_fps", Decimal(max(1, round(fps / extract_fps))), minimum=1)
    return VideoInfo(
        video_id=str(record["video_id"]),
        status=str(record.get("status", "")),
        video_fps=fps,
        frame_step=step,
        frames_count=whole("frames_count", record.get("frames_count"), minimum=0),
        duration_s=_positive(record.get("duration_seconds")),
        cut_frames=cuts(record.get("cut_frames")),
        original_key=str(record["original_key"]) if isinstance(record.get("original_key"), str) else None,
        problems=tuple(problems),
    )


def _positive(value: Any) -> float | None:
    """A DynamoDB number above zero, or None (absent, zero, or not a number)."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


class VideoCatalog:
    """`processed()` is a full Scan: it is kept for `scan_ttl_seconds` so that a warm search reads
    nothing from DynamoDB (a newly processed video shows up within that time); `lookup` answers
    the videos that Scan holds from it while it is fresh, asks GetItem for the others, and adds those
    processed since to what it holds (a search of a new video's id lists it everywhere at once)."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        scan_ttl_seconds: float,
        concurrency: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.scan_ttl_seconds = scan_ttl_seconds
        self.concurrency = concurrency
        self.clock = clock
        self._scanned: tuple[float, list[VideoInfo]] | None = None

    def scan_age(self) -> float | None:
        return None if self._scanned is None else self.clock() - self._scanned[0]

    def _fresh(self) -> bool:
        age = self.scan_age()
        return age is not None and age < self.scan_ttl_seconds

    def processed(self) -> list[VideoInfo]:
        """Every video whose frames are all extracted. When DynamoDB fails (after botocore's retries)
        the last Scan answers, if there is one (its age is `scan_age()`); otherwise a 503."""
        if self._fresh():
            assert self._scanned
            return self._scanned[1]
        try:
            self._scanned = (self.clock(), self._scan())
        except (ClientError, BotoCoreError) as error:
            if self._scanned is not None and is_transient(error):
                return self._scanned[1]
            raise _unavailable(error) from None
        return self._scanned[1]

    def _scan(self) -> list[VideoInfo]:
        videos: list[VideoInfo] = []
        paginator = self.dynamodb.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table,
            FilterExpression="#status = :processed",
            ProjectionExpression=_FIELDS,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":processed": {"S": PROCESSED}},
        )
        for page in pages:
            videos.extend(_info(item) for item in page.get("Items", []))
        return sorted(videos, key=lambda video: video.video_id)

    def lookup(self, video_ids: Iterable[str]) -> tuple[list[VideoInfo], list[str]]:
        """(processed videos among `video_ids`, ids that are unknown or not processed yet)."""
        ids = list(dict.fromkeys(video_ids))
        held = (
            {video.video_id: video for video in self._scanned[1]} if self._scanned and self._fresh() else {}
        )
        found: dict[str, VideoInfo | None] = {
            video_id: held[video_id] for video_id in ids if video_id in held
        }
        asked = [video_id for video_id in ids if video_id not in held]  # new since the Scan, or unknown
        if asked:
            with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(asked)))) as pool:
                found |= dict(zip(asked, pool.map(self._get, asked), strict=True))
        ready = [info for info in found.values() if info and info.status == PROCESSED]
        unknown = [video_id for video_id, info in found.items() if not info or info.status != PROCESSED]
        newly = [info for info in ready if info.video_id not in held]
        if newly and self._scanned and self._fresh():
            # processed since the held Scan: every search of this container lists them from now on,
            # not a minute later when the Scan is done again
            at, videos = self._scanned
            self._scanned = (at, sorted([*videos, *newly], key=lambda video: video.video_id))
        return sorted(ready, key=lambda video: video.video_id), unknown

    def _get(self, video_id: str) -> VideoInfo | None:
        try:
            response = self.dynamodb.get_item(
                TableName=self.table,
                Key={"video_id": {"S": video_id}},
                ProjectionExpression=_FIELDS,
                ExpressionAttributeNames={"#status": "status"},
            )
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(error) from None
        return _info(response["Item"]) if "Item" in response else None


def _unavailable(error: ClientError | BotoCoreError) -> Exception:
    """Throttling, a 5xx or no connection: a 503 the caller may retry; anything else (a missing
    table, a denied action) is a fault of this deployment and stays an error."""
    if is_transient(error):
        return RequestError(503, f"the videos table is unavailable, try again shortly ({describe(error)})")
    return error
