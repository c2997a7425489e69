"""Fixtures shared by the handler tests: a tiny CLIP model, AWS fakes, a Lambda context."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

# Never reach a real AWS account or the Hugging Face Hub from a test.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-1",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "ClipFrameSearchTest",
        "POWERTOOLS_SERVICE_NAME": "test",
    }
)
os.environ.pop("AWS_PROFILE", None)


@dataclass
class FakeLambdaContext:
    function_name: str = "clip-inference"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:ap-southeast-1:123456789012:function:clip-inference"
    aws_request_id: str = "test-request-0001"
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from local.tiny_clip import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


BUCKET = "totgo1"
REGION: Final = "ap-southeast-1"


# Lambda Invoke goes to the local endpoint (local/lambda_server.py), not to moto's Lambda.
MOTO_CONFIG: Any = {"core": {"passthrough": {"services": ["lambda"]}}}


@pytest.fixture
def s3() -> Iterator[Any]:
    """Moto S3 with the frame bucket (and a foreign one, for the ugly cases)."""
    with mock_aws(config=MOTO_CONFIG):
        client = boto3.client("s3", region_name=REGION)
        for name in (BUCKET, "someone-else"):
            client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


WORK_QUEUE = "clip-frame-search-work.fifo"


@pytest.fixture
def work_queue(s3) -> str:
    """The work queue in moto: SQS FIFO with a dead-letter queue after 3 receives (the stack's)."""
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="clip-frame-search-work-dlq.fifo", Attributes={"FifoQueue": "true"})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]
    redrive = {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": 3}
    attributes = {"FifoQueue": "true", "VisibilityTimeout": "2", "RedrivePolicy": json.dumps(redrive)}
    return str(sqs.create_queue(QueueName=WORK_QUEUE, Attributes=attributes)["QueueUrl"])


def fresh_handler(module_name: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """A handler module imported anew with the function's environment, as a cold start does."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(importlib.import_module(module_name))
