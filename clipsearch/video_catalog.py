"""The upstream `videos` table: which videos are searchable, and their timing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

PROCESSED = "processed"
_FIELDS = "video_id, #status, video_fps, frame_step, extract_fps, frames_count"
_deserialize = TypeDeserializer().deserialize


@dataclass(frozen=True)
class VideoInfo:
    video_id: str
    status: str
    video_fps: float | None = None
    frame_step: int | None = None  # source frames between two extracted frames, where known

    def seconds_at(self, frame_index: int) -> float | None:
        """When frame `frame_index` was taken: index x step / fps, or None when not known."""
        if frame_index < 0 or not self.video_fps or not self.frame_step:
            return None
        return frame_index * self.frame_step / self.video_fps


def _info(item: dict[str, Any]) -> VideoInfo:
    record = {name: _deserialize(value) for name, value in item.items()}
    fps = _number(record.get("video_fps"))
    step = _number(record.get("frame_step"))
    extract_fps = _number(record.get("extract_fps"))
    if step is None and fps and extract_fps:  # the extractor's rule: round(video_fps / EXTRACT_FPS)
        step = max(1, round(fps / extract_fps))
    return VideoInfo(
        video_id=str(record["video_id"]),
        status=str(record.get("status", "")),
        video_fps=fps,
        frame_step=int(step) if step else None,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


class VideoCatalog:
    """`processed()` is a full Scan: it is kept for `rescan_seconds` so that a warm search reads
    nothing from DynamoDB (a newly processed video shows up within that time)."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        rescan_seconds: float,
        concurrency: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.rescan_seconds = rescan_seconds
        self.concurrency = concurrency
        self.clock = clock
        self._scanned: tuple[float, list[VideoInfo]] | None = None

    def processed(self) -> list[VideoInfo]:
        """Every video whose frames are all extracted."""
        if self._scanned is None or self.clock() - self._scanned[0] >= self.rescan_seconds:
            self._scanned = (self.clock(), self._scan())
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

        def get(video_id: str) -> VideoInfo | None:
            response = self.dynamodb.get_item(
                TableName=self.table,
                Key={"video_id": {"S": video_id}},
                ProjectionExpression=_FIELDS,
                ExpressionAttributeNames={"#status": "status"},
            )
            return _info(response["Item"]) if "Item" in response else None

        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(ids)))) as pool:
            found = dict(zip(ids, pool.map(get, ids), strict=True))
        ready = [info for info in found.values() if info and info.status == PROCESSED]
        unknown = [video_id for video_id, info in found.items() if not info or info.status != PROCESSED]
        return sorted(ready, key=lambda video: video.video_id), unknown
