"""The emulated Pipe and SQS event source mapping pin AWS's semantics (moto runs SQS and DynamoDB
Streams; it runs neither Pipes nor event source mappings)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from clipsearch.work.messages import STREAM_FILTERS, WorkItem
from local.event_sources import SqsEventSource, StreamPipe, deduplicate_like_sqs, matches, pipe_message
from local.lambda_server import LocalFunction, LocalLambda
from tests.conftest import REGION


def record(event_name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    def image(values: dict[str, Any]) -> dict[str, Any]:
        return {k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in values.items()}

    dynamodb: dict[str, Any] = {"Keys": {"video_id": {"S": "v"}}}
    if new is not None:
        dynamodb["NewImage"] = image({"video_id": "v", **new})
    if old is not None:
        dynamodb["OldImage"] = image({"video_id": "v", **old})
    return {"eventName": event_name, "dynamodb": dynamodb}


@pytest.mark.parametrize(
    ("change", "wanted"),
    [
        (record("INSERT", {"status": "processed", "frames_count": 3}), True),
        (record("INSERT", {"status": "processing"}), False),
        (record("MODIFY", {"status": "processed"}, {"status": "processing"}), True),
        (record("MODIFY", {"status": "processed"}, {}), True),  # a status where there was none
        (
            record(
                "MODIFY",
                {"status": "processed", "frames_count": 5},
                {"status": "processed", "frames_count": 3},
            ),
            True,
        ),
        (record("MODIFY", {"status": "processing", "frames_count": 2}, {"status": "processing"}), False),
        (record("MODIFY", {"status": "failed"}, {"status": "processing"}), False),
        (record("MODIFY", {"status": "processing"}, {"status": "processed"}), False),
        (record("REMOVE", None, {"status": "processed"}), False),
    ],
)
def test_the_stream_filter_keeps_only_videos_that_became_processed_or_changed(change, wanted):
    assert any(matches(pattern, change) for pattern in STREAM_FILTERS) is wanted


def test_event_pattern_operators():
    assert matches({"a": [{"anything-but": ["x"]}]}, {"a": "y"})
    assert not matches({"a": [{"anything-but": ["x"]}]}, {})  # anything-but needs the field
    assert matches({"a": [{"exists": False}]}, {})
    assert matches({"a": [{"prefix": "fr"}]}, {"a": "frames"})
    assert matches({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, {"b": "2"})
    assert matches({"a": ["x"]}, {"a": ["y", "x"]})  # a list value matches any of its items
    assert not matches({"a": {"b": ["x"]}}, {"a": "x"})


@pytest.fixture
def aws(videos_table) -> dict[str, Any]:
    """Moto's SQS (a FIFO work queue with a dead-letter queue) and a table with a stream."""
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="work-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="work.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
        },
    )["QueueUrl"]
    return {
        "sqs": sqs,
        "queue": queue,
        "dlq": dlq,
        "dynamodb": videos_table,
        "stream": videos_table.describe_table(TableName="videos")["Table"]["LatestStreamArn"],
    }


