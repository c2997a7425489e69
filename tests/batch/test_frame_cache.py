"""Issue #27.8 in the batch function: `frame_cache=packed` writes no per-frame `.npy` files; the packed
object (and, for a chunk of a split run, the chunk's own object) is the checkpoint a deadline, a
redelivery or the run's pack goes on from."""

from __future__ import annotations

from collections import Counter
from types import ModuleType

import boto3
import numpy as np
import pytest

from clipsearch.batch.service import BatchSettings
from clipsearch.cache.store import CacheStore
from clipsearch.index.vector_index import Ledgers
from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue
from tests.batch.conftest import FRAMES, VIDEO, Countdown, invoke, packed, sqs_event
from tests.batch.test_index import expire_cache, put_processed, stored
from tests.batch.test_work import queue_source
from tests.conftest import BUCKET, REGION, FakeLambdaContext
from tests.faults import Outage
from tests.sample_images import frame_bytes

FRAME_IDS = sorted(key.rsplit("/", 1)[1].rsplit(".", 1)[0] for key in FRAMES)


@pytest.fixture
def packed_app(video, batch_handler) -> ModuleType:
    return batch_handler(FRAME_CACHE="packed", BATCH_SIZE="3", PREFETCH="4")


@pytest.fixture
def chunky(video, batch_handler) -> ModuleType:
    """Chunks of 3 frames, one frame per model call (so that a deadline can stop a chunk midway)."""
    return batch_handler(FRAME_CACHE="packed", CHUNK_FRAMES="3", BATCH_SIZE="1", PREFETCH="1")


def record_puts(app: ModuleType) -> Counter[str]:
    puts: Counter[str] = Counter()
    app.service.s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: puts.update([params["Key"]])
    )
    return puts


def npy_written(puts: Counter[str]) -> list[str]:
    return [key for key in puts if key.endswith(".npy")]


def test_the_packed_object_is_the_only_write_and_holds_what_per_frame_would(
    packed_app, batch_handler, clip_app, s3
):
    puts = record_puts(packed_app)
    status, result = invoke(packed_app, {"video_id": VIDEO})
    assert (status, result["status"], result["embedded"], result["packed_frames"]) == (200, "complete", 7, 7)
    assert list(puts.items()) == [(f"embeddings-cache/{VIDEO}/packed.npz", 1)]  # one PUT for 7 frames
    assert CacheStore(s3, BUCKET).list_frames(VIDEO) == {}
    whole = packed(s3)
    assert whole.frame_ids == FRAME_IDS
    status, clip = invoke(
        clip_app, {"mode": "image", "items": [f"s3://{BUCKET}/{key}" for key in sorted(FRAMES)]}
    )
    assert status == 200
    cosines = np.sum(whole.vectors.astype(np.float32) * np.array(clip["embeddings"]), axis=1)
    assert float(cosines.min()) >= 0.999


def test_a_deadline_packs_what_is_done_and_the_next_call_goes_on_from_it(packed_app, s3):
    puts = record_puts(packed_app)
    with pytest.raises(packed_app.UnfinishedVideos, match=f"{VIDEO}: 1 frames remaining"):
        invoke(packed_app, {"video_id": VIDEO}, Countdown(checks=2))
    assert len(packed(s3).frame_ids) == 6  # the partial run's checkpoint
    _, second = invoke(packed_app, {"video_id": VIDEO})
    assert (second["status"], second["embedded"], second["skipped"]) == ("complete", 1, 6)
    assert packed(s3).frame_ids == FRAME_IDS
    assert npy_written(puts) == []


def test_a_split_run_keeps_each_chunks_vectors_and_packs_once(chunky, s3, work_queue):
    puts = record_puts(chunky)
    WorkQueue(boto3.client("sqs", region_name=REGION), work_queue).send([WorkItem(VIDEO)])
    source, requests = queue_source(chunky, work_queue)
    while source.poll():
        pass
    (run,) = {r["run"] for r in requests if "frame_range" in r}
    assert requests[-1] == {"video_id": VIDEO, "run": run}  # the pack, asked once every chunk was done
    assert len(requests) == 5  # the split, three chunks, the pack: not asked early
    assert npy_written(puts) == []
    chunk_objects = sorted(key for key in puts if key.endswith(".npz") and "/runs/" in key)
    assert chunk_objects == [
        f"embeddings-cache/{VIDEO}/runs/{run}/{first}.npz"
        for first in ("frame_000000", "frame_000003", "frame_000006")
    ]
    assert len(CacheStore(s3, BUCKET).chunks_done(VIDEO, run)) == 3  # their vectors are no "done"
    assert puts[f"embeddings-cache/{VIDEO}/packed.npz"] == 1
    assert packed(s3).frame_ids == FRAME_IDS


