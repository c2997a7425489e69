"""The work queue in front of the batch function: one SQS FIFO queue that every producer uses (the
table's stream, the sweep, search's refill, a person's backfill, batch's own chunks); the messages
are clipsearch/work/messages.py's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
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
    """Sends items ten per SendMessageBatch call, `concurrency` calls at a time; with a time budget,
    it stops starting calls once the budget is spent (those items are `not_sent`)."""

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
        outcome = Sent()

        def send_batch(batch: list[WorkItem]) -> None:
            if deadline is not None and self.clock() >= deadline:
                outcome.not_sent.extend(batch)
                return
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
                outcome.failed.extend((item, describe(error)) for item in batch)
                return
            refused = {
                entry["Id"]: entry.get("Message", entry.get("Code", ""))
                for entry in response.get("Failed", [])
            }
            for index, item in enumerate(batch):
                if str(index) in refused:
                    outcome.failed.append((item, refused[str(index)]))
                else:
                    outcome.sent.append(item)

        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(batches)))) as pool:
            list(pool.map(send_batch, batches))
        return outcome
