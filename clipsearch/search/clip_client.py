"""The search function's view of the CLIP function: one query in, one vector out (Lambda Invoke).

botocore retries nothing here (a retried read timeout turns one slow call into four and the search
dies at its own timeout with no answer). This client retries throttling, 5xx and connection
failures itself, only while the search's own deadline leaves room, and never a read timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from clipsearch.runtime.deadline import Deadline
from clipsearch.runtime.errors import RequestError
from clipsearch.runtime.faults import describe, is_transient
from clipsearch.vectors import Vector, from_f16_b64

# Kept for ranking and answering after the CLIP call: the budget for CLIP ends this long before
# the search's own timeout.
ANSWER_RESERVE_S = 3.0
_CONNECTION_FAULTS = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)


@dataclass(frozen=True)
class QueryVector:
    vector: Vector
    model: str


def _upstream(message: str) -> RequestError:
    return RequestError(502, f"the CLIP function failed: {message}")


class ClipClient:
    """`client_for(read_timeout_s)`: a boto3 Lambda client with that read timeout and botocore
    retries off (the search keeps one per timeout it uses)."""

    def __init__(
        self,
        client_for: Callable[[int], Any],
        function_name: str,
        *,
        read_timeout_s: int,
        attempts: int = 3,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client_for = client_for
        self.function_name = function_name
        self.read_timeout_s = read_timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep

    def embed(self, mode: str, item: Any, deadline: Deadline) -> QueryVector:
        payload = json.dumps({"mode": mode, "items": [item], "encoding": "f16-b64"}).encode()
        response = self._invoke(payload, deadline)
        raw = response["Payload"].read()
        if response.get("FunctionError"):
            raise _upstream(_function_error(raw))
        try:
            result = json.loads(raw)
            status, body = result["statusCode"], json.loads(result["body"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise _upstream("its response is not the CLIP contract ({statusCode, body})") from None
        if status != 200:
            message = body.get("error", "no message") if isinstance(body, dict) else str(body)
            if 400 <= status < 500:  # our query was not acceptable, e.g. an image over the limits
                raise RequestError(400, f"the query was refused by the CLIP function: {message}")
            raise _upstream(f"status {status}: {message}")
        (embedding,) = body["embeddings"]
        if embedding is None:
            (problem,) = body["errors"]
            raise RequestError(400, f"the query {mode} could not be embedded: {problem['error']}")
        return QueryVector(from_f16_b64(embedding), body["model"])

    def _invoke(self, payload: bytes, deadline: Deadline) -> Any:
        attempt = 0
        while True:
            attempt += 1
            budget = int(deadline.remaining_seconds() - ANSWER_RESERVE_S)
            if budget < 1:
                raise RequestError(504, "no time left in this search to call the CLIP function")
            timeout = min(self.read_timeout_s, budget)
            try:
                return self.client_for(timeout).invoke(FunctionName=self.function_name, Payload=payload)
            except ReadTimeoutError:
                raise RequestError(
                    504, f"the CLIP function did not answer within {timeout} s (a cold start?); try again"
                ) from None
            except (ClientError, BotoCoreError) as error:
                retryable = is_transient(error) and isinstance(error, (ClientError, *_CONNECTION_FAULTS))
                if not retryable or attempt == self.attempts:
                    raise _upstream(describe(error)) from None
                self.sleep(self.backoff_s * 2 ** (attempt - 1))


def _function_error(raw: bytes) -> str:
    """Lambda's error payload ({errorType, errorMessage}) as one line."""
    try:
        detail = json.loads(raw)
        return f"{detail.get('errorType', 'Error')}: {detail.get('errorMessage', '')}"
    except (json.JSONDecodeError, AttributeError):
        return raw.decode("utf-8", "replace")[:500]
