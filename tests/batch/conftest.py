"""Fixtures of the batch tests: a video's frames in moto S3, the batch and CLIP handlers."""

from __future__ import annotations

import io
import json
from collections import Counter
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from clipsearch.cache.store import PackedVideo
from tests.conftest import BUCKET, FakeLambdaContext
from tests.sample_images import frame_bytes

VIDEO = "4f2a9c0e5b7d81aa"
FRAMES = {f"frames/{VIDEO}/frame_{i:06d}.{'jpg' if i % 3 == 2 else 'webp'}": i for i in range(7)}


class Countdown(FakeLambdaContext):
    """A context whose remaining time runs out after `checks` looks at the clock."""

    def __init__(self, checks: int) -> None:
        super().__init__(function_name="clip-batch-embed")
        self.checks = checks

    def get_remaining_time_in_millis(self) -> int:
        self.checks -= 1
        return 600_000 if self.checks >= 0 else 2_000


def put_frames(s3: Any) -> None:
    for key, seed in FRAMES.items():
        s3.put_object(
            Bucket=BUCKET, Key=key, Body=frame_bytes(seed, "JPEG" if key.endswith("jpg") else "WEBP")
        )


@pytest.fixture
def video(s3) -> str:
    put_frames(s3)
    return VIDEO


@pytest.fixture
def batch_app(video, batch_handler) -> ModuleType:
    return batch_handler(BATCH_SIZE="3", PREFETCH="4")


@pytest.fixture
def clip_app(video, clip_app) -> ModuleType:  # with the video's frames in S3
    return clip_app


@pytest.fixture
def puts(batch_app) -> Counter[str]:
    """Every PutObject the batch function makes, by key."""
    counts: Counter[str] = Counter()
    batch_app.service.s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: counts.update([params["Key"]])
    )
    return counts


def invoke(app: ModuleType, event: Any, context: Any | None = None) -> tuple[int, Any]:
    result = app.handler(event, context or FakeLambdaContext(function_name="clip-batch-embed"))
    return result["statusCode"], json.loads(result["body"])


def load_npy(s3, key: str) -> np.ndarray:
    return np.load(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()), allow_pickle=False)


def packed(s3) -> PackedVideo:
    return PackedVideo.from_bytes(
        s3.get_object(Bucket=BUCKET, Key=f"embeddings-cache/{VIDEO}/packed.npz")["Body"].read()
    )


def sqs_event(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"r{index}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-southeast-1:000000000000:backfill",
                "awsRegion": "ap-southeast-1",
            }
            for index, body in enumerate(bodies)
        ]
    }
