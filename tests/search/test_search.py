"""The search function end to end on emulated AWS: ranking, filters, self-healing cache, errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

from clipsearch.cache.store import CacheStore
from clipsearch.vectors import from_f16_b64
from local.tiny_clip import PROJECTION_DIM
from tests.conftest import BUCKET
from tests.emf import emitted
from tests.sample_images import frame_bytes
from tests.search.conftest import SearchWorld, memory_only, unit_rows

DIM = PROJECTION_DIM
# The memory backend's scores are the float32 scan's. S3 Vectors scores a true cosine of the stored
# float32 copy of the float16 cache (rows within about 1e-4 of unit length): not their dot product.
SCORE_TOLERANCE = {"memory": 1e-5, "s3vectors": 5e-4}


def oracle(videos: dict[str, np.ndarray], query: np.ndarray, top_k: int) -> list[tuple[str, str, float]]:
    """Brute force: every frame's dot product, best first, ties by video id then row."""
    query = query / np.linalg.norm(query)
    rows = []
    for video_id in sorted(videos):
        for row, vector in enumerate(videos[video_id]):
            rows.append((-float(vector @ query), video_id, row))
    rows.sort()
    return [(video_id, f"frame_{row:06d}", -negative) for negative, video_id, row in rows[:top_k]]


def hits(body) -> list[tuple[str, str, float]]:
    return [(r["video_id"], r["frame_id"], r["score"]) for r in body["results"]]


def test_a_text_query_ranks_the_frames_batch_embedded(world: SearchWorld, lambda_context):
    # GIVEN two processed videos whose real frames the batch function embedded
    for video_id, seeds in (("bikes", range(5)), ("boats", range(5, 9))):
        world.add_video(video_id)
        for index, seed in enumerate(seeds):
            world.s3.put_object(
                Bucket=BUCKET, Key=f"frames/{video_id}/frame_{index:06d}.webp", Body=frame_bytes(seed)
            )
        assert world.batch_calls.handler({"video_id": video_id}, lambda_context)["statusCode"] == 200
    # WHEN the guide's query is searched
    started = time.perf_counter()
    status, body = world.search({"query": "a man riding a bicycle", "top_k": 5}, lambda_context)
    took_ms = (time.perf_counter() - started) * 1000
    # THEN the ranking is the brute-force one over the cached vectors and the CLIP query vector
    assert status == 200, body
    query_response = world.clip.handler(
        {"items": ["a man riding a bicycle"], "encoding": "f16-b64"}, lambda_context
    )
    query = from_f16_b64(json.loads(query_response["body"])["embeddings"][0])
    query /= np.linalg.norm(query)
    store = CacheStore(world.s3, BUCKET)
    cached = {
        v: packed.vectors.astype(np.float32)
        for v in ("bikes", "boats")
        if (packed := store.read_packed(v).packed)
    }
    expected = oracle(cached, query, 5)
    assert [(v, f) for v, f, _ in hits(body)] == [(v, f) for v, f, _ in expected]
    assert [s for _, _, s in hits(body)] == pytest.approx([s for _, _, s in expected], abs=1e-5)
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]
    assert body["results"][0]["frame_key"].startswith(f"frames/{body['results'][0]['video_id']}/")
    frames = 9 if world.backend == "memory" else None  # the S3 Vectors index does not say
    assert (body["searched_videos"], body["searched_frames"], body["missing_videos"]) == (2, frames, [])
    assert body["model"] == world.model_id
    assert 0 < body["took_ms"] < took_ms  # the service's own time, within the handler's
    assert len(world.clip_calls.events) == 1
    assert world.clip_calls.events[0]["encoding"] == "f16-b64"  # the compact encoding


def test_ranking_equals_the_numpy_oracle(world: SearchWorld, lambda_context):
    rng = np.random.default_rng(3)
    videos = {f"video-{i}": unit_rows(rng, rows, DIM) for i, rows in enumerate((40, 7, 120, 1))}
    for video_id, vectors in videos.items():
        world.add_video(video_id)
        world.pack(video_id, vectors)
    query = unit_rows(rng, 1, DIM)[0]
    status, body = world.search({"embedding": query.tolist(), "top_k": 25}, lambda_context)
    assert status == 200
    expected = oracle(videos, query, 25)
    assert [(v, f) for v, f, _ in hits(body)] == [(v, f) for v, f, _ in expected]
    assert [s for _, _, s in hits(body)] == pytest.approx(
        [s for _, _, s in expected], abs=SCORE_TOLERANCE[world.backend]
    )
    assert world.clip_calls.events == []  # a vector query needs no model


