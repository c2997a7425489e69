"""Issue #12 on the local system: the table's stream indexes videos by itself, through the work queue."""

from __future__ import annotations

import json

from local.sample_frames import sample_videos
from local.stack import local_system


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


def test_two_producers_enqueueing_one_video_run_it_once(tiny_model_dir):
    with local_system(tiny_model_dir, auto_index=False) as system:
        frames = [(f"frame_{i:06d}.webp", data) for i, data in enumerate(sample_videos()["sample-boat"])]
        system.add_video("twice", frames)
        assert system.pipe.poll() == 1  # the stream's message
        # search finds it missing before it is embedded and queues it too
        assert json.loads(system.invoke("search", {"query": "a boat"})["body"])["queued_videos"] == ["twice"]
        assert system.work_source.poll() == 1
        assert system.work_source.poll() == 0  # the FIFO queue delivered one of the two
        assert system.work_source.invocations == 1
