"""The search's parts on their own: the in-memory cache (LRU, the memory bound, revalidation), the
refill's memory, the ranking's deepening for `dedupe`."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from clipsearch.cache.store import CacheStore, PackedVideo
from clipsearch.cache.vector_cache import VectorCache
from clipsearch.cache.video_vectors import Shelf, VideoVectors, frame_indices
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
        vectors=vectors.astype(np.float32),
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
    shelf = Shelf.stack(
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