def test_ties_break_deterministically(world: SearchWorld, lambda_context):
    same = unit_rows(np.random.default_rng(1), 1, DIM)
    for video_id in ("b-video", "a-video"):
        world.add_video(video_id)
        world.pack(video_id, np.repeat(same, 3, axis=0))
    status, body = world.search({"embedding": same[0].tolist(), "top_k": 6}, lambda_context)
    assert status == 200
    assert [(r["video_id"], r["frame_id"]) for r in body["results"]] == [
        ("a-video", "frame_000000"), ("a-video", "frame_000001"), ("a-video", "frame_000002"),
        ("b-video", "frame_000000"), ("b-video", "frame_000001"), ("b-video", "frame_000002"),
    ]  # fmt: skip


def test_video_ids_restrict_and_unknown_or_unprocessed_are_reported(world: SearchWorld, lambda_context):
    rng = np.random.default_rng(2)
    for video_id, status_ in (("one", "processed"), ("two", "processed"), ("busy", "processing")):
        world.add_video(video_id, status=status_)
        world.pack(video_id, unit_rows(rng, 5, DIM))
    query = unit_rows(rng, 1, DIM)[0].tolist()
    status, body = world.search({"embedding": query, "video_ids": ["two", "busy", "ghost"]}, lambda_context)
    assert status == 200
    assert {r["video_id"] for r in body["results"]} == {"two"}
    assert sorted(body["unknown_videos"]) == ["busy", "ghost"]
    # and without video_ids only processed videos are searched
    status, body = world.search({"embedding": query}, lambda_context)
    assert {r["video_id"] for r in body["results"]} == {"one", "two"}


def test_min_score_drops_weak_hits(world: SearchWorld, lambda_context):
    query = np.zeros(DIM, np.float32)
    query[0] = 1
    vectors = np.zeros((4, DIM), np.float32)
    for row, cosine in enumerate((0.9, 0.5, 0.2, -0.3)):
        vectors[row, 0], vectors[row, 1] = cosine, np.sqrt(1 - cosine**2)
    world.add_video("v")
    world.pack("v", vectors)
    status, body = world.search({"embedding": query.tolist(), "min_score": 0.4}, lambda_context)
    assert status == 200
    assert [r["frame_id"] for r in body["results"]] == ["frame_000000", "frame_000001"]


def test_dedupe_collapses_near_identical_neighbours(world: SearchWorld, lambda_context):
    rng = np.random.default_rng(5)
    base = unit_rows(rng, 1, DIM)[0]
    other = unit_rows(rng, 1, DIM)[0]
    near = base + 0.01 * other
    near /= np.linalg.norm(near)
    # frames 0,1,2 show the same moment; frame 3 is far away in time but looks the same; 4 differs
    world.add_video("v")
    world.pack(
        "v",
        np.stack([base, near, near, base, other]),
        frame_ids=[f"frame_{i:06d}" for i in (0, 1, 2, 30, 31)],
    )
    _, plain = world.search({"embedding": base.tolist(), "top_k": 5}, lambda_context)
    status, deduped = world.search({"embedding": base.tolist(), "top_k": 5, "dedupe": True}, lambda_context)
    assert status == 200
    assert len(plain["results"]) == 5
    assert [r["frame_id"] for r in deduped["results"]] == ["frame_000000", "frame_000030", "frame_000031"]


def test_time_range_uses_fps_and_step(world: SearchWorld, lambda_context):
    rng = np.random.default_rng(6)
    world.add_video("timed", fps=30, step=15)  # a frame every 0.5 s
    world.add_video("untimed", fps=None, step=None)
    for video_id in ("timed", "untimed"):
        world.pack(video_id, unit_rows(rng, 10, DIM))
    query = unit_rows(rng, 1, DIM)[0].tolist()
    status, body = world.search({"embedding": query, "time_range": [1.0, 2.0], "top_k": 10}, lambda_context)
    assert status == 200
    assert sorted(r["frame_id"] for r in body["results"]) == [f"frame_{i:06d}" for i in (2, 3, 4)]
    assert all(1.0 <= r["timestamp_s"] <= 2.0 for r in body["results"])
    assert body["skipped_videos"] == [
        {"video_id": "untimed", "reason": "no timing (video_fps and frame step unknown) for time_range"}
    ]