def chunk_frame_ids(store: CacheStore) -> list[str]:
    vectors = store.read_chunk_vectors(VIDEO, "r1", "frame_000000")
    return vectors.frame_ids if vectors else []


def test_a_chunk_stopped_by_its_deadline_goes_on_where_it_stopped(chunky, s3):
    chunk = {"video_id": VIDEO, "frame_range": ["frame_000000", "frame_000002"], "run": "r1", "chunks": 3}
    with pytest.raises(chunky.UnfinishedVideos, match="2 frames remaining"):
        invoke(chunky, chunk, Countdown(checks=1))
    store = CacheStore(s3, BUCKET)
    assert chunk_frame_ids(store) == ["frame_000000"]
    assert store.chunks_done(VIDEO, "r1") == []  # not done: the pack is not asked for
    status, again = invoke(chunky, chunk)
    assert (status, again["status"], again["embedded"], again["skipped"]) == (200, "complete", 2, 1)
    assert chunk_frame_ids(store) == FRAME_IDS[:3]
    assert store.chunks_done(VIDEO, "r1") == [f"embeddings-cache/{VIDEO}/runs/r1/frame_000000.json"]


def test_a_range_sent_by_a_person_is_packed(packed_app, s3):
    status, result = invoke(packed_app, {"video_id": VIDEO, "frame_range": ["frame_000002", "frame_000004"]})
    assert (status, result["status"], result["embedded"]) == (200, "complete", 3)
    assert packed(s3).frame_ids == FRAME_IDS[2:5]  # with no per-frame files, nowhere else to keep them


def test_per_frame_files_already_there_are_packed_not_embedded_again(packed_app, batch_handler, s3):
    per_frame = batch_handler(FRAME_CACHE="per-frame")
    invoke(per_frame, {"video_id": VIDEO, "frame_range": ["frame_000000", "frame_000003"]})  # no pack
    packed_app = batch_handler(FRAME_CACHE="packed")
    _, result = invoke(packed_app, {"video_id": VIDEO})
    assert (result["embedded"], result["skipped"]) == (3, 4)  # switching modes loses nothing
    assert packed(s3).frame_ids == FRAME_IDS


def test_an_unknown_frame_cache_stops_the_cold_start():
    environment = {"BUCKET_NAME": "b", "VIDEOS_TABLE": "t", "WORK_QUEUE_URL": "q", "FRAME_CACHE": "npz"}
    with pytest.raises(ValueError, match="FRAME_CACHE must be one of per-frame, packed, got 'npz'"):
        BatchSettings.from_env(environment)


@pytest.mark.parametrize("frame_cache", ["per-frame", "packed"])
def test_a_forced_split_reaches_the_index_after_the_cache_expired(
    frame_cache, video, batch_handler, vector_index, videos_table, work_queue, s3
):
    # GIVEN a video in the S3 Vectors index whose cache expired (the 7-day rule)
    videos_table.put_item(TableName="videos", Item={"video_id": {"S": VIDEO}, "status": {"S": "processed"}})
    app = batch_handler(FRAME_CACHE=frame_cache, CHUNK_FRAMES="3", **vector_index)
    source, _ = queue_source(app, work_queue)
    invoke(app, {"video_id": VIDEO}, FakeLambdaContext(aws_request_id="first"))
    while source.poll():
        pass
    expire_cache(s3)
    # WHEN it is split again with force (int8 -> fp32 keeps the model id: only force re-embeds)
    invoke(app, {"video_id": VIDEO, "force": True}, FakeLambdaContext(aws_request_id="again"))
    while source.poll():
        pass
    # THEN the pack writes and indexes what the chunks re-embedded (not "the index holds it")
    assert packed(s3).frame_ids == FRAME_IDS
    ledger = Ledgers(s3, BUCKET).read(VIDEO).ledger
    assert ledger is not None
    assert ledger.source_etag == CacheStore(s3, BUCKET).read_packed(VIDEO).etag  # synced from it


