"""Search speed: our exact top-10 against FAISS IndexFlatIP on the same vectors and threads, and
S3 GETs per cold search with the packed layout against per-frame files, in one run, as ratios.

    .venv/bin/python -m bench.bench_search [--sizes 100000 1000000] [--videos 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable

import boto3
import faiss
import numpy as np
from moto import mock_aws

from clipsearch.cache_store import CacheStore, PackedVideo
from clipsearch.layout import Frame
from clipsearch.ranking import RankOptions, rank
from clipsearch.vector_cache import VectorCache
from clipsearch.video_vectors import Shelf, VideoVectors

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


def compare_once(size: int, rng: np.random.Generator, repeats: int) -> tuple[float, float]:
    """(ours ms, FAISS ms) for a warm top-10 over `size` vectors; checks both answer the same."""
    vectors = unit_rows(rng, size)
    shelf = Shelf.stack(as_videos(vectors))
    del vectors  # the shelf holds the only copy, as in the search function
    index = faiss.IndexFlatIP(DIM)
    index.add(shelf.matrix)
    queries = iter(unit_rows(rng, 2 * repeats + 4))
    ours_ms = median_ms(lambda: rank(shelf, next(queries), RankOptions(top_k=10)), repeats)
    faiss_ms = median_ms(lambda: index.search(next(queries)[None, :], 10), repeats)
    query = unit_rows(rng, 1)[0]
    ours = [(hit.video.video_id, hit.row) for hit in rank(shelf, query, RankOptions(top_k=10))]
    _, rows = index.search(query[None, :], 10)
    theirs = [(f"video-{r // FRAMES_PER_VIDEO:06d}", int(r % FRAMES_PER_VIDEO)) for r in rows[0]]
    if ours != theirs:
        raise RuntimeError(f"our top-10 differs from FAISS: {ours} vs {theirs}")
    return ours_ms, faiss_ms


def top_k_latency(sizes: list[int], repeats: int) -> None:
    threads = len(os.sched_getaffinity(0))
    faiss.omp_set_num_threads(threads)  # numpy's BLAS uses every core too
    print(f"top-10 over N normalised {DIM}-d float32 vectors, warm, {threads} threads, median of {repeats}")
    print(f"{'N':>10}{'ours ms':>10}{'faiss ms':>10}{'faiss/ours':>12}")
    rng = np.random.default_rng(0)
    for size in sizes:
        ours_ms, faiss_ms = compare_once(size, rng, repeats)
        print(f"{size:>10,}{ours_ms:>10.1f}{faiss_ms:>10.1f}{faiss_ms / ours_ms:>11.2f}x")


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


def memory_per_vectors(vectors: int) -> None:
    """Peak memory of loading `vectors` vectors as the search loads them (packed bytes -> validated
    PackedVideo -> float32 VideoVectors -> one stacked Shelf), per 100k vectors, and its ratio to
    their float32 size: the peak factor the stack's MAX_CACHED_VECTORS formula assumes. Measured
    with tracemalloc (numpy reports its buffers to it), so nothing else in this process counts."""
    rng = np.random.default_rng(2)
    blobs = []
    for start in range(0, vectors, FRAMES_PER_VIDEO):
        ids = [f"frame_{i:06d}" for i in range(min(FRAMES_PER_VIDEO, vectors - start))]
        rows = unit_rows(rng, len(ids)).astype(np.float16)
        blobs.append(PackedVideo(f"v{start}", "bench", DIM, 0.0, ids, ids, rows).to_bytes())
    tracemalloc.start()
    videos = []
    while blobs:  # the cache keeps no bytes: each object is parsed and dropped
        videos.append(VideoVectors.from_packed(PackedVideo.from_bytes(blobs.pop()), "1"))
    shelf = Shelf.stack(videos)
    del videos
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert shelf.matrix.shape == (vectors, DIM)
    float32 = vectors * DIM * 4
    print(f"\npeak memory while loading {vectors:,} vectors: {peak / 2**20:,.0f} MiB")
    per_100k = peak / vectors * 100_000 / 2**20
    print(f"per 100k vectors: {per_100k:,.0f} MiB   peak / float32 size: {peak / float32:.2f}x")


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