@memory_only
def test_per_frame_files_are_the_fallback_and_get_packed(world: SearchWorld, lambda_context):
    world.add_video("loose")
    for index in range(3):
        world.s3.put_object(
            Bucket=BUCKET, Key=f"frames/loose/frame_{index:06d}.webp", Body=frame_bytes(index)
        )
    uris = [f"s3://{BUCKET}/frames/loose/frame_{i:06d}.webp" for i in range(3)]
    assert (
        world.clip.handler({"mode": "image", "items": uris, "cache": True}, lambda_context)["statusCode"]
        == 200
    )
    status, body = world.search({"query": "a red car", "top_k": 3}, lambda_context)
    assert status == 200
    assert sorted(r["frame_id"] for r in body["results"]) == ["frame_000000", "frame_000001", "frame_000002"]
    assert body["missing_videos"] == []
    assert body["queued_videos"] == ["loose"]  # batch packs them for one-GET loads
    world.drain()
    assert world.s3.head_object(Bucket=BUCKET, Key="embeddings-cache/loose/packed.npz")


def test_expired_cache_queues_exactly_one_batch_per_video_within_the_window(
    world: SearchWorld, lambda_context, monkeypatch
):
    rng = np.random.default_rng(7)
    world.add_video("cached")
    world.pack("cached", unit_rows(rng, 4, DIM))
    world.add_video("expired-1")
    world.add_video("expired-2")
    query = unit_rows(rng, 1, DIM)[0].tolist()
    for _ in range(3):
        status, body = world.search({"embedding": query}, lambda_context)
        assert status == 200
        assert body["missing_videos"] == ["expired-1", "expired-2"]
    world.drain()
    assert Counter(world.batched_videos()) == {
        "expired-1": 1,
        "expired-2": 1,
    }
    # after the window, a still-missing video is asked for again ...
    monkeypatch.setattr(world.app.service.refill.recently, "clock", lambda: 10**9)
    _, again = world.search({"embedding": query}, lambda_context)
    assert again["queued_videos"] == ["expired-1", "expired-2"]
    # ... and the FIFO queue's deduplication (5 minutes, by video id) absorbs a repeat that soon
    world.drain()
    assert Counter(world.batched_videos()) == {"expired-1": 1, "expired-2": 1}


def test_missing_videos_are_queued_in_batches_of_ten(world: SearchWorld, lambda_context):
    calls: list[int] = []
    world.app.service.refill.queue.sqs.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: calls.append(len(params["Entries"]))
    )
    for index in range(200):  # moto's FIFO queue slows with each message it holds: 1,000 take a minute
        world.dynamodb.put_item(
            TableName="videos", Item={"video_id": {"S": f"v{index:04d}"}, "status": {"S": "processed"}}
        )
    status, body = world.search({"embedding": [1.0] * DIM}, lambda_context)
    assert status == 200
    assert len(body["missing_videos"]) == 200
    # the world's budget is a minute: what is queued, not how fast (a budget spent is
    # tests/search/test_refill_budget.py's, with no clock in the way)
    assert calls == [10] * 20
    assert len(body["queued_videos"]) == 200


