"""Search's refill: ask for the cache of videos a search found missing, damaged or incomplete to be
(re)built, through the work queue, at most once per change (the video and the state seen) per
window per container."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue


class RecentlyQueued:
    """Changes recently sent to the batch function (a work item's deduplication id: the video and
    the state seen), so that a search does not resend them every time, while a new change of the
    same video goes at once. Holds at most `max_entries`; past that it forgets the oldest half."""

    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000
    ):
        self.seconds = seconds
        self.clock = clock
        self.max_entries = max_entries
        self._sent: dict[str, float] = {}

    def due(self, change: str) -> bool:
        sent = self._sent.get(change)
        return sent is None or self.clock() - sent >= self.seconds

    def remember(self, change: str) -> None:
        if len(self._sent) >= self.max_entries:
            for old in sorted(self._sent, key=self._sent.__getitem__)[: self.max_entries // 2]:
                del self._sent[old]
        self._sent[change] = self.clock()

    def __len__(self) -> int:
        return len(self._sent)


class Refill:
    """Sends the videos a search found wanting to the work queue, in batches and in parallel, within
    a time budget: a search never waits long on it, whatever the number of videos (those not sent
    in time, or refused, are not remembered: the next search sends them)."""

    def __init__(
        self,
        queue: WorkQueue,
        recently: RecentlyQueued,
        *,
        budget_s: float = 0.3,
        log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None,
    ) -> None:
        self.queue = queue
        self.recently = recently
        self.budget_s = budget_s
        self.log = log

    def queue_videos(self, items: list[WorkItem]) -> list[str]:
        """The videos queued now (not those whose change was queued within the window)."""
        due = [item for item in dict.fromkeys(items) if self.recently.due(item.dedup_id())]
        if not due:
            return []
        outcome = self.queue.send(due, budget_s=self.budget_s)
        for item, reason in outcome.failed:
            self.log("could not queue re-embedding", {"video_id": item.video_id, "error": reason})
        if outcome.not_sent:
            self.log("refill budget spent; the next search queues the rest", {"left": len(outcome.not_sent)})
        for item in outcome.sent:
            self.recently.remember(item.dedup_id())
        return sorted(item.video_id for item in outcome.sent)
