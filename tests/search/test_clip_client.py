"""The search function's CLIP calls when Lambda itself fails: throttled, slow, unreachable.

Faults come from a real boto3 Lambda client (Stubber, a dead port, a local endpoint whose CLIP
function sleeps), as an outage looks after botocore, never by patching ClipClient."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from clipsearch.runtime.errors import RequestError
from clipsearch.search.clip_client import ANSWER_RESERVE_S, ClipClient
from clipsearch.vectors import to_f16_b64
from local.lambda_server import LocalFunction, LocalLambda, serve
from tests.conftest import REGION


class SecondsLeft:
    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds

    def remaining_seconds(self) -> float:
        return self.until - time.monotonic()


def no_retries(endpoint: str | None = None, read_timeout: int = 60) -> Any:
    return boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=endpoint,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout, connect_timeout=1),
    )


def ok_payload() -> bytes:
    body = {
        "embeddings": [to_f16_b64(np.full(4, 0.5, np.float32))],
        "model": "m",
        "errors": [],
    }
    return json.dumps({"statusCode": 200, "body": json.dumps(body)}).encode()


def test_throttling_is_retried_within_the_budget_then_a_502():
    client = no_retries()
    sleeps: list[float] = []
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded", http_status_code=429)
        clip = ClipClient(lambda _: client, "clip-inference", read_timeout_s=10, sleep=sleeps.append)
        with pytest.raises(RequestError) as error:
            clip.embed("text", "a cat", SecondsLeft(60))
        stub.assert_no_pending_responses()  # three attempts, no more
    assert error.value.status == 502
    assert error.value.message == "the CLIP function failed: TooManyRequestsException: Rate exceeded"
    assert sleeps == [0.2, 0.4]


def test_a_throttled_call_that_succeeds_on_retry_answers():
    client = no_retries()
    with Stubber(client) as stub:
        stub.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded", http_status_code=429)
        stub.add_response("invoke", {"StatusCode": 200, "Payload": io.BytesIO(ok_payload())})
        clip = ClipClient(lambda _: client, "clip-inference", read_timeout_s=10, sleep=lambda _: None)
        assert clip.embed("text", "a cat", SecondsLeft(60)).model == "m"


def test_a_function_that_is_not_there_is_not_retried():
    client = no_retries()
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke", "ResourceNotFoundException", "Function not found", http_status_code=404
        )
        with pytest.raises(RequestError) as error:
            ClipClient(lambda _: client, "clip-inference", read_timeout_s=10).embed(
                "text", "a", SecondsLeft(60)
            )
    assert error.value.status == 502


def test_no_time_left_is_a_504_without_calling():
    calls: list[int] = []
    clip = ClipClient(lambda timeout: calls.append(timeout), "clip-inference", read_timeout_s=10)
    with pytest.raises(RequestError) as error:
        clip.embed("text", "a cat", SecondsLeft(ANSWER_RESERVE_S + 0.5))
    assert (error.value.status, calls) == (504, [])


def test_the_read_timeout_never_passes_the_search_deadline():
    timeouts: list[int] = []

    def client_for(timeout: int) -> Any:
        timeouts.append(timeout)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError):
        ClipClient(client_for, "clip-inference", read_timeout_s=55).embed("text", "a", SecondsLeft(20))
    assert timeouts == [int(20 - ANSWER_RESERVE_S) - 1]  # 16: 20 s left less the reserve, rounded down


@pytest.mark.integration  # a CLIP function behind the local Lambda endpoint
def test_a_slow_clip_function_is_called_once_and_is_a_504_in_time():
    calls: list[Any] = []

    def slow(event: Any, context: Any) -> Any:
        calls.append(event)
        time.sleep(3)
        return {"statusCode": 200, "body": "{}"}

    with serve(LocalLambda([LocalFunction("clip-inference", slow, timeout_s=30)])) as endpoint:
        clip = ClipClient(lambda timeout: no_retries(endpoint, timeout), "clip-inference", read_timeout_s=1)
        started = time.monotonic()
        with pytest.raises(RequestError) as error:
            clip.embed("text", "a cat", SecondsLeft(60))
        took = time.monotonic() - started
    assert error.value.status == 504
    assert "did not answer within 1 s" in error.value.message
    assert len(calls) == 1  # a read timeout is never retried
    assert took < 2.5


def test_an_unreachable_endpoint_is_retried_then_a_502():
    clip = ClipClient(
        lambda timeout: no_retries("http://127.0.0.1:9", timeout),  # discard port: nothing listens
        "clip-inference",
        read_timeout_s=5,
        sleep=lambda _: None,
    )
    with pytest.raises(RequestError) as error:
        clip.embed("text", "a cat", SecondsLeft(60))
    assert error.value.status == 502
    assert "EndpointConnectionError" in error.value.message
