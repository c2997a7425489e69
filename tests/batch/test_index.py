"""Issue #14 in the batch function: with the S3 Vectors backend every packed object also goes into
the index (with its ledger), frames that left `frames/` leave the index, an expired cache is not
embedded again, and the sweep takes gone videos out of the index."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import numpy as np
import pytest

from clipsearch.cache.store import CacheStore, PackedVideo
from clipsearch.index.sync import IndexSync
from clipsearch.index.vector_index import DamagedLedger, IndexedFrame, Ledger, Ledgers, VectorIndex
from tests.batch.conftest import FRAMES, VIDEO, invoke, packed, put_frames
from tests.batch.test_work import add
from tests.conftest import BUCKET, REGION, VECTOR_BUCKET, VECTOR_INDEX
from tests.faults import Outage
from tests.sample_images import frame_bytes


def put_processed(videos_table: Any) -> None:
    """The video's row: processed, a frame every 0.5 s (30 fps, every 15th frame), all counted."""
    videos_table.put_item(
        TableName="videos",
        Item={
            "video_id": {"S": VIDEO},
            "status": {"S": "processed"},
            "video_fps": {"N": "30"},
            "frame_step": {"N": "15"},
            "frames_count": {"N": str(len(FRAMES))},
        },
    )


@pytest.fixture
def indexing(video, batch_handler, vector_index, videos_table) -> ModuleType:
    """The batch function of a stack with `index_backend=s3vectors`; the video is processed."""
    put_processed(videos_table)
    return batch_handler(BATCH_SIZE="3", **vector_index)


def stored(video_id: str = VIDEO) -> dict[str, dict[str, Any]]:
    """key -> {metadata, data} of every vector of this video in the index."""
    client = boto3.client("s3vectors", region_name=REGION)
    listed = client.list_vectors(
        vectorBucketName=VECTOR_BUCKET, indexName=VECTOR_INDEX, returnMetadata=True, returnData=True
    )
    return {v["key"]: v for v in listed["vectors"] if v["key"].startswith(f"{video_id}/")}


def test_a_video_goes_into_the_index_with_its_metadata_and_a_ledger(indexing, s3):
    status, result = invoke(indexing, {"video_id": VIDEO})
    assert (status, result["status"], result["indexed"]) == (200, "complete", len(FRAMES))
    vectors = stored()
    assert sorted(vectors) == [f"{VIDEO}/frame_{i:06d}" for i in range(len(FRAMES))]
    third = vectors[f"{VIDEO}/frame_000003"]
    assert third["metadata"] == {
        "video_id": VIDEO,
        "frame_index": 3,
        "time_s": 1.5,
        "frame_key": f"frames/{VIDEO}/frame_000003.webp",
        "model": result["model"],
    }
    cached = packed(s3)
    row = cached.frame_ids.index("frame_000003")
    assert np.array_equal(np.float32(third["data"]["float32"]), cached.vectors[row].astype(np.float32))
    ledger = Ledgers(s3, BUCKET).read(VIDEO).ledger
    assert ledger is not None
    assert (ledger.covered_frames, ledger.timing, ledger.model) == (len(FRAMES), (30.0, 15), result["model"])
    # a second run finds the index in line with the packed object: it writes nothing
    status, again = invoke(indexing, {"video_id": VIDEO})
    assert (status, again["indexed"], again["embedded"]) == (200, 0, 0)


def test_a_frame_that_left_frames_leaves_the_index(indexing, s3):
    invoke(indexing, {"video_id": VIDEO})
    s3.delete_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/frame_000004.webp")
    status, result = invoke(indexing, {"video_id": VIDEO})
    assert (status, result["status"]) == (200, "complete")
    assert f"{VIDEO}/frame_000004" not in stored()
    assert len(stored()) == len(FRAMES) - 1
    ledger = Ledgers(s3, BUCKET).read(VIDEO).ledger
    assert ledger is not None
    assert "frame_000004" not in ledger.frame_ids


