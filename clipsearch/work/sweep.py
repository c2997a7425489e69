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

from clipsearch.cache.store import PackedHead
from clipsearch.catalog.videos import VideoCatalog, VideoInfo
from clipsearch.index.backend import NOTHING_SEEN
from clipsearch.index.sync import IndexSync
from clipsearch.index.vector_index import DamagedLedger
from clipsearch.runtime.faults import describe
from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue

DAMAGED_LEDGER = "damaged-ledger"  # what the sweep saw of a video whose ledger cannot be read
EMPTY_CATALOG = (
    "the videos table lists no processed video: nothing was removed from the index (a wrong or "
    "emptied table would otherwise empty it); remove the vectors by hand if that is what is meant"
)


@dataclass(frozen=True)
class SweepReport:
    videos: int
    queued: list[str]
    failed: list[dict[str, str]]
    removed: list[str] = field(default_factory=list)  # taken out of the S3 Vectors index

    def as_dict(self) -> dict[str, Any]:
        return {"videos": self.videos, "queued": self.queued, "failed": self.failed, "removed": self.removed}


def cache_wants(
    packed_head: Callable[[str], PackedHead | None], frames_listing: Callable[[str], str]
) -> Callable[[VideoInfo], str | None]:
    """The memory backend's question for a processed video: is its packed object missing, or does it
    account for other than `frames_count` frames, unless a run found frames/ cannot meet that count
    and frames/ is still as that run saw it? (`packed_head`: CacheStore's, one HEAD;
    `frames_listing`: FrameListing's fingerprint, one LIST, only for such videos). The version seen
    when it does (NOTHING_SEEN: no packed object), None when not."""

    def wants(video: VideoInfo) -> str | None:
        head = packed_head(video.video_id)
        if head is None:
            return NOTHING_SEEN
        if video.frames_count is None or head.covered == video.frames_count:
            return None
        if head.unmet_count == video.frames_count and head.listing == frames_listing(video.video_id):
            return None
        return head.etag

    return wants


class Sweep:
    def __init__(
        self,
        catalog: VideoCatalog,
        wants: Callable[[VideoInfo], str | None],
        queue: WorkQueue,
        *,
        index: IndexSync | None = None,
        concurrency: int = 32,
    ) -> None:
        self.catalog = catalog
        self.wants = wants  # does batch need to run for this processed video? (the version seen)
        self.queue = queue
        self.index = index
        self.concurrency = concurrency

    def run(self) -> SweepReport:
        # The index's videos before the Scan: a video indexed after this listing is never a candidate.
        indexed = self.index.video_ids() if self.index else set()
        videos = self.catalog.processed()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            wanting = [
                WorkItem(video.video_id, seen=seen, frames_count=video.frames_count)
                for video, seen in zip(videos, pool.map(self._wants, videos), strict=True)
                if seen is not None
            ]
            stale = sorted(indexed - {video.video_id for video in videos})
            removed: list[str]
            if stale and not videos:
                removed, failed = [], [{"video_id": "*", "error": EMPTY_CATALOG}]
            else:
                removed, failed = self._remove(stale, pool)
        sent = self.queue.send(wanting)
        return SweepReport(
            videos=len(videos),
            queued=sorted(item.video_id for item in sent.sent),
            failed=failed + [{"video_id": item.video_id, "error": reason} for item, reason in sent.failed],
            removed=removed,
        )

    def _wants(self, video: VideoInfo) -> str | None:
        try:
            return self.wants(video)
        except DamagedLedger:
            return DAMAGED_LEDGER  # batch then fails on it, loudly: the dead-letter queue and its alarm

    def _remove(self, stale: list[str], pool: ThreadPoolExecutor) -> tuple[list[str], list[dict[str, str]]]:
        """Take each stale video out of the index, unless the catalog lists it as processed now
        (it became so since the Scan). (removed, failed)"""
        index = self.index
        if index is None:
            return [], []

        def remove(video_id: str) -> bool | str:  # True: removed, False: kept, str: why it failed
            try:
                found, _ = self.catalog.lookup([video_id])
                if found:
                    return False
                index.remove(video_id)
            except (ClientError, BotoCoreError, DamagedLedger) as error:
                return describe(error)
            return True

        removed, failed = [], []
        for video_id, outcome in zip(stale, pool.map(remove, stale), strict=True):
            if outcome is True:
                removed.append(video_id)
            elif isinstance(outcome, str):
                failed.append({"video_id": video_id, "error": f"not removed from the index: {outcome}"})
        return removed, failed
