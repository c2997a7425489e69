"""The refill's time budget holds sends in flight to it too (issue #27.10)."""

from __future__ import annotations

import threading
import time
from typing import Any

from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue
from clipsearch.work.refill import RecentlyQueued, Refill


class SlowSqs:
    """SQS answering each SendMessageBatch after `delay_s` (a slow or distant endpoint)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls = 0
        self.released = threading.Event()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        self.released.wait(self.delay_s)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


def test_a_search_waits_no_longer_than_the_budget_for_sends_in_flight():
    sqs = SlowSqs(delay_s=30)
    recently = RecentlyQueued(900)
    refill = Refill(WorkQueue(sqs, "queue", concurrency=2), recently, budget_s=0.05)
    items = [WorkItem(f"video-{index}", seen="none") for index in range(100)]
    started = time.monotonic()
    try:
        assert refill.queue_videos(items) == []  # nothing answered within the budget: nothing claimed
        assert time.monotonic() - started < 5  # not the 30 s the calls in flight take
    finally:
        sqs.released.set()
    assert sqs.calls == 2  # the calls started in time; none started after it
    assert all(recently.due(item.dedup_id()) for item in items)  # the next search sends them


def test_sends_answered_within_the_budget_are_remembered():
    sqs = SlowSqs(delay_s=0)
    recently = RecentlyQueued(900)
    refill = Refill(WorkQueue(sqs, "queue"), recently, budget_s=5)
    items = [WorkItem(f"video-{index}", seen="none") for index in range(25)]
    assert len(refill.queue_videos(items)) == 25
    assert not any(recently.due(item.dedup_id()) for item in items)