def test_a_failed_packed_write_fails_the_message_and_the_redelivery_completes_it(packed_app, s3):
    Outage(packed_app.service.s3, "PutObject", "InternalError", 500, matching="packed.npz", times=1)
    result = packed_app.handler(sqs_event({"video_id": VIDEO}), FakeLambdaContext(function_name="b"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}]}  # SQS redelivers it
    again = packed_app.handler(sqs_event({"video_id": VIDEO}), FakeLambdaContext(function_name="b"))
    assert again == {"batchItemFailures": []}
    assert packed(s3).frame_ids == FRAME_IDS


def test_a_damaged_chunk_object_is_embedded_again_by_the_pack(chunky, s3):
    for first, last in (("frame_000000", "frame_000002"), ("frame_000003", "frame_000006")):
        chunk = {"video_id": VIDEO, "frame_range": [first, last], "run": "r1", "chunks": 2}
        assert invoke(chunky, chunk)[1]["status"] == "complete"
    s3.put_object(Bucket=BUCKET, Key=f"embeddings-cache/{VIDEO}/runs/r1/frame_000003.npz", Body=b"PK\x03\x04")
    status, pack = invoke(chunky, {"video_id": VIDEO, "run": "r1"})
    assert (status, pack["status"], pack["embedded"], pack["skipped"]) == (200, "complete", 4, 3)
    assert packed(s3).frame_ids == FRAME_IDS


CHUNKS_2 = (("frame_000000", "frame_000002"), ("frame_000003", "frame_000006"))


def run_chunks(app: ModuleType, *, force: bool = False) -> None:
    """Both chunks of a split run "r1", each complete (the pack is not run)."""
    for first, last in CHUNKS_2:
        chunk: dict[str, object] = {"video_id": VIDEO, "frame_range": [first, last], "run": "r1", "chunks": 2}
        if force:
            chunk["force"] = True
        assert invoke(app, chunk)[1]["status"] == "complete"


# A whole-video request queued while a split run is in flight (search's refill of a video it finds
# missing, the sweep) embeds only what no finished chunk has
@pytest.mark.parametrize("frame_cache", ["per-frame", "packed"])
def test_a_whole_video_request_during_a_split_run_reuses_the_finished_chunks(
    frame_cache, video, batch_handler
):
    app = batch_handler(FRAME_CACHE=frame_cache, CHUNK_FRAMES="3")
    _, split = invoke(app, {"video_id": VIDEO}, FakeLambdaContext(aws_request_id="r1"))
    assert split["chunks"] == 3
    chunk = {"video_id": VIDEO, "frame_range": ["frame_000000", "frame_000002"], "run": "r1", "chunks": 3}
    assert invoke(app, chunk)[1]["status"] == "complete"
    # the packed object is still missing: a search's refill / the sweep queues the whole video again
    _, again = invoke(app, {"video_id": VIDEO}, FakeLambdaContext(aws_request_id="r2"))
    assert (again["skipped"], again["chunks"]) == (3, 2)  # the finished chunk's frames are not split again


# A run's pack keeps a vector the packed object got after the run's chunks embedded that frame
@pytest.mark.parametrize("frame_cache", ["per-frame", "packed"])
def test_the_pack_does_not_replace_a_frame_re_embedded_meanwhile(frame_cache, video, batch_handler, s3):
    app = batch_handler(FRAME_CACHE=frame_cache, CHUNK_FRAMES="3")
    run_chunks(app)
    key = f"frames/{VIDEO}/frame_000001.webp"
    s3.put_object(Bucket=BUCKET, Key=key, Body=frame_bytes(99, "WEBP"))  # the frame re-extracted
    assert invoke(app, {"video_id": VIDEO, "frames": [key], "force": True})[1]["embedded"] == 1
    before = packed(s3)
    fresh = before.vectors[before.frame_ids.index("frame_000001")].copy()
    invoke(app, {"video_id": VIDEO, "run": "r1"})  # the run's pack, asked by its last chunk
    after = packed(s3)
    np.testing.assert_array_equal(after.vectors[after.frame_ids.index("frame_000001")], fresh)


