"""The batch function's parts, built once per container from its environment, and what it does with
each event: a video request (or a list of them) from a direct or asynchronous invoke, a work queue
message batch from SQS, or the schedule's sweep."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config

from clipsearch.batch.request import VideoResult, parse_video_request
from clipsearch.batch.service import BatchService, BatchSettings
from clipsearch.cache.store import CacheStore
from clipsearch.catalog.frames import FrameListing
from clipsearch.catalog.videos import VideoCatalog
from clipsearch.index.settings import IndexBackend
from clipsearch.index.sync import IndexSync
from clipsearch.index.vector_index import Ledgers, VectorIndex
from clipsearch.model.onnx_model import available_cpus, load_embedder
from clipsearch.runtime.deadline import LambdaDeadline
from clipsearch.runtime.entry import count, logger
from clipsearch.runtime.errors import RequestError
from clipsearch.runtime.events import parse_request_value, response
from clipsearch.runtime.settings import required
from clipsearch.work.messages import SWEEP_EVENT
from clipsearch.work.queue import WorkQueue
from clipsearch.work.sweep import Sweep, cache_wants


class UnfinishedVideos(Exception):
    """Some videos are not complete yet: raised so that Lambda (async) or SQS retries the event."""


class BatchFunction:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.settings = settings = BatchSettings.from_env(env)
        # A wholly failed batch is reported item by item too (same redelivery, no invocation error).
        self.sqs_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        s3 = boto3.client("s3", config=Config(max_pool_connections=2 * settings.s3_concurrency))
        self.work_queue = WorkQueue(boto3.client("sqs"), settings.work_queue_url)
        # A fresh Scan each time (the sweep's): nothing is held between sweeps or runs.
        catalog = VideoCatalog(boto3.client("dynamodb"), settings.table, scan_ttl_seconds=0)
        backend = IndexBackend.from_env(env)
        frames = FrameListing(s3, settings.bucket)
        index = (
            IndexSync(
                VectorIndex(
                    boto3.client("s3vectors"),
                    bucket_name=str(backend.vector_bucket),
                    index_name=str(backend.vector_index),
                ),
                Ledgers(s3, settings.bucket),
                catalog,
                CacheStore(s3, settings.bucket),
                frames,
            )
            if backend.name == "s3vectors"
            else None
        )
        self.service = BatchService(
            settings=settings,
            s3=s3,
            queue=self.work_queue,
            embedder=functools.partial(  # throughput: one single-threaded model call per vCPU at once
                load_embedder,
                required(env, "MODEL_DIR", "the CLIP model baked into the image"),
                calls_at_once=available_cpus(),
            ),
            index=index,
            log=lambda message, extra: logger.info(message, extra=extra),
        )
        # The schedule's event (SWEEP_EVENT): with an index, its ledgers say what each video needs.
        self.sweep = Sweep(
            catalog,
            index.wants
            if index
            else cache_wants(CacheStore(s3, settings.bucket).packed_head, frames.fingerprint),
            self.work_queue,
            index=index,
        )

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        if event == SWEEP_EVENT:
            return self._sweep()
        if _is_sqs(event):
            return process_partial_response(  # type: ignore[return-value]  # a TypedDict of the same shape
                event=event,
                record_handler=functools.partial(self._sqs_record, context=context),
                processor=self.sqs_processor,
                context=context,
            )
        request = parse_request_value(event)
        if not isinstance(request, list):
            result = self._run(request, context, context.aws_request_id)
            if result.status == "partial":
                raise UnfinishedVideos(_summary([result]))
            return response(200, result.as_dict())
        outcomes = [self._run_one_of_many(item, context) for item in request]
        unfinished = [
            outcome
            for outcome in outcomes
            if isinstance(outcome, VideoResult) and outcome.status == "partial"
        ]
        if unfinished:
            raise UnfinishedVideos(_summary(unfinished))
        return response(
            200, {"results": [o.as_dict() if isinstance(o, VideoResult) else o for o in outcomes]}
        )

    def _sweep(self) -> dict[str, Any]:
        report = self.sweep.run()
        count("VideosSwept", report.videos)
        count("VideosQueued", len(report.queued))
        logger.info("sweep done", extra=report.as_dict() | {"queued": len(report.queued)})
        if report.failed:
            raise UnfinishedVideos(
                f"the sweep could not queue {len(report.failed)} videos: {report.failed[0]}"
            )
        return response(200, report.as_dict())

    def _run(self, request: Any, context: Any, run_id: str) -> VideoResult:
        """`run_id`: what names this request when it is delivered again (SQS's message id, the
        Lambda request id, which Lambda keeps for an asynchronous event's retries)."""
        result = self.service.run(parse_video_request(request), LambdaDeadline(context), run_id=run_id)
        count("FramesEmbedded", result.embedded)
        count("FramesSkipped", result.skipped)
        count("FramesFailed", len(result.failed))
        count("FramesRejected", len(result.rejected))
        if result.frames_count_unmet is not None:  # once per count and listing: an alarm's metric
            count("FrameCountUnmet")
            logger.warning(
                "frames_count cannot be met by frames/: not queued again until frames/ or the count changes",
                extra={"video_id": result.video_id, "frames_count": result.frames_count_unmet},
            )
        logger.info(
            "video done",
            extra=result.as_dict() | {k: len(v) for k, v in result.as_dict().items() if isinstance(v, list)},
        )
        return result

    def _run_one_of_many(self, request: Any, context: Any) -> VideoResult | dict[str, Any]:
        try:
            return self._run(request, context, context.aws_request_id)
        except RequestError as error:
            video_id = request.get("video_id") if isinstance(request, dict) else None
            return {
                "video_id": video_id if isinstance(video_id, str) else None,  # never echo a NaN
                "status": "error",
                "statusCode": error.status,
                "error": error.message,
            }

    def _sqs_record(self, record: SQSRecord, context: Any) -> None:
        """Raise unless every video of the message is complete: SQS then redelivers it."""
        try:
            body = json.loads(record.body)
        except json.JSONDecodeError as error:
            raise ValueError(f"message {record.message_id} is not JSON: {error.msg}") from None
        problems = []
        for request in body if isinstance(body, list) else [body]:
            try:
                result = self._run(request, context, record.message_id)
            except RequestError as error:
                problems.append(f"{error.status}: {error.message}")
                continue
            if result.status == "partial":
                problems.append(_summary([result]))
        if problems:
            raise UnfinishedVideos("; ".join(problems))


def _summary(results: list[VideoResult]) -> str:
    """Why these videos are unfinished, as one line (Lambda's errorMessage)."""
    return "; ".join(
        f"{r.video_id}: {len(r.remaining)} frames remaining, {len(r.failed)} failed"
        + (f" ({r.failed[0]['error']})" if r.failed else "")
        for r in results
    )


def _is_sqs(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(record, dict) and record.get("eventSource") == "aws:sqs" for record in records)
    )
