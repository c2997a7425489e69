"""The extraction function as Lambda runs it, on moto: the bucket, the `videos` table, the work
queue and the ingest queue, with S3's event notifications built as S3 sends them."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from local.sample_video import Format, Shot, bicycle, boat, encode_shots, street
from tests.conftest import BUCKET, REGION, TABLE, FakeLambdaContext, fresh_handler

INGEST_QUEUE = "clip-frame-search-ingest"
FPS = 10
# Three shots of 2 s at 10 fps: sampled at 1 frame a second, frames 0-1, 2-3, 4-5, cuts at 2 and 4.
SHOTS = [Shot(bicycle, 20), Shot(boat, 20), Shot(street, 20)]


@pytest.fixture(scope="module")
def video() -> bytes:
    """Three shots of 2 s at 10 fps: sampled at 1 frame a second, frames 0-1, 2-3, 4-5, cuts at 2 and 4."""
    return encode_shots(SHOTS, fps=FPS, fmt=Format(gop=5))


@pytest.fixture
def ingest_queue(s3) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    return str(sqs.create_queue(QueueName=INGEST_QUEUE, Attributes={"VisibilityTimeout": "1"})["QueueUrl"])


@pytest.fixture
def extract_handler(
    videos_table, work_queue: str, ingest_queue: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModuleType]:
    """`make(**overrides)`: the extraction handler imported as Lambda does, with the stack's environment."""

    def make(**overrides: str) -> ModuleType:
        environment = {
            "BUCKET_NAME": BUCKET,
            "VIDEOS_TABLE": TABLE,
            "WORK_QUEUE_URL": work_queue,
            "INGEST_QUEUE_URL": ingest_queue,
            "EXTRACT_MAX_SIDE": "320",
        }
        return fresh_handler("lambda_extract.app", monkeypatch, **(environment | overrides))

    return make


def s3_event(name: str, key: str, *, etag: str | None = None, size: int = 0) -> dict[str, Any]:
    """An S3 event notification as S3 sends it to a queue (the key URL-encoded)."""
    obj: dict[str, Any] = {"key": urllib.parse.quote_plus(key), "size": size, "sequencer": "0062"}
    if etag is not None:
        obj["eTag"] = etag
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventName": name,
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": BUCKET}, "object": obj},
            }
        ]
    }


def sqs_event(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{number}",
                "receiptHandle": f"r{number}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{INGEST_QUEUE}",
                "awsRegion": REGION,
            }
            for number, body in enumerate(bodies)
        ]
    }


def upload(s3: Any, key: str, data: bytes) -> dict[str, Any]:
    """Put the file, and the event S3 sends for it."""
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
    return s3_event("ObjectCreated:Put", key, etag=etag, size=len(data))


def run(app: ModuleType, *bodies: Any, remaining_ms: int = 600_000) -> dict[str, Any]:
    """The handler on an SQS batch of these message bodies; its response."""
    context = FakeLambdaContext(function_name="clip-extract", remaining_ms=remaining_ms)
    return dict(app.handler(sqs_event(*bodies), context))


def drain(sqs: Any, queue_url: str) -> list[Any]:
    """Every message body on the queue, deleted."""
    bodies: list[Any] = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