def test_other_models_and_dimensions_are_skipped_never_mixed(world: SearchWorld, lambda_context):
    rng = np.random.default_rng(8)
    world.add_video("ours")
    world.pack("ours", unit_rows(rng, 3, DIM))
    world.add_video("other-model")
    world.pack("other-model", unit_rows(rng, 3, DIM), model="openai/clip-vit-large-patch14")
    if world.backend == "memory":  # an S3 Vectors index has one dimension: PutVectors refuses others
        world.add_video("other-dim")
        world.pack("other-dim", unit_rows(rng, 3, 8))
    status, body = world.search({"query": "a dog"}, lambda_context)
    assert status == 200
    assert {r["video_id"] for r in body["results"]} == {"ours"}
    reasons = {entry["video_id"]: entry["reason"] for entry in body["skipped_videos"]}
    assert "with model 'openai/clip-vit-large-patch14'" in reasons["other-model"]
    assert body["searched_videos"] == 1  # a skipped video is not counted as searched
    if world.backend == "memory":
        assert reasons["other-dim"] == f"cached vectors are 8-d, the query is {DIM}-d"
    # a raw vector must say which model when the cache holds several of its dimension
    status, body = world.search({"embedding": unit_rows(rng, 1, DIM)[0].tolist()}, lambda_context)
    assert status == 400
    assert "several models" in body["error"]
    status, body = world.search(
        {"embedding": unit_rows(rng, 1, DIM)[0].tolist(), "model": "openai/clip-vit-large-patch14"},
        lambda_context,
    )
    assert {r["video_id"] for r in body["results"]} == {"other-model"}


def test_an_image_query_goes_through_the_clip_function(world: SearchWorld, lambda_context):
    world.add_video("v")
    world.s3.put_object(Bucket=BUCKET, Key="frames/v/frame_000000.webp", Body=frame_bytes(1))
    world.s3.put_object(Bucket=BUCKET, Key="frames/v/frame_000001.webp", Body=frame_bytes(2))
    world.batch_calls.handler({"video_id": "v"}, lambda_context)
    status, body = world.search(
        {"image": f"s3://{BUCKET}/frames/v/frame_000001.webp", "top_k": 1}, lambda_context
    )
    assert status == 200
    assert body["results"][0]["frame_id"] == "frame_000001"
    assert body["results"][0]["score"] == pytest.approx(1.0, abs=2e-3)
    inline = base64.b64encode(frame_bytes(1)).decode()
    status, body = world.search({"image": f"data:image/webp;base64,{inline}", "top_k": 1}, lambda_context)
    assert body["results"][0]["frame_id"] == "frame_000000"
    status, body = world.search({"image": "bm90IGFuIGltYWdl"}, lambda_context)  # "not an image"
    assert status == 400
    assert "the query image could not be embedded: not a readable image" in body["error"]


def test_a_warm_search_reads_nothing_from_dynamodb(world: SearchWorld, lambda_context, monkeypatch):
    rng = np.random.default_rng(14)
    world.add_video("a")
    world.pack("a", unit_rows(rng, 3, DIM))
    calls: Counter[str] = Counter()
    world.app.service.catalog.dynamodb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.update([model.name])
    )
    query = unit_rows(rng, 1, DIM)[0].tolist()
    world.search({"embedding": query}, lambda_context)
    assert calls["Scan"] == 1
    world.add_video("b")
    world.pack("b", unit_rows(rng, 3, DIM))
    _, warm = world.search({"embedding": query}, lambda_context)
    assert calls["Scan"] == 1  # the scan is kept ...
    assert warm["searched_videos"] == 1
    monkeypatch.setattr(world.app.service.catalog, "clock", lambda: 10**9)
    # (s3vectors: "b" is not in the held listing of the index's videos; one HEAD of its ledger)
    _, later = world.search({"embedding": query}, lambda_context)
    assert calls["Scan"] == 2  # ... until it is older than REVALIDATE_SECONDS
    assert later["searched_videos"] == 2


@memory_only
def test_a_warm_search_reads_nothing_from_s3(world: SearchWorld, lambda_context):
    rng = np.random.default_rng(9)
    for video_id in ("a", "b", "c"):
        world.add_video(video_id)
        world.pack(video_id, unit_rows(rng, 20, DIM))
    calls: Counter[str] = Counter()
    world.app.service.backend.vectors.store.s3.meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.update([model.name])
    )
    query = unit_rows(rng, 1, DIM)[0].tolist()
    world.search({"embedding": query}, lambda_context)
    assert calls["GetObject"] == 3  # cold: one GET per video (its packed object)
    calls.clear()
    status, body = world.search({"embedding": query}, lambda_context)
    assert status == 200
    assert body["searched_frames"] == 60
    assert sum(calls.values()) == 0


