"""The messages of the work queue (clipsearch/work/queue.py), and what the stack's Pipe and schedule
send: plain data, no AWS SDK, so that the CDK app imports it too.

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
from dataclasses import dataclass
from typing import Any

_FIFO_ID_LIMIT = 128
SWEEP_EVENT = {"sweep": True}  # what the schedule sends the batch function


@dataclass(frozen=True)
class WorkItem:
    video_id: str
    frame_range: tuple[str, str] | None = None  # first and last frame id of a chunk, inclusive
    # The whole video again, asked for by its last chunk: deduplicated among the chunks, never
    # against the request that split the video (SQS would drop it within 5 minutes of that one).
    after_chunks: bool = False

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
            return _fifo_id(f"{self.video_id}#after-chunks" if self.after_chunks else self.video_id)
        return _fifo_id(f"{self.video_id}#{self.frame_range[0]}..{self.frame_range[1]}")


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
# The message a stream record becomes (Pipes' input template; `video_id` is the table's key).
STREAM_MESSAGE_TEMPLATE = '{"video_id": "<$.dynamodb.Keys.video_id.S>"}'
STREAM_GROUP_ID_PATH = "$.dynamodb.Keys.video_id.S"