def test_an_expired_cache_is_not_embedded_again_when_the_index_holds_the_video(indexing, s3):
    invoke(indexing, {"video_id": VIDEO})
    for key in [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="embeddings-cache/")["Contents"]]:
        s3.delete_object(Bucket=BUCKET, Key=key)  # the 7-day rule
    status, result = invoke(indexing, {"video_id": VIDEO})
    assert (status, result["status"], result["embedded"], result["skipped"]) == (
        200,
        "complete",
        0,
        len(FRAMES),
    )
    # but a new frame means the video is embedded (what the cache lost, again) and re-indexed
    s3.copy_object(
        Bucket=BUCKET,
        Key=f"frames/{VIDEO}/frame_000007.webp",
        CopySource={"Bucket": BUCKET, "Key": f"frames/{VIDEO}/frame_000000.webp"},
    )
    status, result = invoke(indexing, {"video_id": VIDEO})
    assert (status, result["embedded"], result["indexed"]) == (200, len(FRAMES) + 1, len(FRAMES) + 1)


def test_an_index_outage_fails_the_run_and_the_retry_completes_it(indexing, s3):
    Outage(indexing.service.index.index.client, "PutVectors", "ServiceUnavailableException", 503, times=1)
    with pytest.raises(Exception, match="ServiceUnavailableException"):
        invoke(indexing, {"video_id": VIDEO})  # raised: Lambda (async) or SQS runs it again
    assert Ledgers(s3, BUCKET).read(VIDEO).ledger is None  # nothing claims the index holds the video
    status, result = invoke(indexing, {"video_id": VIDEO})  # the retry: cached frames, written now
    assert (status, result["embedded"], result["indexed"]) == (200, 0, len(FRAMES))
    assert len(stored()) == len(FRAMES)


def test_vectors_are_written_and_deleted_at_most_500_per_call(vector_index):
    client = boto3.client("s3vectors", region_name=REGION)
    calls: list[int] = []
    client.meta.events.register(
        "provide-client-params.s3vectors.PutVectors", lambda params, **_: calls.append(len(params["vectors"]))
    )
    client.meta.events.register(
        "provide-client-params.s3vectors.DeleteVectors", lambda params, **_: calls.append(len(params["keys"]))
    )
    index = VectorIndex(client, bucket_name=VECTOR_BUCKET, index_name=VECTOR_INDEX)
    vector = np.full(16, 0.25, np.float32)
    frames = [
        IndexedFrame(f"frame_{i:06d}", f"frames/v/frame_{i:06d}.webp", i, None, vector) for i in range(1201)
    ]
    index.put("v", "m", frames)
    assert calls == [500, 500, 201]
    index.delete("v", [frame.frame_id for frame in frames])
    assert calls[3:] == [500, 500, 201]
    assert stored("v") == {}


def test_the_sweep_takes_gone_and_unprocessed_videos_out_of_the_index(indexing, s3, videos_table, work_queue):
    invoke(indexing, {"video_id": VIDEO})
    index = indexing.service.index
    rows = np.full((2, 16), 0.25, np.float32)
    for video_id in ("deleted-video", "reprocessing"):  # indexed earlier
        index.index.put(
            video_id,
            "m",
            [IndexedFrame(f"f{i}", f"frames/{video_id}/f{i}.webp", i, None, rows[i]) for i in range(2)],
        )
        index.ledgers.write(Ledger(video_id, "m", "etag", None, {"f0": "", "f1": ""}, ()), replacing=None)
    add(videos_table, "reprocessing", "processing", 2)
    add(videos_table, "never-indexed", "processed", 3)
    status, report = invoke(indexing, {"sweep": True})
    assert status == 200
    assert report == {
        "videos": 2,
        "queued": ["never-indexed"],
        "failed": [],
        "removed": ["deleted-video", "reprocessing"],
    }
    assert stored("deleted-video") == stored("reprocessing") == {}
    assert Ledgers(s3, BUCKET).video_ids() == {VIDEO}
    messages = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=work_queue, MaxNumberOfMessages=10
    )
    assert [json.loads(m["Body"])["video_id"] for m in messages["Messages"]] == ["never-indexed"]


def expire_cache(s3: Any) -> None:
    """Delete everything under embeddings-cache/ (what the 7-day rule does; vector-index/ stays)."""
    for key in [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="embeddings-cache/")["Contents"]]:
        s3.delete_object(Bucket=BUCKET, Key=key)  # the 7-day rule


