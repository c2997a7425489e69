"""Extraction function: an uploaded video file becomes keyframes and a `videos` row, by itself.

SQS (the ingest queue): S3's event notifications for `uploads/` and the ranges of long videos; a
message not done is redelivered, then kept by the dead-letter queue. HTTP API (payload 2.0):
POST /uploads (a presigned POST) and GET /uploads?key= (what became of an upload). Direct invoke:
{"key": "uploads/..."} extracts the version in S3 now. The parts are built once per container
(clipsearch/extract/wiring.py).
"""

from __future__ import annotations

import os
from typing import Any

from clipsearch.extract.wiring import ExtractFunction
from clipsearch.runtime.entry import lambda_entry

function = ExtractFunction(os.environ)
service = function.service


@lambda_entry(raise_unexpected=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    return function.handle(event, context)