@memory_only
def test_a_changed_packed_object_is_reloaded_after_revalidation(
    world: SearchWorld, lambda_context, monkeypatch
):
    rng = np.random.default_rng(10)
    world.add_video("v")
    world.pack("v", unit_rows(rng, 2, DIM))
    query = unit_rows(rng, 1, DIM)[0].tolist()
    world.search({"embedding": query}, lambda_context)
    world.pack("v", unit_rows(rng, 5, DIM))
    cache = world.app.service.backend.vectors
    monkeypatch.setattr(cache, "clock", lambda: 10**9)  # past the revalidation interval
    _, body = world.search({"embedding": query}, lambda_context)
    assert body["searched_frames"] == 5


def test_http_proxy_events_get_a_proxy_response(world: SearchWorld, lambda_context):
    world.add_video("v")
    world.pack("v", unit_rows(np.random.default_rng(11), 3, DIM))
    event = {
        "requestContext": {"http": {"method": "POST"}},
        "isBase64Encoded": False,
        "body": json.dumps({"query": "a cat"}),
    }
    result = world.app.handler(event, lambda_context)
    assert result["statusCode"] == 200
    assert result["headers"] == {"Content-Type": "application/json"}
    assert len(json.loads(result["body"])["results"]) == 3


@pytest.mark.parametrize(
    ("clip_behaviour", "message"),
    [
        ("raise", "the CLIP function failed: RuntimeError: model exploded"),
        ("500", "the CLIP function failed: status 500: internal error"),
        ("garbage", "the CLIP function failed: its response is not the CLIP contract"),
        ("missing", "the CLIP function failed: ResourceNotFoundException"),
    ],
)
def test_clip_failures_are_502(world: SearchWorld, lambda_context, clip_behaviour, message):
    def broken(event, context):
        if clip_behaviour == "raise":
            raise RuntimeError("model exploded")
        if clip_behaviour == "500":
            return {"statusCode": 500, "body": json.dumps({"error": "internal error"})}
        return {"unexpected": True}

    if clip_behaviour == "missing":
        del world.local.functions["clip-inference"]
    else:
        world.local.functions["clip-inference"].handler = broken
    status, body = world.search({"query": "a cat"}, lambda_context)
    assert status == 502
    assert message in body["error"]


BAD_REQUESTS = [
    ("{not json", "not valid JSON"),
    ([], "must be a JSON object, not list"),
    ({}, 'send exactly one of "query" (text), "image" or "embedding"'),
    ({"query": "a", "embedding": [1.0]}, "send exactly one of"),
    ({"query": ""}, "query must be a non-empty string"),
    ({"query": "   "}, "query must be a non-empty string"),
    ({"query": 42}, "query must be a non-empty string"),
    ({"query": "x" * 1001}, "query has 1,001 characters; the limit is 1,000"),
    ({"image": 5}, "image must be an s3:// URI"),
    ({"image": ""}, "image must be an s3:// URI"),
    ({"embedding": []}, "embedding must be a non-empty list of finite numbers"),
    ({"embedding": [1, "2"]}, "embedding must be a non-empty list of finite numbers"),
    ({"embedding": [1, float("nan")]}, "embedding must be a non-empty list of finite numbers"),
    ({"embedding": [0, 0, 0]}, "embedding is zero in float32"),
    ({"query": "a", "top_k": 0}, "top_k must be a whole number from 1 to 100, got 0"),
    ({"query": "a", "top_k": 101}, "top_k must be a whole number from 1 to 100, got 101"),
    ({"query": "a", "top_k": "10"}, "top_k must be a whole number from 1 to 100, got '10'"),
    ({"query": "a", "top_k": True}, "top_k must be a whole number"),
    ({"query": "a", "video_ids": "abc"}, "video_ids must be a non-empty list"),
    ({"query": "a", "video_ids": []}, "video_ids must be a non-empty list"),
    ({"query": "a", "video_ids": ["ok", "../etc"]}, "got '../etc'"),
    ({"query": "a", "min_score": 2}, "min_score must be a number from -1 to 1"),
    ({"query": "a", "min_score": "high"}, "min_score must be a number from -1 to 1"),
    ({"query": "a", "dedupe": "yes"}, "dedupe must be true or false"),
    ({"query": "a", "time_range": [5, 1]}, "time_range must be [start_s, end_s]"),
    ({"query": "a", "time_range": [1]}, "time_range must be [start_s, end_s]"),
    ({"query": "a", "time_range": [-1, 3]}, "time_range must be [start_s, end_s]"),
    ({"query": "a", "limit": 5}, "unknown field(s) limit"),
    ({"query": "a", "model": ""}, "model must be a model id string"),
]