def test_a_frame_replaced_or_fixed_after_the_cache_expired_is_embedded_again(indexing, s3):
    broken, replaced = f"frames/{VIDEO}/frame_000001.webp", f"frames/{VIDEO}/frame_000003.webp"
    s3.put_object(Bucket=BUCKET, Key=broken, Body=b"not an image")
    status, result = invoke(indexing, {"video_id": VIDEO})
    assert [r["frame"] for r in result["rejected"]] == [broken]
    old = stored()[f"{VIDEO}/frame_000003"]["data"]["float32"]
    expire_cache(s3)
    status, result = invoke(indexing, {"video_id": VIDEO})  # nothing changed: nothing embedded
    assert (result["embedded"], [r["frame"] for r in result["rejected"]]) == (0, [broken])
    s3.put_object(Bucket=BUCKET, Key=broken, Body=frame_bytes(1))  # upstream fixes one ...
    s3.put_object(Bucket=BUCKET, Key=replaced, Body=frame_bytes(99))  # ... and re-extracts another
    status, result = invoke(indexing, {"video_id": VIDEO})
    assert (status, result["embedded"], result["rejected"]) == (200, len(FRAMES), [])
    assert f"{VIDEO}/frame_000001" in stored()
    assert stored()[f"{VIDEO}/frame_000003"]["data"]["float32"] != old


def test_timing_that_changes_after_indexing_reaches_the_index_through_the_sweep(
    indexing, s3, videos_table, work_queue
):
    invoke(indexing, {"video_id": VIDEO})
    videos_table.update_item(  # the extractor corrects the timing; no stream in this deployment
        TableName="videos",
        Key={"video_id": {"S": VIDEO}},
        UpdateExpression="SET video_fps = :fps",
        ExpressionAttributeValues={":fps": {"N": "60"}},
    )
    status, report = invoke(indexing, {"sweep": True})
    assert (status, report["queued"]) == (200, [VIDEO])
    status, result = invoke(indexing, {"video_id": VIDEO})  # what the queue delivers
    assert (status, result["embedded"], result["indexed"]) == (200, 0, len(FRAMES))
    assert stored()[f"{VIDEO}/frame_000003"]["metadata"]["time_s"] == 0.75  # 3 x 15 / 60


def test_a_damaged_ledger_fails_the_run_and_deletes_nothing(indexing, s3, work_queue):
    invoke(indexing, {"video_id": VIDEO})
    s3.put_object(Bucket=BUCKET, Key=f"vector-index/{VIDEO}.json", Body=b"{not json")
    s3.delete_object(Bucket=BUCKET, Key=f"frames/{VIDEO}/frame_000004.webp")
    with pytest.raises(DamagedLedger, match=f"vector-index/{VIDEO}.json"):  # retried, then the DLQ
        invoke(indexing, {"video_id": VIDEO})
    assert len(stored()) == len(FRAMES)  # nothing deleted on a ledger nobody can read
    status, report = invoke(indexing, {"sweep": True})  # the sweep queues it: the same loud failure
    assert (status, report["queued"]) == (200, [VIDEO])


def test_the_sweep_removes_nothing_when_the_catalog_lists_no_processed_video(indexing, s3, videos_table):
    invoke(indexing, {"video_id": VIDEO})
    videos_table.delete_item(TableName="videos", Key={"video_id": {"S": VIDEO}})  # a wrong or emptied table
    with pytest.raises(Exception, match="lists no processed video"):  # the sweep fails, loudly
        invoke(indexing, {"sweep": True})
    assert len(stored()) == len(FRAMES)
    assert Ledgers(s3, BUCKET).video_ids() == {VIDEO}


def test_a_video_indexed_while_the_sweep_runs_is_kept(indexing, s3, videos_table, work_queue):
    sweep = indexing.function.sweep
    index: IndexSync = indexing.service.index
    wants = sweep.wants

    def slow_wants(video: Any) -> bool:  # minutes of per-video reads on a large catalog
        add(videos_table, "late", "processed", 1)
        packed = PackedVideo(
            "late", "m", 16, 0.0, ["f1"], ["frames/late/f1.webp"], np.full((1, 16), 0.25, np.float16)
        )
        etag = CacheStore(s3, BUCKET).write_packed(packed, replacing=None)
        index.sync(packed, etag, {})  # batch, meanwhile, indexes it
        return wants(video)

    sweep.wants = slow_wants
    report = sweep.run()
    assert report.removed == []
    assert "late/f1" in stored("late")


