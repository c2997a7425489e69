"""The work queue in front of the batch function: one SQS FIFO queue that every producer uses (the
table's stream, the sweep, search's refill, a person's backfill, batch's own chunks).

A message is `{"video_id": ...}` (the whole video: embed what is missing and write the packed
object) or `{"video_id": ..., "frame_range": [first, last]}` (a chunk of a long video: embed the
frames whose ids are in that range). Whole-video messages of one video share a message group, so
one video is never embedded by two of them at once; each chunk has its own group, so the chunks of
one video run side by side. A whole video's deduplication id is its video id: the same video sent
by two producers within SQS's 5-minute window is delivered once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clipsearch.faults import describe

SEND_BATCH = 10  # SendMessageBatch's limit
_FIFO_ID_LIMIT = 128


@dataclass(frozen=True)
class WorkItem:
    video_id: str
    frame_range: tuple[str, str] | None = None  # first and last frame id of a chunk, inclusive

    def body(self) -> str:
        request: dict[str, Any] = {"video_id": self.video_id}
        if self.frame_range:
            request["frame_range"] = list(self.frame_range)
        return json.dumps(request, separators=(",", ":"))

    def group_id(self) -> str:
        return _fifo_id(
            self.video_id if self.frame_range is None else f"{self.video_id}#{self.frame_range[0]}"
        )

    def dedup_id(self) -> str:
        """The video id for a whole video (what the table stream's pipe sends too, so that every
        producer's message for one video deduplicates); the range too for a chunk."""
        if self.frame_range is None:
            return _fifo_id(self.video_id)
        return _fifo_id(f"{self.video_id}#{self.frame_range[0]}..{self.frame_range[1]}")


def _fifo_id(text: str) -> str:
    """SQS takes group and deduplication ids of up to 128 characters: longer ones are hashed."""
    return text if len(text) <= _FIFO_ID_LIMIT else hashlib.sha256(text.encode()).hexdigest()


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


# What of the table's stream becomes work (EventBridge Pipes filter criteria; local/ applies the
# same pattern). A video becomes `processed` (inserted so, or changed from another status or from
# none), or a processed video is modified while it has a frames_count: a filter cannot compare old
# and new values, so a processed video's other changes pass too (a run that finds nothing to do).
PROCESSED = {"S": ["processed"]}
STREAM_FILTERS: list[dict[str, Any]] = [
    {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": PROCESSED}}},
    {
        "eventName": ["MODIFY"],
        "dynamodb": {
            "NewImage": {"status": PROCESSED},
            "OldImage": {"status": {"S": [{"anything-but": ["processed"]}]}},
        },
    },
    {
        "eventName": ["MODIFY"],
        "dynamodb": {"NewImage": {"status": PROCESSED}, "OldImage": {"status": [{"exists": False}]}},
    },
    {
        "eventName": ["MODIFY"],
        "dynamodb": {
            "NewImage": {"status": PROCESSED, "frames_count": [{"exists": True}]},
            "OldImage": {"status": PROCESSED},
        },
    },
]
# The message a stream record becomes (Pipes' input template; `video_id` is the table's key).
STREAM_MESSAGE_TEMPLATE = '{"video_id": "<$.dynamodb.Keys.video_id.S>"}'
STREAM_GROUP_ID_PATH = "$.dynamodb.Keys.video_id.S"
