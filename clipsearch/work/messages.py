"""The messages of the work queue (clipsearch/work/queue.py), and what the stack's Pipe and schedule
send: plain data, no AWS SDK, so that the CDK app imports it too.

A message is `{"video_id": ...}` (the whole video: embed what is missing and write the packed
object) or `{"video_id": ..., "frame_range": [first, last], "run": ..., "chunks": n}` (a chunk of a
long video, one of the run's n: embed the frames whose ids are in that range; `"force": true` when
the split request had it). `{"video_id": ..., "run": ...}` is the pack the run's last chunk asks
for. Whole-video messages of one video share a message group, so one video is never embedded by two
of them at once; each chunk has its own group, so the chunks of one video run side by side.

A deduplication id names the change a message is for, never the video alone (SQS drops a message
whose id it saw in the last 5 minutes, even once that one was processed): the stream record's
eventID for the table's pipe; the video and the state of its cache or index the producer saw (and
the `frames_count` it saw) for search's refill and the sweep, so both collapse when they saw the
same state; the splitting run for chunks and the pack they ask for; the removal for the extraction function's
`"removed": true` (a video id is one version of one upload). A person's request is the video id
alone. docs/decisions/0008-deduplication-ids.md says why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

_FIFO_ID_LIMIT = 128
SWEEP_EVENT = {"sweep": True}  # what the schedule sends the batch function


@dataclass(frozen=True)
class WorkItem:
    video_id: str
    frame_range: tuple[str, str] | None = None  # first and last frame id of a chunk, inclusive
    # The run that split the video: each of its chunks carries it, and the whole video with it is
    # the pack its chunks ask for once they are done.
    run: str | None = None
    chunks: int = 0  # a chunk: how many chunks its run has
    force: bool = False  # a chunk: embed its frames again (the split request's force)
    seen: str | None = None  # refill, sweep: the version of the video's cache or index they saw
    frames_count: int | None = None  # refill, sweep: the catalog's frames_count they saw
    # The extraction function removed the video (its upload changed or went): a run that finds no
    # frames has done what was asked (the cache and the index emptied), it is no 404.
    removed: bool = False

    def body(self) -> str:
        request: dict[str, Any] = {"video_id": self.video_id}
        if self.frame_range:
            request["frame_range"] = list(self.frame_range)
        if self.run:
            request["run"] = self.run
        if self.chunks:
            request["chunks"] = self.chunks
        if self.force:
            request["force"] = True
        if self.frames_count is not None:
            request["frames_count"] = self.frames_count
        if self.removed:
            request["removed"] = True
        return json.dumps(request, separators=(",", ":"))

    def group_id(self) -> str:
        return _fifo_id(
            self.video_id if self.frame_range is None else f"{self.video_id}#{self.frame_range[0]}"
        )

    def dedup_id(self) -> str:
        """What names this message's change (see the module's docstring)."""
        if self.frame_range is not None:
            return _fifo_id(f"{self.video_id}#{self.run}#{self.frame_range[0]}..{self.frame_range[1]}")
        if self.run is not None:
            return _fifo_id(f"{self.video_id}#{self.run}#pack")
        if self.removed:  # a video id names one version of an upload: it is removed once
            return _fifo_id(f"{self.video_id}#removed")
        if self.seen is not None:
            count = "-" if self.frames_count is None else self.frames_count
            return _fifo_id(f"{self.video_id}#{self.seen}#{count}")
        return _fifo_id(self.video_id)


def _fifo_id(text: str) -> str:
    """SQS takes group and deduplication ids of up to 128 characters: longer ones are hashed."""
    return text if len(text) <= _FIFO_ID_LIMIT else hashlib.sha256(text.encode()).hexdigest()


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
# The message a stream record becomes (Pipes' input template; `video_id` is the table's key), in the
# video's group, deduplicated by the record: a Pipe's retry of one record collapses, a new change is
# a new record. eventID, not the record's SequenceNumber: AWS documents eventID as globally unique,
# a sequence number only within its shard (and the queue deduplicates across every video).
STREAM_MESSAGE_TEMPLATE = '{"video_id": "<$.dynamodb.Keys.video_id.S>"}'
STREAM_GROUP_ID_PATH = "$.dynamodb.Keys.video_id.S"
STREAM_DEDUPLICATION_ID_PATH = "$.eventID"