# A split run in flight when the deployment switches packed -> per-frame loses nothing
def test_switching_to_per_frame_mid_split_re_embeds_nothing(video, batch_handler):
    run_chunks(batch_handler(FRAME_CACHE="packed", CHUNK_FRAMES="3"))
    per_frame = batch_handler(FRAME_CACHE="per-frame", CHUNK_FRAMES="3")
    _, pack = invoke(per_frame, {"video_id": VIDEO, "run": "r1"})
    assert (pack["status"], pack["embedded"], pack["skipped"]) == ("complete", 0, 7)


# The pack of a forced split, stopped by its deadline, goes on from what it embedded itself
def test_a_forced_pack_stopped_by_its_deadline_goes_on_from_its_checkpoint(video, batch_handler, s3):
    app = batch_handler(FRAME_CACHE="packed", CHUNK_FRAMES="3", BATCH_SIZE="1", PREFETCH="1")
    run_chunks(app, force=True)
    # the second chunk's object is unreadable (or of another model): the pack embeds its 4 frames
    s3.put_object(Bucket=BUCKET, Key=f"embeddings-cache/{VIDEO}/runs/r1/frame_000003.npz", Body=b"PK\x03\x04")
    with pytest.raises(app.UnfinishedVideos):
        invoke(app, {"video_id": VIDEO, "run": "r1"}, Countdown(checks=2))
    checkpointed = len(packed(s3).frame_ids) - 3
    assert checkpointed >= 1
    _, again = invoke(app, {"video_id": VIDEO, "run": "r1"})
    assert again["embedded"] == 4 - checkpointed  # not the frames it had embedded before


# A forced split whose chunk object is lost re-embeds that chunk's frames: a `.npy` left from before
# the force is not their vector
def test_a_forced_split_never_packs_a_leftover_npy_of_the_old_frame(video, batch_handler, s3):
    invoke(batch_handler(FRAME_CACHE="per-frame"), {"video_id": VIDEO})  # .npy for every frame
    key = f"frames/{VIDEO}/frame_000004.webp"
    s3.put_object(Bucket=BUCKET, Key=key, Body=frame_bytes(99, "WEBP"))  # re-extracted: hence force
    app = batch_handler(FRAME_CACHE="packed", CHUNK_FRAMES="3")
    run_chunks(app, force=True)
    fresh = CacheStore(s3, BUCKET).read_chunk_vectors(VIDEO, "r1", "frame_000003")
    assert fresh is not None
    fresh_4 = fresh.vectors[fresh.frame_ids.index("frame_000004")].copy()
    s3.put_object(Bucket=BUCKET, Key=f"embeddings-cache/{VIDEO}/runs/r1/frame_000003.npz", Body=b"PK\x03\x04")
    invoke(app, {"video_id": VIDEO, "run": "r1"})
    whole = packed(s3)
    np.testing.assert_array_equal(whole.vectors[whole.frame_ids.index("frame_000004")], fresh_4)


# A person's range or frame list after the cache expired (the 7-day rule) packs only those frames:
# the index keeps the video's other frames, unchanged since they were indexed
@pytest.mark.parametrize("frame_cache", ["per-frame", "packed"])
@pytest.mark.parametrize(
    "some_frames",
    [
        {"frame_range": ["frame_000002", "frame_000004"]},
        {"frames": [f"frames/{VIDEO}/frame_000002.jpg", f"frames/{VIDEO}/frame_000003.webp"]},
    ],
)
def test_a_persons_request_after_the_cache_expired_leaves_the_index_whole(
    frame_cache, some_frames, video, batch_handler, vector_index, videos_table, s3
):
    videos_table.put_item(TableName="videos", Item={"video_id": {"S": VIDEO}, "status": {"S": "processed"}})
    app = batch_handler(FRAME_CACHE=frame_cache, **vector_index)
    assert invoke(app, {"video_id": VIDEO})[1]["indexed"] == 7
    expire_cache(s3)  # the 7-day rule; vector-index/ stays
    _, result = invoke(app, {"video_id": VIDEO, **some_frames})
    assert result["status"] == "complete"
    assert len(stored()) == 7
    ledger = Ledgers(s3, BUCKET).read(VIDEO).ledger
    assert ledger is not None
    assert sorted(ledger.frame_ids) == FRAME_IDS  # what the index holds, as the sweep reads it


