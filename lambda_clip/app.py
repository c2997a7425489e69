"""CLIP inference function: texts or frames in, L2-normalised embeddings out.

Request: {"mode": "text" | "image", "items": [...], "encoding": "json" | "f16-b64", "cache": bool}
(see README: CLIP function). The model loads once per container from MODEL_DIR.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from clipsearch.clip_service import ClipService, ClipSettings
from clipsearch.errors import RequestError
from clipsearch.events import error_response, parse_request
from clipsearch.model import load_embedder
from clipsearch.settings import required

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ClipFrameSearch"))
model_dir = required(os.environ, "MODEL_DIR", "the CLIP model baked into the image")
settings = ClipSettings.from_env(os.environ)


service = ClipService(
    settings=settings,
    s3=boto3.client("s3", config=Config(max_pool_connections=settings.s3_concurrency)),
    embedder=functools.partial(
        load_embedder, required(os.environ, "MODEL_DIR", "the CLIP model baked into the image")
    ),
)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        outcome = service.handle(parse_request(event))
    except RequestError as error:
        logger.info("request refused", extra={"status": error.status, "reason": error.message})
        metrics.add_metric(name="RefusedRequests", unit=MetricUnit.Count, value=1)
        return error_response(error)
    except Exception:  # a bug or an outage must still answer in the contract's shape
        logger.exception("request failed")
        metrics.add_metric(name="FailedRequests", unit=MetricUnit.Count, value=1)
        return error_response(RequestError(500, f"internal error; request id {context.aws_request_id}"))
    metrics.add_metric(name="Items", unit=MetricUnit.Count, value=outcome.items)
    metrics.add_metric(name="ItemErrors", unit=MetricUnit.Count, value=outcome.failed_items)
    metrics.add_metric(
        name="Latency", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000
    )
    return outcome.response
