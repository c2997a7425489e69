"""The search function against moto S3 + DynamoDB, calling the CLIP and batch functions through a
real boto3 Lambda client served by the local Invoke endpoint (the handlers run in-process)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import numpy as np
import pytest

from clipsearch.cache.store import CacheStore, PackedVideo
from local.event_sources import SqsEventSource
from local.lambda_server import LocalFunction, LocalLambda, serve
from tests.conftest import BUCKET, REGION, TABLE, fresh_handler


@dataclass
class Recorder:
    """Wraps a handler and remembers every event it was invoked with."""

    handler: Callable[[Any, Any], Any]
    events: list[Any] = field(default_factory=list)

    def __call__(self, event: Any, context: Any) -> Any:
        self.events.append(event)
        return self.handler(event, context)


@dataclass
class SearchWorld:
    app: ModuleType
    clip: ModuleType
    batch: ModuleType
    s3: Any
    dynamodb: Any
    local: LocalLambda
    batch_calls: Recorder
    clip_calls: Recorder
    queue: SqsEventSource  # the work queue's event source mapping, driven by the test
    backend: str  # the index backend: "memory" or "s3vectors"

    def drain(self) -> None:
        """Run the batch function on everything queued so far, as its event source mapping would."""
        while self.queue.poll():
            pass

    def batched_videos(self) -> list[str]:
        """The video of every request the batch function ran, in order (direct or from the queue)."""
        videos = []
        for event in self.batch_calls.events:
            requests = [json.loads(r["body"]) for r in event["Records"]] if "Records" in event else [event]
            videos += [request["video_id"] for request in requests]
        return videos

    def add_video(
        self,
        video_id: str,
        *,
        status: str = "processed",
        fps: float | None = 30,
        step: int | None = 15,
        frames_count: int | None = None,
    ):
        item: dict[str, Any] = {"video_id": {"S": video_id}, "status": {"S": status}}
        if frames_count is not None:
            item["frames_count"] = {"N": str(frames_count)}
        if fps is not None:
            item["video_fps"] = {"N": str(fps)}
        if step is not None:
            item["frame_step"] = {"N": str(step)}
        self.dynamodb.put_item(TableName=TABLE, Item=item)

    def pack(
        self,
        video_id: str,
        vectors: np.ndarray,
        *,
        model: str | None = None,
        frame_ids: list[str] | None = None,
    ):
        frame_ids = frame_ids or [f"frame_{i:06d}" for i in range(len(vectors))]
        packed = PackedVideo(
            video_id=video_id,
            model=model or self.model_id,
            dim=vectors.shape[1],
            created_at=0.0,
            frame_ids=frame_ids,
            frame_keys=[f"frames/{video_id}/{frame_id}.webp" for frame_id in frame_ids],
            vectors=vectors.astype(np.float16),
        )
        store = CacheStore(self.s3, BUCKET)
        etag = store.write_packed(packed, replacing=store.read_packed(video_id).etag)
        if self.backend == "s3vectors":  # what batch does after packing
            self.batch.service.index.sync(packed, etag, {})
        return packed

    @property
    def model_id(self) -> str:
        return str(self.clip.service.embedder().model_id)

    def search(self, request: Any, context: Any) -> tuple[int, dict[str, Any]]:
        result = self.app.handler(request, context)
        return result["statusCode"], json.loads(result["body"])


def unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    # Stored as float16 in the cache: round first so the oracle sees exactly what the search sees.
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float16).astype(np.float32)


BACKENDS = ("memory", "s3vectors")


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest) -> SearchWorld:
    """The search function on either index backend: a test using it holds for both."""
    return request.getfixturevalue(f"{request.param}_world")


@pytest.fixture
def memory_world(s3, tiny_runtime_dir, work_queue, videos_table, monkeypatch) -> Iterator[SearchWorld]:
    yield from _world("memory", {}, tiny_runtime_dir, work_queue, videos_table, s3, monkeypatch)


# For what only the memory backend has (per-frame files, the held shelf, its S3 reads).
memory_only = pytest.mark.parametrize("world", ["memory"], indirect=True)


@pytest.fixture
def s3vectors_world(
    s3, tiny_runtime_dir, work_queue, videos_table, vector_index, monkeypatch
) -> Iterator[SearchWorld]:
    yield from _world("s3vectors", vector_index, tiny_runtime_dir, work_queue, videos_table, s3, monkeypatch)


def _world(
    backend: str, backend_env: dict[str, str], tiny_runtime_dir, work_queue, dynamodb, s3, monkeypatch
) -> Iterator[SearchWorld]:
    common = {
        "BUCKET_NAME": BUCKET,
        "MODEL_DIR": str(tiny_runtime_dir),
        "VIDEOS_TABLE": TABLE,
        "WORK_QUEUE_URL": work_queue,
        "REFILL_BUDGET_MS": "60000",  # what is queued, not how fast (tests/search/test_refill_budget.py)
        **backend_env,
    }
    monkeypatch.delenv("INDEX_BACKEND", raising=False)
    clip = fresh_handler("lambda_clip.app", monkeypatch, **common)
    batch = fresh_handler("lambda_batch.app", monkeypatch, **common)
    clip_calls, batch_calls = Recorder(clip.handler), Recorder(batch.handler)
    local = LocalLambda(
        [
            LocalFunction("clip-inference", clip_calls, timeout_s=120),
            LocalFunction("clip-batch-embed", batch_calls),
        ]
    )
    with serve(local) as endpoint:
        app = fresh_handler(
            "lambda_search.app",
            monkeypatch,
            **common,
            AWS_ENDPOINT_URL_LAMBDA=endpoint,
            CLIP_FUNCTION_NAME="clip-inference",
        )
        queue = SqsEventSource(
            boto3.client("sqs", region_name=REGION), work_queue, local, "clip-batch-embed", region=REGION
        )
        yield SearchWorld(app, clip, batch, s3, dynamodb, local, batch_calls, clip_calls, queue, backend)
