"""Batch embedding function: fill embeddings-cache/ from a video's frames/, resumably.

Direct or asynchronous invoke: {"video_id": "...", "frames": [...]?, "frame_range": [a, b]?,
"force": bool?} or a list of those; {"sweep": true} (the schedule) runs the sweep. SQS (the work
queue): each message body is such a request (or a list). A video left unfinished (the deadline,
or frames S3 could not serve) is a failure Lambda or SQS retries: a function error on an invoke, a
batch item failure on SQS. Each retry continues where the last run stopped. The parts are built
once per container (clipsearch/batch/wiring.py).
"""

from __future__ import annotations

import os
from typing import Any

from clipsearch.batch.wiring import BatchFunction, UnfinishedVideos
from clipsearch.runtime.entry import lambda_entry

__all__ = ["UnfinishedVideos", "handler"]

function = BatchFunction(os.environ)
service, settings, work_queue = function.service, function.settings, function.work_queue


@lambda_entry(raise_unexpected=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    return function.handle(event, context)
