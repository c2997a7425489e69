"""Search function: a text, image or vector query in, the best matching video frames out.

Request: {"query": "a man riding a bicycle"} | {"image": ...} | {"embedding": [...]}, with options
top_k, video_ids, min_score, dedupe, time_range (README: Search function). No torch here: the query
vector comes from the CLIP function, the frames' vectors from the cache batch writes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from clipsearch.clip_client import ClipClient
from clipsearch.errors import RequestError
from clipsearch.events import error_response, parse_request, response
from clipsearch.search_service import RequeueMemory, SearchService, SearchSettings, parse_search_request
from clipsearch.vector_cache import VectorCache
from clipsearch.video_catalog import VideoCatalog

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ClipFrameSearch"))
settings = SearchSettings.from_env(os.environ)

# Throttling is retried (standard mode); a CLIP call still running when the search nears its own
# timeout is abandoned, so the caller gets a 502 instead of no answer.
_lambda = boto3.client(
    "lambda",
    config=Config(
        retries={"mode": "standard", "max_attempts": 3},
        read_timeout=settings.clip_read_timeout_s,
        connect_timeout=5,
    ),
)
_s3 = boto3.client("s3", config=Config(max_pool_connections=settings.s3_concurrency))
service = SearchService(
    settings=settings,
    clip=ClipClient(_lambda, settings.clip_function),
    catalog=VideoCatalog(
        boto3.client("dynamodb"), settings.table, rescan_seconds=settings.revalidate_seconds
    ),
    vectors=VectorCache(
        _s3,
        settings.bucket,
        max_vectors=settings.max_cached_vectors,
        revalidate_seconds=settings.revalidate_seconds,
        concurrency=settings.s3_concurrency,
    ),
    lambda_client=_lambda,
    requeue=RequeueMemory(settings.requeue_seconds),
    log=lambda message, extra: logger.warning(message, extra=extra),
)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        request = parse_search_request(parse_request(event), settings)
        body = service.search(request)
    except RequestError as error:
        logger.info("request refused", extra={"status": error.status, "reason": error.message})
        metrics.add_metric(
            name="RefusedRequests" if error.status < 500 else "UpstreamErrors", unit=MetricUnit.Count, value=1
        )
        return error_response(error)
    except Exception:
        logger.exception("search failed")
        metrics.add_metric(name="FailedRequests", unit=MetricUnit.Count, value=1)
        return error_response(RequestError(500, f"internal error; request id {context.aws_request_id}"))
    metrics.add_metric(name="Searches", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="SearchedFrames", unit=MetricUnit.Count, value=body["searched_frames"])
    metrics.add_metric(name="MissingVideos", unit=MetricUnit.Count, value=len(body["missing_videos"]))
    metrics.add_metric(
        name="Latency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
    )
    return response(200, body)
