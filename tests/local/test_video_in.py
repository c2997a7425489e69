"""Video in on the local system: what S3's notification for uploads/ puts on the ingest queue (moto
delivers it as S3 does; these tests pin that), and an uploaded file becoming searchable by itself:
notification -> extraction -> processed -> stream -> work queue -> embeddings -> search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from clipsearch.cache.store import CacheStore
from clipsearch.layout import upload_video_id
from local.sample_video import Format, Shot, bicycle, boat, encode_shots, street
from local.stack import LocalSystem, local_system
from tests.local.test_system import ROOT, run_tool

SHOTS = [Shot(bicycle, 20), Shot(boat, 20), Shot(street, 20)]  # 6 s at 10 fps: 3 shots


def messages(system: LocalSystem) -> list[dict[str, Any]]:
    """The ingest queue's messages now, taken off it."""
    assert system.ingest_queue_url is not None
    answer = system.sqs.receive_message(QueueUrl=system.ingest_queue_url, MaxNumberOfMessages=10)
    found = answer.get("Messages", [])
    for message in found:
        system.sqs.delete_message(QueueUrl=system.ingest_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in found]


def test_s3_notifies_the_ingest_queue_of_uploads_only_as_aws_does(tiny_model_dir):
    with local_system(tiny_model_dir, auto_index=False) as system:
        (test,) = messages(system)  # S3 tests a notification's destination when it is configured
        assert (test["Service"], test["Event"], test["Bucket"]) == (
            "Amazon S3",
            "s3:TestEvent",
            system.bucket,
        )
        etag = system.upload("uploads/my holiday.mp4", b"not really a video")
        system.s3.put_object(Bucket=system.bucket, Key="frames/v/frame_000000.webp", Body=b"x")
        system.s3.put_object(Bucket=system.bucket, Key="upload/typo.mp4", Body=b"x")
        (created,) = messages(system)
        (record,) = created["Records"]
        assert (record["eventSource"], record["eventName"]) == ("aws:s3", "ObjectCreated:Put")
        assert record["s3"]["bucket"]["name"] == system.bucket
        described = record["s3"]["object"]
        assert (described["size"], described["eTag"]) == (18, etag)
        assert described["key"] == "uploads/my+holiday.mp4"  # URL-encoded as S3 does: '/' kept
        assert len(described["sequencer"]) == 16

        system.s3.delete_object(Bucket=system.bucket, Key="uploads/my holiday.mp4")
        (removed,) = messages(system)
        assert removed["Records"][0]["eventName"] == "ObjectRemoved:Delete"


def test_an_uploaded_video_becomes_searchable_with_nobody_asking(tiny_model_dir):
    with local_system(tiny_model_dir) as system:
        etag = system.upload("uploads/three shots.mp4", encode_shots(SHOTS, fps=10, fmt=Format(gop=5)))
        system.settle()
        video_id = upload_video_id(system.bucket, "uploads/three shots.mp4", etag)
        row = system.dynamodb.get_item(TableName=system.table, Key={"video_id": {"S": video_id}})["Item"]
        assert (row["status"]["S"], row["frames_count"]["N"], row["scenes_count"]["N"]) == (
            "processed",
            "6",
            "3",
        )
        assert system.ingest_source is not None
        assert system.ingest_source.invocations == 2  # S3's test event, then the upload
        body = json.loads(system.invoke("search", {"query": "a boat", "video_ids": [video_id]})["body"])
        assert {hit["video_id"] for hit in body["results"]} == {video_id}
        assert body["searched_frames"] == 6
        assert body["missing_videos"] == []

        system.s3.delete_object(Bucket=system.bucket, Key="uploads/three shots.mp4")
        system.settle()
        assert "Item" not in system.dynamodb.get_item(
            TableName=system.table, Key={"video_id": {"S": video_id}}
        )
        left = system.s3.list_objects_v2(Bucket=system.bucket, Prefix=f"frames/{video_id}/").get("KeyCount")
        assert left == 0
        # the removal's work message emptied the cache, and was done: not retried towards the DLQ
        packed = CacheStore(system.s3, system.bucket).read_packed(video_id).packed
        assert packed is not None
        assert packed.frame_ids == []
        counts = system.sqs.get_queue_attributes(
            QueueUrl=system.work_queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_make_add_video_uploads_a_file_and_follows_it_until_searchable(tiny_model_dir, tmp_path):
    video = tmp_path / "my holiday.mp4"
    video.write_bytes(encode_shots(SHOTS, fps=10))
    result = run_tool("scripts.add_video", str(video), "--query", "a boat", model_dir=tiny_model_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "s3://totgo1/uploads/my holiday.mp4 on the local system: video " in result.stdout
    assert "processed: 6 frames of 6.0 s, 3 scenes" in result.stdout
    assert 'search "a boat" in it:' in result.stdout


def test_make_add_video_against_aws_without_credentials_says_so_in_one_line(tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.add_video", str(video), "--aws"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "no AWS credentials: configure them (aws configure / aws sso login), "
        "or drop AWS=1 to use the local system"
    ]


def test_make_backfill_without_credentials_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.backfill"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("no AWS credentials:")
    assert "make sweep" in line
