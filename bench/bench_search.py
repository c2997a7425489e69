"""Search speed and memory: the memory backend's float16 scan + float32 rerank (new) against the
float32 numpy scan it replaced (old) and FAISS IndexFlatIP (reference), on the same vectors and
threads, with recall@10 against the float32 oracle; RSS per 10^5 vectors held, new vs old; the
loading peak; S3 GETs per cold search with the packed layout against per-frame files; in one run.

    .venv/bin/python -m bench.bench_search [--sizes 100000 1000000] [--videos 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable

import boto3
import faiss
import numpy as np
from moto import mock_aws

from clipsearch.cache.store import CacheStore, PackedVideo
from clipsearch.cache.vector_cache import VectorCache
from clipsearch.cache.video_vectors import Shelf, VideoVectors
from clipsearch.catalog.videos import VideoInfo
from clipsearch.index.memory import MemoryBackend
from clipsearch.index.query import SearchRequest
from clipsearch.index.ranking import RankOptions, rank
from clipsearch.layout import Frame

DIM = 512
FRAMES_PER_VIDEO = 500


def unit_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def as_videos(vectors: np.ndarray) -> list[VideoVectors]:
    videos = []
    for start in range(0, len(vectors), FRAMES_PER_VIDEO):
        rows = vectors[start : start + FRAMES_PER_VIDEO]
        ids = [f"frame_{i:06d}" for i in range(len(rows))]
        videos.append(
            VideoVectors(
                video_id=f"video-{start // FRAMES_PER_VIDEO:06d}",
                model="bench",
                dim=DIM,
                frame_ids=ids,
                frame_keys=ids,
                frame_indices=np.arange(len(rows), dtype=np.int64),
                vectors=rows,
                source="packed",
                version="1",
                covered_frames=len(rows),
            )
        )
    return videos


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def old_rank(matrix: np.ndarray, query: np.ndarray, top_k: int) -> list[int]:
    """The scan this replaced (and the oracle): float32 matrix-vector product, argpartition, ties by row."""
    scores = matrix @ query
    top = np.argpartition(-scores, top_k - 1)[:top_k]
    return [int(r) for r in top[np.lexsort((top, -scores[top]))]]


def rows_of(shelf: Shelf, query: np.ndarray) -> list[int]:
    starts = {video.video_id: int(start) for video, start in zip(shelf.videos, shelf.starts, strict=True)}
    return [starts[hit.video.video_id] + hit.row for hit in rank(shelf, query, RankOptions(top_k=10))]


def compare_once(size: int, rng: np.random.Generator, repeats: int) -> tuple[float, float, float, float]:
    """(new ms, old ms, FAISS ms, recall@10 of new against the float32 oracle) for a warm top-10."""
    vectors = unit_rows(rng, size).astype(np.float16)  # as cached; the oracle is its float32 upcast
    shelf = Shelf.of(as_videos(vectors))
    old = vectors.astype(np.float32)
    del vectors
    index = faiss.IndexFlatIP(DIM)
    index.add(old)
    queries = iter(unit_rows(rng, 3 * repeats + 6))
    new_ms = median_ms(lambda: rank(shelf, next(queries), RankOptions(top_k=10)), repeats)
    old_ms = median_ms(lambda: old_rank(old, next(queries), 10), repeats)
    faiss_ms = median_ms(lambda: index.search(next(queries)[None, :], 10), repeats)
    found = 0
    probes = np.concatenate([unit_rows(rng, 10), old[rng.integers(0, size, 10)]])  # random, and on a row
    for query in probes:
        found += len(set(rows_of(shelf, query)) & set(old_rank(old, query, 10)))
    return new_ms, old_ms, faiss_ms, found / (10 * len(probes))


def top_k_latency(sizes: list[int], repeats: int) -> None:
    threads = len(os.sched_getaffinity(0))
    faiss.omp_set_num_threads(threads)  # numpy's BLAS uses every core too
    print(f"top-10 over N normalised {DIM}-d vectors, warm, {threads} threads, median of {repeats}")
    print("new: float16 SimSIMD scan + float32 rerank; old: float32 numpy scan; faiss: IndexFlatIP")
    header = (
        f"{'N':>10}{'new ms':>9}{'old ms':>9}{'faiss ms':>10}{'old/new':>9}{'faiss/new':>11}{'recall@10':>11}"
    )
    print(header)
    rng = np.random.default_rng(0)
    for size in sizes:
        new_ms, old_ms, faiss_ms, recall = compare_once(size, rng, repeats)
        print(
            f"{size:>10,}{new_ms:>9.1f}{old_ms:>9.1f}{faiss_ms:>10.1f}{old_ms / new_ms:>8.2f}x"
            f"{faiss_ms / new_ms:>10.2f}x{recall:>11.3f}"
        )
        if recall != 1.0:
            raise RuntimeError(
                f"recall@10 {recall} at {size:,}: the new scan must return the oracle's top-10"
            )


def gets_per_search(videos: int) -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    rng = np.random.default_rng(1)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        counts = {}
        for layout in ("packed", "frames"):
            bucket = f"bench-{layout}"
            s3.create_bucket(Bucket=bucket)
            store = CacheStore(s3, bucket)
            ids = [f"video-{v}" for v in range(videos)]
            for video_id in ids:
                vectors = unit_rows(rng, FRAMES_PER_VIDEO)
                frame_ids = [f"frame_{i:06d}" for i in range(FRAMES_PER_VIDEO)]
                keys = [f"frames/{video_id}/{f}.webp" for f in frame_ids]
                if layout == "packed":
                    store.write_packed(
                        PackedVideo(video_id, "bench", DIM, 0.0, frame_ids, keys, vectors.astype(np.float16)),
                        replacing=None,
                    )
                else:
                    for frame_id, key, vector in zip(frame_ids, keys, vectors, strict=True):
                        store.write_frame(Frame(video_id, frame_id, key), vector, model="bench")
            cache = VectorCache(store, max_vectors=10**7, revalidate_seconds=60)
            gets = Counter[str]()

            def count(counter: Counter[str] = gets, **_: object) -> None:
                counter.update(["get"])

            s3.meta.events.register("before-call.s3.GetObject", count)
            if not all(load.vectors for load in cache.get_many(ids).loads.values()):
                raise RuntimeError(f"{layout}: a video did not load")
            counts[layout] = gets["get"]
            s3.meta.events.unregister("before-call.s3.GetObject", count)
        print(f"\nS3 GETs for one cold search of {videos} videos x {FRAMES_PER_VIDEO} frames")
        ratio = counts["frames"] / counts["packed"]
        print(f"packed: {counts['packed']:,}   per-frame files: {counts['frames']:,}   ratio {ratio:.0f}x")


def _write_packed(store: CacheStore, vectors: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for start in range(0, vectors, FRAMES_PER_VIDEO):
        video_id = f"video-{start // FRAMES_PER_VIDEO:06d}"
        ids = [f"frame_{i:06d}" for i in range(min(FRAMES_PER_VIDEO, vectors - start))]
        keys = [f"frames/{video_id}/{frame_id}.webp" for frame_id in ids]
        rows = unit_rows(rng, len(ids)).astype(np.float16)
        store.write_packed(
            PackedVideo(video_id, "bench", DIM, float(seed), ids, keys, rows),
            replacing=store.read_packed(video_id).etag,
        )


def _peak_of_loading(vectors: int) -> tuple[float, float, float]:
    """In a fresh process, through the search's own code (VectorCache over moto's S3, 32 reads at
    once, then a MemoryBackend search): RSS growth (bytes) at the peak of a cold load, what stays
    held, and the peak of a warm repack (every packed object changed) on top of what was held.
    Peaks are the kernel's high-water mark (VmHWM, reset before each step)."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    now = [0.0]
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench-peak")
        store = CacheStore(s3, "bench-peak")
        _write_packed(store, vectors, seed=1)
        cache = VectorCache(store, max_vectors=10**8, revalidate_seconds=60, clock=lambda: now[0])
        backend = MemoryBackend(cache)
        videos = [VideoInfo(f"video-{i:06d}", "processed") for i in range(-(-vectors // FRAMES_PER_VIDEO))]
        query = unit_rows(np.random.default_rng(9), 1)[0]
        request = SearchRequest("embedding", query, 10, None, None, False, None, "bench")
        before = _reset_peak()
        backend.find(query, "bench", videos, request)
        cold, held = _peak() - before, _rss() - before
        _write_packed(store, vectors, seed=2)  # moto's copy of the new objects: not the search's
        now[0] = 61
        start = _reset_peak()
        found = backend.find(query, "bench", videos, request)
        warm = held + _peak() - start
    assert found.searched_frames == vectors
    return float(cold), float(held), float(warm)


def _reset_peak() -> int:
    """Reset the process's RSS high-water mark (Linux); the RSS now."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return _rss()


def _peak() -> int:
    with open("/proc/self/status") as status:
        (line,) = [line for line in status if line.startswith("VmHWM:")]
    return int(line.split()[1]) * 1024


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _held(vectors: int, dtype: str) -> float:
    """In a fresh process: resident bytes of `vectors` vectors held stacked as `dtype`."""
    rng = np.random.default_rng(3)
    before = _rss()
    matrix = np.empty((vectors, DIM), dtype=dtype)
    for start in range(0, vectors, 10_000):
        rows = min(10_000, vectors - start)
        matrix[start : start + rows] = unit_rows(rng, rows)
    held = _rss() - before
    assert matrix.shape == (vectors, DIM)
    return float(held)


def memory_per_vectors(vectors: int) -> None:
    """RSS per 10^5 vectors held (new float16 vs old float32), and the peak of loading them as the
    search does, as a ratio to their held size: the peak factor the stack's MAX_CACHED_VECTORS uses."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:
        new = pool.apply(_held, (vectors, "float16"))
    with spawn.Pool(1) as pool:
        old = pool.apply(_held, (vectors, "float32"))
    with spawn.Pool(1) as pool:
        cold, held, warm = pool.apply(_peak_of_loading, (vectors,))
    per = 100_000 / vectors / 2**20
    print(
        f"\nRSS per 10^5 vectors held: new {new * per:,.1f} MiB ({new / vectors:,.0f} B/vector)"
        f"   old {old * per:,.1f} MiB ({old / vectors:,.0f} B/vector)   old/new {old / new:.2f}x"
    )
    payload = vectors * DIM * 2
    print(
        f"search of {vectors:,} vectors ({payload / 2**20:,.0f} MiB float16): peak RSS cold "
        f"{cold / 2**20:,.0f} MiB ({cold / payload:.2f}x), held {held / 2**20:,.0f} MiB "
        f"({held / vectors:,.0f} B/vector), warm repack {warm / 2**20:,.0f} MiB ({warm / payload:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--memory-vectors", type=int, default=500_000)
    args = parser.parse_args()
    top_k_latency(args.sizes, args.repeats)
    gets_per_search(args.videos)
    memory_per_vectors(args.memory_vectors)


if __name__ == "__main__":
    main()