def bodies(sqs: Any, queue: str) -> list[Any]:
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_the_pipe_sends_each_matching_record_once_and_a_retried_record_collapses(aws):
    deduplicate_like_sqs()

    def pipe() -> StreamPipe:
        return StreamPipe(
            boto3.client("dynamodbstreams", region_name=REGION),
            aws["stream"],
            aws["sqs"],
            aws["queue"],
            filters=STREAM_FILTERS,
            message=pipe_message,
        )

    reading = pipe()
    put = aws["dynamodb"].put_item
    put(TableName="videos", Item={"video_id": {"S": "a"}, "status": {"S": "processing"}})
    put(TableName="videos", Item={"video_id": {"S": "b"}, "status": {"S": "failed"}})
    put(
        TableName="videos",
        Item={"video_id": {"S": "a"}, "status": {"S": "processed"}, "frames_count": {"N": "3"}},
    )
    put(
        TableName="videos",
        Item={"video_id": {"S": "c"}, "status": {"S": "processed"}, "frames_count": {"N": "1"}},
    )
    put(
        TableName="videos",
        Item={"video_id": {"S": "c"}, "status": {"S": "processed"}, "frames_count": {"N": "2"}},
    )
    assert reading.poll() == 3
    assert reading.filtered_out == 2
    # two changes of "c" are two messages (issue #22.3: the record names the change, not the video)
    assert sorted(body["video_id"] for body in bodies(aws["sqs"], aws["queue"])) == ["a", "c", "c"]
    assert reading.poll() == 0  # the iterator moved on: nothing is sent twice
    assert pipe().poll() == 3  # a Pipe reading the same records again (a retry) sends them again ...
    counts = aws["sqs"].get_queue_attributes(
        QueueUrl=aws["queue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert sum(int(count) for count in counts.values()) == 3  # ... and SQS drops them: the same records


def sqs_source(aws, handler, batch_size=10) -> tuple[SqsEventSource, list[Any]]:
    events: list[Any] = []

    def recording(event, context):
        events.append(event)
        return handler(event, context)

    local = LocalLambda([LocalFunction("batch", recording)])
    return SqsEventSource(
        aws["sqs"], aws["queue"], local, "batch", batch_size=batch_size, region=REGION
    ), events


def send(aws, *video_ids: str) -> None:
    for video_id in video_ids:
        item = WorkItem(video_id)
        aws["sqs"].send_message(
            QueueUrl=aws["queue"],
            MessageBody=item.body(),
            MessageGroupId=item.group_id(),
            MessageDeduplicationId=item.dedup_id(),
        )


def test_the_event_source_deletes_what_succeeded_and_keeps_reported_failures(aws):
    def fail_b(event, context):
        failures = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["video_id"] == "b"]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}

    source, events = sqs_source(aws, fail_b)
    send(aws, "a", "b", "c")
    assert source.poll() == 3
    assert {r["eventSource"] for r in events[0]["Records"]} == {"aws:sqs"}
    assert source.poll() == 0  # "b" is invisible until its visibility timeout ends
    time.sleep(1.1)
    assert source.poll() == 1
    assert [json.loads(r["body"])["video_id"] for r in events[-1]["Records"]] == ["b"]
    time.sleep(1.1)
    assert source.poll() == 1  # "b" failed again; "a" and "c" were deleted
    assert [json.loads(r["body"])["video_id"] for r in events[-1]["Records"]] == ["b"]


def test_a_message_that_keeps_failing_lands_in_the_dead_letter_queue_after_its_retries(aws):
    def explode(event, context):
        raise RuntimeError("S3 is down")

    source, events = sqs_source(aws, explode, batch_size=1)
    send(aws, "a")
    for _ in range(3):  # maxReceiveCount
        assert source.poll() == 1
        time.sleep(1.1)
    assert source.poll() == 0
    assert len(events) == 3
    assert bodies(aws["sqs"], aws["dlq"]) == [{"video_id": "a"}]


def test_batch_size_bounds_each_invocation(aws):
    source, events = sqs_source(aws, lambda event, context: {"batchItemFailures": []}, batch_size=2)
    send(aws, "a", "b", "c")
    while source.poll():
        pass
    assert [len(event["Records"]) for event in events] == [2, 1] or [len(e["Records"]) for e in events] == [
        1,
        1,
        1,
    ]


def test_a_deduplication_id_is_remembered_after_its_message_was_deleted(aws):
    deduplicate_like_sqs()
    source, events = sqs_source(aws, lambda event, context: {"batchItemFailures": []})
    send(aws, "a")
    assert source.poll() == 1  # received and deleted
    send(aws, "a")  # within 5 minutes: accepted, never delivered (moto alone would deliver it)
    assert source.poll() == 0
    assert len(events) == 1
