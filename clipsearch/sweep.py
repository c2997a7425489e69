"""The scheduled sweep: find processed videos whose cache is missing, incomplete or stale against
their `frames_count`, and queue them. One Scan and one HEAD per video: its cost grows with the
number of videos, never with the number of frames."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from clipsearch.cache_store import CacheStore
from clipsearch.video_catalog import VideoCatalog, VideoInfo
from clipsearch.work_messages import WorkItem
from clipsearch.work_queue import WorkQueue


@dataclass(frozen=True)
class SweepReport:
    videos: int
    queued: list[str]
    failed: list[dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {"videos": self.videos, "queued": self.queued, "failed": self.failed}


class Sweep:
    def __init__(
        self, catalog: VideoCatalog, store: CacheStore, queue: WorkQueue, *, concurrency: int = 32
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.queue = queue
        self.concurrency = concurrency

    def run(self) -> SweepReport:
        videos = self.catalog.processed()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            wanting = [
                video.video_id
                for video, wants in zip(videos, pool.map(self._wants, videos), strict=True)
                if wants
            ]
        sent = self.queue.send([WorkItem(video_id) for video_id in wanting])
        return SweepReport(
            videos=len(videos),
            queued=sorted(item.video_id for item in sent.sent),
            failed=[{"video_id": item.video_id, "error": reason} for item, reason in sent.failed],
        )

    def _wants(self, video: VideoInfo) -> bool:
        covered = self.store.covered_frames(video.video_id)
        if covered is None:
            return True
        return video.frames_count is not None and covered != video.frames_count
