"""The work queue in front of the batch function: one SQS FIFO queue that every producer uses (the
table's stream, the sweep, search's refill, a person's backfill, batch's own chunks); the messages
are clipsearch/work/messages.py's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.runtime.faults import describe
from clipsearch.work.messages import WorkItem

SEND_BATCH = 10  # SendMessageBatch's limit


@dataclass
class Sent:
    sent: list[WorkItem] = field(default_factory=list)
    failed: list[tuple[WorkItem, str]] = field(default_factory=list)  # SQS refused or failed
    not_sent: list[WorkItem] = field(default_factory=list)  # the time budget ran out first


class WorkQueue:
    """Sends items ten per SendMessageBatch call, `concurrency` calls at a time. With a time budget,
    `send` returns when it is spent, calls still in flight included: what they carry is `not_sent`
    (SQS may still take it; resent under the same deduplication id, a copy is dropped)."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.concurrency = concurrency
        self.clock = clock

    def send(self, items: Iterable[WorkItem], *, budget_s: float | None = None) -> Sent:
        unique = list(dict.fromkeys(items))
        batches = [unique[start : start + SEND_BATCH] for start in range(0, len(unique), SEND_BATCH)]
        deadline = None if budget_s is None else self.clock() + budget_s
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(batches))))
        calls = {pool.submit(self._send_batch, batch, deadline): batch for batch in batches}
        remaining = None if deadline is None else max(0.0, deadline - self.clock())
        done, _ = wait(calls, timeout=remaining)
        # Never wait for a call past the budget: Lambda freezes the process once the search answers,
        # so an abandoned call ends (or is dropped) in the background, and nothing waits on it.
        pool.shutdown(wait=False, cancel_futures=True)
        outcome = Sent()
        for call, batch in calls.items():
            result = call.result() if call in done else None
            if result is None:  # not started in time, or still in flight
                outcome.not_sent += batch
            else:
                outcome.sent += result[0]
                outcome.failed += result[1]
        return outcome

    def _send_batch(
        self, batch: list[WorkItem], deadline: float | None
    ) -> tuple[list[WorkItem], list[tuple[WorkItem, str]]] | None:
        """(sent, refused or failed); None, sending nothing, once the deadline has passed."""
        if deadline is not None and self.clock() >= deadline:
            return None
        entries = [
            {
                "Id": str(index),
                "MessageBody": item.body(),
                "MessageGroupId": item.group_id(),
                "MessageDeduplicationId": item.dedup_id(),
            }
            for index, item in enumerate(batch)
        ]
        try:
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as error:  # after botocore's retries
            return [], [(item, describe(error)) for item in batch]
        refused = {
            entry["Id"]: entry.get("Message", entry.get("Code", "")) for entry in response.get("Failed", [])
        }
        outcome = [(item, refused.get(str(index))) for index, item in enumerate(batch)]
        return (
            [item for item, why in outcome if why is None],
            [(item, why) for item, why in outcome if why is not None],
        )
