"""The scheduled sweep: find processed videos whose vectors are missing, incomplete or stale
against their `frames_count`, and queue them; with the S3 Vectors backend, also take out of the
index the videos that are gone from the catalog or no longer processed. One Scan and one request
per video: its cost grows with the number of videos, never with the number of frames."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.faults import describe
from clipsearch.index_sync import IndexSync
from clipsearch.video_catalog import VideoCatalog, VideoInfo
from clipsearch.work_messages import WorkItem
from clipsearch.work_queue import WorkQueue


@dataclass(frozen=True)
class SweepReport:
    videos: int
    queued: list[str]
    failed: list[dict[str, str]]
    removed: list[str] = field(default_factory=list)  # taken out of the S3 Vectors index

    def as_dict(self) -> dict[str, Any]:
        return {"videos": self.videos, "queued": self.queued, "failed": self.failed, "removed": self.removed}


class Sweep:
    def __init__(
        self,
        catalog: VideoCatalog,
        covered_frames: Callable[[str], int | None],
        queue: WorkQueue,
        *,
        index: IndexSync | None = None,
        concurrency: int = 32,
    ) -> None:
        self.catalog = catalog
        self.covered_frames = covered_frames  # frames a video's vectors account for; None: none
        self.queue = queue
        self.index = index
        self.concurrency = concurrency

    def run(self) -> SweepReport:
        videos = self.catalog.processed()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            wanting = [
                video.video_id
                for video, wants in zip(videos, pool.map(self._wants, videos), strict=True)
                if wants
            ]
            removed, failed = self._remove_stale({video.video_id for video in videos}, pool)
        sent = self.queue.send([WorkItem(video_id) for video_id in wanting])
        return SweepReport(
            videos=len(videos),
            queued=sorted(item.video_id for item in sent.sent),
            failed=failed + [{"video_id": item.video_id, "error": reason} for item, reason in sent.failed],
            removed=removed,
        )

    def _wants(self, video: VideoInfo) -> bool:
        covered = self.covered_frames(video.video_id)
        if covered is None:
            return True
        return video.frames_count is not None and covered != video.frames_count

    def _remove_stale(
        self, processed: set[str], pool: ThreadPoolExecutor
    ) -> tuple[list[str], list[dict[str, str]]]:
        if self.index is None:
            return [], []
        index = self.index
        stale = sorted(index.ledgers.video_ids() - processed)

        def remove(video_id: str) -> str | None:
            try:
                index.remove(video_id)
            except (ClientError, BotoCoreError) as error:
                return describe(error)
            return None

        removed, failed = [], []
        for video_id, problem in zip(stale, pool.map(remove, stale), strict=True):
            if problem is None:
                removed.append(video_id)
            else:
                failed.append({"video_id": video_id, "error": f"not removed from the index: {problem}"})
        return removed, failed
