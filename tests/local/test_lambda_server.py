"""The local Lambda Invoke endpoint, driven by a real boto3 Lambda client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from local.lambda_server import LocalFunction, LocalLambda, serve


class Echo:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.done = threading.Event()

    def __call__(self, event: Any, context: Any) -> Any:
        self.events.append(event)
        self.done.set()
        return {
            "echo": event,
            "function": context.function_name,
            "left_ms": context.get_remaining_time_in_millis(),
        }


def explode(event: Any, context: Any) -> Any:
    raise ValueError("bad frame")


@pytest.fixture
def endpoint() -> Iterator[tuple[Any, Echo, LocalLambda]]:
    echo = Echo()
    local = LocalLambda([LocalFunction("echo", echo, timeout_s=30), LocalFunction("explode", explode)])
    with serve(local) as url:
        client = boto3.client(
            "lambda",
            endpoint_url=url,
            region_name="ap-southeast-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 1}),
        )
        yield client, echo, local


def test_request_response_returns_the_handlers_payload(endpoint):
    client, _, _ = endpoint
    response = client.invoke(FunctionName="echo", Payload=json.dumps({"mode": "text"}).encode())
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    payload = json.loads(response["Payload"].read())
    assert payload["echo"] == {"mode": "text"}
    assert payload["function"] == "echo"
    assert 0 < payload["left_ms"] <= 30_000


def test_a_function_arn_works_like_its_name(endpoint):
    client, _, _ = endpoint
    arn = "arn:aws:lambda:ap-southeast-1:000000000000:function:echo"
    assert client.invoke(FunctionName=arn, Payload=b"{}")["StatusCode"] == 200


def test_event_returns_202_and_runs_the_handler(endpoint):
    client, echo, local = endpoint
    response = client.invoke(FunctionName="echo", InvocationType="Event", Payload=b'{"video_id": "v1"}')
    assert response["StatusCode"] == 202
    assert echo.done.wait(timeout=10)
    local.wait_for_events()
    assert echo.events == [{"video_id": "v1"}]


def test_dry_run_checks_without_running(endpoint):
    client, echo, _ = endpoint
    assert client.invoke(FunctionName="echo", InvocationType="DryRun")["StatusCode"] == 204
    assert echo.events == []


def test_unknown_function_is_resource_not_found(endpoint):
    client, _, _ = endpoint
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="Function not found"):
        client.invoke(FunctionName="nope", Payload=b"{}")


def test_a_handler_exception_is_a_function_error(endpoint):
    client, _, _ = endpoint
    response = client.invoke(FunctionName="explode", Payload=b"{}")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "bad frame"
    assert payload["stackTrace"]


def test_async_payloads_over_256_kb_are_refused(endpoint):
    client, echo, _ = endpoint
    big = json.dumps({"x": "a" * 300_000}).encode()
    with pytest.raises(client.exceptions.RequestTooLargeException):
        client.invoke(FunctionName="echo", InvocationType="Event", Payload=big)
    assert echo.events == []


def test_a_failing_async_event_is_retried_twice_then_sent_to_the_failure_destination():
    calls: list[Any] = []
    failures: list[dict[str, Any]] = []

    def flaky(event: Any, context: Any) -> Any:
        calls.append(event)
        raise RuntimeError("S3 is down")

    local = LocalLambda([LocalFunction("flaky", flaky, on_failure=failures.append)])
    with serve(local) as url:
        client = boto3.client(
            "lambda",
            endpoint_url=url,
            region_name="ap-southeast-1",
            config=Config(retries={"max_attempts": 1}),
        )
        assert (
            client.invoke(FunctionName="flaky", InvocationType="Event", Payload=b'{"video_id": "v"}')[
                "StatusCode"
            ]
            == 202
        )
        local.wait_for_events()
    assert calls == [{"video_id": "v"}] * 3  # the first try and Lambda's two retries
    (record,) = failures
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"video_id": "v"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "S3 is down"


def test_an_async_event_that_succeeds_on_a_retry_is_not_a_failure():
    outcomes = iter([RuntimeError("throttled"), None])
    failures: list[dict[str, Any]] = []

    def once_flaky(event: Any, context: Any) -> Any:
        error = next(outcomes)
        if error:
            raise error
        return {"ok": True}

    local = LocalLambda([LocalFunction("f", once_flaky, on_failure=failures.append)])
    local.run_later("f", b"{}")
    local.wait_for_events()
    local.close()
    assert failures == []


def test_a_caller_that_stops_waiting_is_no_error_and_the_endpoint_keeps_serving(capfd):
    finished = threading.Event()

    def slow(event: Any, context: Any) -> Any:
        time.sleep(1)
        finished.set()
        return {}

    local = LocalLambda([LocalFunction("slow", slow, timeout_s=30), LocalFunction("echo", Echo())])
    with serve(local) as url:

        def client(read_timeout: float) -> Any:
            return boto3.client(
                "lambda", endpoint_url=url, region_name="ap-southeast-1", aws_access_key_id="local",
                aws_secret_access_key="local",
                config=Config(retries={"max_attempts": 1}, read_timeout=read_timeout),
            )  # fmt: skip

        with pytest.raises(ReadTimeoutError):
            client(0.2).invoke(FunctionName="slow", Payload=b"{}")
        assert finished.wait(timeout=10)
        time.sleep(0.2)  # the answer's write to the closed connection
        assert client(10).invoke(FunctionName="echo", Payload=b"{}")["StatusCode"] == 200
    # as Lambda does, the answer nobody waits for is dropped: no traceback from the server
    assert "Traceback" not in capfd.readouterr().err
