"""One process of bench_search that runs the search's own code from whichever checkout PYTHONPATH
names (this branch's, or main's for the before): run as a script, never imported by the package.

    python bench/search_probe.py memory ENDPOINT BUCKET VIDEOS FRAMES
        the search's load path (VectorCache's reading threads, botocore against moto's S3 server,
        the packed decode, MemoryBackend's ranking) cold, then, once a line arrives on stdin (the
        parent has repacked every video), warm; prints one JSON line: RSS, VmHWM and the bytes of
        the frame ids and keys held.
    python bench/search_probe.py missing ENDPOINT MISSING PAIRS
        a warm search (MemoryBackend's find and the refill, against moto's S3 and SQS server) with
        MISSING videos not yet embedded against one with none, alternating; prints one JSON line of
        per-pair extra seconds.
"""

from __future__ import annotations

import ctypes
import inspect
import json
import os
import sys
import time
from typing import Any

import boto3
import numpy as np

from clipsearch.cache.store import CacheStore, PackedVideo
from clipsearch.cache.vector_cache import VectorCache
from clipsearch.catalog.videos import VideoInfo
from clipsearch.index.memory import MemoryBackend
from clipsearch.index.query import SearchRequest
from clipsearch.work.messages import WorkItem
from clipsearch.work.queue import WorkQueue
from clipsearch.work.refill import RecentlyQueued, Refill

DIM = 512


def unit_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def write_packed(store: CacheStore, videos: int, frames: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for index in range(videos):
        video_id = f"video-{index:06d}"
        ids = [f"frame_{i:06d}" for i in range(frames)]
        keys = [f"frames/{video_id}/{frame_id}.webp" for frame_id in ids]
        store.write_packed(
            PackedVideo(
                video_id, "bench", DIM, float(seed), ids, keys, unit_rows(rng, frames).astype(np.float16)
            ),
            replacing=store.read_packed(video_id).etag,
        )


def status(field: str) -> int:
    with open("/proc/self/status") as lines:
        (line,) = [line for line in lines if line.startswith(f"{field}:")]
    return int(line.split()[1]) * 1024


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


def names_bytes(cache: VectorCache) -> int:
    """What the frame ids and keys of every entry hold (the strings and the containers)."""
    total = 0
    for entry in cache._entries.values():
        vectors = entry.load.vectors
        if vectors is not None:
            for names in (vectors.frame_ids, vectors.frame_keys):
                total += sys.getsizeof(names)
                if isinstance(names, list):
                    total += sum(sys.getsizeof(name) for name in names)
    return total


def memory(endpoint: str, bucket: str, videos: int, frames: int) -> dict[str, Any]:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    now = [0.0]
    cache = VectorCache(
        CacheStore(s3, bucket), max_vectors=10**9, revalidate_seconds=60, clock=lambda: now[0]
    )
    backend = MemoryBackend(cache)
    infos = [VideoInfo(f"video-{index:06d}", "processed") for index in range(videos)]
    query = unit_rows(np.random.default_rng(9), 1)[0]
    request = SearchRequest("embedding", query, 10, None, None, False, None, "bench")
    backend.find(query, "bench", infos[:1], request)  # imports, threads and clients made
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_trim(0)
    base = status("VmRSS")
    reset_peak()
    assert backend.find(query, "bench", infos, request).searched_frames == videos * frames
    cold_peak, cold_held = status("VmHWM") - base, status("VmRSS") - base
    print("cold", flush=True)
    sys.stdin.readline()  # the parent has repacked every video
    now[0] = 61
    reset_peak()
    warm_start = status("VmRSS")
    assert backend.find(query, "bench", infos, request).searched_frames == videos * frames
    warm_peak = status("VmHWM") - warm_start + cold_held
    warm_held = status("VmRSS") - base
    return {
        "cold_peak": cold_peak,
        "cold_held": cold_held,
        "warm_peak": warm_peak,
        "warm_held": warm_held,
        "names": names_bytes(cache),
    }


def missing(endpoint: str, count: int, pairs: int) -> dict[str, Any]:
    from clipsearch.search.service import SearchSettings

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="bench-missing")
    store = CacheStore(s3, "bench-missing")
    write_packed(store, 20, 500, seed=1)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    url = sqs.create_queue(
        QueueName="work.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    )["QueueUrl"]
    cache = VectorCache(store, max_vectors=10**7, revalidate_seconds=60, clock=lambda: 0.0)
    backend = MemoryBackend(cache)
    budget = inspect.signature(Refill).parameters["budget_s"].default
    if budget is inspect.Parameter.empty:  # this branch: the setting's default
        budget = SearchSettings.refill_budget_ms / 1000
    present = [VideoInfo(f"video-{index:06d}", "processed") for index in range(20)]
    absent = [VideoInfo(f"new-{index:06d}", "processed") for index in range(count)]
    query = unit_rows(np.random.default_rng(9), 1)[0]
    request = SearchRequest("embedding", query, 10, None, None, False, None, "bench")

    def search(videos: list[VideoInfo]) -> float:
        # A fresh memory of what was sent: every missing video is due, the refill's worst case.
        refill = Refill(WorkQueue(sqs, url), RecentlyQueued(900), budget_s=budget)
        started = time.perf_counter()
        found = backend.find(query, "bench", videos, request)
        refill.queue_videos([WorkItem(video_id, seen=seen) for video_id, seen in found.to_queue.items()])
        return time.perf_counter() - started

    search(present + absent)  # cold: every video read or found missing once
    extra = []
    for pair in range(pairs):  # alternating which goes first
        if pair % 2:
            none = search(present)
            some = search(present + absent)
        else:
            some = search(present + absent)
            none = search(present)
        extra.append(some - none)
    return {"budget_s": budget, "extra_s": extra}


def main() -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    mode, *args = sys.argv[1:]
    if mode == "memory":
        result = memory(args[0], args[1], int(args[2]), int(args[3]))
    else:
        result = missing(args[0], int(args[1]), int(args[2]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
