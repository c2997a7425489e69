"""What every handler shares: one Logger, Metrics and (with tracing on) Tracer per container, and
the wrapper that turns a handler's outcome into the response and the same metrics for all three
functions.

Metrics (namespace from POWERTOOLS_METRICS_NAMESPACE, dimension `service`): `Requests`,
`RefusedRequests` (4xx), `UpstreamErrors` (5xx from a service around us), `FailedRequests`
(unexpected), `Latency` (ms), `ColdStart`; each function adds its own.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from clipsearch.runtime.errors import RequestError
from clipsearch.runtime.events import error_response

logger = Logger()
metrics = Metrics()  # namespace and service from the environment the stack sets

Handler = Callable[[Any, Any], dict[str, Any]]


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    metrics.add_metric(name=name, unit=unit, value=value)


def lambda_entry(*, raise_unexpected: bool = False) -> Callable[[Handler], Handler]:
    """Wrap `handler(event, context) -> response`. A RequestError becomes its status and message;
    anything else is logged with its traceback and becomes a 500 naming the request id, or, with
    `raise_unexpected` (functions that Lambda or SQS invoke and retry), propagates as a function
    error so that the invocation is retried and, in the end, lands in the failure destination."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(event: Any, context: Any) -> dict[str, Any]:
            started = time.perf_counter()
            try:
                result = handler(event, context)
            except RequestError as error:
                logger.info("request refused", extra={"status": error.status, "reason": error.message})
                count("RefusedRequests" if error.status < 500 else "UpstreamErrors")
                return error_response(error)
            except Exception:
                logger.exception("request failed")
                count("FailedRequests")
                if raise_unexpected:
                    raise
                return error_response(
                    RequestError(500, f"internal error; request id {context.aws_request_id}")
                )
            finally:
                count("Latency", (time.perf_counter() - started) * 1000, MetricUnit.Milliseconds)
            count("Requests")
            return result

        measured = metrics.log_metrics(_traced(run), capture_cold_start_metric=True)
        return logger.inject_lambda_context(measured)

    return wrap


def _traced(handler: Handler) -> Handler:
    """The handler in an X-Ray subsegment when the stack's `tracing` key is on. Off (the default:
    POWERTOOLS_TRACE_DISABLED), no Tracer at all: creating one imports aws_xray_sdk, a tenth of a
    second or more of every cold start, even when it is disabled."""
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return handler
    from aws_lambda_powertools import Tracer

    return Tracer().capture_lambda_handler(handler, capture_response=False)
