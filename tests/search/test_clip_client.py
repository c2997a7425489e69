"""The search function's CLIP calls when Lambda itself fails: throttled, timed out, unreachable."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from clipsearch.clip_client import ClipClient
from clipsearch.errors import RequestError


@pytest.fixture
def lambda_client():
    return boto3.client("lambda", region_name="ap-southeast-1", config=Config(retries={"max_attempts": 1}))


def test_throttling_after_retries_is_a_502(lambda_client):
    with Stubber(lambda_client) as stub:
        stub.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded", http_status_code=429)
        with pytest.raises(RequestError) as error:
            ClipClient(lambda_client, "clip-inference").embed("text", "a cat")
    assert error.value.status == 502
    assert error.value.message == "the CLIP function failed: TooManyRequestsException: Rate exceeded"


def test_a_timeout_is_a_502(lambda_client, monkeypatch):
    def time_out(**_):
        raise ReadTimeoutError(endpoint_url="https://lambda.ap-southeast-1.amazonaws.com")

    monkeypatch.setattr(lambda_client, "invoke", time_out)
    with pytest.raises(RequestError) as error:
        ClipClient(lambda_client, "clip-inference").embed("text", "a cat")
    assert error.value.status == 502
    assert "ReadTimeoutError" in error.value.message


def test_an_unreachable_endpoint_is_a_502():
    client = boto3.client(
        "lambda",
        region_name="ap-southeast-1",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(RequestError) as error:
        ClipClient(client, "clip-inference").embed("text", "a cat")
    assert error.value.status == 502
    assert "EndpointConnectionError" in error.value.message