def test_two_runs_syncing_one_video_leave_what_the_packed_object_holds_now(indexing, s3):
    invoke(indexing, {"video_id": VIDEO})
    index: IndexSync = indexing.service.index
    store = CacheStore(s3, BUCKET)
    older = store.read_packed(VIDEO)
    assert older.packed is not None
    assert older.etag is not None
    keep = [i for i, frame_id in enumerate(older.packed.frame_ids) if frame_id != "frame_000004"]
    newer = PackedVideo(
        VIDEO,
        older.packed.model,
        older.packed.dim,
        1.0,
        [older.packed.frame_ids[i] for i in keep],
        [older.packed.frame_keys[i] for i in keep],
        older.packed.vectors[keep],
    )
    raced = {"done": False}

    def the_other_run_first(**_: Any) -> None:  # B: frame 4 left frames/, B packs and syncs it all
        if not raced["done"]:
            raced["done"] = True
            index.sync(newer, store.write_packed(newer, replacing=older.etag), {})

    index.index.client.meta.events.register("before-call.s3vectors.PutVectors", the_other_run_first)
    index.sync(older.packed, "an older packed object", {})  # A, with what it read before B
    assert raced["done"]
    assert f"{VIDEO}/frame_000004" not in stored()  # A's write of frame 4 was taken back
    ledger = Ledgers(s3, BUCKET).read(VIDEO).ledger
    assert ledger is not None
    assert ledger.source_etag == store.read_packed(VIDEO).etag


def test_a_frame_number_past_64_bits_is_rejected_and_the_rest_is_indexed(indexing, s3):
    huge = f"frames/{VIDEO}/frame_99999999999999999999.webp"  # issue #22.1
    s3.put_object(Bucket=BUCKET, Key=huge, Body=frame_bytes(50))
    status, result = invoke(indexing, {"video_id": VIDEO})
    assert (status, result["status"], result["indexed"]) == (200, "complete", len(FRAMES))
    (rejected,) = result["rejected"]
    assert rejected["frame"] == huge
    assert "does not fit 64 bits" in rejected["error"]
    assert [r.key for r in packed(s3).rejected] == [huge]  # recorded: not tried again while unchanged
    assert len(stored()) == len(FRAMES)


def test_a_removal_empties_the_cache_and_the_index_and_is_done_unless_the_frames_came_back(indexing, s3):
    """The extraction function's removal (WorkItem removed=True): no frames is what it expects. The
    same upload put back before the message runs has the same video id (bucket, key, ETag): its
    frames are embedded, not emptied."""
    invoke(indexing, {"video_id": VIDEO})
    for key in FRAMES:
        s3.delete_object(Bucket=BUCKET, Key=key)
    status, body = invoke(indexing, {"video_id": VIDEO, "removed": True})
    assert (status, body["status"], body["packed_frames"]) == (200, "complete", 0), body
    assert stored() == {}
    assert packed(s3).frame_ids == []
    put_frames(s3)
    status, body = invoke(indexing, {"video_id": VIDEO, "removed": True})
    assert (status, body["packed_frames"]) == (200, len(FRAMES)), body
    assert len(stored()) == len(FRAMES)


def test_a_video_whose_frames_are_all_gone_leaves_the_index_then_is_a_404(indexing, s3):
    invoke(indexing, {"video_id": VIDEO})
    for key in FRAMES:
        s3.delete_object(Bucket=BUCKET, Key=key)
    status, body = invoke(indexing, {"video_id": VIDEO})
    assert status == 404, body  # issue #22.5: after it took the video out of the cache and the index
    assert stored() == {}
    assert packed(s3).frame_ids == []
    ledger = Ledgers(s3, BUCKET).read(VIDEO).ledger
    assert ledger is not None
    assert ledger.frame_ids == ()
