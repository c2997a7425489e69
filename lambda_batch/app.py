"""Batch embedding function: fill embeddings-cache/ from a video's frames/, resumably.

Direct invoke: {"video_id": "...", "frames": [...]?, "force": bool?} or a list of those.
SQS: each message body is such a request (or a list); failed or unfinished messages are reported
back as batch item failures, so SQS redelivers them and the next run continues where this stopped.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config

from clipsearch.batch_service import (
    BatchService,
    BatchSettings,
    LambdaDeadline,
    VideoResult,
    parse_video_request,
)
from clipsearch.errors import RequestError
from clipsearch.events import error_response, parse_request_value, response
from clipsearch.model import load_embedder
from clipsearch.settings import required

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ClipFrameSearch"))
model_dir = required(os.environ, "MODEL_DIR", "the CLIP model baked into the image")
settings = BatchSettings.from_env(os.environ)
# A wholly failed batch is reported item by item too (same redelivery, no invocation error).
sqs_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


service = BatchService(
    settings=settings,
    s3=boto3.client("s3", config=Config(max_pool_connections=2 * settings.s3_concurrency)),
    embedder=functools.partial(
        load_embedder, required(os.environ, "MODEL_DIR", "the CLIP model baked into the image")
    ),
    log=lambda message, extra: logger.info(message, extra=extra),
)


def _run(request: Any, context: Any) -> VideoResult:
    result = service.run(parse_video_request(request), LambdaDeadline(context))
    metrics.add_metric(name="FramesEmbedded", unit=MetricUnit.Count, value=result.embedded)
    metrics.add_metric(name="FramesSkipped", unit=MetricUnit.Count, value=result.skipped)
    metrics.add_metric(name="FramesFailed", unit=MetricUnit.Count, value=len(result.failed))
    logger.info(
        "video done",
        extra=result.as_dict() | {"failed": len(result.failed), "remaining": len(result.remaining)},
    )
    return result


def _is_sqs(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(record, dict) and record.get("eventSource") == "aws:sqs" for record in records)
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    if _is_sqs(event):
        return process_partial_response(  # type: ignore[return-value]  # a TypedDict of the same shape
            event=event,
            record_handler=functools.partial(_sqs_record, context=context),
            processor=sqs_processor,
            context=context,
        )
    try:
        request = parse_request_value(event)
        if isinstance(request, list):
            return response(200, {"results": [_run_one_of_many(item, context) for item in request]})
        return response(200, _run(request, context).as_dict())
    except RequestError as error:
        logger.info("request refused", extra={"status": error.status, "reason": error.message})
        return error_response(error)
    except Exception:
        logger.exception("batch failed")
        return error_response(RequestError(500, f"internal error; request id {context.aws_request_id}"))


def _run_one_of_many(request: Any, context: Any) -> dict[str, Any]:
    try:
        return _run(request, context).as_dict()
    except RequestError as error:
        return {
            "video_id": request.get("video_id") if isinstance(request, dict) else None,
            "status": "error",
            "statusCode": error.status,
            "error": error.message,
        }


def _sqs_record(record: SQSRecord, context: Any) -> None:
    """Raise unless every video of the message is complete: SQS then redelivers it."""
    try:
        body = json.loads(record.body)
    except json.JSONDecodeError as error:
        raise ValueError(f"message {record.message_id} is not JSON: {error.msg}") from None
    unfinished = []
    for request in body if isinstance(body, list) else [body]:
        try:
            result = _run(request, context)
        except RequestError as error:
            unfinished.append(f"{error.status}: {error.message}")
            continue
        if result.status != "complete":
            unfinished.append(
                f"{result.video_id}: {len(result.failed)} failed, {len(result.remaining)} remaining"
            )
    if unfinished:
        raise RuntimeError("; ".join(unfinished))