@pytest.mark.parametrize(
    ("event", "message"), BAD_REQUESTS, ids=[f"bad{i}" for i in range(len(BAD_REQUESTS))]
)
def test_bad_requests_are_400_with_a_message(world: SearchWorld, lambda_context, event, message):
    status, body = world.search(event, lambda_context)
    assert status == 400
    assert message in body["error"]
    assert world.clip_calls.events == []  # refused before any work


def test_an_embedding_of_the_wrong_length_is_400(world: SearchWorld, lambda_context):
    world.add_video("v")
    world.pack("v", unit_rows(np.random.default_rng(12), 2, DIM))
    status, body = world.search({"embedding": [0.5] * 7}, lambda_context)
    assert status == 400
    assert body["error"].startswith("embedding has 7 numbers")
    if world.backend == "memory":
        assert body["error"] == f"embedding has 7 numbers; the cached vectors are {DIM}-d"


def test_importing_the_search_handler_does_not_import_torch():
    code = (
        "import os, sys; os.environ.update(BUCKET_NAME='b', VIDEOS_TABLE='t', CLIP_FUNCTION_NAME='c', "
        "WORK_QUEUE_URL='q', AWS_DEFAULT_REGION='ap-southeast-1'); import lambda_search.app; "
        "heavy = sorted(m for m in ('torch', 'transformers', 'PIL') if m in sys.modules); print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@memory_only
def test_filtered_and_full_searches_rank_each_videos_vectors_in_place(world: SearchWorld, lambda_context):
    rng = np.random.default_rng(13)
    for video_id in ("a", "b", "c"):
        world.add_video(video_id)
        world.pack(video_id, unit_rows(rng, 4, DIM))
    query = unit_rows(rng, 1, DIM)[0].tolist()
    world.search({"embedding": query}, lambda_context)
    cache = world.app.service.backend.vectors
    held = {video_id: cache._entries[video_id].load.vectors.codes.codes for video_id in ("a", "b", "c")}
    status, body = world.search({"embedding": query, "video_ids": ["b"]}, lambda_context)
    assert status == 200
    assert {r["video_id"] for r in body["results"]} == {"b"}
    _, again = world.search({"embedding": query}, lambda_context)
    assert again["searched_frames"] == 12
    # each video's codes as loaded: never copied (stacked) to rank, for a subset or for all
    assert all(cache._entries[v].load.vectors.codes.codes is matrix for v, matrix in held.items())


@memory_only
def test_search_reports_cache_hits_misses_and_clip_latency(world, lambda_context, capsys):
    import numpy as np

    from tests.search.conftest import unit_rows
    from tests.search.test_search import DIM

    world.add_video("a")
    world.pack("a", unit_rows(np.random.default_rng(1), 3, DIM))
    world.add_video("gone")
    capsys.readouterr()
    world.search({"query": "a dog"}, lambda_context)
    cold = emitted(capsys)
    assert (cold["CacheHits"], cold["CacheMisses"], cold["MissingVideos"]) == (1, 1, 1)
    assert cold["ClipLatency"] > 0
    assert cold["SearchedFrames"] == 3
    world.search({"query": "a dog"}, lambda_context)
    warm = emitted(capsys)
    assert (warm["CacheHits"], warm["CacheMisses"]) == (2, 0)


def test_a_time_range_boundary_is_the_same_on_both_backends(world: SearchWorld, lambda_context):
    world.add_video("v", fps=30, step=1)  # frame 1 is at 0.0333... s
    rows = unit_rows(np.random.default_rng(20), 3, DIM)
    world.pack("v", rows)
    request = {"embedding": rows[1].tolist(), "time_range": [0.0333, 10], "top_k": 3}
    status, body = world.search(request, lambda_context)
    assert status == 200
    assert sorted(r["frame_id"] for r in body["results"]) == ["frame_000001", "frame_000002"]
