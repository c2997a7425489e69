"""Issue #12 in the batch function: a long video split into chunks that run side by side and make
one packed object; the sweep queues exactly the videos that need it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from types import ModuleType
from typing import Any

import boto3
import numpy as np
import pytest

from clipsearch.cache.store import CacheStore
from clipsearch.work.messages import STREAM_FILTERS, WorkItem
from clipsearch.work.queue import WorkQueue
from local.event_sources import SqsEventSource, StreamPipe, pipe_message
from local.lambda_server import LocalFunction, LocalLambda
from tests.batch.conftest import FRAMES, VIDEO, invoke, packed
from tests.conftest import BUCKET, REGION, FakeLambdaContext
from tests.sample_images import frame_bytes


@pytest.fixture
def chunky(video, batch_handler) -> ModuleType:
    """The batch function with a chunk size of 3 frames (the stack derives it from the timeout)."""
    return batch_handler(CHUNK_FRAMES="3")


def queue_source(app: ModuleType, work_queue: str) -> tuple[SqsEventSource, list[Any]]:
    requests: list[Any] = []

    def handler(event: Any, context: Any) -> Any:
        requests.extend(json.loads(record["body"]) for record in event["Records"])
        return app.handler(event, context)

    local = LocalLambda([LocalFunction("batch", handler)], region=REGION)
    return SqsEventSource(
        boto3.client("sqs", region_name=REGION), work_queue, local, "batch", batch_size=10, region=REGION
    ), requests


def test_a_long_video_runs_as_chunks_and_is_packed_once(chunky, s3, work_queue):
    puts: Counter[str] = Counter()
    chunky.service.s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: puts.update([params["Key"]])
    )
    # GIVEN the video queued as a whole (as the stream does), so SQS's deduplication is in play
    WorkQueue(boto3.client("sqs", region_name=REGION), work_queue).send([WorkItem(VIDEO)])
    source, requests = queue_source(chunky, work_queue)
    while source.poll():
        pass
    assert requests[0] == {"video_id": VIDEO}  # split into three chunks
    ranges = [tuple(r["frame_range"]) for r in requests if "frame_range" in r]
    assert ranges == [
        ("frame_000000", "frame_000002"),
        ("frame_000003", "frame_000005"),
        ("frame_000006", "frame_000006"),
    ]
    (run,) = {r["run"] for r in requests if "frame_range" in r}  # the splitting message's id
    assert requests[-1] == {"video_id": VIDEO, "run": run}  # the last chunk asked for the pack, and it came
    assert len(requests) == 5
    npy = [key for key in puts if key.endswith(".npy")]
    assert len(npy) == len(set(npy)) == len(FRAMES)  # each frame embedded once
    assert puts[f"embeddings-cache/{VIDEO}/packed.npz"] == 1  # written once, when all were done
    assert len(packed(s3).frame_ids) == len(FRAMES)


def test_a_chunk_embeds_only_its_range(chunky, s3):
    status, result = invoke(chunky, {"video_id": VIDEO, "frame_range": ["frame_000002", "frame_000004"]})
    assert (status, result["status"], result["embedded"]) == (200, "complete", 3)
    assert CacheStore(s3, BUCKET).list_frames(VIDEO).keys() == {
        "frame_000002",
        "frame_000003",
        "frame_000004",
    }


@pytest.mark.parametrize("frame_range", [["b", "a"], ["frame_000001"], "frame_000001", ["../x", "y"], [1, 2]])
def test_a_bad_frame_range_is_a_400(chunky, frame_range):
    status, body = invoke(chunky, {"video_id": VIDEO, "frame_range": frame_range})
    assert status == 400
    assert "frame_range must be" in body["error"]


def add(dynamodb, video_id: str, status: str, frames_count: int | None = None) -> None:
    item: dict[str, Any] = {"video_id": {"S": video_id}, "status": {"S": status}}
    if frames_count is not None:
        item["frames_count"] = {"N": str(frames_count)}
    dynamodb.put_item(TableName="videos", Item=item)


def test_the_sweep_queues_exactly_the_videos_that_need_it(batch_app, s3, work_queue, videos_table):
    dynamodb = videos_table
    invoke(batch_app, {"video_id": VIDEO})  # packed: covers its 7 frames
    add(dynamodb, VIDEO, "processed", len(FRAMES))
    add(dynamodb, "never-built", "processed", 4)
    add(dynamodb, "grew-since", "processed", 9)
    s3.copy_object(  # a packed object of 7 frames for a video that now has 9
        Bucket=BUCKET,
        Key="embeddings-cache/grew-since/packed.npz",
        CopySource={"Bucket": BUCKET, "Key": f"embeddings-cache/{VIDEO}/packed.npz"},
    )
    add(dynamodb, "still-extracting", "processing", 2)
    add(dynamodb, "no-count", "processed")
    s3.copy_object(
        Bucket=BUCKET,
        Key="embeddings-cache/no-count/packed.npz",
        CopySource={"Bucket": BUCKET, "Key": f"embeddings-cache/{VIDEO}/packed.npz"},
    )
    status, report = invoke(batch_app, {"sweep": True})
    assert status == 200
    assert report == {"videos": 4, "queued": ["grew-since", "never-built"], "failed": [], "removed": []}
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=work_queue, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["video_id"] for m in messages) == ["grew-since", "never-built"]


# Issue #22.3: a deduplication id names the change, not the video.


def test_a_change_made_seconds_after_a_completed_run_is_queued_and_processed(
    batch_app, s3, videos_table, work_queue
):
    pipe = StreamPipe(
        boto3.client("dynamodbstreams", region_name=REGION),
        videos_table.describe_table(TableName="videos")["Table"]["LatestStreamArn"],
        boto3.client("sqs", region_name=REGION),
        work_queue,
        filters=STREAM_FILTERS,
        message=pipe_message,
    )
    source, requests = queue_source(batch_app, work_queue)
    add(videos_table, VIDEO, "processed", len(FRAMES))
    assert (pipe.poll(), source.poll()) == (1, 1)
    assert len(packed(s3).frame_ids) == len(FRAMES)  # the run completed
    # seconds later the extractor uploads one more frame and says so
    s3.put_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/frame_000007.webp", Body=frame_bytes(70))
    add(videos_table, VIDEO, "processed", len(FRAMES) + 1)
    assert pipe.poll() == 1
    while source.poll():
        pass
    assert len(requests) == 2  # delivered, not dropped as a duplicate of the first
    assert len(packed(s3).frame_ids) == len(FRAMES) + 1


def test_a_second_split_within_minutes_is_packed_too(chunky, s3, work_queue):
    source, _ = queue_source(chunky, work_queue)
    status, result = invoke(chunky, {"video_id": VIDEO}, FakeLambdaContext(aws_request_id="first"))
    assert (status, result["status"]) == (200, "split")
    while source.poll():
        pass
    assert len(packed(s3).frame_ids) == len(FRAMES)
    for index in range(7, 11):  # seconds later, four more frames: more than a chunk again
        s3.put_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/frame_{index:06d}.webp", Body=frame_bytes(index))
    status, result = invoke(chunky, {"video_id": VIDEO}, FakeLambdaContext(aws_request_id="second"))
    assert (status, result["status"], result["chunks"]) == (200, "split", 2)
    while source.poll():
        pass
    assert len(packed(s3).frame_ids) == len(FRAMES) + 4  # its chunks asked for the pack, and it came


def test_a_split_video_is_packed_whatever_its_chunks_rejected(chunky, s3, work_queue):
    corrupt = f"frames/{VIDEO}/frame_000004.webp"  # in the second chunk: the others never see it
    s3.put_object(Bucket=BUCKET, Key=corrupt, Body=b"not an image")
    source, _ = queue_source(chunky, work_queue)
    WorkQueue(boto3.client("sqs", region_name=REGION), work_queue).send([WorkItem(VIDEO)])
    while source.poll():
        pass
    done = packed(s3)  # issue #22.4: the last chunk done asked for the pack
    assert len(done.frame_ids) == len(FRAMES) - 1
    assert [r.key for r in done.rejected] == [corrupt]  # recorded: not tried again while unchanged


@pytest.mark.parametrize("frame_cache", ["per-frame", "packed"])
def test_force_reaches_every_chunk_of_a_split_video(frame_cache, video, batch_handler, s3, work_queue):
    app = batch_handler(CHUNK_FRAMES="3", FRAME_CACHE=frame_cache)
    source, _ = queue_source(app, work_queue)
    invoke(app, {"video_id": VIDEO}, FakeLambdaContext(aws_request_id="first"))
    while source.poll():
        pass
    fresh = packed(s3)
    # the packed object's vectors went wrong since (a model fixed under the same id, say)
    store = CacheStore(s3, BUCKET)
    store.write_packed(
        replace(fresh, vectors=np.roll(fresh.vectors, 1, axis=0)), replacing=store.read_packed(VIDEO).etag
    )
    puts: Counter[str] = Counter()
    app.service.s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: puts.update([params["Key"]])
    )
    status, result = invoke(
        app, {"video_id": VIDEO, "force": True}, FakeLambdaContext(aws_request_id="again")
    )
    assert (status, result["status"]) == (200, "split")
    while source.poll():
        pass
    npy = sorted(key for key in puts if key.endswith(".npy"))
    every_frame = sorted(f"embeddings-cache/{VIDEO}/frame_{i:06d}.npy" for i in range(len(FRAMES)))
    assert npy == (every_frame if frame_cache == "per-frame" else [])  # packed: the chunks' own objects
    assert puts[f"embeddings-cache/{VIDEO}/packed.npz"] == 1  # packed again, from what was re-embedded
    np.testing.assert_array_equal(packed(s3).vectors, fresh.vectors)


@pytest.mark.parametrize(
    "request_",
    [
        {"frame_range": ["a", "b"], "run": "r"},  # a chunk of a run says how many chunks it has
        {"frame_range": ["a", "b"], "chunks": 2},
        {"run": "r", "chunks": 2},
        {"frame_range": ["a", "b"], "run": "r", "chunks": True},
        {"run": "../x"},
        {"frames_count": 2**63},
        {"frames_count": "7"},
    ],
)
def test_a_malformed_run_or_count_is_a_400(chunky, request_):
    status, body = invoke(chunky, {"video_id": VIDEO, **request_})
    assert status == 400, body
