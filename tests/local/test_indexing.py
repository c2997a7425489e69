"""Issue #12 on the local system: the table's stream indexes videos by itself, through the work queue."""

from __future__ import annotations

import io
import json

import boto3

from clipsearch.index.backend import NOTHING_SEEN
from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue
from local.sample_frames import sample_videos
from local.stack import local_system
from scripts import backfill
from tests.conftest import REGION
from tests.local.test_system import run_tool


def test_a_video_marked_processed_is_indexed_by_its_stream_and_searchable(tiny_model_dir):
    with local_system(tiny_model_dir) as system:
        frames = [(f"frame_{i:06d}.webp", data) for i, data in enumerate(sample_videos()["sample-boat"])]
        system.dynamodb.put_item(  # the extractor starts: irrelevant to us, filtered at the source
            TableName=system.table, Item={"video_id": {"S": "fresh"}, "status": {"S": "processing"}}
        )
        system.add_video("fresh", frames)  # frames uploaded, status processed
        system.settle()
        assert system.pipe.filtered_out == 1
        assert system.work_source.invocations == 1
        response = system.invoke("search", {"query": "a boat", "video_ids": ["fresh"]})
        body = json.loads(response["body"])
        assert {hit["video_id"] for hit in body["results"]} == {"fresh"}
        assert body["searched_frames"] == len(frames)
        assert body["queued_videos"] == []  # nobody had to ask for it


def test_one_change_seen_by_two_producers_embeds_the_video_once(tiny_model_dir):
    with local_system(tiny_model_dir, auto_index=False) as system:
        frames = [(f"frame_{i:06d}.webp", data) for i, data in enumerate(sample_videos()["sample-boat"])]
        system.add_video("twice", frames)
        assert system.pipe.poll() == 1  # the stream's message: the record
        # search finds it missing before it is embedded and queues it too: the state it saw ...
        assert json.loads(system.invoke("search", {"query": "a boat"})["body"])["queued_videos"] == ["twice"]
        # ... which another search container saw too: the queue drops that one (issue #22.3)
        seen = WorkItem("twice", seen=NOTHING_SEEN, frames_count=len(frames))
        assert WorkQueue(system.sqs, system.work_queue_url).send([seen]).sent == [seen]
        assert system.work_source.poll() == 1  # the record's run embeds and packs it
        packed = system.s3.head_object(Bucket=system.bucket, Key="embeddings-cache/twice/packed.npz")
        assert packed["Metadata"]["frames"] == str(len(frames))
        while system.work_source.poll():
            pass
        assert system.work_source.invocations == 2  # the state's run too, not its copy ...
        again = system.s3.head_object(Bucket=system.bucket, Key="embeddings-cache/twice/packed.npz")
        assert again["ETag"] == packed["ETag"]  # ... and it found nothing left to do


def test_make_sweep_queues_the_unembedded_videos_then_nothing(tiny_model_dir):
    result = run_tool("local.sweep", model_dir=tiny_model_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "queued ['sample-bicycle', 'sample-boat', 'sample-street']" in result.stdout
    assert "sweep again: queued nothing: every video is complete" in result.stdout


def test_backfill_queues_every_processed_video_once_with_progress(work_queue, videos_table, monkeypatch):
    monkeypatch.setattr(backfill, "PAGE", 100)  # progress every 100 videos
    dynamodb = videos_table
    for index in range(243):
        status = "processed" if index % 100 else "processing"
        dynamodb.put_item(
            TableName="videos", Item={"video_id": {"S": f"v{index:05d}"}, "status": {"S": status}}
        )
    out = io.StringIO()
    args = ["--queue-url", work_queue, "--table", "videos", "-c", f"region={REGION}"]
    assert backfill.main(args, out) == 0
    text = out.getvalue()
    assert "\rqueued 100/240 [############                  ]" in text
    assert "queued 240/240 [##############################]" in text
    assert "queued 240 videos for the batch function: v00001, v00002" in text
    sqs = boto3.client("sqs", region_name=REGION)
    depth = sqs.get_queue_attributes(QueueUrl=work_queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "240"
    assert backfill.main([*args, "v00001", "v00002"], io.StringIO()) == 0  # again: deduplicated
    depth = sqs.get_queue_attributes(QueueUrl=work_queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "240"
