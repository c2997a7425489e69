"""The search's parts on their own: the in-memory cache (LRU, the memory bound, revalidation), the
refill's memory, the ranking's deepening for `dedupe`."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from clipsearch.cache.store import CacheStore, PackedVideo
from clipsearch.cache.vector_cache import VectorCache
from clipsearch.cache.video_vectors import Shelf, VideoVectors, frame_indices
from clipsearch.catalog.videos import VideoInfo
from clipsearch.index.memory import MemoryBackend
from clipsearch.index.query import SearchRequest
from clipsearch.index.ranking import RankOptions, rank
from clipsearch.work.refill import RecentlyQueued
from tests.conftest import BUCKET
from tests.search.conftest import unit_rows

DIM = 8


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(s3) -> CacheStore:
    store = CacheStore(s3, BUCKET)
    rng = np.random.default_rng(0)
    for video_id in ("a", "b", "c"):
        ids = [f"frame_{i:06d}" for i in range(4)]
        store.write_packed(
            PackedVideo(video_id, "m", DIM, 0.0, ids, ids, unit_rows(rng, 4, DIM).astype(np.float16)),
            replacing=None,
        )
    return store


def test_least_recently_used_videos_are_evicted_first(store):
    cache = VectorCache(store, max_vectors=10, revalidate_seconds=60)
    for video_id in ("a", "b", "c"):  # 12 vectors > 10: "a" goes
        cache.get_many([video_id])
    assert cache.held_vectors == 8
    cache.get_many(["b"])
    cache.get_many(["a"])  # reloads "a"; "c" is now the least recently used
    read = cache.get_many(["b"])
    assert read.hits == 1
    assert cache.get_many(["c"]).misses == 1
    assert cache.held_vectors <= 10


def test_one_search_past_the_bound_loads_no_more_and_says_which(store):
    cache = VectorCache(store, max_vectors=10, revalidate_seconds=60, concurrency=1)
    read = cache.get_many(["a", "b", "c"])
    assert read.over_bound == ["c"]
    assert sorted(read.loads) == ["a", "b"]
    assert cache.held_vectors == 8  # eviction, not growth


def test_an_unchanged_packed_object_is_revalidated_with_its_etag_not_reloaded(store, s3):
    clock = Clock()
    cache = VectorCache(store, max_vectors=100, revalidate_seconds=60, clock=clock)
    first = cache.get_many(["a"]).loads["a"].vectors
    calls: Counter[str] = Counter()
    s3.meta.events.register(
        "provide-client-params.s3.GetObject",
        lambda params, **_: calls.update(["conditional" if "IfNoneMatch" in params else "plain"]),
    )
    clock.now = 30
    assert cache.get_many(["a"]).loads["a"].vectors is first
    assert sum(calls.values()) == 0  # fresh: no request at all
    clock.now = 61
    read = cache.get_many(["a"])
    assert read.loads["a"].vectors is first  # 304: the same vectors, not a copy
    assert (calls["conditional"], calls["plain"], read.hits) == (1, 0, 1)
    ids = [f"frame_{i:06d}" for i in range(5)]
    store.write_packed(
        PackedVideo(
            "a", "m", DIM, 0.0, ids, ids, unit_rows(np.random.default_rng(1), 5, DIM).astype(np.float16)
        ),
        replacing=store.read_packed("a").etag,
    )
    clock.now = 122
    changed = cache.get_many(["a"])
    reloaded = changed.loads["a"].vectors
    assert reloaded is not None
    assert len(reloaded.frame_ids) == 5
    assert changed.misses == 1


def test_the_refill_memory_forgets_the_oldest_half_when_full():
    clock = Clock()
    recently = RecentlyQueued(900, clock, max_entries=4)
    for index, video_id in enumerate("abcd"):
        clock.now = index
        recently.remember(video_id)
    clock.now = 10
    recently.remember("e")
    assert len(recently) == 3
    assert recently.due("a")  # forgotten: may be queued again
    assert recently.due("b")
    assert not recently.due("c")
    assert not recently.due("e")
    clock.now = 10 + 900
    assert recently.due("e")


def video(video_id: str, frame_ids: list[str], vectors: np.ndarray) -> VideoVectors:
    return VideoVectors(
        video_id=video_id,
        model="m",
        dim=vectors.shape[1],
        frame_ids=frame_ids,
        frame_keys=frame_ids,
        frame_indices=frame_indices(frame_ids),
        vectors=vectors.astype(np.float16),
        source="packed",
        version="1",
        covered_frames=len(frame_ids),
    )


def test_dedupe_looks_deeper_when_the_best_candidates_all_collapse():
    query = np.zeros(DIM, np.float32)
    query[0] = 1
    # 30 copies of one moment (all at frame index 1) outscore everything else ...
    moment = np.tile(query, (30, 1))
    others = np.eye(DIM, dtype=np.float32)[1:4] * 0.6 + query * 0.8  # ... three distinct frames below
    shelf = Shelf.of(
        [
            video("same", [f"copy{i}_000001" for i in range(30)], moment),
            video("far", ["frame_000100", "frame_000200", "frame_000300"], others),
        ]
    )
    hits = rank(shelf, query, RankOptions(top_k=3, dedupe=True))
    # the first 24 candidates collapse into one hit; the ranking looks 4x deeper for the rest
    assert [(hit.video.video_id, hit.row) for hit in hits] == [("same", 0), ("far", 0), ("far", 1)]
    assert [hit.video.video_id for hit in rank(shelf, query, RankOptions(top_k=3))] == ["same"] * 3


def test_a_video_looked_up_since_the_scan_is_listed_by_every_later_search(videos_table):
    from clipsearch.catalog.videos import VideoCatalog

    dynamodb = videos_table
    dynamodb.put_item(TableName="videos", Item={"video_id": {"S": "old"}, "status": {"S": "processed"}})
    catalog = VideoCatalog(dynamodb, "videos", scan_ttl_seconds=60, clock=lambda: 0.0)
    assert [v.video_id for v in catalog.processed()] == ["old"]
    dynamodb.put_item(TableName="videos", Item={"video_id": {"S": "new"}, "status": {"S": "processed"}})
    assert [v.video_id for v in catalog.processed()] == ["old"]  # the held Scan: a minute at most
    found, unknown = catalog.lookup(["new", "nope"])
    assert ([v.video_id for v in found], unknown) == (["new"], ["nope"])
    assert [v.video_id for v in catalog.processed()] == ["new", "old"]  # at once, not a minute later


# Issue #22.2: the memory a search holds at its peak, cold and on a warm repack, against the factor
# the stack's MAX_CACHED_VECTORS is derived from (deployment/runtime_env.py PEAK_FACTOR).

PEAK_VIDEOS, PEAK_FRAMES, PEAK_DIM = 48, 256, 512


def write_videos(store: CacheStore, seed: int, frames: Callable[[int], int] = lambda _: PEAK_FRAMES) -> int:
    """Every video packed anew (new vectors, a new ETag); the float16 bytes they hold."""
    rng = np.random.default_rng(seed)
    payload = 0
    for index in range(PEAK_VIDEOS):
        video_id = f"video-{index:03d}"
        ids = [f"frame_{i:06d}" for i in range(frames(index))]
        rows = unit_rows(rng, len(ids), PEAK_DIM).astype(np.float16)
        keys = [f"frames/{video_id}/{frame_id}.webp" for frame_id in ids]
        store.write_packed(
            PackedVideo(video_id, "m", PEAK_DIM, float(seed), ids, keys, rows),
            replacing=store.read_packed(video_id).etag,
        )
        payload += rows.nbytes
    return payload


@pytest.mark.parametrize(
    "repacked_frames",
    [
        pytest.param(lambda index: PEAK_FRAMES, id="every video repacked"),
        pytest.param(lambda index: PEAK_FRAMES + 1 if index % 8 else PEAK_FRAMES, id="most grew, some kept"),
    ],
)
def test_the_peak_of_a_cold_load_and_of_a_warm_repack_stays_within_the_bounds_factor(s3, repacked_frames):
    from deployment.runtime_env import PEAK_FACTOR

    store = CacheStore(s3, BUCKET)
    payload = write_videos(store, seed=1)
    clock = Clock()
    # One read at a time: what is in flight (a body and its decoding; moto copies each body a few
    # times more than S3 does) is then 1/48 of the vectors, not S3_CONCURRENCY of them.
    cache = VectorCache(store, max_vectors=10**7, revalidate_seconds=60, concurrency=1, clock=clock)
    backend = MemoryBackend(cache)
    videos = [VideoInfo(f"video-{index:03d}", "processed") for index in range(PEAK_VIDEOS)]
    query = unit_rows(np.random.default_rng(9), 1, PEAK_DIM)[0]
    request = SearchRequest("embedding", query, 10, None, None, False, None, "m")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert len(backend.find(query, "m", videos, request).hits) == 10  # cold: every video read
        held, cold_peak = tracemalloc.get_traced_memory()
        repacked = write_videos(store, seed=2, frames=repacked_frames)
        clock.now = 61  # revalidated: every packed object changed
        warm_start = tracemalloc.get_traced_memory()[0]  # (the store's new objects are not the search's)
        tracemalloc.reset_peak()
        found = backend.find(query, "m", videos, request)
        warm_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found.searched_frames == repacked // (2 * PEAK_DIM)
    cold = (cold_peak - before) / payload
    warm = (held - before + warm_peak - warm_start) / max(payload, repacked)  # held, and the repack's growth
    assert cold <= PEAK_FACTOR, f"cold peak {cold:.2f}x the float16 vectors held"
    assert warm <= PEAK_FACTOR, f"warm repack peak {warm:.2f}x the float16 vectors held"