# A frame rejected now (an image limit lowered since, say) leaves the index and is counted once
def test_a_frame_now_rejected_leaves_the_index_and_is_counted_once(
    video, batch_handler, vector_index, videos_table, s3
):
    put_processed(videos_table)
    app = batch_handler(FRAME_CACHE="packed", **vector_index)
    assert invoke(app, {"video_id": VIDEO})[1]["indexed"] == len(FRAMES)
    expire_cache(s3)
    strict = batch_handler(FRAME_CACHE="packed", MAX_IMAGE_BYTES="1", **vector_index)
    key = f"frames/{VIDEO}/frame_000003.webp"
    _, result = invoke(strict, {"video_id": VIDEO, "frames": [key]})
    assert [r["frame"] for r in result["rejected"]] == [key]
    ledger = Ledgers(s3, BUCKET).read(VIDEO).ledger
    assert ledger is not None
    assert [r.key for r in ledger.rejected] == [key]
    assert "frame_000003" not in ledger.frame_ids
    assert ledger.covered_frames == len(FRAMES)
    assert f"{VIDEO}/frame_000003" not in stored()
    _, report = invoke(strict, {"sweep": True})
    assert VIDEO not in report["queued"]


# A forced split in flight when the deployment switches per-frame -> packed loses nothing
def test_switching_to_packed_mid_forced_split_re_embeds_nothing(video, batch_handler):
    run_chunks(batch_handler(FRAME_CACHE="per-frame", CHUNK_FRAMES="3"), force=True)
    app = batch_handler(FRAME_CACHE="packed", CHUNK_FRAMES="3")
    _, pack = invoke(app, {"video_id": VIDEO, "run": "r1"})
    assert (pack["status"], pack["embedded"], pack["skipped"]) == ("complete", 0, 7)


# A forced split's chunk that kept its vectors in its own object, now lost, is re-embedded by the
# pack in either mode: a `.npy` left from before the force is not its vector
def test_a_per_frame_pack_of_a_forced_packed_split_never_packs_a_leftover_npy(video, batch_handler, s3):
    invoke(batch_handler(FRAME_CACHE="per-frame"), {"video_id": VIDEO})  # .npy for every frame
    key = f"frames/{VIDEO}/frame_000004.webp"
    s3.put_object(Bucket=BUCKET, Key=key, Body=frame_bytes(99, "WEBP"))  # re-extracted: hence force
    run_chunks(batch_handler(FRAME_CACHE="packed", CHUNK_FRAMES="3"), force=True)
    fresh = CacheStore(s3, BUCKET).read_chunk_vectors(VIDEO, "r1", "frame_000003")
    assert fresh is not None
    fresh_4 = fresh.vectors[fresh.frame_ids.index("frame_000004")].copy()
    s3.put_object(Bucket=BUCKET, Key=f"embeddings-cache/{VIDEO}/runs/r1/frame_000003.npz", Body=b"PK\x03\x04")
    per_frame = batch_handler(FRAME_CACHE="per-frame", CHUNK_FRAMES="3")
    invoke(per_frame, {"video_id": VIDEO, "run": "r1"})
    whole = packed(s3)
    np.testing.assert_array_equal(whole.vectors[whole.frame_ids.index("frame_000004")], fresh_4)


# A forced run's pack delivered again finds the packed object holding its vectors: left alone
def test_a_forced_pack_delivered_again_leaves_the_packed_object_alone(video, batch_handler, s3):
    app = batch_handler(FRAME_CACHE="packed", CHUNK_FRAMES="3")
    run_chunks(app, force=True)
    assert invoke(app, {"video_id": VIDEO, "run": "r1"})[1]["status"] == "complete"
    before = CacheStore(s3, BUCKET).read_packed(VIDEO).etag
    _, again = invoke(app, {"video_id": VIDEO, "run": "r1"})
    assert (again["embedded"], again["skipped"]) == (0, 7)
    assert CacheStore(s3, BUCKET).read_packed(VIDEO).etag == before
