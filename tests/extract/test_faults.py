"""The extraction function when a service around it fails (after botocore's retries): the message is
reported as a batch item failure (SQS redelivers it, then the dead-letter queue keeps it), the claim
is let go so the redelivery need not wait for it to go stale, and the redelivery finishes the job
exactly as an undisturbed run would. A denial is never taken for a deleted upload."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from clipsearch.layout import upload_video_id
from tests.conftest import BUCKET, REGION
from tests.extract.conftest import drain, run, s3_event, upload
from tests.extract.test_function import frame_keys, row, twelve_seconds
from tests.faults import Outage

pytestmark = pytest.mark.unit

KEY = "uploads/a.mp4"


def video_id_of(event: dict[str, Any]) -> str:
    return upload_video_id(BUCKET, KEY, event["Records"][0]["s3"]["object"]["eTag"])


def s3_of(app: Any) -> Any:
    return app.service.s3


def dynamodb_of(app: Any) -> Any:
    return app.service.rows.dynamodb


def sqs_of(app: Any) -> Any:
    return app.service.ingest.sqs


FAULTS = {
    "a frame's PUT (S3 SlowDown)": (s3_of, "PutObject", "SlowDown", 503, "frame_000003"),
    "the video's ranged GET (S3 InternalError)": (s3_of, "GetObject", "InternalError", 500, KEY),
    "the row's completion (DynamoDB throttled)": (
        dynamodb_of, "UpdateItem", "ProvisionedThroughputExceededException", 400, "processed"
    ),
}  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_failed_call_is_retried_by_sqs_and_the_retry_finishes_the_video(extract_handler, s3, video, fault):
    client_of, operation, code, status, matching = FAULTS[fault]
    app = extract_handler()
    event = upload(s3, KEY, video)
    outage = Outage(client_of(app), operation, code, status, matching=matching, times=1)
    assert run(app, event)["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert outage.calls == 1
    assert row(video_id_of(event))["status"] == "processing"  # type: ignore[index]
    assert run(app, event)["batchItemFailures"] == []  # at once: the failed run let go of its claim
    done = row(video_id_of(event))
    assert done is not None
    assert (done["status"], done["frames_count"]) == ("processed", 6)
    assert len(frame_keys(s3, video_id_of(event))) == 6


def test_a_fault_in_one_of_the_pieces_decoded_side_by_side_fails_the_run_for_its_retry(extract_handler, s3):
    app = extract_handler(EXTRACT_DECODERS="3")
    event = upload(s3, KEY, twelve_seconds())
    outage = Outage(
        s3_of(app), "PutObject", "SlowDown", 503, matching="frame_000009", times=1
    )  # the last piece's
    assert run(app, event)["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert outage.calls == 1
    assert row(video_id_of(event))["status"] == "processing"  # type: ignore[index]
    assert run(app, event)["batchItemFailures"] == []
    done = row(video_id_of(event))
    assert done is not None
    assert (done["status"], done["frames_count"], done["cut_frames"]) == ("processed", 12, [4, 8])
    assert len(frame_keys(s3, video_id_of(event))) == 12


def test_ranges_sqs_refuses_fail_the_message_and_are_sent_again(extract_handler, s3, ingest_queue, video):
    app = extract_handler(EXTRACT_RANGE_SECONDS="2")  # three ranges
    event = upload(s3, KEY, video)
    Outage(sqs_of(app), "SendMessageBatch", "InternalError", 500, times=1)
    assert run(app, event)["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert run(app, event)["batchItemFailures"] == []
    ranges = drain(boto3.client("sqs", region_name=REGION), ingest_queue)
    assert sorted(body["extract_range"]["start"] for body in ranges) == [0, 2, 4]
    assert run(app, *ranges)["batchItemFailures"] == []
    assert row(video_id_of(event))["status"] == "processed"  # type: ignore[index]


def test_a_removal_whose_cache_message_sqs_refuses_is_retried_until_sent(
    extract_handler, s3, work_queue, video
):
    app = extract_handler()
    event = upload(s3, KEY, video)
    run(app, event)
    drain(boto3.client("sqs", region_name=REGION), work_queue)
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    Outage(app.service.work.sqs, "SendMessageBatch", "InternalError", 500, times=1)
    deleted = s3_event("ObjectRemoved:Delete", KEY)
    assert run(app, deleted)["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert row(video_id_of(event))["status"] == "removing"  # type: ignore[index]  # out of search
    assert run(app, deleted)["batchItemFailures"] == []
    assert row(video_id_of(event)) is None
    assert drain(boto3.client("sqs", region_name=REGION), work_queue) == [
        {"video_id": video_id_of(event), "removed": True}
    ]


def test_a_denied_head_is_a_failure_never_a_deleted_upload(extract_handler, s3, video):
    app = extract_handler()
    event = upload(s3, KEY, video)
    run(app, event)
    Outage(s3_of(app), "HeadObject", "AccessDenied", 403, times=1)
    assert run(app, s3_event("ObjectRemoved:Delete", KEY))["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert row(video_id_of(event))["status"] == "processed"  # type: ignore[index]  # nothing removed
    assert len(frame_keys(s3, video_id_of(event))) == 6


def test_the_same_file_put_back_during_an_unfinished_removal_is_extracted_again(
    extract_handler, s3, work_queue, video
):
    app = extract_handler()
    event = upload(s3, KEY, video)
    run(app, event)
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    Outage(app.service.work.sqs, "SendMessageBatch", "InternalError", 500, times=1)
    deleted = s3_event("ObjectRemoved:Delete", KEY)
    assert run(app, deleted)["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    again = upload(s3, KEY, video)  # the same bytes: the same ETag, the same video id
    assert video_id_of(again) == video_id_of(event)
    assert run(app, again)["batchItemFailures"] == []
    assert run(app, deleted)["batchItemFailures"] == []  # the deletion's retry: the file is back
    back = row(video_id_of(event))
    assert back is not None
    assert (back["status"], back["frames_count"]) == ("processed", 6)
    assert len(frame_keys(s3, video_id_of(event))) == 6
