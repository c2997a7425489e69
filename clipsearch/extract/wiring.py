"""The extraction function's parts, built once per container from its environment, and what it does
with each event: messages of the ingest queue (S3's notifications for uploads/, ranges of long
videos) from SQS, the upload routes of the HTTP API, or a direct invoke naming an upload."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config

from clipsearch.catalog.rows import VideoRows
from clipsearch.extract.events import work_of
from clipsearch.extract.service import (
    ExtractResult,
    ExtractService,
    ExtractSettings,
    RangeQueue,
    RangeWork,
)
from clipsearch.extract.uploads import Uploads
from clipsearch.runtime.deadline import Deadline, LambdaDeadline
from clipsearch.runtime.entry import count, logger
from clipsearch.runtime.events import parse_request_value, response
from clipsearch.work.queue import WorkQueue


class UnfinishedUpload(Exception):
    """An ingest message could not be done now: raised so that SQS redelivers it."""


class ExtractFunction:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.settings = settings = ExtractSettings.from_env(env)
        s3 = boto3.client(
            "s3", config=Config(max_pool_connections=2 * settings.concurrency, signature_version="s3v4")
        )
        sqs = boto3.client("sqs")
        rows = VideoRows(boto3.client("dynamodb"), settings.table, key_index=settings.key_index)
        self.service = ExtractService(
            settings=settings,
            s3=s3,
            rows=rows,
            ingest=RangeQueue(sqs, settings.ingest_queue_url),
            work=WorkQueue(sqs, settings.work_queue_url),
            log=lambda message, extra: logger.info(message, extra=extra),
        )
        self.uploads = Uploads(s3=s3, bucket=settings.bucket, rows=rows, max_bytes=settings.limits.max_bytes)
        self.sqs_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        if _is_http_api(event):
            return self.uploads.handle(event)
        if _is_sqs(event):
            return process_partial_response(  # type: ignore[return-value]  # a TypedDict of the same shape
                event=event,
                record_handler=functools.partial(self._sqs_record, context=context),
                processor=self.sqs_processor,
                context=context,
            )
        results = self._run(parse_request_value(event), LambdaDeadline(context))
        return response(200, {"results": [result.as_dict() for result in results]})

    def _run(self, message: Any, deadline: Deadline) -> list[ExtractResult]:
        results = []
        for work in work_of(message, bucket=self.settings.bucket):
            if isinstance(work, RangeWork):
                result = self.service.extract_range(work, deadline)
            else:
                result = self.service.changed(work, deadline)
            count(f"Uploads{result.status.capitalize()}")
            count("FramesExtracted", result.frames)
            logger.info("upload done", extra=result.as_dict() | {"cut_frames": len(result.cut_frames)})
            results.append(result)
        return results

    def _sqs_record(self, record: SQSRecord, context: Any) -> None:
        """Raise unless the message's work is done: SQS redelivers it up to the queue's receive
        count, then the dead-letter queue keeps it, with its alarm (a message that is not work
        ends there too, where a person sees it)."""
        try:
            message = json.loads(record.body)
        except json.JSONDecodeError as error:
            raise UnfinishedUpload(f"message {record.message_id} is not JSON: {error.msg}") from None
        self._run(message, LambdaDeadline(context))


def _is_sqs(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(record, dict) and record.get("eventSource") == "aws:sqs" for record in records)
    )


def _is_http_api(event: Any) -> bool:
    return isinstance(event, dict) and event.get("version") == "2.0" and "rawPath" in event
